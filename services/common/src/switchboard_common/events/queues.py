"""Queue and routing events published by the routing service on `switchboard.queues.v1`
(subject: call id), and queue configuration events on `switchboard.config.v1`
(subject: queue id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.events import topics
from switchboard_common.events.envelope import EventPayload, register

OverflowReason = Literal[
    "after_wait",
    "estimated_wait_above",
    "no_agents_logged_in",
    "max_wait",
    "max_length",
    "queue_deleted",
]
TargetKind = Literal["queue", "voicemail", "callback", "external"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkillRequirement(_Part):
    skill: str = Field(min_length=1, max_length=64)
    min_proficiency: int = Field(default=1, ge=1, le=100)


class _QueueCallEvent(EventPayload):
    TOPIC = topics.QUEUES

    call_id: str = Field(min_length=1, description="Unique-ID of the caller's channel")
    queue_id: str = Field(min_length=1)


@register
class CallEnqueued(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_enqueued.v1"
    DESCRIPTION = "A call entered a queue (published by ivr's queue node)."

    node_id: str = Field(description="switch instance / FreeSWITCH node holding the call")
    priority: int = 0
    vip_level: int = Field(default=0, ge=0)
    required_skills: list[SkillRequirement] = Field(default_factory=list)
    caller_number: str = ""
    preferred_agent_id: str | None = Field(
        default=None, description="CRM owner or last agent who spoke with this caller"
    )
    preferred_agent_last_contact_at: datetime | None = Field(
        default=None,
        description="when the preferred agent last spoke with the caller; "
        "null when the preference is the CRM owner (always valid)",
    )
    enqueued_at: datetime


@register
class CallOffered(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_offered.v1"
    DESCRIPTION = "routing reserved agent(s) for a waiting call and asked switch to bridge."

    node_id: str
    agent_id: str = Field(description="the agent offered (first one for ring-all)")
    agent_ids: list[str] = Field(description="every agent rung (several only for ring-all)")
    decision_id: str
    reservation_id: str
    epoch: int = Field(ge=0, description="partition-owner epoch that made the reservation")
    ring_timeout_s: float = Field(gt=0)
    offered_at: datetime


@register
class QueueCallAnswered(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_answered.v1"
    DESCRIPTION = "An agent answered a call offered from a queue."

    agent_id: str
    reservation_id: str
    waited_s: float = Field(ge=0)
    answered_at: datetime


@register
class CallOfferFailed(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_offer_failed.v1"
    DESCRIPTION = (
        "An offer ended without an answer; the call went back to the head of its queue. "
        "missed_agent_ids were set not ready with reason 'missed' (cti applies it)."
    )

    reservation_id: str
    outcome: Literal["no_answer", "busy", "failed", "expired", "revoked"]
    missed_agent_ids: list[str] = Field(default_factory=list)
    released_agent_ids: list[str] = Field(default_factory=list)
    failed_at: datetime


@register
class CallAbandoned(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_abandoned.v1"
    DESCRIPTION = "The caller hung up while waiting or while an agent was being rung."

    waited_s: float = Field(ge=0)
    while_ringing: bool = False
    abandoned_at: datetime


@register
class CallOverflowed(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_overflowed.v1"
    DESCRIPTION = "A call left its queue for an overflow target (queue, voicemail, ...)."

    node_id: str
    reason: OverflowReason
    target_kind: TargetKind
    target: str = Field(default="", description="queue id, mailbox or external number")
    waited_s: float = Field(ge=0)
    overflowed_at: datetime


@register
class CallDequeued(_QueueCallEvent):
    EVENT_TYPE = "switchboard.queue.call_dequeued.v1"
    DESCRIPTION = "A call left a queue, for whatever reason (one event per exit, for counts)."

    reason: Literal["answered", "abandoned", "overflowed", "removed"]
    waited_s: float = Field(ge=0)
    dequeued_at: datetime


class DecisionCandidate(_Part):
    agent_id: str
    score: float = Field(description="higher is better, meaning depends on the strategy")
    basis: str = Field(description="what the score measures, e.g. 'idle 42s'")


class DecisionSkip(_Part):
    agent_id: str
    reason: Literal[
        "not_in_queue",
        "state",
        "wrap_up",
        "already_reserved",
        "missing_skill",
        "low_proficiency",
        "not_preferred",
    ]
    detail: str = ""


@register
class RoutingDecisionMade(EventPayload):
    EVENT_TYPE = "switchboard.routing.decision.v1"
    TOPIC = topics.QUEUES
    DESCRIPTION = "Why routing picked an agent for a call: candidates, scores, skipped agents."

    decision_id: str
    call_id: str
    queue_id: str
    strategy: str
    chosen_agent_ids: list[str]
    candidates: list[DecisionCandidate] = Field(default_factory=list)
    skipped: list[DecisionSkip] = Field(default_factory=list)
    skipped_not_listed: int = Field(default=0, ge=0, description="skips beyond the list limit")
    unavailable_by_state: dict[str, int] = Field(
        default_factory=dict, description="queue members not examined, counted by state"
    )
    effective_priority: float
    waited_s: float = Field(ge=0)
    proficiency_relaxed_by: int = Field(default=0, ge=0)
    note: str = ""
    epoch: int = Field(ge=0)
    decided_at: datetime


@register
class QueueConfigChanged(EventPayload):
    EVENT_TYPE = "switchboard.queue.config_changed.v1"
    TOPIC = topics.CONFIG
    DESCRIPTION = (
        "A queue was created or its configuration changed. `config` is the routing queue "
        "configuration document (strategy, skills, timers, overflow rules, ...)."
    )

    queue_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    config: dict[str, Any]
    changed_at: datetime


@register
class QueueDeleted(EventPayload):
    EVENT_TYPE = "switchboard.queue.deleted.v1"
    TOPIC = topics.CONFIG
    DESCRIPTION = "A queue was deleted; its waiting calls go to its overflow target."

    queue_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    deleted_at: datetime
