"""Payloads of the agents domain (filled in by the issue that builds its service)."""
