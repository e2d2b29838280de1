"""Storage of the routing service.

`RoutingStore.tenant(id)` opens one transaction that, on PostgreSQL, switches to the
application role (`SET LOCAL ROLE`) and sets `app.tenant_id`, so that row-level security
confines every statement to that tenant; every query also filters on `tenant_id` itself
(SQLite has no RLS). `RoutingStore.platform()` is the cross-tenant scope
(`app.tenant_id = '*'`), used only for partition work: takeovers, and the partition writer
that saves a partition's events, decisions, traffic and snapshots in one transaction fenced
by the partition's epoch.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from switchboard_common.bus import partition_for_tenant
from switchboard_common.db import TENANT_SETTING, make_sessionmaker
from switchboard_common.errors import ValidationFailed
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.config import (
    SkillChanged,
    TenantCreated,
    TenantDeleted,
    TenantUpdated,
    UserCreated,
    UserDeleted,
    UserUpdated,
)
from switchboard_common.events.queues import RoutingDecisionMade
from switchboard_common.outbox import Outbox
from switchboard_routing import models as m
from switchboard_routing.ownership import PartitionOwner, Positions, Takeover

PLATFORM_SCOPE = "*"
TRAFFIC_RETENTION_S = 35 * 86_400.0
"""Per-minute traffic kept for staffing (five weeks: week-over-week comparisons)."""
_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_tenant_id(tenant_id: str) -> str:
    if not _TENANT_ID.match(tenant_id):
        raise ValidationFailed(
            "a tenant id is 1-64 letters, digits, _ or -",
            field="tenant_id",
            error_id="invalid-tenant-id",
        )
    return tenant_id


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """A stored queue; `deleted_at` is set on a tombstone."""

    tenant_id: str
    queue_id: str
    name: str
    version: int
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@dataclass(slots=True)
class Directory:
    """What routing knows of a tenant to dial its agents: SIP domain, user extensions."""

    sip_domain: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TenantLoad:
    """A tenant's stored routing state, for (re)building its engine."""

    tenant_id: str
    queues: tuple[QueueRecord, ...]
    snapshot: dict[str, Any] | None
    directory: Directory


@dataclass(frozen=True, slots=True)
class DecisionRow:
    tenant_id: str
    call_id: str
    decision: dict[str, Any]
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """Increments for one queue and minute."""

    tenant_id: str
    queue_id: str
    minute: datetime
    arrivals: int = 0
    answered: int = 0
    abandoned: int = 0
    handled: int = 0
    handle_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class TrafficTotals:
    arrivals: int
    answered: int
    abandoned: int
    handled: int
    handle_seconds: float


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    tenant_id: str
    snapshot: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PartitionBatch:
    """Everything one partition owner writes in one transaction, under its epoch."""

    partition: int
    epoch: int
    at: datetime
    envelopes: tuple[Envelope, ...] = ()
    decisions: tuple[DecisionRow, ...] = ()
    traffic: tuple[TrafficRow, ...] = ()
    snapshots: tuple[SnapshotRow, ...] = ()
    positions: Positions | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.envelopes
            or self.decisions
            or self.traffic
            or self.snapshots
            or self.positions is not None
        )


def _queue(row: Row[Any]) -> QueueRecord:
    return QueueRecord(
        tenant_id=row.tenant_id,
        queue_id=row.queue_id,
        name=row.name,
        version=row.version,
        config=dict(row.config),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )


def _upsert(postgres: bool, table: sa.Table) -> Any:
    return postgresql.insert(table) if postgres else sqlite.insert(table)


class RoutingStore:
    """Opens the routing service's transactions; also the store port of `RoutingService`."""

    def __init__(self, engine: AsyncEngine, outbox: Outbox, *, role: str = "") -> None:
        self.engine = engine
        self.outbox = outbox
        self._sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
        self.postgres = engine.dialect.name == "postgresql"
        self._role = role if self.postgres else ""

    @asynccontextmanager
    async def tenant(self, tenant_id: str) -> AsyncIterator[RoutingRepository]:
        """One transaction that sees only `tenant_id`'s rows."""
        check_tenant_id(tenant_id)
        async with self._sessions() as session, session.begin():
            await self._scope(session, tenant_id)
            yield RoutingRepository(session, tenant_id, postgres=self.postgres)

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[PlatformRepository]:
        """One transaction across tenants (partition work only)."""
        async with self._sessions() as session, session.begin():
            await self._scope(session, PLATFORM_SCOPE)
            yield PlatformRepository(session, self.outbox, postgres=self.postgres)

    async def _scope(self, session: AsyncSession, scope: str) -> None:
        if not self.postgres:
            return
        settings = ["set_config(:tenant_setting, :scope, true)"]
        params = {"tenant_setting": TENANT_SETTING, "scope": scope}
        if self._role:
            settings.append("set_config('role', :role, true)")
            params["role"] = self._role
        await session.execute(sa.text("SELECT " + ", ".join(settings)), params)

    # -------------------------------------------------------------- RoutingService's port

    async def take_over(self, partition: int, owner: str, address: str, at: datetime) -> Takeover:
        async with self.platform() as repo:
            return await repo.take_over(partition, owner, address, at)

    async def load_partition(self, partition: int, partition_count: int) -> list[TenantLoad]:
        async with self.platform() as repo:
            tenants = await repo.tenants_of_partition(partition, partition_count)
            return await repo.load_tenants(tenants)

    async def load_tenant(self, tenant_id: str) -> TenantLoad:
        async with self.platform() as repo:
            return (await repo.load_tenants([tenant_id]))[0]

    async def queue_record(self, tenant_id: str, queue_id: str) -> QueueRecord | None:
        async with self.tenant(tenant_id) as repo:
            return await repo.queue(queue_id, include_deleted=True)

    async def save_partition(self, batch: PartitionBatch) -> bool:
        async with self.platform() as repo:
            return await repo.save_partition(batch)

    async def apply_config_event(self, tenant_id: str, payload: EventPayload, at: datetime) -> None:
        async with self.tenant(tenant_id) as repo:
            await repo.apply_config_event(payload, at)

    async def owner(self, partition: int) -> PartitionOwner | None:
        async with self.platform() as repo:
            return await repo.owner(partition)

    async def decision(self, tenant_id: str, call_id: str) -> RoutingDecisionMade | None:
        """The stored latest decision for a call."""
        async with self.tenant(tenant_id) as repo:
            found = await repo.decision(call_id)
        return RoutingDecisionMade.model_validate(found) if found is not None else None

    async def purge(self, *, decisions_before: datetime, traffic_before: datetime) -> None:
        async with self.platform() as repo:
            await repo.purge(decisions_before=decisions_before, traffic_before=traffic_before)

    async def purge_older(self, now: float, decision_retention_s: float) -> None:
        """Drop decisions older than the retention and traffic older than 35 days."""
        await self.purge(
            decisions_before=datetime.fromtimestamp(now - decision_retention_s, UTC),
            traffic_before=datetime.fromtimestamp(now - TRAFFIC_RETENTION_S, UTC),
        )


class RoutingRepository:
    """Queries inside one tenant's transaction."""

    def __init__(self, session: AsyncSession, tenant_id: str, *, postgres: bool) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self._postgres = postgres

    async def queue(
        self, queue_id: str, *, include_deleted: bool = False, for_update: bool = False
    ) -> QueueRecord | None:
        q = m.queues
        query = sa.select(q).where(q.c.tenant_id == self.tenant_id, q.c.queue_id == queue_id)
        if not include_deleted:
            query = query.where(q.c.deleted_at.is_(None))
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _queue(row) if row is not None else None

    async def queues(self) -> list[QueueRecord]:
        q = m.queues
        query = (
            sa.select(q)
            .where(q.c.tenant_id == self.tenant_id, q.c.deleted_at.is_(None))
            .order_by(q.c.queue_id)
        )
        return [_queue(row) for row in (await self.session.execute(query)).all()]

    async def save_queue(self, record: QueueRecord, *, insert: bool) -> None:
        values = {
            "name": record.name,
            "version": record.version,
            "config": record.config,
            "updated_at": record.updated_at,
            "deleted_at": record.deleted_at,
        }
        q = m.queues
        if insert:
            await self.session.execute(
                sa.insert(q).values(
                    tenant_id=self.tenant_id,
                    queue_id=record.queue_id,
                    created_at=record.created_at,
                    **values,
                )
            )
            return
        await self.session.execute(
            sa.update(q)
            .where(q.c.tenant_id == self.tenant_id, q.c.queue_id == record.queue_id)
            .values(created_at=record.created_at, **values)
        )

    async def skill_names(self) -> set[str]:
        s = m.skills
        query = sa.select(s.c.name).where(s.c.tenant_id == self.tenant_id)
        rows = await self.session.execute(query)
        return {name for (name,) in rows.all()}

    async def decision(self, call_id: str) -> dict[str, Any] | None:
        d = m.decisions
        query = sa.select(d.c.decision).where(
            d.c.tenant_id == self.tenant_id, d.c.call_id == call_id
        )
        row = (await self.session.execute(query)).first()
        return dict(row.decision) if row is not None else None

    async def traffic(self, queue_id: str, since: datetime) -> TrafficTotals:
        t = m.traffic
        row = (
            await self.session.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(t.c.arrivals), 0),
                    sa.func.coalesce(sa.func.sum(t.c.answered), 0),
                    sa.func.coalesce(sa.func.sum(t.c.abandoned), 0),
                    sa.func.coalesce(sa.func.sum(t.c.handled), 0),
                    sa.func.coalesce(sa.func.sum(t.c.handle_seconds), 0.0),
                ).where(
                    t.c.tenant_id == self.tenant_id,
                    t.c.queue_id == queue_id,
                    t.c.minute >= since,
                )
            )
        ).one()
        return TrafficTotals(int(row[0]), int(row[1]), int(row[2]), int(row[3]), float(row[4]))

    async def apply_config_event(self, payload: EventPayload, at: datetime) -> None:
        """Keep what routing needs of admin's configuration events."""
        tenant = self.tenant_id
        if isinstance(payload, TenantCreated | TenantUpdated):
            statement = _upsert(self._postgres, m.tenants).values(
                tenant_id=tenant, sip_domain=payload.sip_domain, updated_at=at
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id"],
                    set_={"sip_domain": payload.sip_domain, "updated_at": at},
                )
            )
        elif isinstance(payload, TenantDeleted):
            for table in (m.tenants, m.users, m.skills):
                await self.session.execute(sa.delete(table).where(table.c.tenant_id == tenant))
        elif isinstance(payload, UserCreated | UserUpdated):
            statement = _upsert(self._postgres, m.users).values(
                tenant_id=tenant,
                user_id=payload.user_id,
                extension=payload.extension,
                updated_at=at,
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "user_id"],
                    set_={"extension": payload.extension, "updated_at": at},
                )
            )
        elif isinstance(payload, UserDeleted):
            u = m.users
            await self.session.execute(
                sa.delete(u).where(u.c.tenant_id == tenant, u.c.user_id == payload.user_id)
            )
        elif isinstance(payload, SkillChanged):
            s = m.skills
            if payload.change == "deleted":
                await self.session.execute(
                    sa.delete(s).where(s.c.tenant_id == tenant, s.c.skill_id == payload.skill_id)
                )
                return
            statement = _upsert(self._postgres, s).values(
                tenant_id=tenant, skill_id=payload.skill_id, name=payload.name, updated_at=at
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["tenant_id", "skill_id"],
                    set_={"name": payload.name, "updated_at": at},
                )
            )


class PlatformRepository:
    """Partition work across the tenants of a partition."""

    def __init__(self, session: AsyncSession, outbox: Outbox, *, postgres: bool) -> None:
        self.session = session
        self._outbox = outbox
        self._postgres = postgres

    async def take_over(self, partition: int, owner: str, address: str, at: datetime) -> Takeover:
        """Become the owner of `partition`: its epoch goes up by one (first owner: 1)."""
        p = m.partitions
        statement = _upsert(self._postgres, p).values(
            partition=partition,
            epoch=1,
            owner=owner,
            owner_address=address,
            positions={},
            taken_at=at,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["partition"],
            set_={
                "epoch": p.c.epoch + 1,
                "owner": owner,
                "owner_address": address,
                "taken_at": at,
            },
        ).returning(p.c.epoch, p.c.positions)
        row = (await self.session.execute(statement)).one()
        positions = {str(topic): int(offset) for topic, offset in dict(row.positions).items()}
        return Takeover(partition=partition, epoch=int(row.epoch), positions=positions)

    async def owner(self, partition: int) -> PartitionOwner | None:
        p = m.partitions
        row = (
            await self.session.execute(
                sa.select(p.c.epoch, p.c.owner, p.c.owner_address).where(p.c.partition == partition)
            )
        ).first()
        if row is None:
            return None
        return PartitionOwner(partition, int(row.epoch), row.owner, row.owner_address)

    async def tenants_of_partition(self, partition: int, partition_count: int) -> list[str]:
        """Tenants with routing state (queues or a snapshot) whose events land on
        `partition`."""
        names = sa.union(
            sa.select(m.queues.c.tenant_id), sa.select(m.snapshots.c.tenant_id)
        ).subquery()
        rows = await self.session.execute(sa.select(names.c.tenant_id))
        return sorted(
            tenant
            for (tenant,) in rows.all()
            if partition_for_tenant(tenant, partition_count) == partition
        )

    async def load_tenants(self, tenant_ids: Sequence[str]) -> list[TenantLoad]:
        if not tenant_ids:
            return []
        wanted = list(tenant_ids)
        q, s, t, u = m.queues, m.snapshots, m.tenants, m.users
        queues: dict[str, list[QueueRecord]] = {tenant: [] for tenant in wanted}
        rows = await self.session.execute(
            sa.select(q).where(q.c.tenant_id.in_(wanted)).order_by(q.c.tenant_id, q.c.queue_id)
        )
        for row in rows.all():
            queues[row.tenant_id].append(_queue(row))
        snapshots = {
            row.tenant_id: dict(row.snapshot)
            for row in (
                await self.session.execute(
                    sa.select(s.c.tenant_id, s.c.snapshot).where(s.c.tenant_id.in_(wanted))
                )
            ).all()
        }
        directories = {tenant: Directory() for tenant in wanted}
        for row in (
            await self.session.execute(
                sa.select(t.c.tenant_id, t.c.sip_domain).where(t.c.tenant_id.in_(wanted))
            )
        ).all():
            directories[row.tenant_id].sip_domain = row.sip_domain
        for row in (
            await self.session.execute(
                sa.select(u.c.tenant_id, u.c.user_id, u.c.extension).where(
                    u.c.tenant_id.in_(wanted), u.c.extension.is_not(None)
                )
            )
        ).all():
            directories[row.tenant_id].extensions[row.user_id] = row.extension
        return [
            TenantLoad(
                tenant_id=tenant,
                queues=tuple(queues[tenant]),
                snapshot=snapshots.get(tenant),
                directory=directories[tenant],
            )
            for tenant in wanted
        ]

    async def save_partition(self, batch: PartitionBatch) -> bool:
        """Write a partition owner's batch; False (and nothing written) when the partition's
        epoch is no longer the batch's: another instance took the partition over."""
        p = m.partitions
        row = (
            await self.session.execute(
                sa.select(p.c.epoch).where(p.c.partition == batch.partition).with_for_update()
            )
        ).first()
        if row is None or int(row.epoch) != batch.epoch:
            return False
        await self._outbox.add_all(self.session, batch.envelopes)
        await self._save_decisions(batch.decisions)
        await self._add_traffic(batch.traffic)
        await self._save_snapshots(batch)
        if batch.positions is not None:
            await self.session.execute(
                sa.update(p)
                .where(p.c.partition == batch.partition)
                .values(positions=dict(batch.positions), saved_at=batch.at)
            )
        return True

    async def _save_decisions(self, decisions: Iterable[DecisionRow]) -> None:
        latest: dict[tuple[str, str], DecisionRow] = {}
        for decision in decisions:
            latest[(decision.tenant_id, decision.call_id)] = decision
        if not latest:
            return
        d = m.decisions
        statement = _upsert(self._postgres, d)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "call_id"],
            set_={
                "decision": statement.excluded.decision,
                "decided_at": statement.excluded.decided_at,
            },
        )
        await self.session.execute(
            statement,
            [
                {
                    "tenant_id": row.tenant_id,
                    "call_id": row.call_id,
                    "decision": row.decision,
                    "decided_at": row.decided_at,
                }
                for row in latest.values()
            ],
        )

    async def _add_traffic(self, rows: Iterable[TrafficRow]) -> None:
        values = [
            {
                "tenant_id": row.tenant_id,
                "queue_id": row.queue_id,
                "minute": row.minute,
                "arrivals": row.arrivals,
                "answered": row.answered,
                "abandoned": row.abandoned,
                "handled": row.handled,
                "handle_seconds": row.handle_seconds,
            }
            for row in rows
        ]
        if not values:
            return
        t = m.traffic
        statement = _upsert(self._postgres, t)
        counters = ("arrivals", "answered", "abandoned", "handled", "handle_seconds")
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id", "queue_id", "minute"],
            set_={name: t.c[name] + statement.excluded[name] for name in counters},
        )
        await self.session.execute(statement, values)

    async def _save_snapshots(self, batch: PartitionBatch) -> None:
        if not batch.snapshots:
            return
        s = m.snapshots
        statement = _upsert(self._postgres, s)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={
                "partition": statement.excluded.partition,
                "epoch": statement.excluded.epoch,
                "snapshot": statement.excluded.snapshot,
                "saved_at": statement.excluded.saved_at,
            },
        )
        await self.session.execute(
            statement,
            [
                {
                    "tenant_id": row.tenant_id,
                    "partition": batch.partition,
                    "epoch": batch.epoch,
                    "snapshot": row.snapshot,
                    "saved_at": batch.at,
                }
                for row in batch.snapshots
            ],
        )

    async def purge(self, *, decisions_before: datetime, traffic_before: datetime) -> None:
        d, t = m.decisions, m.traffic
        await self.session.execute(sa.delete(d).where(d.c.decided_at < decisions_before))
        await self.session.execute(sa.delete(t).where(t.c.minute < traffic_before))

    async def snapshot_epochs(self) -> Mapping[str, int]:
        """tenant -> epoch of its saved snapshot (for inspection and tests)."""
        s = m.snapshots
        rows = await self.session.execute(sa.select(s.c.tenant_id, s.c.epoch))
        return {tenant: int(epoch) for tenant, epoch in rows.all()}
