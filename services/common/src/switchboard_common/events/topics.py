"""Kafka topics, one per domain; every record is keyed by tenant id."""

CALLS = "switchboard.calls.v1"
AGENTS = "switchboard.agents.v1"
QUEUES = "switchboard.queues.v1"
IVR = "switchboard.ivr.v1"
RECORDINGS = "switchboard.recordings.v1"
TICKETS = "switchboard.tickets.v1"
CDR = "switchboard.cdr.v1"
CONFIG = "switchboard.config.v1"

ALL_TOPICS: tuple[str, ...] = (CALLS, AGENTS, QUEUES, IVR, RECORDINGS, TICKETS, CDR, CONFIG)
