"""Payloads of the queues domain (filled in by the issue that builds its service)."""
