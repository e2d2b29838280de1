"""Payloads of the ivr domain (filled in by the issue that builds its service)."""
