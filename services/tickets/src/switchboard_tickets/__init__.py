"""Switchboard tickets service: customers (CRM) and tickets (SLA, escalation)."""
