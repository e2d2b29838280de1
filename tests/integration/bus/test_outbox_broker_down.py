"""The broker goes away: writes still commit, their events wait in the outbox, and when a
broker is back on the same port the relay publishes every one of them; an idempotent
consumer handles each event exactly once, even one the relay sends twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.bus import (
    EmbeddedBroker,
    EventConsumer,
    EventPublisher,
    InMemoryProcessedEvents,
)
from switchboard_common.db import make_sessionmaker
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.outbox import Outbox, OutboxRelay, RelaySettings, outbox_table
from switchboard_common.testing.kafka import EventCollector

TOPIC = "test.bus.outage"


def _envelope(index: int) -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id=f"c{index}", node_id="fs", digit=str(index % 10)),
        source="t",
        tenant=f"tenant-{index % 3}",
    )


async def test_events_written_while_the_broker_is_down_go_out_when_it_returns(
    db_engine: AsyncEngine,
) -> None:
    name = f"down{uuid.uuid4().hex[:8]}"
    metadata = sa.MetaData()
    outbox = Outbox(outbox_table(metadata, name))
    notes = sa.Table(f"{name}_notes", metadata, sa.Column("id", sa.Integer, primary_key=True))
    async with db_engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = make_sessionmaker(db_engine)
    table = outbox.table

    async def write(envelope: Envelope) -> None:
        async with sessions() as session, session.begin():
            await session.execute(sa.insert(notes).values())
            await outbox.add(session, envelope, topic=TOPIC)

    async def unpublished() -> list[Any]:
        async with db_engine.connect() as connection:
            query = sa.select(table.c.event_id, table.c.attempts, table.c.last_error).where(
                table.c.published_at.is_(None)
            )
            return list((await connection.execute(query)).all())

    broker = EmbeddedBroker(topics=[TOPIC], partitions=3)
    await broker.start()
    store = InMemoryProcessedEvents()
    handled = EventCollector()
    publisher = EventPublisher(broker.producer_settings(request_timeout_ms=1500))
    await publisher.start()
    relay = OutboxRelay(
        outbox,
        db_engine,
        publisher,
        settings=RelaySettings(poll_interval_s=0.1, backoff_initial_s=0.05, backoff_max_s=0.5),
    )
    await relay.start()
    consumer: EventConsumer | None = None
    try:
        consumer = EventConsumer(
            broker.consumer_settings("outage-group"), [TOPIC], handled, processed=store
        )
        await consumer.start()
        before = [_envelope(n) for n in range(5)]
        for envelope in before:
            await write(envelope)
        await handled.wait_for_ids([e.id for e in before])
        await consumer.stop()

        broker.stop()
        during = [_envelope(n) for n in range(5, 25)]
        for envelope in during:
            await write(envelope)
        async with db_engine.connect() as connection:
            assert await connection.scalar(sa.select(sa.func.count()).select_from(notes)) == 25
        async with db_engine.begin() as connection:
            await connection.execute(
                sa.update(table).where(table.c.event_id == before[0].id).values(published_at=None)
            )
        waiting = await unpublished()
        assert {row.event_id for row in waiting} == {e.id for e in during} | {before[0].id}

        await wait_for_failed_attempts(unpublished)

        # The embedded broker acknowledges, and drops, records sent to a topic that does not
        # exist yet, and it comes back empty: let the relay's current cycle end so that it
        # publishes again only once the topics are back (Apache Kafka keeps its topics).
        await relay.stop()
        await broker.start()
        await relay.start()
        assert broker.bootstrap_servers == publisher.settings.bootstrap_servers
        consumer = EventConsumer(
            broker.consumer_settings("outage-group"), [TOPIC], handled, processed=store
        )
        await consumer.start()
        await handled.wait_for_ids([e.id for e in during], timeout_s=60)
        assert await unpublished() == []
        sentinel = _envelope(0)
        await write(sentinel)
        await handled.wait_for_ids([sentinel.id])
    finally:
        if consumer is not None:
            await consumer.stop()
        await relay.stop()
        await publisher.stop()
        await broker.aclose()
        async with db_engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
    expected = [e.id for e in before + during] + [sentinel.id]
    assert sorted(handled.ids) == sorted(expected)


async def wait_for_failed_attempts(
    unpublished: Callable[[], Awaitable[list[Any]]], rounds: int = 600
) -> None:
    """Wait until the relay has tried, and failed, to publish every waiting row."""
    for _ in range(rounds):
        rows = await unpublished()
        if rows and all(row.attempts > 0 and row.last_error for row in rows):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the relay never tried to publish while the broker was down")
