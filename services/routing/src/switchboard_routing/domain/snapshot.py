"""The engine's state as plain data, to persist and to rebuild after partitions move.

`EngineSnapshot.to_dict()` gives a JSON-ready document; `EngineSnapshot.from_dict()` reads
one back and raises `ValidationFailed` (error id `bad-routing-snapshot`) on anything malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from switchboard_common.errors import ValidationFailed
from switchboard_common.events.agents import AgentState
from switchboard_routing.domain.config import OverflowTarget, QueueConfig
from switchboard_routing.domain.model import CallRequest

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    config: QueueConfig
    round_robin_cursor: str | None = None
    handle_samples: tuple[float, ...] = ()
    answered: int = 0
    answered_within_service_level: int = 0
    abandoned: int = 0
    overflowed: int = 0


@dataclass(frozen=True, slots=True)
class AgentSnapshot:
    agent_id: str
    state: AgentState
    reported_state: AgentState
    last_update_at: float
    idle_since: float
    reason: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    queues: tuple[str, ...] = ()
    calls_handled: int = 0
    talk_seconds: float = 0.0
    wrap_up_until: float = 0.0
    reservation_id: str | None = None
    call_queue_id: str | None = None
    answered_at: float = 0.0
    call_ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    request: CallRequest
    queue_id: str
    seq: int
    first_enqueued_at: float
    entered_at: float
    tier: int = 1
    next_announcement_at: float | None = None
    visited: tuple[str, ...] = ()
    reservation_id: str | None = None
    exit_target: OverflowTarget | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Agents held for one call by the partition owner of `epoch` (immutable: kept as is in
    the engine and in snapshots)."""

    reservation_id: str
    epoch: int
    call_id: str
    queue_id: str
    agent_ids: tuple[str, ...]
    ring_all: bool
    created_at: float
    expires_at: float
    decision_id: str


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    tenant_id: str
    epoch: int
    seq: int
    queues: tuple[QueueSnapshot, ...] = ()
    agents: tuple[AgentSnapshot, ...] = ()
    calls: tuple[CallSnapshot, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    version: int = SNAPSHOT_VERSION

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = _ADAPTER.dump_python(self, mode="json")
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineSnapshot:
        try:
            snapshot = _ADAPTER.validate_python(dict(data))
        except ValidationError as exc:
            raise ValidationFailed(
                "malformed routing snapshot",
                error_id="bad-routing-snapshot",
                details={"errors": exc.errors(include_url=False, include_context=False)},
            ) from exc
        if snapshot.version != SNAPSHOT_VERSION:
            raise ValidationFailed(
                f"snapshot version {snapshot.version} is not supported",
                field="version",
                error_id="bad-routing-snapshot",
            )
        return snapshot


_ADAPTER: TypeAdapter[EngineSnapshot] = TypeAdapter(EngineSnapshot)
