"""Partition ownership in RoutingService: takeovers rebuild from snapshots under a new epoch,
a previous epoch's offer results are refused, fenced writes drop the partition, and nothing
is offered while a partition is rebuilt or handed over."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

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

from switchboard_common.events import Envelope
from switchboard_common.events.queues import (
    CallDequeued,
    CallOffered,
    CallOfferFailed,
    QueueCallAnswered,
)
from switchboard_routing.domain import AgentState, OfferOutcome
from switchboard_routing.notifier import SOURCE
from switchboard_routing.services import RoutingOptions, RoutingService

AVAILABLE = AgentState.AVAILABLE


async def test_a_result_from_a_previous_epoch_is_refused_after_a_takeover(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    old = control.last()
    assert old.variables["sb_epoch"] == "1"
    await service.persist(snapshots=True)

    takeover = await service.take_over(0)
    assert takeover.epoch == 2
    service.resume(0)
    await settle(service)
    new = control.last()
    assert new is not old and new.variables["sb_epoch"] == "2"

    control.finish(old, OfferOutcome.ANSWERED)
    await settle(service)
    assert service.stats.results_refused == 1
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.epoch == 2
    assert engine.agent_reservation("a1") == new.variables["sb_reservation"]

    control.finish(new, OfferOutcome.ANSWERED)
    await settle(service)
    await service.persist(snapshots=False)
    revoked = store.events(CallOfferFailed)
    assert [(f.outcome, f.reservation_id) for f in revoked] == [
        ("revoked", old.variables["sb_reservation"])
    ]
    answered = store.events(QueueCallAnswered)
    assert [a.reservation_id for a in answered] == [new.variables["sb_reservation"]]
    assert [o.epoch for o in store.events(CallOffered)] == [1, 2]


async def test_writes_under_a_stale_epoch_are_refused_and_the_partition_is_dropped(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    store.epochs[0] += 1

    control.finish(control.last(), OfferOutcome.ANSWERED)
    await settle(service)
    await service.persist(snapshots=False)
    assert store.saved == []
    assert [e.type for e in store.refused[0].envelopes][-2:] == [
        QueueCallAnswered.EVENT_TYPE,
        CallDequeued.EVENT_TYPE,
    ]
    assert service.stats.fenced == 1
    assert service.ownership.owned == {}
    assert service.tenant(TENANT) is None
    await service.call_enqueued(TENANT, enqueued("c2"))
    assert service.stats.calls_enqueued == 1


async def test_a_new_owner_rebuilds_waiting_calls_and_agents_from_the_snapshot(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    first = await routing(store, control, clock)
    first.set_positions_source(lambda partition: {"switchboard.agents.v1": 42})
    await first.agent_changed(TENANT, agent_event("a1", AgentState.ON_CALL, START - 60, "sales"))
    for call_id in ("c1", "c2", "c3"):
        await first.call_enqueued(TENANT, enqueued(call_id))
        clock.advance(1)
    await first.release(0)
    assert first.ownership.owned == {}
    assert store.positions[0] == {"switchboard.agents.v1": 42}

    second_control = FakeCallControl()
    second = RoutingService(
        store, second_control, clock=clock, options=RoutingOptions(instance_id="second")
    )
    second.ownership.set_partition_count(1)
    takeover = await second.take_over(0)
    assert takeover.positions == {"switchboard.agents.v1": 42}
    engine = second.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.epoch == 2
    assert engine.waiting_call_ids("sales") == ["c1", "c2", "c3"]
    assert engine.agent_state("a1") is AgentState.ON_CALL

    await second.agent_changed(TENANT, agent_event("a1", AVAILABLE, clock.now, "sales"))
    await settle(second)
    assert second_control.commands == [], "no offers before the partition resumes"
    second.resume(0)
    await settle(second)
    assert [c.call.call_id for c in second_control.commands] == ["c1"]


async def test_a_checkpoint_pauses_offers_until_the_partition_resumes(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.agent_changed(TENANT, agent_event("a1", AVAILABLE, START - 60, "sales"))
    await service.checkpoint(0)
    assert TENANT in {row.tenant_id for batch in store.saved for row in batch.snapshots}
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    assert control.commands == []
    assert await service.still_owner(0)
    service.resume(0)
    await settle(service)
    assert [c.call.call_id for c in control.commands] == ["c1"]


async def test_another_owners_account_of_a_call_corrects_the_rebuilt_queue(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.call_enqueued(TENANT, enqueued("c1"))
    await service.call_enqueued(TENANT, enqueued("c2"))
    answered_elsewhere = CallDequeued(
        call_id="c1",
        queue_id="sales",
        reason="answered",
        waited_s=3,
        dequeued_at=datetime.fromtimestamp(START, UTC),
    )
    service.correct(TENANT, answered_elsewhere)
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.waiting_call_ids("sales") == ["c2"]
    await service.persist(snapshots=False)
    assert store.events(CallDequeued) == [], "a correction publishes nothing"


async def test_own_events_are_recognised_once(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    await service.call_enqueued(TENANT, enqueued("c1", "nowhere"))
    await service.persist(snapshots=False)
    published = store.envelopes()
    assert published and all(e.source == SOURCE for e in published)
    foreign = Envelope.wrap(published[0].payload(), source=SOURCE, tenant=TENANT, subject="c1")
    assert service.is_own_event(published[0].id)
    assert not service.is_own_event(published[0].id)
    assert not service.is_own_event(foreign.id)


async def test_an_older_queue_version_never_replaces_a_newer_one(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales", strategy="round-robin")
    service = await routing(store, control, clock)
    store.put_queue(TENANT, "sales", strategy="top-down")
    await service.refresh_queue(TENANT, "sales")
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.queue_config("sales").strategy.value == "top-down"
    state = service.tenant(TENANT)
    assert state is not None and state.queue_versions["sales"] == 2
    current = store.queues[(TENANT, "sales")]
    store.queues[(TENANT, "sales")] = replace(
        current, version=1, config={"queue_id": "sales", "strategy": "random"}
    )
    await service.refresh_queue(TENANT, "sales")
    assert engine.queue_config("sales").strategy.value == "top-down"
