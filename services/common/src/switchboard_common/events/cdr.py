"""Payloads of the cdr domain (filled in by the issue that builds its service)."""
