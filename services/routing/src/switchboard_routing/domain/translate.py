"""Between event payloads (shared library) and the engine's value objects.

Consumers turn `CallEnqueued` / `AgentStateChanged` / `QueueConfigChanged` into engine inputs;
the notifier turns engine results into the payloads it publishes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from switchboard_common.errors import ValidationFailed
from switchboard_common.events.agents import AgentStateChanged
from switchboard_common.events.queues import (
    CallAbandoned,
    CallDequeued,
    CallEnqueued,
    CallOffered,
    CallOfferFailed,
    CallOverflowed,
    DecisionCandidate,
    DecisionSkip,
    QueueCallAnswered,
    QueueConfigChanged,
    RoutingDecisionMade,
)
from switchboard_common.events.queues import SkillRequirement as SkillRequirementPayload
from switchboard_routing.domain.config import (
    QueueConfig,
    SkillRequirement,
    parse_queue_config,
    queue_config_to_dict,
)
from switchboard_routing.domain.model import (
    AgentUpdate,
    CallLeft,
    CallRequest,
    LeaveReason,
    Offer,
    OfferOutcome,
    OfferResolution,
    Overflow,
    RoutingDecision,
)


def to_epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def call_request(event: CallEnqueued) -> CallRequest:
    last_contact = event.preferred_agent_last_contact_at
    return CallRequest(
        call_id=event.call_id,
        queue_id=event.queue_id,
        node_id=event.node_id,
        priority=event.priority,
        vip_level=event.vip_level,
        required_skills=tuple(
            SkillRequirement(r.skill, r.min_proficiency) for r in event.required_skills
        ),
        caller_number=event.caller_number,
        preferred_agent_id=event.preferred_agent_id,
        preferred_agent_last_contact_at=to_epoch(last_contact) if last_contact else None,
    )


def call_enqueued(request: CallRequest, *, enqueued_at: float) -> CallEnqueued:
    return CallEnqueued(
        call_id=request.call_id,
        queue_id=request.queue_id,
        node_id=request.node_id,
        priority=request.priority,
        vip_level=request.vip_level,
        required_skills=[
            SkillRequirementPayload(skill=r.skill, min_proficiency=r.min_proficiency)
            for r in request.required_skills
        ],
        caller_number=request.caller_number,
        preferred_agent_id=request.preferred_agent_id,
        preferred_agent_last_contact_at=(
            from_epoch(request.preferred_agent_last_contact_at)
            if request.preferred_agent_last_contact_at is not None
            else None
        ),
        enqueued_at=from_epoch(enqueued_at),
    )


def agent_update(event: AgentStateChanged) -> AgentUpdate:
    return AgentUpdate(
        agent_id=event.agent_id,
        state=event.state,
        changed_at=to_epoch(event.changed_at),
        reason=event.reason,
        skills={s.name: s.proficiency for s in event.skills},
        queues=tuple(event.queues),
        previous_state=event.previous_state,
        duration_in_previous_s=event.duration_in_previous_state_s,
    )


def queue_config(event: QueueConfigChanged) -> QueueConfig:
    return parse_queue_config({**event.config, "queue_id": event.queue_id})


def queue_config_changed(
    config: QueueConfig, *, version: int, changed_at: float
) -> QueueConfigChanged:
    return QueueConfigChanged(
        queue_id=config.queue_id,
        version=version,
        config=queue_config_to_dict(config),
        changed_at=from_epoch(changed_at),
    )


def decision_made(decision: RoutingDecision, *, epoch: int) -> RoutingDecisionMade:
    return RoutingDecisionMade(
        decision_id=decision.decision_id,
        call_id=decision.call_id,
        queue_id=decision.queue_id,
        strategy=decision.strategy.value,
        chosen_agent_ids=list(decision.chosen_agent_ids),
        candidates=[
            DecisionCandidate(agent_id=c.agent_id, score=c.score, basis=c.basis)
            for c in decision.candidates
        ],
        skipped=[
            DecisionSkip(agent_id=s.agent_id, reason=s.reason.value, detail=s.detail)
            for s in decision.skipped
        ],
        skipped_not_listed=decision.skipped_not_listed,
        unavailable_by_state=dict(decision.unavailable_by_state),
        effective_priority=decision.effective_priority,
        waited_s=decision.waited_seconds,
        proficiency_relaxed_by=decision.proficiency_relaxed_by,
        note=decision.note,
        epoch=epoch,
        decided_at=from_epoch(decision.decided_at),
    )


def call_offered(offer: Offer) -> CallOffered:
    return CallOffered(
        call_id=offer.call_id,
        queue_id=offer.queue_id,
        node_id=offer.node_id,
        agent_id=offer.agent_id,
        agent_ids=list(offer.agent_ids),
        decision_id=offer.decision.decision_id,
        reservation_id=offer.reservation_id,
        epoch=offer.epoch,
        ring_timeout_s=offer.ring_timeout_seconds,
        offered_at=from_epoch(offer.offered_at),
    )


def offer_ended(resolution: OfferResolution) -> QueueCallAnswered | CallOfferFailed:
    """The event for how an offer ended (answered, or failed and back in the queue)."""
    if resolution.answered_by is not None:
        return QueueCallAnswered(
            call_id=resolution.call_id,
            queue_id=resolution.queue_id,
            agent_id=resolution.answered_by,
            reservation_id=resolution.reservation_id,
            waited_s=resolution.waited_seconds,
            answered_at=from_epoch(resolution.at),
        )
    outcome = resolution.outcome
    if outcome in (OfferOutcome.ANSWERED, OfferOutcome.CALLER_HUNG_UP):
        raise ValidationFailed(
            f"an offer ended by {outcome} has no failure event",
            field="outcome",
            error_id="no-event-for-outcome",
        )
    return CallOfferFailed(
        call_id=resolution.call_id,
        queue_id=resolution.queue_id,
        reservation_id=resolution.reservation_id,
        outcome=outcome.value,
        missed_agent_ids=list(resolution.missed_agent_ids),
        released_agent_ids=list(resolution.released_agent_ids),
        failed_at=from_epoch(resolution.at),
    )


def call_overflowed(overflow: Overflow) -> CallOverflowed:
    return CallOverflowed(
        call_id=overflow.call_id,
        queue_id=overflow.from_queue_id,
        node_id=overflow.node_id,
        reason=overflow.reason.value,
        target_kind=overflow.target.kind.value,
        target=overflow.target.destination,
        waited_s=overflow.waited_seconds,
        overflowed_at=from_epoch(overflow.at),
    )


def call_abandoned(left: CallLeft) -> CallAbandoned:
    if left.reason is not LeaveReason.ABANDONED:
        raise ValidationFailed(
            "the call was removed, not abandoned", field="reason", error_id="no-event-for-outcome"
        )
    return CallAbandoned(
        call_id=left.call_id,
        queue_id=left.queue_id,
        waited_s=left.waited_seconds,
        while_ringing=left.while_ringing,
        abandoned_at=from_epoch(left.at),
    )


def call_dequeued(
    *, call_id: str, queue_id: str, reason: str, waited_seconds: float, at: float
) -> CallDequeued:
    """The generic 'left the queue' event (reason: answered, abandoned, overflowed, removed)."""
    return CallDequeued.model_validate(
        {
            "call_id": call_id,
            "queue_id": queue_id,
            "reason": reason,
            "waited_s": waited_seconds,
            "dequeued_at": from_epoch(at),
        }
    )
