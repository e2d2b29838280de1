"""Bounded exponential backoff shared by the publisher, the consumer and the outbox relay."""

from __future__ import annotations

import random

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

_TRANSIENT_ERRORS = (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    maximum: float,
    jitter: float = 0.1,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): initial * 2^(attempt-1),
    capped at `maximum`, spread by +/- `jitter` (a fraction) so that retrying clients
    do not all come back at the same instant."""
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    base = min(maximum, initial * float(1 << min(attempt - 1, 62)))
    if jitter <= 0:
        return base
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, base * (1.0 + spread))


def is_retriable(exc: BaseException) -> bool:
    """True for broker errors that may go away by themselves (connection, timeout, leader)."""
    if isinstance(exc, _TRANSIENT_ERRORS):
        return True
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))
