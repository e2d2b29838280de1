"""Call ordering: priority, VIP, priority rules, aging, and agents serving several queues."""

from __future__ import annotations

from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_routing.domain import (
    AgentState,
    OfferOutcome,
    PriorityRule,
    QueueConfig,
    SkillRequirement,
)


def test_fifo_for_equal_priority_with_ties_broken_by_arrival_order() -> None:
    engine = make_engine(QueueConfig("q"))
    for name in ("first", "second", "third"):
        engine.enqueue(call(name, "q"), 10)
    assert engine.waiting_call_ids("q") == ["first", "second", "third"]


def test_priority_and_vip_raise_a_call_place() -> None:
    engine = make_engine(QueueConfig("q", vip_weight=10, aging_seconds=None))
    engine.enqueue(call("normal", "q"), 0)
    engine.enqueue(call("urgent", "q", priority=5), 1)
    engine.enqueue(call("vip", "q", vip_level=1), 2)
    assert engine.waiting_call_ids("q") == ["vip", "urgent", "normal"]
    set_agent(engine, "a", "q", at=3)
    assert only_offer(engine, 3).call_id == "vip"


def test_priority_rules_boost_matching_calls() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            aging_seconds=None,
            priority_rules=(
                PriorityRule(boost=4, caller_number_prefix="+4420"),
                PriorityRule(boost=2, required_skill="billing"),
                PriorityRule(boost=1, min_vip_level=2),
            ),
        )
    )
    engine.enqueue(call("plain", "q", caller_number="+3361"), 0)
    engine.enqueue(call("vip1", "q", vip_level=1, caller_number="+3361"), 1)
    engine.enqueue(call("billing", "q", required_skills=(SkillRequirement("billing"),)), 2)
    engine.enqueue(call("london", "q", caller_number="+442071234567"), 3)
    status = engine.queue_status("q", 3)
    assert [w.call_id for w in status.waiting] == ["vip1", "london", "billing", "plain"]
    assert [w.effective_priority for w in status.waiting] == [10, 4, 2, 0]


def test_waiting_ages_a_call_so_nobody_waits_forever() -> None:
    """With one priority point per 60 s, a priority-2 call counts as having arrived 120 s
    earlier: it passes a call that waited less than that, never one that waited longer."""
    engine = make_engine(QueueConfig("q", aging_seconds=60))
    engine.enqueue(call("old", "q"), 0)
    engine.enqueue(call("important", "q", priority=2), 100)
    assert engine.waiting_call_ids("q") == ["important", "old"]
    engine.enqueue(call("latecomer", "q", priority=2), 130)
    status = engine.queue_status("q", 130)
    assert [w.call_id for w in status.waiting] == ["important", "old", "latecomer"]
    assert [w.effective_priority for w in status.waiting] == [2.5, 130 / 60, 2.0]


def test_order_of_already_waiting_calls_is_stable_over_time() -> None:
    engine = make_engine(QueueConfig("q", aging_seconds=30))
    engine.enqueue(call("a", "q", priority=3), 0)
    engine.enqueue(call("b", "q"), 60)
    engine.enqueue(call("c", "q", priority=1), 61)
    before = engine.waiting_call_ids("q")
    set_agent(engine, "x", "q", at=10_000)
    assert only_offer(engine, 10_000).call_id == before[0]
    assert engine.waiting_call_ids("q") == before[1:]


def test_agent_in_two_queues_serves_the_higher_priority_queue_first() -> None:
    engine = make_engine(QueueConfig("low", priority=0), QueueConfig("high", priority=5))
    engine.enqueue(call("low-call", "low", vip_level=3), 0)
    engine.enqueue(call("high-call", "high"), 50)
    set_agent(engine, "shared", "low", "high", at=60)
    offer = only_offer(engine, 60)
    assert (offer.call_id, offer.queue_id) == ("high-call", "high")


def test_same_queue_priority_goes_to_the_higher_effective_priority_then_longer_wait() -> None:
    engine = make_engine(QueueConfig("a", aging_seconds=None), QueueConfig("b", aging_seconds=None))
    engine.enqueue(call("a-early", "a"), 0)
    engine.enqueue(call("b-late", "b"), 10)
    engine.enqueue(call("b-urgent", "b", priority=1), 20)
    set_agent(engine, "x", "a", "b", at=30)
    assert only_offer(engine, 30).call_id == "b-urgent"
    set_agent(engine, "y", "a", "b", at=31)
    assert only_offer(engine, 31).call_id == "a-early"


def test_a_failed_offer_puts_the_call_back_at_the_head() -> None:
    engine = make_engine(QueueConfig("q"))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("c1", "q"), 1)
    offer = only_offer(engine, 1)
    engine.enqueue(call("vip", "q", vip_level=5), 2)
    engine.enqueue(call("c3", "q"), 3)
    resolution = engine.offer_result(offer.reservation_id, OfferOutcome.BUSY, 4, epoch=1)
    assert resolution.requeued
    assert engine.waiting_call_ids("q") == ["c1", "vip", "c3"]
    assert engine.agent_state("a") is AgentState.NOT_READY
