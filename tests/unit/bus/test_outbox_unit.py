"""The outbox table, Outbox.add in the caller's transaction, and OutboxRelay against a fake
publisher on SQLite (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.bus import BusUnavailable, Delivery, OutgoingRecord
from switchboard_common.db import create_engine, make_sessionmaker
from switchboard_common.errors import ValidationFailed
from switchboard_common.events import Envelope, decode, topics
from switchboard_common.events.calls import CallDtmf
from switchboard_common.outbox import (
    Outbox,
    OutboxRelay,
    RelaySettings,
    create_outbox_table,
    drop_outbox_table,
    outbox_table,
)


class FakePublisher:
    """Records what it publishes; fails while `down` is set or for chosen event ids."""

    def __init__(self) -> None:
        self.published: list[OutgoingRecord] = []
        self.down = False
        self.failing_ids: set[str] = set()
        self.calls = 0
        self.changed = asyncio.Condition()

    async def publish_record(self, record: OutgoingRecord) -> Delivery:
        (result,) = await self.publish_batch([record])
        if isinstance(result, Exception):
            raise result
        return result

    async def publish_batch(self, records: Sequence[OutgoingRecord]) -> list[Delivery | Exception]:
        async with self.changed:
            self.calls += 1
            results: list[Delivery | Exception] = []
            for record in records:
                if self.down or record.event_id in self.failing_ids:
                    results.append(BusUnavailable("broker down"))
                else:
                    self.published.append(record)
                    results.append(Delivery(record.topic, 0, len(self.published) - 1))
            self.changed.notify_all()
        return results

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s), self.changed:
            await self.changed.wait_for(condition)


def _envelope(tenant: str, digit: str = "1") -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id="c1", node_id="fs-1", digit=digit), source="unit", tenant=tenant
    )


@pytest.fixture()
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    yield engine
    await engine.dispose()


@pytest.fixture()
async def outbox(engine: AsyncEngine) -> Outbox:
    metadata = sa.MetaData()
    box = Outbox(outbox_table(metadata, "unit"))
    sa.Table(
        "notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text)
    )
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return box


async def _rows(engine: AsyncEngine, outbox: Outbox) -> list[sa.Row[object]]:
    async with engine.connect() as connection:
        result = await connection.execute(sa.select(outbox.table).order_by(outbox.table.c.id))
        return list(result.all())


def test_table_shape_and_indexes() -> None:
    table = outbox_table(sa.MetaData(), "tickets")
    assert table.name == "tickets_outbox"
    assert set(table.c.keys()) == {
        "id",
        "event_id",
        "topic",
        "key",
        "payload",
        "headers",
        "created_at",
        "published_at",
        "attempts",
        "last_error",
    }
    assert table.c.published_at.nullable
    assert any(c.name == "event_id" for c in table.c if c.unique)
    assert {index.name for index in table.indexes} == {
        "ix_tickets_outbox_unpublished",
        "ix_tickets_outbox_published_at",
    }


def test_outbox_service_name_is_checked() -> None:
    with pytest.raises(ValidationFailed):
        outbox_table(sa.MetaData(), "Bad-Name")


def test_alembic_helpers_create_and_drop_the_outbox(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as connection:
        op = Operations(MigrationContext.configure(connection))
        create_outbox_table(op, "admin")
        inspector = sa.inspect(connection)
        columns = {c["name"] for c in inspector.get_columns("admin_outbox")}
        assert columns == set(outbox_table(sa.MetaData(), "admin").c.keys())
        indexes = {index["name"] for index in inspector.get_indexes("admin_outbox")}
        assert {"ix_admin_outbox_unpublished", "ix_admin_outbox_published_at"} <= indexes
        connection.execute(
            sa.text(
                "INSERT INTO admin_outbox (event_id, topic, key, payload, headers, created_at)"
                " VALUES ('e', 't', 'k', x'00', '{}', '2025-01-01')"
            )
        )
        assert connection.execute(sa.text("SELECT attempts FROM admin_outbox")).scalar() == 0
        drop_outbox_table(op, "admin")
        assert not sa.inspect(connection).has_table("admin_outbox")
    engine.dispose()


async def test_add_writes_in_the_callers_transaction(engine: AsyncEngine, outbox: Outbox) -> None:
    sessions = make_sessionmaker(engine)
    kept, dropped = _envelope("acme"), _envelope("acme")
    provider = TracerProvider()
    with provider.get_tracer("unit").start_as_current_span("request") as span:
        async with sessions() as session, session.begin():
            await outbox.add(session, kept)
    async with sessions() as session, session.begin():
        await outbox.add(session, dropped)
        await session.rollback()
    rows = await _rows(engine, outbox)
    assert [row.event_id for row in rows] == [kept.id]
    row = rows[0]
    assert row.topic == topics.CALLS
    assert row.key == "acme"
    assert decode(row.payload) == kept
    assert row.published_at is None
    assert row.attempts == 0
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert row.headers["traceparent"].split("-")[1] == trace_id
    assert row.headers["ce_id"] == kept.id
    assert row.headers["ce_type"] == kept.type


async def test_commit_listeners_fire_after_commit_only(engine: AsyncEngine, outbox: Outbox) -> None:
    notified: list[int] = []
    outbox.add_commit_listener(lambda: notified.append(1))
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        async with session.begin():
            await outbox.add(session, _envelope("a"))
            await outbox.add(session, _envelope("a"))
            assert notified == []
        assert notified == [1]
        async with session.begin():
            await outbox.add(session, _envelope("a"))
        assert notified == [1, 1]


async def test_relay_publishes_in_order_and_marks_rows(engine: AsyncEngine, outbox: Outbox) -> None:
    publisher = FakePublisher()
    relay = OutboxRelay(outbox, engine, publisher, settings=RelaySettings(batch_size=3))
    sessions = make_sessionmaker(engine)
    envelopes = [_envelope(tenant, str(n % 10)) for n, tenant in enumerate("abcabcab")]
    async with sessions() as session, session.begin():
        await outbox.add_all(session, envelopes)
    first = await relay.relay_once()
    assert (first.fetched, first.published, first.failed) == (3, 3, 0)
    while (await relay.relay_once()).fetched:
        pass
    assert [record.event_id for record in publisher.published] == [e.id for e in envelopes]
    record = publisher.published[0]
    assert record.key == b"a"
    assert record.event_type == envelopes[0].type
    assert ("ce_id", envelopes[0].id.encode()) in record.headers
    rows = await _rows(engine, outbox)
    assert all(row.published_at is not None and row.attempts == 1 for row in rows)
    assert await relay.backlog() == 0


async def test_failed_rows_keep_their_error_and_go_out_later(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    publisher = FakePublisher()
    relay = OutboxRelay(outbox, engine, publisher)
    sessions = make_sessionmaker(engine)
    stuck, fine = _envelope("a"), _envelope("b")
    async with sessions() as session, session.begin():
        await outbox.add_all(session, [stuck, fine])
    publisher.failing_ids = {stuck.id}
    batch = await relay.relay_once()
    assert (batch.published, batch.failed) == (1, 1)
    rows = {row.event_id: row for row in await _rows(engine, outbox)}
    assert rows[stuck.id].published_at is None
    assert rows[stuck.id].attempts == 1
    assert "broker down" in rows[stuck.id].last_error
    assert rows[fine.id].published_at is not None
    assert await relay.backlog() == 1
    assert REGISTRY.get_sample_value("outbox_backlog", {"service": "unit"}) == 1
    publisher.failing_ids.clear()
    assert (await relay.relay_once()).published == 1
    assert [record.event_id for record in publisher.published] == [fine.id, stuck.id]
    assert await relay.backlog() == 0


async def test_purge_deletes_only_old_published_rows(engine: AsyncEngine, outbox: Outbox) -> None:
    relay = OutboxRelay(outbox, engine, FakePublisher())
    sessions = make_sessionmaker(engine)
    old, recent, pending = _envelope("a"), _envelope("a"), _envelope("a")
    async with sessions() as session, session.begin():
        await outbox.add_all(session, [old, recent, pending])
    table = outbox.table
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        for event_id, published in ((old.id, now - timedelta(days=2)), (recent.id, now)):
            await connection.execute(
                sa.update(table).where(table.c.event_id == event_id).values(published_at=published)
            )
    assert await relay.purge(timedelta(days=1)) == 1
    assert {row.event_id for row in await _rows(engine, outbox)} == {recent.id, pending.id}


async def test_running_relay_wakes_on_commit_and_survives_an_outage(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    publisher = FakePublisher()
    settings = RelaySettings(poll_interval_s=60, backoff_initial_s=0.01, backoff_max_s=0.05)
    relay = OutboxRelay(outbox, engine, publisher, settings=settings)
    sessions = make_sessionmaker(engine)
    await relay.start()
    try:
        first = _envelope("a")
        async with sessions() as session, session.begin():
            await outbox.add(session, first)
        await publisher.wait_until(lambda: len(publisher.published) == 1)
        publisher.down = True
        later = [_envelope("a", str(n)) for n in range(5)]
        for envelope in later:
            async with sessions() as session, session.begin():
                await outbox.add(session, envelope)
        calls_before = publisher.calls
        await publisher.wait_until(lambda: publisher.calls >= calls_before + 3)
        assert len(publisher.published) == 1
        publisher.down = False
        await publisher.wait_until(lambda: len(publisher.published) == 6)
    finally:
        await relay.stop()
    assert [record.event_id for record in publisher.published] == [first.id, *[e.id for e in later]]
    assert not relay.running
