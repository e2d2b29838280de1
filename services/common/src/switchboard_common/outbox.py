"""Transactional outbox: events are written to `<service>_outbox` in the same transaction as
the change they announce, and `OutboxRelay` publishes them afterwards.

So a committed change is never without its event (the relay retries until the broker takes
it, across broker outages and restarts) and a rolled-back change never has one. Delivery is
at least once: consumers are idempotent by event id.

Order: rows are published in id order, and one tenant's (one key's) events keep their order.
On PostgreSQL several relays may run (one per instance): each takes rows with
`FOR UPDATE SKIP LOCKED` and leaves alone any key that has an older row locked by another
relay, so no key's events overtake each other. A record the broker definitively refuses
after its own retries is retried by the next cycle; a later record of the same key that was
accepted in the same cycle is not held back for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import MetaData
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from switchboard_common.bus.idempotency import check_service_name
from switchboard_common.bus.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_PURGED,
    OUTBOX_RELAY_ERRORS,
    OUTBOX_RELAYED,
)
from switchboard_common.bus.producer import RecordPublisher
from switchboard_common.bus.records import CE_TYPE, Delivery, OutgoingRecord, event_headers
from switchboard_common.bus.retry import backoff_delay
from switchboard_common.events import Envelope
from switchboard_common.telemetry import inject_headers

log = logging.getLogger(__name__)

_MAX_ERROR_TEXT = 1000
_PENDING_NOTIFY = "switchboard.outbox.notify_pending"


def outbox_table_name(service: str) -> str:
    return f"{check_service_name(service)}_outbox"


def _outbox_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text(), nullable=True),
    ]


def _unpublished_index_name(service: str) -> str:
    return f"ix_{service}_outbox_unpublished"


def _published_at_index_name(service: str) -> str:
    return f"ix_{service}_outbox_published_at"


def _unpublished_condition() -> sa.TextClause:
    return sa.text("published_at IS NULL")


def outbox_table(metadata: MetaData, service: str) -> sa.Table:
    """`<service>_outbox` in the service's metadata (models.py), with its indexes: a partial
    index over unpublished rows (the relay's query) and one on published_at (the purge)."""
    name = outbox_table_name(service)
    table = sa.Table(name, metadata, *_outbox_columns())
    sa.Index(
        _unpublished_index_name(service),
        table.c.id,
        postgresql_where=table.c.published_at.is_(None),
        sqlite_where=table.c.published_at.is_(None),
    )
    sa.Index(_published_at_index_name(service), table.c.published_at)
    return table


def create_outbox_table(op: Any, service: str) -> None:
    """For an Alembic migration's `upgrade()`: `create_outbox_table(op, "tickets")`."""
    name = outbox_table_name(service)
    op.create_table(name, *_outbox_columns())
    op.create_index(
        _unpublished_index_name(service),
        name,
        ["id"],
        postgresql_where=_unpublished_condition(),
        sqlite_where=_unpublished_condition(),
    )
    op.create_index(_published_at_index_name(service), name, ["published_at"])


def drop_outbox_table(op: Any, service: str) -> None:
    """For an Alembic migration's `downgrade()`."""
    name = outbox_table_name(service)
    op.drop_index(_published_at_index_name(service), table_name=name)
    op.drop_index(_unpublished_index_name(service), table_name=name)
    op.drop_table(name)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Writes events into the outbox table inside the caller's transaction."""

    def __init__(self, table: sa.Table) -> None:
        self._table = table
        self._commit_listeners: list[Callable[[], None]] = []

    @classmethod
    def for_service(cls, service: str, metadata: MetaData | None = None) -> Outbox:
        return cls(outbox_table(metadata if metadata is not None else MetaData(), service))

    @property
    def table(self) -> sa.Table:
        return self._table

    @property
    def service(self) -> str:
        return self._table.name.removesuffix("_outbox")

    def add_commit_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` after a session that added events commits (the relay's notify)."""
        self._commit_listeners.append(callback)

    def row_values(self, envelope: Envelope, *, topic: str | None = None) -> dict[str, Any]:
        """The row for `envelope`, with the current trace context in its headers."""
        headers = event_headers(envelope)
        headers.update((name, value.decode()) for name, value in inject_headers())
        return {
            "event_id": envelope.id,
            "topic": topic or envelope.topic,
            "key": envelope.tenant,
            "payload": envelope.encode(),
            "headers": headers,
            "created_at": _utcnow(),
            "attempts": 0,
        }

    async def add(
        self,
        session: AsyncSession | AsyncConnection,
        envelope: Envelope,
        *,
        topic: str | None = None,
    ) -> None:
        """Queue `envelope` in the caller's transaction; it is published after commit.
        With an AsyncSession the relay is woken on commit; with a bare AsyncConnection call
        `OutboxRelay.notify()` after committing (else it waits for its next poll)."""
        await self.add_all(session, [envelope], topic=topic)

    async def add_all(
        self,
        session: AsyncSession | AsyncConnection,
        envelopes: Iterable[Envelope],
        *,
        topic: str | None = None,
    ) -> None:
        rows = [self.row_values(envelope, topic=topic) for envelope in envelopes]
        if not rows:
            return
        await session.execute(sa.insert(self._table), rows)
        if isinstance(session, AsyncSession):
            self._notify_after_commit(session)

    def _notify_after_commit(self, session: AsyncSession) -> None:
        if not self._commit_listeners or session.info.get(_PENDING_NOTIFY):
            return
        session.info[_PENDING_NOTIFY] = True
        listeners = list(self._commit_listeners)

        def after_commit(sync_session: Any) -> None:
            sync_session.info.pop(_PENDING_NOTIFY, None)
            for listener in listeners:
                listener()

        sa_event.listen(session.sync_session, "after_commit", after_commit, once=True)


class RelaySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_interval_s: float = Field(default=0.5, gt=0, description="when nobody notifies")
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=10.0, gt=0, description="longest wait, broker down")
    retention_s: float = Field(default=86_400.0, gt=0, description="keep published rows")
    purge_interval_s: float = Field(default=300.0, gt=0)
    backlog_interval_s: float = Field(default=5.0, gt=0, description="backlog gauge refresh")
    stop_timeout_s: float = Field(default=10.0, gt=0)


@dataclass(frozen=True, slots=True)
class RelayBatch:
    """What one relay cycle did."""

    fetched: int
    published: int
    failed: int
    deferred: int


class OutboxRelay:
    """Publishes outbox rows, oldest first, marking each one published once acknowledged."""

    def __init__(
        self,
        outbox: Outbox,
        engine: AsyncEngine,
        publisher: RecordPublisher,
        *,
        settings: RelaySettings | None = None,
    ) -> None:
        self._outbox = outbox
        self._table = outbox.table
        self._engine = engine
        self._publisher = publisher
        self._settings = settings if settings is not None else RelaySettings()
        self._service = outbox.service
        self._locking = engine.dialect.name == "postgresql"
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0
        self._last_backlog = 0.0
        outbox.add_commit_listener(self.notify)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        """New rows were committed: relay now instead of at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._service}")

    async def stop(self) -> None:
        """Finish the current cycle (bounded by `stop_timeout_s`), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._settings.stop_timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sleep(self, seconds: float, *, wake_on_notify: bool) -> None:
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake_on_notify:
            waiters.append(asyncio.ensure_future(self._wakeup.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _run(self) -> None:
        s = self._settings
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                batch = await self.relay_once()
                now = loop.time()
                if now - self._last_backlog >= s.backlog_interval_s:
                    await self.backlog()
                if now - self._last_purge >= s.purge_interval_s:
                    self._last_purge = now
                    await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                stage = "database" if isinstance(exc, SQLAlchemyError | OSError) else "cycle"
                OUTBOX_RELAY_ERRORS.labels(self._service, stage).inc()
                delay = backoff_delay(
                    failures, initial=s.backoff_initial_s, maximum=s.backoff_max_s
                )
                log.warning(
                    "outbox relay %s: %s, retry in %.2fs", self._service, exc, delay, exc_info=True
                )
                await self._sleep(delay, wake_on_notify=False)
                continue
            if batch.failed:
                failures += 1
                delay = backoff_delay(
                    failures, initial=s.backoff_initial_s, maximum=s.backoff_max_s
                )
                await self._sleep(delay, wake_on_notify=False)
                continue
            failures = 0
            if batch.fetched >= s.batch_size:
                continue
            await self._sleep(s.poll_interval_s, wake_on_notify=True)

    def _unpublished_query(self) -> sa.Select[Any]:
        t = self._table
        query = (
            sa.select(t.c.id, t.c.event_id, t.c.topic, t.c.key, t.c.payload, t.c.headers)
            .where(t.c.published_at.is_(None))
            .order_by(t.c.id)
            .limit(self._settings.batch_size)
        )
        if self._locking:
            query = query.with_for_update(skip_locked=True)
        return query

    async def _keys_behind_other_relays(
        self, connection: AsyncConnection, rows: Sequence[Row[Any]]
    ) -> set[str]:
        """Keys with an older unpublished row than ours: another relay holds it locked."""
        t = self._table
        first_id: dict[str, int] = {}
        for row in rows:
            first_id.setdefault(row.key, row.id)
        query = (
            sa.select(t.c.key, sa.func.min(t.c.id))
            .where(t.c.published_at.is_(None), t.c.key.in_(list(first_id)))
            .group_by(t.c.key)
        )
        result = await connection.execute(query)
        return {key for key, oldest in result.all() if oldest < first_id[key]}

    async def relay_once(self) -> RelayBatch:
        """One cycle: take up to `batch_size` unpublished rows, publish, record the outcome."""
        if self._locking:
            async with self._engine.begin() as connection:
                rows = list((await connection.execute(self._unpublished_query())).all())
                if not rows:
                    return RelayBatch(0, 0, 0, 0)
                blocked = await self._keys_behind_other_relays(connection, rows)
                ready = [row for row in rows if row.key not in blocked]
                results = await self._publish(ready)
                await self._record(connection, ready, results)
        else:
            async with self._engine.connect() as connection:
                rows = list((await connection.execute(self._unpublished_query())).all())
            if not rows:
                return RelayBatch(0, 0, 0, 0)
            ready = rows
            results = await self._publish(ready)
            async with self._engine.begin() as connection:
                await self._record(connection, ready, results)
        failed = sum(1 for result in results if not isinstance(result, Delivery))
        return RelayBatch(
            fetched=len(rows),
            published=len(ready) - failed,
            failed=failed,
            deferred=len(rows) - len(ready),
        )

    async def _publish(self, rows: Sequence[Row[Any]]) -> list[Delivery | Exception]:
        if not rows:
            return []
        records = [
            OutgoingRecord(
                topic=row.topic,
                key=row.key.encode(),
                value=bytes(row.payload),
                headers=tuple((name, str(value).encode()) for name, value in row.headers.items()),
                event_id=row.event_id,
                event_type=str(row.headers.get(CE_TYPE, "unknown")),
            )
            for row in rows
        ]
        return await self._publisher.publish_batch(records)

    async def _record(
        self,
        connection: AsyncConnection,
        rows: Sequence[Row[Any]],
        results: Sequence[Delivery | Exception],
    ) -> None:
        t = self._table
        published = [
            row for row, result in zip(rows, results, strict=True) if isinstance(result, Delivery)
        ]
        failed = [
            (row, result)
            for row, result in zip(rows, results, strict=True)
            if not isinstance(result, Delivery)
        ]
        if published:
            await connection.execute(
                sa.update(t)
                .where(t.c.id.in_([row.id for row in published]))
                .values(published_at=_utcnow(), attempts=t.c.attempts + 1)
            )
            for row in published:
                OUTBOX_RELAYED.labels(self._service, row.topic).inc()
        if failed:
            OUTBOX_RELAY_ERRORS.labels(self._service, "publish").inc()
            log.warning(
                "outbox relay %s: %d of %d events not published: %s",
                self._service,
                len(failed),
                len(rows),
                failed[0][1],
            )
            await connection.execute(
                sa.update(t)
                .where(t.c.id == sa.bindparam("row_id"))
                .values(attempts=t.c.attempts + 1, last_error=sa.bindparam("error_text")),
                [
                    {
                        "row_id": row.id,
                        "error_text": f"{type(error).__name__}: {error}"[:_MAX_ERROR_TEXT],
                    }
                    for row, error in failed
                ],
            )

    async def backlog(self) -> int:
        """Unpublished rows now (also sets the `outbox_backlog` gauge)."""
        t = self._table
        query = sa.select(sa.func.count()).select_from(t).where(t.c.published_at.is_(None))
        async with self._engine.connect() as connection:
            count = int(await connection.scalar(query) or 0)
        OUTBOX_BACKLOG.labels(self._service).set(count)
        self._last_backlog = asyncio.get_running_loop().time()
        return count

    async def purge(self, older_than: timedelta | None = None) -> int:
        """Delete rows published more than the retention ago; returns how many."""
        age = (
            older_than if older_than is not None else timedelta(seconds=self._settings.retention_s)
        )
        t = self._table
        cutoff = _utcnow() - age
        async with self._engine.begin() as connection:
            result = await connection.execute(
                sa.delete(t).where(t.c.published_at.is_not(None), t.c.published_at < cutoff)
            )
        purged = int(result.rowcount or 0)
        if purged:
            OUTBOX_PURGED.labels(self._service).inc(purged)
        return purged
