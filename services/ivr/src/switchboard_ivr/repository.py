"""Storage of the ivr service: tenant-scoped transactions and the queries.

Every transaction opened by `IvrStore.tenant` starts, on PostgreSQL, with
`set_config('role', <app role>, true)` (= `SET LOCAL ROLE switchboard_app`) and
`set_config('app.tenant_id', <tenant>, true)`, so the row-level-security policies apply even
when DATABASE_URL logs in as the tables' owner. Every query also filters on `tenant_id`
itself (SQLite has no RLS; on PostgreSQL the policy is a second line).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from switchboard_common.db import TENANT_SETTING
from switchboard_ivr import models
from switchboard_ivr.domain import FlowHistory, FlowVersion, FlowVersionState, parse_flow

_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LEAVING_FIRST = (FlowVersionState.RETIRED, FlowVersionState.DISCARDED)


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """A tenant flow as listed: its name and which versions are draft and published."""

    flow_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    draft_version: int | None
    published_version: int | None
    version_count: int


@dataclass(frozen=True, slots=True)
class NumberRecord:
    number: str
    target_kind: str
    target_id: str
    source: str
    number_id: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PublishedDefinition:
    flow_id: str
    version: int
    definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BlacklistRecord:
    number: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CalendarRecord:
    calendar_id: str
    name: str
    definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TenantRecord:
    """What admin's tenant events told us (time zone, status, concurrent-call quota)."""

    timezone: str
    status: str
    max_concurrent_calls: int | None


@dataclass(frozen=True, slots=True)
class SettingsRecord:
    """The tenant's own IVR settings (set over REST)."""

    language: str
    webhook_url: str | None
    webhook_secret: str | None
    error_transfer_to: str | None
    updated_at: datetime


class IvrStore:
    """Opens the ivr service's transactions as the application role, scoped to a tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, app_role: str = "") -> None:
        self._sessions = sessions
        self._app_role = app_role

    @asynccontextmanager
    async def tenant(self, tenant_id: str) -> AsyncIterator[IvrRepository]:
        """One transaction that sees only `tenant_id`'s rows."""
        if not _TENANT_ID.match(tenant_id):
            raise ValueError(f"invalid tenant id {tenant_id!r}")
        async with self._sessions() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                settings = ["set_config(:tenant_setting, :tenant, true)"]
                params = {"tenant_setting": TENANT_SETTING, "tenant": tenant_id}
                if self._app_role:
                    settings.insert(0, "set_config('role', :role, true)")
                    params["role"] = self._app_role
                await session.execute(sa.text("SELECT " + ", ".join(settings)), params)
            yield IvrRepository(session, tenant_id)


class IvrRepository:
    """Queries within one tenant transaction."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # ------------------------------------------------------------------ helpers

    def _upsert(self, table: sa.Table, values: dict[str, Any], keys: Sequence[str]) -> Any:
        dialect = self.session.get_bind().dialect.name
        updates = {name: value for name, value in values.items() if name not in keys}
        if dialect == "postgresql":
            pg = postgresql.insert(table).values(**values)
            return pg.on_conflict_do_update(index_elements=list(keys), set_=updates)
        if dialect == "sqlite":
            lite = sqlite.insert(table).values(**values)
            return lite.on_conflict_do_update(index_elements=list(keys), set_=updates)
        raise RuntimeError(f"unsupported database {dialect}")

    async def _execute(self, statement: Any) -> Any:
        return await self.session.execute(statement)

    # ------------------------------------------------------------------ flows

    async def flow_history(self, flow_id: str, *, lock: bool = False) -> FlowHistory | None:
        """Every version of a flow, oldest first; None when the tenant has no such flow.
        With `lock`, the flow's row stays locked until the transaction ends (PostgreSQL), so
        concurrent changes of one flow queue up instead of colliding."""
        t = models.flows
        query = sa.select(t.c.flow_id).where(
            t.c.tenant_id == self.tenant_id, t.c.flow_id == flow_id
        )
        found = await self.session.scalar(query.with_for_update() if lock else query)
        if found is None:
            return None
        v = models.flow_versions
        rows = (
            await self._execute(
                sa.select(v)
                .where(v.c.tenant_id == self.tenant_id, v.c.flow_id == flow_id)
                .order_by(v.c.number)
            )
        ).all()
        versions = tuple(
            FlowVersion(
                number=row.number,
                state=FlowVersionState(row.state),
                definition=parse_flow(row.definition),
                created_at=row.created_at,
                published_at=row.published_at,
            )
            for row in rows
        )
        return FlowHistory(self.tenant_id, flow_id, versions)

    async def flow_record(self, flow_id: str) -> FlowRecord | None:
        records = await self._flow_records(flow_id)
        return records[0] if records else None

    async def list_flows(self) -> list[FlowRecord]:
        return await self._flow_records(None)

    async def _flow_records(self, flow_id: str | None) -> list[FlowRecord]:
        f, v = models.flows, models.flow_versions

        def number_in(state: str) -> Any:
            return (
                sa.select(v.c.number)
                .where(
                    v.c.tenant_id == f.c.tenant_id, v.c.flow_id == f.c.flow_id, v.c.state == state
                )
                .scalar_subquery()
            )

        count = (
            sa.select(sa.func.count())
            .where(v.c.tenant_id == f.c.tenant_id, v.c.flow_id == f.c.flow_id)
            .scalar_subquery()
        )
        query = sa.select(
            f.c.flow_id,
            f.c.name,
            f.c.created_at,
            f.c.updated_at,
            number_in("draft").label("draft_version"),
            number_in("published").label("published_version"),
            count.label("version_count"),
        ).where(f.c.tenant_id == self.tenant_id)
        if flow_id is not None:
            query = query.where(f.c.flow_id == flow_id)
        rows = (await self._execute(query.order_by(f.c.flow_id))).all()
        return [
            FlowRecord(
                flow_id=row.flow_id,
                name=row.name,
                created_at=row.created_at,
                updated_at=row.updated_at,
                draft_version=row.draft_version,
                published_version=row.published_version,
                version_count=int(row.version_count),
            )
            for row in rows
        ]

    async def save_history(
        self, before: FlowHistory | None, after: FlowHistory, name: str, at: datetime
    ) -> None:
        """Store the versions that `after` adds or changes compared with `before`.

        Versions leaving the draft or published state are written first, so the partial
        unique indexes (one draft, one published per flow) hold after every statement."""
        f, v = models.flows, models.flow_versions
        if before is None:
            await self._execute(
                sa.insert(f).values(
                    tenant_id=self.tenant_id,
                    flow_id=after.flow_id,
                    name=name,
                    created_at=at,
                    updated_at=at,
                )
            )
        else:
            await self._execute(
                sa.update(f)
                .where(f.c.tenant_id == self.tenant_id, f.c.flow_id == after.flow_id)
                .values(name=name, updated_at=at)
            )
        old = {version.number: version for version in (before.versions if before else ())}
        changed = [version for version in after.versions if old.get(version.number) != version]
        changed.sort(key=lambda version: version.state not in _LEAVING_FIRST)
        for version in changed:
            values = {
                "state": version.state.value,
                "definition": version.definition.model_dump(mode="json", by_alias=True),
                "created_at": version.created_at,
                "published_at": version.published_at,
            }
            if version.number in old:
                await self._execute(
                    sa.update(v)
                    .where(
                        v.c.tenant_id == self.tenant_id,
                        v.c.flow_id == after.flow_id,
                        v.c.number == version.number,
                    )
                    .values(**values)
                )
            else:
                await self._execute(
                    sa.insert(v).values(
                        tenant_id=self.tenant_id,
                        flow_id=after.flow_id,
                        number=version.number,
                        **values,
                    )
                )

    async def published_definition(self, flow_id: str) -> PublishedDefinition | None:
        v = models.flow_versions
        row = (
            await self._execute(
                sa.select(v.c.number, v.c.definition).where(
                    v.c.tenant_id == self.tenant_id,
                    v.c.flow_id == flow_id,
                    v.c.state == FlowVersionState.PUBLISHED.value,
                )
            )
        ).first()
        if row is None:
            return None
        return PublishedDefinition(flow_id, row.number, row.definition)

    async def published_version(self, flow_id: str) -> int | None:
        v = models.flow_versions
        number = await self.session.scalar(
            sa.select(v.c.number).where(
                v.c.tenant_id == self.tenant_id,
                v.c.flow_id == flow_id,
                v.c.state == FlowVersionState.PUBLISHED.value,
            )
        )
        return int(number) if number is not None else None

    # ------------------------------------------------------------------ numbers

    async def number(self, number: str) -> NumberRecord | None:
        t = models.numbers
        row = (
            await self._execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.number == number)
            )
        ).first()
        return _number_record(row) if row is not None else None

    async def list_numbers(self) -> list[NumberRecord]:
        t = models.numbers
        rows = (
            await self._execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id).order_by(t.c.number)
            )
        ).all()
        return [_number_record(row) for row in rows]

    async def put_number(
        self,
        number: str,
        *,
        target_kind: str,
        target_id: str,
        source: str,
        number_id: str | None,
        at: datetime,
    ) -> None:
        values = {
            "tenant_id": self.tenant_id,
            "number": number,
            "target_kind": target_kind,
            "target_id": target_id,
            "source": source,
            "number_id": number_id,
            "updated_at": at,
        }
        await self._execute(self._upsert(models.numbers, values, ("tenant_id", "number")))

    async def delete_number(self, number: str) -> bool:
        t = models.numbers
        result = await self._execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.number == number)
        )
        return bool(result.rowcount)

    # ------------------------------------------------------------------ prompts

    async def prompts(self) -> dict[str, dict[str, str]]:
        """Prompt id -> language (or `*`) -> file path."""
        t = models.prompts
        rows = (
            await self._execute(
                sa.select(t.c.prompt_id, t.c.language, t.c.path)
                .where(t.c.tenant_id == self.tenant_id)
                .order_by(t.c.prompt_id, t.c.language)
            )
        ).all()
        catalog: dict[str, dict[str, str]] = {}
        for row in rows:
            catalog.setdefault(row.prompt_id, {})[row.language] = row.path
        return catalog

    async def prompt_ids(self) -> set[str]:
        t = models.prompts
        rows = await self.session.scalars(
            sa.select(t.c.prompt_id).where(t.c.tenant_id == self.tenant_id).distinct()
        )
        return set(rows)

    async def put_prompt(self, prompt_id: str, paths: Mapping[str, str], at: datetime) -> None:
        """Replace every file of a prompt."""
        await self.delete_prompt(prompt_id)
        await self.session.execute(
            sa.insert(models.prompts),
            [
                {
                    "tenant_id": self.tenant_id,
                    "prompt_id": prompt_id,
                    "language": language,
                    "path": path,
                    "updated_at": at,
                }
                for language, path in sorted(paths.items())
            ],
        )

    async def delete_prompt(self, prompt_id: str) -> bool:
        t = models.prompts
        result = await self._execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.prompt_id == prompt_id)
        )
        return bool(result.rowcount)

    # ------------------------------------------------------------------ blacklist

    async def blacklist(self) -> list[BlacklistRecord]:
        t = models.blacklist
        rows = (
            await self._execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id).order_by(t.c.number)
            )
        ).all()
        return [BlacklistRecord(row.number, row.reason, row.created_at) for row in rows]

    async def blacklist_entry(self, number: str) -> BlacklistRecord | None:
        t = models.blacklist
        row = (
            await self._execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.number == number)
            )
        ).first()
        return BlacklistRecord(row.number, row.reason, row.created_at) if row else None

    async def put_blacklist_entry(self, number: str, reason: str, at: datetime) -> None:
        values = {"tenant_id": self.tenant_id, "number": number, "reason": reason, "created_at": at}
        await self._execute(self._upsert(models.blacklist, values, ("tenant_id", "number")))

    async def delete_blacklist_entry(self, number: str) -> bool:
        t = models.blacklist
        result = await self._execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.number == number)
        )
        return bool(result.rowcount)

    # ------------------------------------------------------------------ calendars

    async def calendars(self) -> list[CalendarRecord]:
        t = models.calendars
        rows = (
            await self._execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id).order_by(t.c.calendar_id)
            )
        ).all()
        return [CalendarRecord(row.calendar_id, row.name, row.definition) for row in rows]

    async def put_calendar(
        self, calendar_id: str, name: str, definition: Mapping[str, Any], at: datetime
    ) -> None:
        values = {
            "tenant_id": self.tenant_id,
            "calendar_id": calendar_id,
            "name": name,
            "definition": dict(definition),
            "updated_at": at,
        }
        await self._execute(self._upsert(models.calendars, values, ("tenant_id", "calendar_id")))

    async def delete_calendar(self, calendar_id: str) -> None:
        t = models.calendars
        await self._execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.calendar_id == calendar_id)
        )

    # ------------------------------------------------------------------ tenant

    async def tenant(self) -> TenantRecord | None:
        t = models.tenants
        row = (await self._execute(sa.select(t).where(t.c.tenant_id == self.tenant_id))).first()
        if row is None:
            return None
        return TenantRecord(row.timezone, row.status, row.max_concurrent_calls)

    async def put_tenant(
        self, *, timezone: str, status: str, max_concurrent_calls: int | None, at: datetime
    ) -> None:
        values = {
            "tenant_id": self.tenant_id,
            "timezone": timezone,
            "status": status,
            "max_concurrent_calls": max_concurrent_calls,
            "updated_at": at,
        }
        await self._execute(self._upsert(models.tenants, values, ("tenant_id",)))

    async def set_tenant_status(self, status: str, at: datetime) -> bool:
        t = models.tenants
        result = await self._execute(
            sa.update(t).where(t.c.tenant_id == self.tenant_id).values(status=status, updated_at=at)
        )
        return bool(result.rowcount)

    async def forget_tenant(self) -> None:
        """Delete everything of the tenant (admin deleted it)."""
        for table in (
            models.flows,
            models.numbers,
            models.prompts,
            models.calendars,
            models.blacklist,
            models.tenants,
            models.tenant_settings,
        ):
            await self._execute(sa.delete(table).where(table.c.tenant_id == self.tenant_id))

    async def settings(self) -> SettingsRecord | None:
        t = models.tenant_settings
        row = (await self._execute(sa.select(t).where(t.c.tenant_id == self.tenant_id))).first()
        if row is None:
            return None
        return SettingsRecord(
            row.language, row.webhook_url, row.webhook_secret, row.error_transfer_to, row.updated_at
        )

    async def put_settings(self, record: SettingsRecord) -> None:
        values = {
            "tenant_id": self.tenant_id,
            "language": record.language,
            "webhook_url": record.webhook_url,
            "webhook_secret": record.webhook_secret,
            "error_transfer_to": record.error_transfer_to,
            "updated_at": record.updated_at,
        }
        await self._execute(self._upsert(models.tenant_settings, values, ("tenant_id",)))


def _number_record(row: Any) -> NumberRecord:
    return NumberRecord(
        number=row.number,
        target_kind=row.target_kind,
        target_id=row.target_id,
        source=row.source,
        number_id=row.number_id,
        updated_at=row.updated_at,
    )
