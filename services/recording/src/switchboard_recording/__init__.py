"""Switchboard recording service: recording policy, files, their index, retention."""
