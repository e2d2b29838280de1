"""Snapshots: rebuilding an engine when partitions move, under a newer epoch."""

from __future__ import annotations

import json

import pytest
from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_common.errors import PreconditionFailed, ValidationFailed
from switchboard_routing.domain import (
    AgentState,
    Announcements,
    EngineSnapshot,
    OfferOutcome,
    QueueConfig,
    RoutingEngine,
    SkillRequirement,
    Strategy,
)


def through_json(engine: RoutingEngine) -> EngineSnapshot:
    return EngineSnapshot.from_dict(json.loads(json.dumps(engine.snapshot().to_dict())))


def test_a_restored_engine_continues_where_the_old_one_stopped() -> None:
    engine = make_engine(
        QueueConfig(
            "rr",
            strategy=Strategy.ROUND_ROBIN,
            required_skills=(SkillRequirement("x"),),
            announcements=Announcements(interval_seconds=60),
        ),
        QueueConfig("other", aging_seconds=None),
    )
    for agent in ("a", "b", "c"):
        set_agent(engine, agent, "rr", at=0, skills={"x": 5})
    engine.enqueue(call("first", "rr"), 1)
    offer = only_offer(engine, 1)
    engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 2, epoch=1)
    assert offer.agent_id == "a"
    set_agent(engine, "a", "rr", at=3, state=AgentState.ON_CALL)
    engine.enqueue(call("o1", "other"), 4)
    engine.enqueue(call("o2", "other", vip_level=2, preferred_agent_id="b"), 5)

    restored, revoked = RoutingEngine.restore(through_json(engine), epoch=2, now=10)
    assert revoked == ()
    assert restored.epoch == 2
    assert restored.waiting_call_ids("other") == ["o2", "o1"]
    assert restored.agent_state("a") is AgentState.ON_CALL
    assert restored.queue_status("rr", 10).answered == 1
    restored.enqueue(call("second", "rr"), 11)
    assert only_offer(restored, 11).agent_id == "b"


def test_restore_revokes_offers_in_flight_and_refuses_their_late_outcomes() -> None:
    engine = make_engine(QueueConfig("q"))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("c1", "q"), 1)
    offer = only_offer(engine, 1)
    restored, revoked = RoutingEngine.restore(through_json(engine), epoch=5, now=3)
    assert [(r.reservation_id, r.outcome, r.released_agent_ids, r.requeued) for r in revoked] == [
        (offer.reservation_id, OfferOutcome.REVOKED, ("a",), True)
    ]
    assert restored.agent_reservation("a") is None
    with pytest.raises(PreconditionFailed) as late:
        restored.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 4, epoch=1)
    assert late.value.error_id == "stale-epoch"
    again = only_offer(restored, 4)
    assert (again.call_id, again.agent_id, again.epoch) == ("c1", "a", 5)
    assert again.reservation_id != offer.reservation_id


def test_restore_needs_a_newer_epoch() -> None:
    engine = make_engine(QueueConfig("q"), epoch=3)
    with pytest.raises(PreconditionFailed) as caught:
        RoutingEngine.restore(engine.snapshot(), epoch=3, now=0)
    assert caught.value.error_id == "stale-epoch"


def test_malformed_snapshots_are_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        EngineSnapshot.from_dict({"tenant_id": "t", "epoch": "soon"})
    assert caught.value.error_id == "bad-routing-snapshot"
    good = make_engine(QueueConfig("q")).snapshot().to_dict()
    with pytest.raises(ValidationFailed):
        EngineSnapshot.from_dict({**good, "version": 99})
    inconsistent = {
        **good,
        "reservations": [
            {
                "reservation_id": "r1",
                "epoch": 1,
                "call_id": "ghost",
                "queue_id": "q",
                "agent_ids": ["a"],
                "ring_all": False,
                "created_at": 0,
                "expires_at": 30,
                "decision_id": "d1",
            }
        ],
    }
    with pytest.raises(ValidationFailed) as mismatch:
        RoutingEngine.restore(EngineSnapshot.from_dict(inconsistent), epoch=2, now=0)
    assert mismatch.value.error_id == "bad-routing-snapshot"


def test_timers_survive_a_restore() -> None:
    engine = make_engine(QueueConfig("q", max_wait_seconds=60))
    engine.enqueue(call("c1", "q"), 0)
    restored, _ = RoutingEngine.restore(engine.snapshot(), epoch=2, now=30)
    assert restored.tick(59).overflows == ()
    assert [o.call_id for o in restored.tick(60).overflows] == ["c1"]
