"""RoutingService with fake ports: each offer becomes a Bridge command, and whatever the
outcome (answered, no answer, busy, caller gone, RPC error, deadline) the reservation ends
and the right events are published."""

from __future__ import annotations

import asyncio

from routing_service_fakes import (
    START,
    TENANT,
    FakeCallControl,
    FakeStore,
    ManualClock,
    agent_event,
    enqueued,
    routing,
    settle,
)

from switchboard_common.events.calls import CallEnded
from switchboard_common.events.queues import (
    CallAbandoned,
    CallDequeued,
    CallOffered,
    CallOfferFailed,
    CallOverflowed,
    QueueCallAnswered,
    RoutingDecisionMade,
)
from switchboard_routing.domain import AgentState, OfferOutcome
from switchboard_routing.repository import Directory

AVAILABLE = AgentState.AVAILABLE


async def test_an_answered_offer_bridges_the_agents_endpoint_and_announces_it(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales", strategy="longest-idle", ring_timeout_seconds=15)
    store.directories[TENANT] = Directory("acme.example", {"a1": "1001"})
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.agent_changed(TENANT, agent_event("a2", AVAILABLE, START - 5, "sales"))

    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    command = control.last()
    assert command.endpoint == "user/1001@acme.example"
    assert command.call.call_id == "c1" and command.call.node_id == "fs1"
    assert command.ring_timeout_s == 15
    assert command.variables["sb_agent"] == "a1"
    assert command.variables["sb_epoch"] == "1"
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.agent_state("a1") is AgentState.RESERVED

    clock.advance(4)
    control.finish(command, OfferOutcome.ANSWERED)
    await settle(service)
    await service.persist(snapshots=False)

    assert store.types() == [
        "routing.decision",
        "queue.call_offered",
        "queue.call_answered",
        "queue.call_dequeued",
    ]
    decision = store.events(RoutingDecisionMade)[0]
    assert decision.chosen_agent_ids == ["a1"]
    assert [c.agent_id for c in decision.candidates] == ["a1", "a2"]
    offered = store.events(CallOffered)[0]
    answered = store.events(QueueCallAnswered)[0]
    assert answered.agent_id == "a1"
    assert answered.reservation_id == offered.reservation_id
    assert answered.waited_s == 4
    assert store.events(CallDequeued)[0].reason == "answered"
    assert engine.agent_state("a1") is AgentState.ON_CALL
    assert engine.agent_reservation("a1") is None
    assert engine.reservations() == {}
    assert service.calls_in_progress() == 0
    assert (service.stats.calls_offered, service.stats.calls_answered) == (1, 1)


async def test_no_answer_sets_the_agent_missed_and_the_call_goes_back_to_the_head(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    clock.advance(1)
    await service.call_enqueued(TENANT, enqueued("c2"))
    await settle(service)
    first = control.last()
    assert first.call.call_id == "c1"

    clock.advance(20)
    control.finish(first, OfferOutcome.NO_ANSWER, "NO_ANSWER")
    await settle(service)
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.agent_state("a1") is AgentState.NOT_READY
    assert engine.waiting_call_ids("sales") == ["c1", "c2"]
    assert len(control.commands) == 1

    await service.agent_changed(TENANT, agent_event("a2", AVAILABLE, clock.now, "sales"))
    await settle(service)
    assert control.last().call.call_id == "c1"
    assert control.last().variables["sb_agent"] == "a2"
    await service.persist(snapshots=False)
    failed = store.events(CallOfferFailed)[0]
    assert failed.outcome == "no_answer"
    assert failed.missed_agent_ids == ["a1"]
    assert failed.released_agent_ids == []


async def test_busy_is_a_miss_too(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    control.finish(control.last(), OfferOutcome.BUSY, "USER_BUSY")
    await settle(service)
    await service.persist(snapshots=False)
    failed = store.events(CallOfferFailed)[0]
    assert (failed.outcome, failed.missed_agent_ids) == ("busy", ["a1"])
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.agent_state("a1") is AgentState.NOT_READY
    assert engine.agent_reservation("a1") is None


async def test_a_caller_hanging_up_while_ringing_is_abandoned_and_frees_the_agent(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    clock.advance(7)
    control.finish(control.last(), OfferOutcome.CALLER_HUNG_UP, "ORIGINATOR_CANCEL")
    await settle(service)
    await service.persist(snapshots=False)

    abandoned = store.events(CallAbandoned)
    assert len(abandoned) == 1
    assert abandoned[0].while_ringing
    assert abandoned[0].waited_s == 7
    assert store.events(CallOfferFailed) == []
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.agent_state("a1") is AgentState.AVAILABLE
    assert engine.reservations() == {}
    assert service.stats.calls_abandoned == 1


async def test_a_call_end_during_the_ring_wins_and_the_late_outcome_is_ignored(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    ended = CallEnded(
        call_id="c1",
        node_id="fs1",
        hangup_cause="NORMAL_CLEARING",
        ended_at=enqueued("c1").enqueued_at,
        duration_s=3,
        billable_s=0,
    )
    await service.call_ended(TENANT, ended)
    control.finish(control.last(), OfferOutcome.CALLER_HUNG_UP)
    await settle(service)
    await service.persist(snapshots=False)
    assert len(store.events(CallAbandoned)) == 1
    assert service.tenant(TENANT).engine.agent_state("a1") is AVAILABLE  # type: ignore[union-attr]


async def test_a_bridge_rpc_error_counts_as_failed_and_releases_the_reservation(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    control.error = ConnectionError("switch unreachable")
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    await service.persist(snapshots=False)
    failed = store.events(CallOfferFailed)
    assert [f.outcome for f in failed] == ["failed"]
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.agent_reservation("a1") is None
    assert engine.waiting_call_ids("sales") == ["c1"]


async def test_a_bridge_past_its_deadline_counts_as_failed(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales", ring_timeout_seconds=0.05)
    service = await routing(store, control, clock, bridge_grace_s=0.05)
    control.hang = True
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await control.sent.wait()
    assert control.deadlines == [0.1]
    await service.wait_for_offers(5.0)
    await service.persist(snapshots=False)
    assert [f.outcome for f in store.events(CallOfferFailed)] == ["failed"]
    assert service.tenant(TENANT).engine.agent_reservation("a1") is None  # type: ignore[union-attr]


async def test_an_offer_whose_outcome_never_comes_expires_on_a_tick(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales", ring_timeout_seconds=20)
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    first = control.last().variables["sb_reservation"]
    clock.advance(31)
    service.tick()
    await settle(service)
    await service.persist(snapshots=False)
    assert [f.outcome for f in store.events(CallOfferFailed)] == ["expired"]
    assert store.events(CallOfferFailed)[0].released_agent_ids == ["a1"]
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert len(control.commands) == 2, "the call is offered again"
    assert engine.agent_reservation("a1") == control.last().variables["sb_reservation"] != first

    control.finish(control.commands[0], OfferOutcome.ANSWERED)
    await settle(service)
    await service.persist(snapshots=False)
    assert store.events(QueueCallAnswered) == []
    assert engine.agent_reservation("a1") == control.last().variables["sb_reservation"]


async def test_deleting_a_queue_sends_its_waiting_calls_to_its_overflow_target(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "backup")
    store.put_queue(
        TENANT,
        "sales",
        overflow_rules=[
            {
                "condition": "after_wait",
                "threshold_seconds": 300,
                "target": {"kind": "queue", "destination": "backup"},
            }
        ],
    )
    store.put_queue(TENANT, "support", exit_target={"kind": "voicemail", "destination": "box"})
    service = await routing(store, control, clock)
    await service.call_enqueued(TENANT, enqueued("c1", "sales"))
    await service.call_enqueued(TENANT, enqueued("c2", "support"))
    clock.advance(5)

    store.delete_queue(TENANT, "sales")
    store.delete_queue(TENANT, "support")
    await service.refresh_queue(TENANT, "sales")
    await service.refresh_queue(TENANT, "support")
    await service.persist(snapshots=False)

    overflows = {o.call_id: o for o in store.events(CallOverflowed)}
    assert overflows["c1"].reason == "queue_deleted"
    assert (overflows["c1"].target_kind, overflows["c1"].target) == ("queue", "backup")
    assert (overflows["c2"].target_kind, overflows["c2"].target) == ("voicemail", "box")
    assert overflows["c2"].waited_s == 5
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.queue_ids == ["backup"]
    assert engine.waiting_call_ids("backup") == ["c1"]
    assert {d.call_id for d in store.events(CallDequeued) if d.reason == "overflowed"} == {
        "c1",
        "c2",
    }


async def test_a_call_for_an_unknown_queue_overflows_to_voicemail_at_once(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.call_enqueued(TENANT, enqueued("c1", "nowhere"))
    await service.persist(snapshots=False)
    overflow = store.events(CallOverflowed)[0]
    assert (overflow.queue_id, overflow.reason, overflow.target_kind) == (
        "nowhere",
        "queue_deleted",
        "voicemail",
    )


async def test_a_duplicate_enqueue_is_ignored(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.call_enqueued(TENANT, enqueued("c1"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    assert service.stats.calls_enqueued == 1
    assert service.calls_in_progress() == 1


async def test_explain_is_live_before_the_first_offer_then_the_offers_decision(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales", required_skills=[{"skill": "fr", "min_proficiency": 5}])
    service = await routing(store, control, clock)
    await service.agent_changed(
        TENANT, agent_event("a1", AVAILABLE, START - 60, "sales", skills={"fr": 2})
    )
    await service.call_enqueued(TENANT, enqueued("c1"))
    live = await service.explain(TENANT, "c1")
    assert live is not None and live.source == "live"
    assert [(s.agent_id, s.reason) for s in live.decision.skipped] == [("a1", "low_proficiency")]
    await service.agent_changed(
        TENANT, agent_event("a2", AVAILABLE, START, "sales", skills={"fr": 9})
    )
    await settle(service)
    offer = await service.explain(TENANT, "c1")
    assert offer is not None and offer.source == "offer"
    assert offer.decision.chosen_agent_ids == ["a2"]
    assert await service.explain(TENANT, "unknown") is None


async def test_traffic_records_arrivals_answers_and_handle_times(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    clock.advance(2)
    control.finish(control.last(), OfferOutcome.ANSWERED)
    await settle(service)
    await service.agent_changed(TENANT, agent_event("a1", AgentState.ON_CALL, clock.now, "sales"))
    await service.agent_changed(
        TENANT, agent_event("a1", AgentState.WRAP_UP, clock.now + 90, "sales")
    )
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, clock.now + 120, "sales"))
    await service.persist(snapshots=False)
    totals = [0, 0, 0, 0.0]
    for batch in store.saved:
        for row in batch.traffic:
            assert (row.tenant_id, row.queue_id) == (TENANT, "sales")
            totals[0] += row.arrivals
            totals[1] += row.answered
            totals[2] += row.handled
            totals[3] += row.handle_seconds
    assert totals == [1, 1, 1, 120.0]


async def test_announcements_are_played_to_waiting_callers(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(
        TENANT,
        "sales",
        announcements={"interval_seconds": 30, "first_after_seconds": 10},
        default_handle_seconds=120,
    )
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AgentState.ON_CALL, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    clock.advance(11)
    service.tick()
    await asyncio.sleep(0)
    await service.wait_for_offers(1.0)
    assert control.announcements == [
        (
            control.announcements[0][0],
            [
                "ivr/ivr-you_are_number.wav",
                "digits/1.wav",
                "ivr/ivr-estimated_wait_time_is.wav",
                "digits/2.wav",
                "time/minutes.wav",
            ],
        )
    ]
    assert control.announcements[0][0].call_id == "c1"


async def test_the_calls_in_progress_gauge_counts_waiting_and_ringing_calls(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    from switchboard_routing.services import CALLS_IN_PROGRESS

    def gauge() -> float:
        family = next(iter(CALLS_IN_PROGRESS.collect()))
        return float(family.samples[0].value)

    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    CALLS_IN_PROGRESS.track(service)
    before = gauge()
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await service.call_enqueued(TENANT, enqueued("c2"))
    await settle(service)
    assert gauge() - before == 2, "one ringing, one waiting"
    control.finish(control.last(), OfferOutcome.ANSWERED)
    await settle(service)
    assert gauge() - before == 1
