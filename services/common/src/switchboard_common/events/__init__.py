"""Event envelope, payload registry and per-domain payload models."""

from switchboard_common.events.envelope import (
    Envelope,
    EventPayload,
    decode,
    new_event_id,
    payload_class,
    register,
    registered_payloads,
)

__all__ = [
    "Envelope",
    "EventPayload",
    "decode",
    "new_event_id",
    "payload_class",
    "register",
    "registered_payloads",
]
