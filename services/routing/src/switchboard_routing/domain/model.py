"""Value objects going in and out of the routing engine.

Times are floats: seconds since the Unix epoch (UTC), always passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from switchboard_common.errors import ValidationFailed
from switchboard_common.events.agents import AgentState
from switchboard_routing.domain.config import OverflowTarget, SkillRequirement, Strategy

__all__ = [
    "AgentState",
    "AgentUpdate",
    "Announcement",
    "CallLeft",
    "CallRequest",
    "Candidate",
    "EnqueueResult",
    "LeaveReason",
    "Offer",
    "OfferOutcome",
    "OfferResolution",
    "Overflow",
    "OverflowReason",
    "QueueStatus",
    "RoutingDecision",
    "SkipReason",
    "SkippedAgent",
    "TickResult",
    "WaitingCallStatus",
]


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A call asking to be queued (from `CallEnqueued`)."""

    call_id: str
    queue_id: str
    node_id: str = ""
    priority: int = 0
    vip_level: int = 0
    required_skills: tuple[SkillRequirement, ...] = ()
    caller_number: str = ""
    preferred_agent_id: str | None = None
    preferred_agent_last_contact_at: float | None = None
    """None: the preference is the CRM owner and never expires."""

    def __post_init__(self) -> None:
        if not self.call_id:
            raise ValidationFailed("call_id is empty", field="call_id")
        if not self.queue_id:
            raise ValidationFailed("queue_id is empty", field="queue_id")
        if self.vip_level < 0:
            raise ValidationFailed("vip_level must be >= 0", field="vip_level")
        for i, req in enumerate(self.required_skills):
            if not req.skill or not 1 <= req.min_proficiency <= 100:
                raise ValidationFailed("bad skill requirement", field=f"required_skills[{i}]")


@dataclass(frozen=True, slots=True)
class AgentUpdate:
    """An agent's full routing profile at `changed_at` (from `AgentStateChanged`)."""

    agent_id: str
    state: AgentState
    changed_at: float
    reason: str = ""
    skills: Mapping[str, int] = field(default_factory=dict)
    queues: tuple[str, ...] = ()
    previous_state: AgentState | None = None
    duration_in_previous_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.agent_id:
            raise ValidationFailed("agent_id is empty", field="agent_id")
        if self.duration_in_previous_s < 0:
            raise ValidationFailed("duration must be >= 0", field="duration_in_previous_s")


class SkipReason(StrEnum):
    NOT_IN_QUEUE = "not_in_queue"
    STATE = "state"
    WRAP_UP = "wrap_up"
    ALREADY_RESERVED = "already_reserved"
    MISSING_SKILL = "missing_skill"
    LOW_PROFICIENCY = "low_proficiency"
    NOT_PREFERRED = "not_preferred"


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible agent. `score`: higher is better; `basis` says what it measures."""

    agent_id: str
    score: float
    basis: str


@dataclass(frozen=True, slots=True)
class SkippedAgent:
    agent_id: str
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Why a call went to an agent: every agent examined, eligible (candidates, best first)
    or not (skipped, with the reason), and the queue members not examined, by state."""

    decision_id: str
    call_id: str
    queue_id: str
    strategy: Strategy
    chosen_agent_ids: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    skipped: tuple[SkippedAgent, ...]
    skipped_not_listed: int
    unavailable_by_state: Mapping[str, int]
    effective_priority: float
    waited_seconds: float
    proficiency_relaxed_by: int
    decided_at: float
    note: str = ""
    round_robin_cursor: str | None = None
    """For round-robin: the agent the cycle continues after (persist it to rebuild)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """Agents reserved for a call: ask switch to bridge the call to them (all at once for
    ring-all) and report the outcome with `offer_result(reservation_id, ..., epoch=epoch)`."""

    reservation_id: str
    epoch: int
    call_id: str
    queue_id: str
    node_id: str
    agent_ids: tuple[str, ...]
    decision: RoutingDecision
    offered_at: float
    ring_timeout_seconds: float
    expires_at: float

    @property
    def agent_id(self) -> str:
        return self.agent_ids[0]


class OfferOutcome(StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    EXPIRED = "expired"
    """No outcome arrived in time (ring timeout + grace)."""
    REVOKED = "revoked"
    """A new partition owner took over while the offer was in flight."""
    CALLER_HUNG_UP = "caller_hung_up"


class OverflowReason(StrEnum):
    AFTER_WAIT = "after_wait"
    ESTIMATED_WAIT_ABOVE = "estimated_wait_above"
    NO_AGENTS_LOGGED_IN = "no_agents_logged_in"
    MAX_WAIT = "max_wait"
    MAX_LENGTH = "max_length"
    QUEUE_DELETED = "queue_deleted"


@dataclass(frozen=True, slots=True)
class Overflow:
    """A call left `from_queue_id` for `target`. When the target is a queue of this engine
    the call is now waiting there (`moved`); otherwise the engine has forgotten it and the
    adapter must send it to the target."""

    call_id: str
    node_id: str
    from_queue_id: str
    reason: OverflowReason
    target: OverflowTarget
    waited_seconds: float
    moved: bool
    at: float
    note: str = ""


@dataclass(frozen=True, slots=True)
class OfferResolution:
    """How an offer ended. Every agent of the reservation is in exactly one of: answered_by,
    missed_agent_ids (now not ready, reason 'missed'), released_agent_ids."""

    reservation_id: str
    call_id: str
    queue_id: str
    outcome: OfferOutcome
    answered_by: str | None
    missed_agent_ids: tuple[str, ...]
    released_agent_ids: tuple[str, ...]
    requeued: bool
    waited_seconds: float
    at: float
    overflows: tuple[Overflow, ...] = ()


class LeaveReason(StrEnum):
    ABANDONED = "abandoned"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class CallLeft:
    """A call left without being answered or overflowed (hang-up, or taken out by ivr)."""

    call_id: str
    queue_id: str
    node_id: str
    reason: LeaveReason
    waited_seconds: float
    while_ringing: bool
    cancelled_reservation_id: str | None
    released_agent_ids: tuple[str, ...]
    at: float


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    call_id: str
    queue_id: str
    queued: bool
    position: int | None
    estimated_wait_seconds: float | None
    music_on_hold: str
    overflows: tuple[Overflow, ...] = ()
    """Overflows applied on entry (queue full, no agents, wait too long, ...)."""


@dataclass(frozen=True, slots=True)
class Announcement:
    call_id: str
    node_id: str
    queue_id: str
    position: int | None
    estimated_wait_seconds: float | None
    at: float


@dataclass(frozen=True, slots=True)
class TickResult:
    overflows: tuple[Overflow, ...] = ()
    announcements: tuple[Announcement, ...] = ()
    expired_offers: tuple[OfferResolution, ...] = ()


@dataclass(frozen=True, slots=True)
class WaitingCallStatus:
    call_id: str
    position: int
    waited_seconds: float
    effective_priority: float
    vip_level: int


@dataclass(frozen=True, slots=True)
class QueueStatus:
    queue_id: str
    strategy: Strategy
    waiting: tuple[WaitingCallStatus, ...]
    ringing: int
    longest_wait_seconds: float
    agents_by_state: Mapping[str, int]
    logged_in_agents: int
    available_agents: int
    estimated_wait_seconds: float | None
    """For a caller entering now; None when nobody is staffed."""
    average_handle_seconds: float
    answered: int
    answered_within_service_level: int
    abandoned: int
    overflowed: int
    service_level: float | None
    """Answered within the threshold / (answered + abandoned); None before any call."""
