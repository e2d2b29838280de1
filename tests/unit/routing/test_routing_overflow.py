"""Overflow rules, max wait / length, queue deletion, announcements."""

from __future__ import annotations

import pytest
from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_common.errors import NotFound
from switchboard_routing.domain import (
    AgentState,
    Announcements,
    OfferOutcome,
    OverflowCondition,
    OverflowReason,
    OverflowRule,
    OverflowTarget,
    QueueConfig,
    TargetKind,
)

VOICEMAIL = OverflowTarget(TargetKind.VOICEMAIL, "mbox-7")
CALLBACK = OverflowTarget(TargetKind.CALLBACK)


def to_queue(queue_id: str) -> OverflowTarget:
    return OverflowTarget(TargetKind.QUEUE, queue_id)


def test_after_wait_overflows_to_voicemail_and_forgets_the_call() -> None:
    engine = make_engine(
        QueueConfig(
            "q", overflow_rules=(OverflowRule(OverflowCondition.AFTER_WAIT, VOICEMAIL, 90),)
        )
    )
    set_agent(engine, "a", "q", at=0, state=AgentState.ON_CALL)
    engine.enqueue(call("c1", "q"), 10)
    assert engine.tick(99).overflows == ()
    overflows = engine.tick(100).overflows
    assert len(overflows) == 1
    overflow = overflows[0]
    assert (overflow.reason, overflow.target, overflow.moved) == (
        OverflowReason.AFTER_WAIT,
        VOICEMAIL,
        False,
    )
    assert overflow.waited_seconds == 90
    assert overflow.node_id == "fs1"
    assert engine.call_queue("c1") is None
    assert engine.queue_status("q", 100).overflowed == 1


def test_overflow_to_another_queue_moves_the_call_there() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            overflow_rules=(OverflowRule(OverflowCondition.AFTER_WAIT, to_queue("backup"), 30),),
        ),
        QueueConfig("backup"),
    )
    engine.enqueue(call("c1", "q", priority=3), 0)
    overflow = engine.tick(30).overflows[0]
    assert overflow.moved
    assert engine.call_queue("c1") == "backup"
    set_agent(engine, "b", "backup", at=31)
    assert only_offer(engine, 31).queue_id == "backup"


def test_overflow_loops_end_at_the_fallback_target() -> None:
    engine = make_engine(
        QueueConfig(
            "a", overflow_rules=(OverflowRule(OverflowCondition.AFTER_WAIT, to_queue("b"), 10),)
        ),
        QueueConfig(
            "b", overflow_rules=(OverflowRule(OverflowCondition.AFTER_WAIT, to_queue("a"), 10),)
        ),
        fallback_target=CALLBACK,
    )
    engine.enqueue(call("c1", "a"), 0)
    assert engine.tick(10).overflows[0].moved
    final = engine.tick(20).overflows
    assert len(final) == 1
    assert (final[0].target, final[0].moved) == (CALLBACK, False)
    assert "already visited" in final[0].note
    assert engine.call_queue("c1") is None


def test_overflow_to_an_unknown_queue_goes_to_the_fallback() -> None:
    engine = make_engine(
        QueueConfig(
            "q", overflow_rules=(OverflowRule(OverflowCondition.AFTER_WAIT, to_queue("gone"), 5),)
        )
    )
    engine.enqueue(call("c1", "q"), 0)
    overflow = engine.tick(5).overflows[0]
    assert overflow.target.kind is TargetKind.VOICEMAIL
    assert overflow.note == "queue gone does not exist"


def test_estimated_wait_above_the_threshold_overflows_on_entry() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            default_handle_seconds=120,
            overflow_rules=(OverflowRule(OverflowCondition.ESTIMATED_WAIT_ABOVE, CALLBACK, 150),),
        )
    )
    set_agent(engine, "a", "q", at=0, state=AgentState.ON_CALL)
    first = engine.enqueue(call("c1", "q"), 1)
    assert first.queued
    assert first.estimated_wait_seconds == 120
    second = engine.enqueue(call("c2", "q"), 2)
    assert not second.queued
    assert second.overflows[0].reason is OverflowReason.ESTIMATED_WAIT_ABOVE
    assert second.overflows[0].target == CALLBACK


def test_no_agent_logged_in_overflows_on_entry_and_when_the_last_one_leaves() -> None:
    engine = make_engine(
        QueueConfig(
            "q", overflow_rules=(OverflowRule(OverflowCondition.NO_AGENTS_LOGGED_IN, VOICEMAIL),)
        )
    )
    refused = engine.enqueue(call("c0", "q"), 0)
    assert refused.overflows[0].reason is OverflowReason.NO_AGENTS_LOGGED_IN
    set_agent(engine, "a", "q", at=1, state=AgentState.ON_CALL)
    assert engine.enqueue(call("c1", "q"), 2).queued
    assert engine.enqueue(call("c2", "q"), 3).queued
    assert engine.tick(4).overflows == ()
    set_agent(engine, "a", "q", at=5, state=AgentState.LOGGED_OUT)
    overflows = engine.tick(6).overflows
    assert [o.call_id for o in overflows] == ["c1", "c2"]


def test_max_wait_sends_the_call_to_the_exit_target() -> None:
    engine = make_engine(QueueConfig("q", max_wait_seconds=300, exit_target=VOICEMAIL))
    engine.enqueue(call("c1", "q"), 0)
    overflow = engine.tick(300).overflows[0]
    assert (overflow.reason, overflow.target) == (OverflowReason.MAX_WAIT, VOICEMAIL)


def test_max_wait_during_an_offer_applies_when_the_call_comes_back() -> None:
    engine = make_engine(QueueConfig("q", max_wait_seconds=20, ring_timeout_seconds=20))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("c1", "q"), 15)
    offer = only_offer(engine, 15)
    assert engine.tick(36).overflows == ()
    engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, 40, epoch=1)
    overflow = engine.tick(40).overflows[0]
    assert overflow.reason is OverflowReason.MAX_WAIT
    assert overflow.target.kind is TargetKind.VOICEMAIL


def test_a_full_queue_turns_new_callers_away() -> None:
    engine = make_engine(QueueConfig("q", max_length=2, exit_target=CALLBACK))
    assert engine.enqueue(call("c1", "q"), 0).position == 1
    assert engine.enqueue(call("c2", "q"), 1).position == 2
    full = engine.enqueue(call("c3", "q"), 2)
    assert not full.queued
    assert (full.overflows[0].reason, full.overflows[0].target) == (
        OverflowReason.MAX_LENGTH,
        CALLBACK,
    )


def test_deleting_a_queue_sends_every_waiting_call_to_its_overflow_target() -> None:
    engine = make_engine(
        QueueConfig(
            "old",
            overflow_rules=(OverflowRule(OverflowCondition.AFTER_WAIT, to_queue("new"), 600),),
        ),
        QueueConfig("new"),
    )
    set_agent(engine, "a", "old", at=0)
    engine.enqueue(call("ringing", "old"), 1)
    offer = only_offer(engine, 1)
    engine.enqueue(call("w1", "old"), 2)
    engine.enqueue(call("w2", "old", priority=1), 3)
    overflows = engine.delete_queue("old", 4)
    assert [(o.call_id, o.reason, o.moved) for o in overflows] == [
        ("w2", OverflowReason.QUEUE_DELETED, True),
        ("w1", OverflowReason.QUEUE_DELETED, True),
    ]
    assert engine.waiting_call_ids("new") == ["w2", "w1"]
    resolution = engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, 5, epoch=1)
    assert not resolution.requeued
    assert resolution.overflows[0].reason is OverflowReason.QUEUE_DELETED
    assert engine.call_queue("ringing") == "new"
    with pytest.raises(NotFound):
        engine.delete_queue("old", 6)


def test_deleting_a_queue_without_targets_uses_the_tenant_fallback() -> None:
    engine = make_engine(QueueConfig("q"), fallback_target=CALLBACK)
    engine.enqueue(call("c1", "q"), 0)
    overflows = engine.delete_queue("q", 1)
    assert [(o.call_id, o.target) for o in overflows] == [("c1", CALLBACK)]


def test_periodic_announcements_give_position_and_estimated_wait() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            default_handle_seconds=60,
            announcements=Announcements(interval_seconds=30, first_after_seconds=10),
        )
    )
    set_agent(engine, "a", "q", at=0, state=AgentState.ON_CALL)
    set_agent(engine, "b", "q", at=0, state=AgentState.ON_CALL)
    engine.enqueue(call("c1", "q"), 0)
    engine.enqueue(call("c2", "q"), 5)
    assert engine.tick(9).announcements == ()
    first = engine.tick(10).announcements
    assert [(a.call_id, a.position, a.estimated_wait_seconds) for a in first] == [("c1", 1, 30.0)]
    second = engine.tick(15).announcements
    assert [(a.call_id, a.position, a.estimated_wait_seconds) for a in second] == [("c2", 2, 60.0)]
    assert [a.call_id for a in engine.tick(40).announcements] == ["c1"]
    assert [a.call_id for a in engine.tick(200).announcements] == ["c2", "c1"]


def test_no_announcement_while_the_call_is_ringing() -> None:
    engine = make_engine(QueueConfig("q", announcements=Announcements(interval_seconds=10)))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("c1", "q"), 0)
    only_offer(engine, 0)
    assert engine.tick(15).announcements == ()
