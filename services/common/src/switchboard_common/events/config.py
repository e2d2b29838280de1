"""Payloads of the config domain (filled in by the issue that builds its service)."""
