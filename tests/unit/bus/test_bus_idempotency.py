"""Processed-event stores: the in-memory LRU and the SQL table (SQLite file, no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.bus import (
    InMemoryProcessedEvents,
    SqlProcessedEvents,
    create_processed_events_table,
    drop_processed_events_table,
    processed_events_table,
)
from switchboard_common.db import create_engine, make_sessionmaker
from switchboard_common.errors import ValidationFailed


async def test_memory_store_remembers_and_evicts_least_recently_seen() -> None:
    store = InMemoryProcessedEvents(capacity=2)
    await store.mark_processed("a")
    await store.mark_processed("b")
    assert await store.is_processed("a")
    await store.mark_processed("c")
    assert await store.is_processed("a")
    assert not await store.is_processed("b")
    assert await store.is_processed("c")
    assert len(store) == 2


async def test_memory_store_marking_twice_keeps_one_entry() -> None:
    store = InMemoryProcessedEvents(capacity=10)
    await store.mark_processed("a")
    await store.mark_processed("a")
    assert len(store) == 1


def test_memory_store_needs_capacity() -> None:
    with pytest.raises(ValidationFailed) as info:
        InMemoryProcessedEvents(capacity=0)
    assert info.value.details["field"] == "capacity"


@pytest.mark.parametrize("bad", ["", "Routing", "1x", "a-b", "x" * 41, "a;drop"])
def test_service_names_are_checked(bad: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        processed_events_table(sa.MetaData(), bad)
    assert info.value.error_id == "invalid-service-name"
    assert info.value.details["field"] == "service"


def test_table_shape() -> None:
    table = processed_events_table(sa.MetaData(), "routing")
    assert table.name == "routing_processed_events"
    assert [column.name for column in table.primary_key] == ["event_id"]
    assert not table.c.processed_at.nullable


def test_alembic_helpers_create_and_drop_the_table(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as connection:
        op = Operations(MigrationContext.configure(connection))
        create_processed_events_table(op, "cti")
        columns = {c["name"] for c in sa.inspect(connection).get_columns("cti_processed_events")}
        assert columns == {"event_id", "processed_at"}
        drop_processed_events_table(op, "cti")
        assert not sa.inspect(connection).has_table("cti_processed_events")
    engine.dispose()


@pytest.fixture()
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    yield engine
    await engine.dispose()


async def test_sql_store_marks_and_tolerates_remarking(sqlite_engine: AsyncEngine) -> None:
    store = SqlProcessedEvents.for_service(sqlite_engine, "tickets")
    await store.create_table()
    await store.create_table()
    assert not await store.is_processed("e1")
    await store.mark_processed("e1")
    await store.mark_processed("e1")
    assert await store.is_processed("e1")
    assert not await store.is_processed("e2")


async def test_sql_claim_shares_the_callers_transaction(sqlite_engine: AsyncEngine) -> None:
    store = SqlProcessedEvents.for_service(sqlite_engine, "tickets")
    await store.create_table()
    sessions = make_sessionmaker(sqlite_engine)
    async with sessions() as session, session.begin():
        assert await store.claim(session, "e1")
        await session.rollback()
    assert not await store.is_processed("e1")
    async with sessions() as session, session.begin():
        assert await store.claim(session, "e1")
    assert await store.is_processed("e1")
    async with sessions() as session, session.begin():
        assert not await store.claim(session, "e1")


async def test_sql_purge_forgets_only_old_markers(sqlite_engine: AsyncEngine) -> None:
    store = SqlProcessedEvents.for_service(sqlite_engine, "tickets")
    await store.create_table()
    old = datetime.now(UTC) - timedelta(days=3)
    async with sqlite_engine.begin() as connection:
        await connection.execute(sa.insert(store.table), [{"event_id": "old", "processed_at": old}])
    await store.mark_processed("new")
    assert await store.purge(timedelta(days=1)) == 1
    assert not await store.is_processed("old")
    assert await store.is_processed("new")
