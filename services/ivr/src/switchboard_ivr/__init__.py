"""Switchboard ivr service: IVR flows and their runs."""
