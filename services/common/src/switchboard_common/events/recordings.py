"""Payloads of the recordings domain (filled in by the issue that builds its service)."""
