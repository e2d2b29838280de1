"""The routing group's handling of switchboard.queues.v1 records, without a broker: calls
enqueued reach the engine, this instance's own events are passed over by their headers,
another owner's are corrections, a replayed record is not handled twice; positions move."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from routing_service_fakes import (
    START,
    TENANT,
    FakeCallControl,
    FakeStore,
    ManualClock,
    enqueued,
    routing,
)

from switchboard_common.bus import ConsumerSettings, Outcome, record_for
from switchboard_common.events import Envelope, EventPayload, topics
from switchboard_common.events.queues import CallDequeued
from switchboard_routing.consumers import RoutingConsumers
from switchboard_routing.notifier import SOURCE


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def record(envelope: Envelope, offset: int) -> Record:
    outgoing = record_for(envelope)
    return Record(outgoing.topic, 0, offset, outgoing.key, outgoing.value, outgoing.headers)


def wrap(payload: EventPayload, source: str, subject: str) -> Envelope:
    return Envelope.wrap(payload, source=source, tenant=TENANT, subject=subject)


def settings() -> ConsumerSettings:
    return ConsumerSettings(bootstrap_servers="127.0.0.1:9", group_id="routing-unit")


async def test_queue_records_reach_the_engine_and_own_events_are_passed_over(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    consumers = RoutingConsumers(service, settings(), "127.0.0.1:9")
    group: Any = consumers.consumer

    outcome = await group.process(record(wrap(enqueued("c1"), "switchboard/ivr", "c1"), 10))
    assert outcome is Outcome.HANDLED
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.waiting_call_ids("sales") == ["c1"]
    assert consumers.positions(0) == {topics.QUEUES: 11}

    await service.call_enqueued(TENANT, enqueued("c2", "nowhere"))
    await service.persist(snapshots=False)
    own = store.envelopes()[0]
    assert await group.process(record(own, 11)) is Outcome.DUPLICATE
    assert consumers.positions(0) == {topics.QUEUES: 12}

    answered_elsewhere = wrap(
        CallDequeued(
            call_id="c1",
            queue_id="sales",
            reason="answered",
            waited_s=1,
            dequeued_at=datetime.fromtimestamp(START, UTC),
        ),
        SOURCE,
        "c1",
    )
    assert await group.process(record(answered_elsewhere, 12)) is Outcome.HANDLED
    assert engine.waiting_call_ids("sales") == []


async def test_a_record_replayed_on_takeover_is_not_handled_again_by_the_group(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    consumers = RoutingConsumers(service, settings(), "127.0.0.1:9")
    envelope = wrap(enqueued("c1"), "switchboard/ivr", "c1")
    await consumers.replay_handler(envelope)
    assert service.stats.calls_enqueued == 1
    outcome = await consumers.consumer.process(record(envelope, 3))
    assert outcome is Outcome.DUPLICATE
    assert service.stats.calls_enqueued == 1
