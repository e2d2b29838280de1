"""SQLAlchemy access to cti's tables (see models.py). Writes take the caller's connection so
that they commit with the outbox rows announcing them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchboard_cti import models


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    tenant_id: str
    agent_id: str
    actor: str
    source: str
    from_state: str
    to_state: str
    reason: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "actor": self.actor,
            "source": self.source,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


class CtiRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._after_commit: list[Callable[[], None]] = []

    def add_commit_listener(self, callback: Callable[[], None]) -> None:
        """Called after each committed write transaction (the outbox relay's wake-up)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as connection:
            yield connection
        for callback in self._after_commit:
            callback()

    def _upsert(self, table: sa.Table, values: dict[str, Any], keys: list[str]) -> Any:
        if self._dialect == "postgresql":
            pg = postgresql.insert(table).values(**values)
            return pg.on_conflict_do_update(
                index_elements=keys, set_={k: v for k, v in values.items() if k not in keys}
            )
        lite = sqlite.insert(table).values(**values)
        return lite.on_conflict_do_update(
            index_elements=keys, set_={k: v for k, v in values.items() if k not in keys}
        )

    # ---- agents -------------------------------------------------------------------------

    async def load_agents(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as connection:
            result = await connection.execute(sa.select(models.agents))
            return [dict(row._mapping) for row in result]

    async def save_agent(self, connection: AsyncConnection, values: dict[str, Any]) -> None:
        row = {**values, "updated_at": _utcnow()}
        await connection.execute(self._upsert(models.agents, row, ["tenant_id", "agent_id"]))

    async def delete_agent(
        self, connection: AsyncConnection, tenant_id: str, agent_id: str
    ) -> None:
        t = models.agents
        await connection.execute(
            sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.agent_id == agent_id)
        )

    # ---- tenants and queues -------------------------------------------------------------

    async def load_tenants(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as connection:
            result = await connection.execute(sa.select(models.tenants))
            return [dict(row._mapping) for row in result]

    async def save_tenant(
        self,
        connection: AsyncConnection,
        tenant_id: str,
        *,
        slug: str | None,
        policy: dict[str, Any] | None,
        sip_domain: str | None = None,
    ) -> None:
        values = {
            "tenant_id": tenant_id,
            "slug": slug,
            "sip_domain": sip_domain,
            "policy": policy,
            "updated_at": _utcnow(),
        }
        await connection.execute(self._upsert(models.tenants, values, ["tenant_id"]))

    async def delete_tenant(self, connection: AsyncConnection, tenant_id: str) -> None:
        for table in (models.agents, models.queues, models.tenants):
            await connection.execute(sa.delete(table).where(table.c.tenant_id == tenant_id))

    async def load_queues(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as connection:
            result = await connection.execute(sa.select(models.queues))
            return [dict(row._mapping) for row in result]

    async def save_queue(
        self,
        connection: AsyncConnection,
        tenant_id: str,
        queue_id: str,
        *,
        name: str,
        wrap_up_s: float,
        version: int,
    ) -> None:
        values = {
            "tenant_id": tenant_id,
            "queue_id": queue_id,
            "name": name,
            "wrap_up_s": wrap_up_s,
            "version": version,
        }
        await connection.execute(self._upsert(models.queues, values, ["tenant_id", "queue_id"]))

    async def delete_queue(
        self, connection: AsyncConnection, tenant_id: str, queue_id: str
    ) -> None:
        t = models.queues
        await connection.execute(
            sa.delete(t).where(t.c.tenant_id == tenant_id, t.c.queue_id == queue_id)
        )

    # ---- audit and wrap-ups -------------------------------------------------------------

    async def add_audit(self, connection: AsyncConnection, entry: AuditEntry) -> None:
        await connection.execute(
            sa.insert(models.state_audit).values(
                tenant_id=entry.tenant_id,
                agent_id=entry.agent_id,
                actor=entry.actor,
                source=entry.source,
                from_state=entry.from_state,
                to_state=entry.to_state,
                reason=entry.reason,
                at=entry.at,
            )
        )

    async def list_audit(
        self, tenant_id: str, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        t = models.state_audit
        query = sa.select(t).where(t.c.tenant_id == tenant_id)
        if agent_id is not None:
            query = query.where(t.c.agent_id == agent_id)
        query = query.order_by(t.c.id.desc()).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            AuditEntry(
                tenant_id=row.tenant_id,
                agent_id=row.agent_id,
                actor=row.actor,
                source=row.source,
                from_state=row.from_state,
                to_state=row.to_state,
                reason=row.reason,
                at=row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC),
            )
            for row in rows
        ]

    async def add_wrap_up(
        self,
        connection: AsyncConnection,
        *,
        tenant_id: str,
        agent_id: str,
        call_id: str | None,
        queue_id: str | None,
        disposition: str,
        notes: str,
        at: datetime,
    ) -> None:
        await connection.execute(
            sa.insert(models.wrap_ups).values(
                tenant_id=tenant_id,
                agent_id=agent_id,
                call_id=call_id,
                queue_id=queue_id,
                disposition=disposition,
                notes=notes,
                at=at,
            )
        )

    async def list_wrap_ups(self, tenant_id: str, call_id: str) -> list[dict[str, Any]]:
        t = models.wrap_ups
        query = sa.select(t).where(t.c.tenant_id == tenant_id, t.c.call_id == call_id)
        async with self._engine.connect() as connection:
            return [dict(row._mapping) for row in (await connection.execute(query)).all()]
