"""Switchboard cti service.

Owns agent sessions, agent state machine, screen pop, call controls, desktop pages.
"""
