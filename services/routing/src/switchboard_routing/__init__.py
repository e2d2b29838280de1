"""Switchboard routing service.

Owns queues, skills, agent availability, routing decisions, staffing maths.
"""
