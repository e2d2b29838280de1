"""Payloads of the tickets domain (filled in by the issue that builds its service)."""
