"""Redelivered events are handled once, with the in-memory store and with the SQL store
(SQLite and PostgreSQL), where the handler's write and the marker share one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.bus import (
    EventConsumer,
    EventPublisher,
    InMemoryProcessedEvents,
    SqlProcessedEvents,
)
from switchboard_common.db import make_sessionmaker
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.testing.kafka import EventCollector


def _envelope(tenant: str = "acme", digit: str = "1") -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id="c", node_id="fs", digit=digit), source="t", tenant=tenant
    )


async def test_memory_store_handles_a_redelivered_event_once(
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    topic = await make_topic()
    await consumers([topic], collector, processed=InMemoryProcessedEvents()).start()
    twice, sentinel = _envelope(), _envelope()
    for envelope in (twice, twice, sentinel):
        await publisher.publish(envelope, topic=topic)
    await collector.wait_for_ids([sentinel.id])
    assert collector.ids == [twice.id, sentinel.id]


async def test_sql_store_handles_once_with_writes_in_the_same_transaction(
    db_engine: AsyncEngine,
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
) -> None:
    service = f"idem{uuid.uuid4().hex[:8]}"
    metadata = sa.MetaData()
    store = SqlProcessedEvents.for_service(db_engine, service, metadata)
    notes = sa.Table(
        f"{service}_notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(128), nullable=False),
    )
    async with db_engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = make_sessionmaker(db_engine)
    failures_left = {"flaky": 1}
    done = EventCollector()

    async def handler(envelope: Envelope) -> None:
        async with sessions() as session, session.begin():
            if not await store.claim(session, envelope.id):
                return
            await session.execute(sa.insert(notes).values(event_id=envelope.id))
            if envelope.subject == "flaky" and failures_left["flaky"]:
                failures_left["flaky"] -= 1
                raise ConnectionError("lost the database mid-handler")
        await done(envelope)

    topic = await make_topic()
    consumer = consumers([topic], handler, processed=store, settings={"backoff_initial_s": 0.01})
    await consumer.start()
    twice = _envelope()
    flaky = Envelope.wrap(
        CallDtmf(call_id="c", node_id="fs", digit="2"), source="t", tenant="acme", subject="flaky"
    )
    sentinel = _envelope()
    for envelope in (twice, flaky, twice, flaky, sentinel):
        await publisher.publish(envelope, topic=topic)
    await done.wait_for_ids([sentinel.id])
    assert done.ids == [twice.id, flaky.id, sentinel.id]
    async with db_engine.connect() as connection:
        written = (await connection.execute(sa.select(notes.c.event_id))).scalars().all()
    assert sorted(written) == sorted([twice.id, flaky.id, sentinel.id])
    for envelope in (twice, flaky, sentinel):
        assert await store.is_processed(envelope.id)
