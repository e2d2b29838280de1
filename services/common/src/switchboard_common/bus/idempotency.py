"""Idempotent consumption: which event ids a consumer has already handled.

Two stores behind one protocol: `InMemoryProcessedEvents` (a bounded LRU, for stateless
consumers and tests) and `SqlProcessedEvents` (table `<service>_processed_events`). With the
SQL store a handler can insert the marker in its own transaction (`claim(session, event_id)`),
so that the handler's writes and "event handled" commit or roll back together.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from switchboard_common.errors import ValidationFailed

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
EVENT_ID_LENGTH = 128


class ProcessedEvents(Protocol):
    """Remembers handled event ids. `mark_processed` must tolerate an id marked before."""

    async def is_processed(self, event_id: str) -> bool: ...

    async def mark_processed(self, event_id: str) -> None: ...


class InMemoryProcessedEvents:
    """The last `capacity` event ids handled by this process (least recently seen evicted)."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValidationFailed("capacity must be at least 1", field="capacity")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    async def is_processed(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        return False

    async def mark_processed(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def check_service_name(service: str) -> str:
    """Service names become table-name prefixes: lower-case letters, digits, underscores."""
    if not _SERVICE_NAME.match(service):
        raise ValidationFailed(
            f"invalid service name {service!r} (lower-case letters, digits, underscores)",
            field="service",
            error_id="invalid-service-name",
        )
    return service


def processed_events_table_name(service: str) -> str:
    return f"{check_service_name(service)}_processed_events"


def _processed_events_columns() -> list[Column[Any]]:
    return [
        Column("event_id", String(EVENT_ID_LENGTH), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    ]


def processed_events_table(metadata: MetaData, service: str) -> Table:
    """`<service>_processed_events` (event_id PK, processed_at) in the service's metadata."""
    return Table(processed_events_table_name(service), metadata, *_processed_events_columns())


def create_processed_events_table(op: Any, service: str) -> None:
    """For an Alembic migration's `upgrade()`: `create_processed_events_table(op, "routing")`."""
    op.create_table(processed_events_table_name(service), *_processed_events_columns())


def drop_processed_events_table(op: Any, service: str) -> None:
    """For an Alembic migration's `downgrade()`."""
    op.drop_table(processed_events_table_name(service))


def insert_ignoring_duplicates(dialect_name: str, table: Table, key_column: str) -> Any:
    """An INSERT that does nothing when the key exists (PostgreSQL and SQLite), or a plain
    INSERT elsewhere (the caller then treats IntegrityError as "exists")."""
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key_column])
    if dialect_name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key_column])
    return insert(table)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SqlProcessedEvents:
    """Handled event ids in `<service>_processed_events`, shared by every instance of a
    service, so a redelivery after a rebalance is recognised whichever instance gets it."""

    def __init__(self, engine: AsyncEngine, table: Table) -> None:
        self._engine = engine
        self._table = table
        self._insert = insert_ignoring_duplicates(engine.dialect.name, table, "event_id")

    @classmethod
    def for_service(
        cls, engine: AsyncEngine, service: str, metadata: MetaData | None = None
    ) -> SqlProcessedEvents:
        return cls(
            engine,
            processed_events_table(metadata if metadata is not None else MetaData(), service),
        )

    @property
    def table(self) -> Table:
        return self._table

    async def create_table(self) -> None:
        """Create the table if missing (tests, embedded mode); services use migrations."""
        async with self._engine.begin() as connection:
            await connection.run_sync(self._table.create, checkfirst=True)

    async def is_processed(self, event_id: str) -> bool:
        query = select(exists().where(self._table.c.event_id == event_id))
        async with self._engine.connect() as connection:
            return bool(await connection.scalar(query))

    async def mark_processed(self, event_id: str) -> None:
        async with self._engine.begin() as connection:
            await self.claim(connection, event_id)

    async def claim(self, session: AsyncSession | AsyncConnection, event_id: str) -> bool:
        """Insert the marker in the caller's transaction. False: the event was handled before
        (the handler should then do nothing). On PostgreSQL a concurrent claim of the same id
        waits for the first transaction and then returns False."""
        values = {"event_id": event_id, "processed_at": _utcnow()}
        if self._engine.dialect.name in ("postgresql", "sqlite"):
            result = await session.execute(self._insert.values(**values))
            return bool(getattr(result, "rowcount", 0) == 1)
        savepoint = await session.begin_nested()
        try:
            await session.execute(self._insert.values(**values))
        except IntegrityError:
            await savepoint.rollback()
            return False
        await savepoint.commit()
        return True

    async def purge(self, older_than: timedelta) -> int:
        """Forget markers older than `older_than` (longer than any redelivery can take)."""
        cutoff = _utcnow() - older_than
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(self._table).where(self._table.c.processed_at < cutoff)
            )
        return int(result.rowcount or 0)
