"""Switchboard admin service.

Owns tenants, users, roles, API keys, numbers, quotas, FreeSWITCH directory and dialplan.
"""
