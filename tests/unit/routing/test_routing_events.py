"""Queue / agent event payloads and the conversions between them and the engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_common.errors import ValidationFailed
from switchboard_common.events import Envelope, decode, registered_payloads, topics
from switchboard_common.events.agents import AgentSkill, AgentState, AgentStateChanged
from switchboard_common.events.queues import (
    CallAbandoned,
    CallEnqueued,
    CallOffered,
    CallOfferFailed,
    CallOverflowed,
    QueueCallAnswered,
    QueueConfigChanged,
    RoutingDecisionMade,
)
from switchboard_common.events.queues import SkillRequirement as SkillPayload
from switchboard_routing.domain import (
    OfferOutcome,
    OverflowCondition,
    OverflowRule,
    OverflowTarget,
    QueueConfig,
    SkillRequirement,
    Strategy,
    TargetKind,
    translate,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def test_payloads_are_registered_with_their_types_and_topics() -> None:
    payloads = registered_payloads()
    expected = {
        "switchboard.agent.state_changed.v1": topics.AGENTS,
        "switchboard.queue.call_enqueued.v1": topics.QUEUES,
        "switchboard.queue.call_offered.v1": topics.QUEUES,
        "switchboard.queue.call_answered.v1": topics.QUEUES,
        "switchboard.queue.call_offer_failed.v1": topics.QUEUES,
        "switchboard.queue.call_abandoned.v1": topics.QUEUES,
        "switchboard.queue.call_overflowed.v1": topics.QUEUES,
        "switchboard.queue.call_dequeued.v1": topics.QUEUES,
        "switchboard.routing.decision.v1": topics.QUEUES,
        "switchboard.queue.config_changed.v1": topics.CONFIG,
        "switchboard.queue.deleted.v1": topics.CONFIG,
    }
    for event_type, topic in expected.items():
        assert topic == payloads[event_type].TOPIC


def test_agent_state_changed_goes_through_the_envelope() -> None:
    payload = AgentStateChanged(
        agent_id="ag-1",
        state=AgentState.NOT_READY,
        reason="break",
        previous_state=AgentState.AVAILABLE,
        duration_in_previous_state_s=42.5,
        skills=[AgentSkill(name="es", proficiency=7)],
        queues=["sales"],
        changed_at=T0,
    )
    envelope = Envelope.wrap(payload, source="cti", tenant="acme", subject="ag-1")
    assert decode(envelope.encode()).payload() == payload
    with pytest.raises(ValidationFailed):
        Envelope.model_validate(
            {**envelope.model_dump(mode="json"), "data": {**envelope.data, "state": "napping"}}
        ).payload()


def test_agent_update_from_event_feeds_the_engine() -> None:
    update = translate.agent_update(
        AgentStateChanged(
            agent_id="ag-1",
            state=AgentState.AVAILABLE,
            previous_state=AgentState.ON_CALL,
            duration_in_previous_state_s=30,
            skills=[AgentSkill(name="es", proficiency=7)],
            queues=["q"],
            changed_at=T0,
        )
    )
    assert update.changed_at == T0.timestamp()
    assert update.skills == {"es": 7}
    engine = make_engine(QueueConfig("q"))
    assert engine.agent_changed(update, update.changed_at)
    assert engine.agent_state("ag-1") is AgentState.AVAILABLE


def test_call_enqueued_round_trips_through_the_call_request() -> None:
    event = CallEnqueued(
        call_id="c1",
        queue_id="q",
        node_id="fs2",
        priority=2,
        vip_level=1,
        required_skills=[SkillPayload(skill="fr", min_proficiency=4)],
        caller_number="+3312",
        preferred_agent_id="ag-9",
        preferred_agent_last_contact_at=T0,
        enqueued_at=T0,
    )
    request = translate.call_request(event)
    assert request.required_skills == (SkillRequirement("fr", 4),)
    assert request.preferred_agent_last_contact_at == T0.timestamp()
    assert translate.call_enqueued(request, enqueued_at=T0.timestamp()) == event


def test_offer_and_decision_events_describe_the_offer() -> None:
    engine = make_engine(
        QueueConfig("q", strategy=Strategy.LONGEST_IDLE, required_skills=(SkillRequirement("fr"),))
    )
    set_agent(engine, "a", "q", at=T0.timestamp(), skills={"fr": 3})
    set_agent(engine, "b", "q", at=T0.timestamp() - 60)
    now = T0.timestamp() + 10
    engine.enqueue(call("c1", "q"), now)
    offer = only_offer(engine, now)
    offered = translate.call_offered(offer)
    assert isinstance(offered, CallOffered)
    assert (offered.agent_id, offered.epoch, offered.offered_at) == ("a", 1, T0.replace(second=10))
    decision = translate.decision_made(offer.decision, epoch=offer.epoch)
    assert isinstance(decision, RoutingDecisionMade)
    assert decision.chosen_agent_ids == ["a"]
    assert [(s.agent_id, s.reason, s.detail) for s in decision.skipped] == [
        ("b", "missing_skill", "fr")
    ]
    assert decision.candidates[0].basis == "idle 10s"
    assert RoutingDecisionMade.model_validate(decision.model_dump(mode="json")) == decision
    failed = translate.offer_ended(
        engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, now + 20, epoch=1)
    )
    assert isinstance(failed, CallOfferFailed)
    assert failed.missed_agent_ids == ["a"]
    set_agent(engine, "a", "q", at=now + 30, skills={"fr": 3})
    retry = only_offer(engine, now + 30)
    answered = translate.offer_ended(
        engine.offer_result(retry.reservation_id, OfferOutcome.ANSWERED, now + 35, epoch=1)
    )
    assert isinstance(answered, QueueCallAnswered)
    assert answered.waited_s == 35


def test_overflow_and_abandon_events() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            overflow_rules=(
                OverflowRule(
                    OverflowCondition.AFTER_WAIT,
                    OverflowTarget(TargetKind.EXTERNAL, "+441234567"),
                    5,
                ),
            ),
        )
    )
    engine.enqueue(call("c1", "q"), 0)
    engine.enqueue(call("c2", "q"), 3)
    overflowed = translate.call_overflowed(engine.tick(5).overflows[0])
    assert isinstance(overflowed, CallOverflowed)
    assert (overflowed.reason, overflowed.target_kind, overflowed.target) == (
        "after_wait",
        "external",
        "+441234567",
    )
    left = engine.caller_hung_up("c2", 4 + 1)
    assert left is not None
    abandoned = translate.call_abandoned(left)
    assert isinstance(abandoned, CallAbandoned)
    assert abandoned.waited_s == 2
    dequeued = translate.call_dequeued(
        call_id="c2", queue_id="q", reason="abandoned", waited_seconds=2, at=5
    )
    assert dequeued.reason == "abandoned"


def test_queue_config_travels_in_config_events() -> None:
    config = QueueConfig(
        "sales", strategy=Strategy.SKILLS_BASED, required_skills=(SkillRequirement("fr", 5),)
    )
    event = translate.queue_config_changed(config, version=3, changed_at=T0.timestamp())
    assert isinstance(event, QueueConfigChanged)
    wire = decode(Envelope.wrap(event, source="admin", tenant="acme").encode())
    restored = wire.payload_as(QueueConfigChanged)
    assert translate.queue_config(restored) == config
    broken = QueueConfigChanged(
        queue_id="sales",
        version=4,
        changed_at=T0,
        config={**restored.config, "strategy": "best-guess"},
    )
    with pytest.raises(ValidationFailed) as caught:
        translate.queue_config(broken)
    assert caught.value.details["field"] == "strategy"


def test_results_without_an_event_are_refused() -> None:
    engine = make_engine(QueueConfig("q"))
    engine.enqueue(call("c1", "q"), 0)
    removed = engine.remove_call("c1", 1)
    assert removed is not None
    with pytest.raises(ValidationFailed) as caught:
        translate.call_abandoned(removed)
    assert caught.value.error_id == "no-event-for-outcome"
