"""The offer cycle: reserve, answered / missed / hang-up / expiry, epochs, agent events."""

from __future__ import annotations

from typing import Any

import pytest
from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_common.errors import NotFound, PreconditionFailed, ValidationFailed
from switchboard_routing.domain import (
    AgentState,
    LeaveReason,
    OfferOutcome,
    QueueConfig,
    RoutingEngine,
    SkillRequirement,
    SkipReason,
    Strategy,
)


def engine_with_agents(*agents: str, **config: Any) -> RoutingEngine:
    engine = make_engine(QueueConfig("q", **config))
    for i, agent in enumerate(agents):
        set_agent(engine, agent, "q", at=float(i))
    return engine


def test_an_offer_reserves_the_agent_and_the_call() -> None:
    engine = engine_with_agents("a")
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    assert offer.epoch == 1
    assert offer.node_id == "fs1"
    assert offer.expires_at == 10 + 20 + 10
    assert engine.agent_state("a") is AgentState.RESERVED
    assert engine.agent_reservation("a") == offer.reservation_id
    assert engine.is_call_ringing("c1")
    assert engine.waiting_call_ids("q") == []
    engine.enqueue(call("c2", "q"), 11)
    assert engine.next_offers(11) == []


def test_answered_connects_the_call_and_counts_it() -> None:
    engine = engine_with_agents("a", service_level_seconds=20)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    resolution = engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 15, epoch=1)
    assert resolution.answered_by == "a"
    assert not resolution.requeued
    assert resolution.waited_seconds == 5
    assert engine.agent_state("a") is AgentState.ON_CALL
    assert engine.agent_reservation("a") is None
    assert engine.call_queue("c1") is None
    status = engine.queue_status("q", 15)
    assert (status.answered, status.answered_within_service_level) == (1, 1)


@pytest.mark.parametrize(
    "outcome", [OfferOutcome.NO_ANSWER, OfferOutcome.BUSY, OfferOutcome.FAILED]
)
def test_a_missed_offer_sets_the_agent_not_ready_and_requeues_the_call(
    outcome: OfferOutcome,
) -> None:
    engine = engine_with_agents("a", "b")
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    resolution = engine.offer_result(offer.reservation_id, outcome, 30, epoch=1)
    assert resolution.missed_agent_ids == ("a",)
    assert resolution.requeued
    assert engine.agent_state("a") is AgentState.NOT_READY
    assert engine.agent_reservation("a") is None
    retry = only_offer(engine, 30)
    assert (retry.call_id, retry.agent_id) == ("c1", "b")


def test_a_missed_agent_is_not_made_available_by_an_older_event() -> None:
    engine = engine_with_agents("a")
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, 30, epoch=1)
    assert not set_agent(engine, "a", "q", at=25)
    assert engine.agent_state("a") is AgentState.NOT_READY
    assert set_agent(engine, "a", "q", at=40)
    assert only_offer(engine, 40).agent_id == "a"


def test_caller_hanging_up_while_waiting_is_an_abandon() -> None:
    engine = engine_with_agents()
    engine.enqueue(call("c1", "q"), 10)
    left = engine.caller_hung_up("c1", 25)
    assert left is not None
    assert (left.reason, left.waited_seconds, left.while_ringing) == (
        LeaveReason.ABANDONED,
        15,
        False,
    )
    assert engine.queue_status("q", 25).abandoned == 1
    assert engine.caller_hung_up("c1", 26) is None


def test_caller_hanging_up_while_ringing_frees_the_agent() -> None:
    engine = engine_with_agents("a")
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    left = engine.caller_hung_up("c1", 12)
    assert left is not None
    assert left.while_ringing
    assert left.cancelled_reservation_id == offer.reservation_id
    assert left.released_agent_ids == ("a",)
    assert engine.agent_state("a") is AgentState.AVAILABLE
    assert engine.reservations() == {}
    with pytest.raises(NotFound):
        engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, 13, epoch=1)
    engine.enqueue(call("c2", "q"), 14)
    assert only_offer(engine, 14).agent_id == "a"


def test_hang_up_of_an_answered_call_is_not_ours() -> None:
    engine = engine_with_agents("a")
    engine.enqueue(call("c1", "q"), 10)
    engine.offer_result(only_offer(engine, 10).reservation_id, OfferOutcome.ANSWERED, 11, epoch=1)
    assert engine.caller_hung_up("c1", 100) is None


def test_removed_calls_are_not_abandons() -> None:
    engine = engine_with_agents()
    engine.enqueue(call("c1", "q"), 10)
    left = engine.remove_call("c1", 12)
    assert left is not None
    assert left.reason is LeaveReason.REMOVED
    assert engine.queue_status("q", 12).abandoned == 0


def test_results_from_another_epoch_are_refused() -> None:
    engine = engine_with_agents("a")
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    with pytest.raises(PreconditionFailed) as stale:
        engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 11, epoch=0)
    assert stale.value.error_id == "stale-epoch"
    with pytest.raises(PreconditionFailed) as fenced:
        engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 11, epoch=2)
    assert fenced.value.error_id == "epoch-fenced"
    assert engine.agent_state("a") is AgentState.RESERVED


def test_bad_results_are_refused() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.RING_ALL))
    set_agent(engine, "a", "q", at=0)
    set_agent(engine, "b", "q", at=0)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    with pytest.raises(NotFound):
        engine.offer_result("r-nope", OfferOutcome.ANSWERED, 11, epoch=1)
    with pytest.raises(ValidationFailed) as who:
        engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 11, epoch=1)
    assert who.value.details["field"] == "answered_by"
    with pytest.raises(ValidationFailed):
        engine.offer_result(
            offer.reservation_id, OfferOutcome.ANSWERED, 11, epoch=1, answered_by="stranger"
        )
    with pytest.raises(ValidationFailed) as outcome:
        engine.offer_result(offer.reservation_id, OfferOutcome.EXPIRED, 11, epoch=1)
    assert outcome.value.details["field"] == "outcome"


def test_an_offer_without_outcome_expires_and_frees_the_agent() -> None:
    engine = engine_with_agents("a", ring_timeout_seconds=15)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    assert engine.tick(34).expired_offers == ()
    expired = engine.tick(35).expired_offers
    assert [e.reservation_id for e in expired] == [offer.reservation_id]
    assert expired[0].outcome is OfferOutcome.EXPIRED
    assert expired[0].released_agent_ids == ("a",)
    assert engine.agent_state("a") is AgentState.AVAILABLE
    assert only_offer(engine, 35).call_id == "c1"


def test_agent_events_during_an_offer_do_not_end_the_reservation() -> None:
    engine = engine_with_agents("a")
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    set_agent(engine, "a", "q", at=11, state=AgentState.RESERVED)
    set_agent(engine, "a", "q", at=12)
    assert engine.agent_state("a") is AgentState.RESERVED
    engine.enqueue(call("c2", "q"), 12)
    assert engine.next_offers(12) == []
    set_agent(engine, "a", "q", at=13, state=AgentState.LOGGED_OUT)
    resolution = engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, 20, epoch=1)
    assert resolution.missed_agent_ids == ()
    assert resolution.released_agent_ids == ("a",)
    assert engine.agent_state("a") is AgentState.LOGGED_OUT


def test_agents_in_other_states_or_without_the_queue_are_not_offered() -> None:
    engine = make_engine(QueueConfig("q"))
    set_agent(engine, "away", "q", at=0, state=AgentState.NOT_READY)
    set_agent(engine, "talking", "q", at=0, state=AgentState.ON_CALL)
    set_agent(engine, "other", "elsewhere", at=0)
    engine.enqueue(call("c1", "q"), 10)
    assert engine.next_offers(10) == []
    set_agent(engine, "other", "elsewhere", "q", at=11)
    assert only_offer(engine, 11).agent_id == "other"


def test_enqueue_refuses_duplicates_and_unknown_queues() -> None:
    engine = make_engine(QueueConfig("q"))
    engine.enqueue(call("c1", "q"), 0)
    with pytest.raises(ValidationFailed) as duplicate:
        engine.enqueue(call("c1", "q"), 1)
    assert duplicate.value.error_id == "call-already-queued"
    with pytest.raises(NotFound) as unknown:
        engine.enqueue(call("c2", "nowhere"), 1)
    assert unknown.value.error_id == "no-such-queue"


def test_explain_lists_why_each_member_was_skipped() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.LONGEST_IDLE))
    set_agent(engine, "busy", "q", at=0, skills={"es": 9})
    set_agent(engine, "ok", "q", at=1, skills={"es": 5})
    set_agent(engine, "novice", "q", at=1, skills={"es": 1})
    set_agent(engine, "english", "q", at=1, skills={"en": 9})
    set_agent(engine, "away", "q", at=1, state=AgentState.NOT_READY, skills={"es": 9})
    set_agent(engine, "wrapping", "q", at=1, state=AgentState.WRAP_UP, skills={"es": 9})
    engine.enqueue(call("first", "q"), 2)
    assert only_offer(engine, 2).agent_id == "busy"
    engine.enqueue(call("c1", "q", required_skills=(SkillRequirement("es", 3),)), 3)
    decision = engine.explain("c1", 3)
    assert decision.chosen_agent_ids == ("ok",)
    assert {s.agent_id: s.reason for s in decision.skipped} == {
        "novice": SkipReason.LOW_PROFICIENCY,
        "english": SkipReason.MISSING_SKILL,
        "away": SkipReason.STATE,
        "wrapping": SkipReason.WRAP_UP,
        "busy": SkipReason.ALREADY_RESERVED,
    }
    assert decision.unavailable_by_state == {"not_ready": 1, "wrap_up": 1, "reserved": 1}
    assert engine.is_call_ringing("c1") is False
