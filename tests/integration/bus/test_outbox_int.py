"""The outbox end to end on SQLite and PostgreSQL: the change and its event commit together,
a rollback leaves no event, one tenant's events keep their order; on PostgreSQL two relays
share the work without duplicates or reordering."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from switchboard_common.bus import BrokerEndpoint, EventConsumer, EventPublisher
from switchboard_common.db import create_engine, make_sessionmaker
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.outbox import Outbox, OutboxRelay, RelaySettings, outbox_table
from switchboard_common.testing.kafka import EventCollector


@dataclass
class Service:
    """A toy service: one business table, its outbox, a session factory."""

    outbox: Outbox
    notes: sa.Table
    sessions: async_sessionmaker[AsyncSession]
    engine: AsyncEngine


async def _create_service(engine: AsyncEngine) -> tuple[Service, sa.MetaData]:
    name = f"ob{uuid.uuid4().hex[:8]}"
    metadata = sa.MetaData()
    outbox = Outbox(outbox_table(metadata, name))
    notes = sa.Table(
        f"{name}_notes",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
    )
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return Service(outbox, notes, make_sessionmaker(engine), engine), metadata


@pytest.fixture()
async def service(db_engine: AsyncEngine) -> AsyncIterator[Service]:
    """A toy service on SQLite and on PostgreSQL."""
    created, metadata = await _create_service(db_engine)
    yield created
    async with db_engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)


@pytest.fixture()
async def pg_service(pg_url: str) -> AsyncIterator[Service]:
    engine = create_engine(pg_url)
    created, metadata = await _create_service(engine)
    yield created
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await engine.dispose()


def _envelope(tenant: str, digit: str = "1", subject: str | None = None) -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id="c", node_id="fs", digit=digit), source="t", tenant=tenant, subject=subject
    )


async def _write(service: Service, text: str, envelope: Envelope, topic: str) -> None:
    async with service.sessions() as session, session.begin():
        await session.execute(sa.insert(service.notes).values(text=text))
        await service.outbox.add(session, envelope, topic=topic)


async def _notes(service: Service) -> list[str]:
    async with service.engine.connect() as connection:
        result = await connection.execute(sa.select(service.notes.c.text))
        return sorted(result.scalars().all())


async def test_a_change_and_its_event_commit_together_and_a_rollback_has_neither(
    service: Service,
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    topic = await make_topic()
    await consumers([topic], collector).start()
    relay = OutboxRelay(service.outbox, service.engine, publisher)
    await relay.start()
    try:
        committed = _envelope("acme")
        await _write(service, "committed", committed, topic)
        await collector.wait_for_ids([committed.id])

        rolled_back, sentinel = _envelope("acme"), _envelope("acme")
        async with service.sessions() as session, session.begin():
            await session.execute(sa.insert(service.notes).values(text="rolled back"))
            await service.outbox.add(session, rolled_back, topic=topic)
            await session.rollback()
        await _write(service, "sentinel", sentinel, topic)
        await collector.wait_for_ids([sentinel.id])
    finally:
        await relay.stop()
    assert collector.ids == [committed.id, sentinel.id]
    assert await _notes(service) == ["committed", "sentinel"]
    assert await relay.backlog() == 0


async def test_each_tenants_events_keep_their_order(
    service: Service,
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    topic = await make_topic()
    await consumers([topic], collector).start()
    sent = {tenant: [_envelope(tenant, str(n % 10)) for n in range(20)] for tenant in "pqr"}
    relay = OutboxRelay(
        service.outbox, service.engine, publisher, settings=RelaySettings(batch_size=7)
    )
    await relay.start()
    try:
        for index in range(20):
            for tenant in sent:
                await _write(service, f"{tenant}{index}", sent[tenant][index], topic)
        await collector.wait_for_ids([e.id for envelopes in sent.values() for e in envelopes])
    finally:
        await relay.stop()
    for tenant, envelopes in sent.items():
        received = [event.id for event in collector.events if event.tenant == tenant]
        assert received == [envelope.id for envelope in envelopes]


async def test_two_relays_on_postgres_publish_each_event_once_and_in_order(
    pg_service: Service,
    kafka_broker: BrokerEndpoint,
    make_topic: Callable[..., Awaitable[str]],
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    service = pg_service
    topic = await make_topic()
    await consumers([topic], collector).start()
    tenants = [f"tenant-{n}" for n in range(6)]
    sent = {tenant: [_envelope(tenant, str(n % 10)) for n in range(25)] for tenant in tenants}
    async with service.sessions() as session, session.begin():
        for index in range(25):
            for tenant in tenants:
                await service.outbox.add(session, sent[tenant][index], topic=topic)
    settings = RelaySettings(batch_size=10, poll_interval_s=0.05)
    async with (
        EventPublisher(kafka_broker.producer_settings()) as first_publisher,
        EventPublisher(kafka_broker.producer_settings()) as second_publisher,
    ):
        relays = [
            OutboxRelay(service.outbox, service.engine, first_publisher, settings=settings),
            OutboxRelay(service.outbox, service.engine, second_publisher, settings=settings),
        ]
        for relay in relays:
            await relay.start()
        try:
            everything = [e.id for envelopes in sent.values() for e in envelopes]
            await collector.wait_for_ids(everything)
        finally:
            for relay in relays:
                await relay.stop()
    assert sorted(collector.ids) == sorted(everything)
    table = service.outbox.table
    async with service.engine.connect() as connection:
        rows = {
            row.event_id: (row.id, row.attempts, row.last_error)
            for row in await connection.execute(
                sa.select(table.c.event_id, table.c.id, table.c.attempts, table.c.last_error)
            )
        }
    for tenant, envelopes in sent.items():
        received = [event.id for event in collector.events if event.tenant == tenant]
        assert received == [envelope.id for envelope in envelopes], (
            f"{tenant}: outbox rows (id, attempts, last error) in the order consumed: "
            f"{[rows[event_id] for event_id in received]}"
        )
