"""Storage of the tickets service: transactions scoped to a tenant, and the queries.

`TicketsStore.tenant(id)` opens one transaction that, on PostgreSQL, first switches to the
application role (`SET LOCAL ROLE`) and sets `app.tenant_id`, so that row-level security
confines every statement to that tenant even when the service logs in as the tables'
owner; every query also filters on `tenant_id` itself (SQLite has no RLS).
`TicketsStore.platform()` is the cross-tenant scope (`app.tenant_id = '*'`) used only by
the escalation timer to find due tickets and by the phone-number cache to warm up.
Callbacks registered with `after_commit` run once the transaction has committed (cache
updates must never announce a change that was rolled back).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from switchboard_common.db import TENANT_SETTING, make_sessionmaker
from switchboard_common.errors import Conflict, ValidationFailed
from switchboard_tickets import models as m
from switchboard_tickets.domain import (
    CallContact,
    Customer,
    CustomFieldDefinition,
    SurveyContact,
    Ticket,
    TicketContact,
    TicketCursor,
    TicketSearchQuery,
    parse_contact,
)
from switchboard_tickets.domain.workflow import OPEN_STATUSES
from switchboard_tickets.schemas import (
    AttachmentPublic,
    CategoryPublic,
    CommentPublic,
    DepartmentPublic,
    Lifecycle,
    NotePublic,
    NotificationPublic,
)

PLATFORM_SCOPE = "*"
_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

ContactEntry = CallContact | SurveyContact | TicketContact


def new_id() -> str:
    return str(uuid.uuid4())


def check_tenant_id(tenant_id: str) -> str:
    if not _TENANT_ID.match(tenant_id):
        raise ValidationFailed(
            "a tenant id is 1-64 letters, digits, _ or -",
            field="tenant_id",
            error_id="invalid-tenant-id",
        )
    return tenant_id


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer as stored: the domain record plus what only the service knows of it."""

    customer: Customer
    company: str
    lifecycle: Lifecycle

    @property
    def id(self) -> str:
        return self.customer.id

    @property
    def is_lead(self) -> bool:
        return self.lifecycle == "lead"


@dataclass(frozen=True, slots=True)
class SettingsRecord:
    policy: dict[str, Any]
    default_region: str | None
    version: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    text: str | None = None
    phone: str | None = None
    owner_agent_id: str | None = None
    lifecycle: Lifecycle | None = None


@dataclass(frozen=True, slots=True)
class OpenTicketRow:
    id: str
    number: str
    subject: str
    status: str
    priority: str
    response_clock: dict[str, Any] | None
    resolution_clock: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CustomerSnapshot:
    """A customer with its open tickets and latest contacts, read in one transaction."""

    record: CustomerRecord
    open_tickets: list[OpenTicketRow]
    contacts: list[ContactEntry]


_OPEN_STATUS_VALUES = sorted(status.value for status in OPEN_STATUSES)

_SNAPSHOT_SQL = """
SELECT c.id, c.tenant_id, c.name, c.company, c.lifecycle, c.phones::text AS phones,
       c.emails::text AS emails, c.tags::text AS tags, c.vip_level, c.owner_agent_id,
       c.custom_fields::text AS custom_fields, c.created_at, c.updated_at, c.version,
       (SELECT coalesce(json_agg(t), '[]')::text FROM (
            SELECT id, number, subject, status, priority, response_clock, resolution_clock
            FROM tickets_tickets
            WHERE tenant_id = $1 AND customer_id = c.id AND status = ANY($3::text[])
            ORDER BY created_at DESC, id DESC LIMIT $4) t) AS open_tickets,
       (SELECT coalesce(json_agg(k), '[]')::text FROM (
            SELECT id, tenant_id, customer_id, kind, at, data
            FROM tickets_contacts
            WHERE tenant_id = $1 AND customer_id = c.id
            ORDER BY at DESC, id DESC LIMIT $5) k) AS contacts
FROM tickets_customers c
WHERE c.tenant_id = $1 AND c.id = $2
"""
"""The look-up's read in one statement (PostgreSQL): the card, open tickets, contacts."""


def _snapshot_of(row: Mapping[str, Any]) -> CustomerSnapshot:
    customer = Customer(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        phones=tuple(orjson.loads(row["phones"])),
        emails=tuple(orjson.loads(row["emails"])),
        tags=tuple(orjson.loads(row["tags"])),
        vip_level=row["vip_level"],
        owner_agent_id=row["owner_agent_id"],
        custom_fields=orjson.loads(row["custom_fields"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )
    tickets = [
        OpenTicketRow(
            id=item["id"],
            number=item["number"],
            subject=item["subject"],
            status=item["status"],
            priority=item["priority"],
            response_clock=item["response_clock"],
            resolution_clock=item["resolution_clock"],
        )
        for item in orjson.loads(row["open_tickets"])
    ]
    contacts = [
        parse_contact(
            {
                **item["data"],
                "id": item["id"],
                "tenant_id": item["tenant_id"],
                "customer_id": item["customer_id"],
                "at": item["at"],
                "kind": item["kind"],
            }
        )
        for item in orjson.loads(row["contacts"])
    ]
    return CustomerSnapshot(
        CustomerRecord(customer, row["company"], row["lifecycle"]), tickets, contacts
    )


CHANGES_CHANNEL = "switchboard_tickets_customers"
"""PostgreSQL NOTIFY channel of committed customer changes: "<tenant> <id>,<id>... [numbers]"
(the last word when the transaction changed phone numbers)."""
ChangeCallback = Callable[[str, frozenset[str], bool], None]
_NOTIFY_BYTES = 7_000


async def announce_changes(
    session: AsyncSession, tenant_id: str, ids: Iterable[str], *, numbers: bool = False
) -> None:
    """NOTIFY the customers a transaction touched; delivered to listeners only if it
    commits (PostgreSQL sends notifications at commit)."""
    batch: list[str] = []
    length = 0
    for customer_id in sorted(ids):
        if batch and length + len(customer_id) + 1 > _NOTIFY_BYTES:
            await _notify(session, tenant_id, batch, numbers=numbers)
            batch, length = [], 0
        batch.append(customer_id)
        length += len(customer_id) + 1
    if batch:
        await _notify(session, tenant_id, batch, numbers=numbers)


async def _notify(session: AsyncSession, tenant_id: str, ids: list[str], *, numbers: bool) -> None:
    payload = f"{tenant_id} {','.join(ids)}" + (" numbers" if numbers else "")
    await session.execute(sa.select(sa.func.pg_notify(CHANGES_CHANNEL, payload)))


def parse_changes(payload: str) -> tuple[str, list[str], bool] | None:
    """(tenant, customer ids, numbers changed) of a notification, None if malformed."""
    words = payload.split(" ")
    if len(words) not in (2, 3) or (len(words) == 3 and words[2] != "numbers"):
        return None
    customer_ids = [c for c in words[1].split(",") if c]
    if not words[0] or not customer_ids:
        return None
    return words[0], customer_ids, len(words) == 3


class TicketsStore:
    """Opens the tickets service's transactions."""

    def __init__(self, engine: AsyncEngine, *, role: str = "") -> None:
        if role and not _ROLE.match(role):
            raise ValueError(f"invalid role name {role!r}")
        self.engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(engine)
        self._role = role
        self.postgres = engine.dialect.name == "postgresql"
        self._change_listeners: list[ChangeCallback] = []

    def on_customers_changed(self, listener: ChangeCallback) -> None:
        """Call `listener(tenant, customer ids, numbers changed)` after each commit that
        touched customers (their record, numbers, tickets or contact history)."""
        self._change_listeners.append(listener)

    async def customer_snapshot(
        self, tenant_id: str, customer_id: str, *, open_tickets: int, contacts: int
    ) -> CustomerSnapshot | None:
        """The look-up's read. On PostgreSQL it takes three round trips on the driver: the
        scoped read-only transaction is opened in the same message as its settings (tenant
        and role are checked names, safe to inline), one statement reads everything, and a
        rollback ends it; a connection that failed half-way is discarded, never reused."""
        check_tenant_id(tenant_id)
        if not self.postgres:
            async with self.tenant(tenant_id) as repo:
                record = await repo.customer(customer_id)
                if record is None:
                    return None
                return CustomerSnapshot(
                    record,
                    await repo.open_tickets(customer_id, limit=open_tickets),
                    await repo.contacts(customer_id, limit=contacts),
                )
        scope = f"set_config('{TENANT_SETTING}', '{tenant_id}', true)"
        if self._role:
            scope += f", set_config('role', '{self._role}', true)"
        async with self.engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            try:
                await driver.execute(f"BEGIN READ ONLY; SELECT {scope}")
                row = await driver.fetchrow(
                    _SNAPSHOT_SQL,
                    tenant_id,
                    customer_id,
                    _OPEN_STATUS_VALUES,
                    open_tickets,
                    contacts,
                )
                await driver.execute("ROLLBACK")
            except BaseException:
                await connection.invalidate()
                raise
        return _snapshot_of(row) if row is not None else None

    @asynccontextmanager
    async def tenant(self, tenant_id: str) -> AsyncIterator[TicketsRepository]:
        """One transaction that sees only `tenant_id`'s rows."""
        check_tenant_id(tenant_id)
        async with self._sessions() as session:
            async with session.begin():
                await self._scope(session, tenant_id)
                repository = TicketsRepository(session, tenant_id, postgres=self.postgres)
                yield repository
                touched = frozenset(repository.touched_customers)
                numbers = repository.numbers_changed
                if touched and self.postgres:
                    await announce_changes(session, tenant_id, touched, numbers=numbers)
            for callback in repository.committed_callbacks:
                callback()
            if touched:
                for listener in self._change_listeners:
                    listener(tenant_id, touched, numbers)

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[PlatformRepository]:
        """One transaction across tenants (timer and cache only)."""
        async with self._sessions() as session, session.begin():
            await self._scope(session, PLATFORM_SCOPE)
            yield PlatformRepository(session, postgres=self.postgres)

    async def _scope(self, session: AsyncSession, scope: str) -> None:
        if not self.postgres:
            return
        settings = ["set_config(:tenant_setting, :scope, true)"]
        params = {"tenant_setting": TENANT_SETTING, "scope": scope}
        if self._role:
            settings.append("set_config('role', :role, true)")
            params["role"] = self._role
        await session.execute(sa.text("SELECT " + ", ".join(settings)), params)


def _insert_ignoring(postgres: bool, table: sa.Table, keys: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO NOTHING on PostgreSQL and SQLite."""
    if postgres:
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))


RECENT_WINDOW = 2000
"""Newest tickets a free-text search checks before it turns to the full-text index."""
_SEARCH_VECTOR: sa.ColumnClause[Any] = sa.literal_column("tickets_tickets.search_vector")
_BITMAP_ONLY = (
    "SELECT set_config('enable_indexscan', 'off', true), "
    "set_config('enable_indexonlyscan', 'off', true), "
    "set_config('enable_seqscan', 'off', true), set_config('work_mem', '32MB', true)"
)
"""Planner settings of the indexed search step, for the rest of its transaction only."""


def _tsquery(words: Sequence[str]) -> sa.ColumnElement[Any]:
    """All the words, the last one possibly unfinished (`'invoice' & 'miss':*`), as people
    type. Whole words let the index skip through long posting lists, prefixes cannot.
    Words are letters, digits and underscores only (see `normalize_text_query`)."""
    *whole, last = words
    text = " & ".join([*(f"'{word}'" for word in whole), f"'{last}':*"])
    return sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), text)


def _substring_match(words: Sequence[str]) -> sa.ColumnElement[bool]:
    """SQLite: every word somewhere in the subject or description."""
    t = m.tickets
    haystack = sa.func.lower(t.c.subject + " " + t.c.description)
    return sa.and_(*(haystack.contains(word, autoescape=True) for word in words))


def _affected(result: Any) -> int:
    """Rows an INSERT/UPDATE/DELETE touched."""
    return int(result.rowcount)


def _keyset_before(
    at_column: sa.ColumnElement[Any], id_column: sa.ColumnElement[Any], cursor: TicketCursor
) -> sa.ColumnElement[bool]:
    """Rows after `cursor` in (instant desc, id desc) order."""
    return sa.or_(
        at_column < cursor.created_at,
        sa.and_(at_column == cursor.created_at, id_column < cursor.ticket_id),
    )


def _customer(row: Row[Any]) -> CustomerRecord:
    customer = Customer(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        phones=tuple(row.phones),
        emails=tuple(row.emails),
        tags=tuple(row.tags),
        vip_level=row.vip_level,
        owner_agent_id=row.owner_agent_id,
        custom_fields=dict(row.custom_fields),
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )
    return CustomerRecord(customer=customer, company=row.company, lifecycle=row.lifecycle)


def _customer_values(record: CustomerRecord) -> dict[str, Any]:
    customer = record.customer
    return {
        "id": customer.id,
        "tenant_id": customer.tenant_id,
        "name": customer.name,
        "company": record.company,
        "lifecycle": record.lifecycle,
        "phones": list(customer.phones),
        "emails": list(customer.emails),
        "tags": list(customer.tags),
        "vip_level": int(customer.vip_level),
        "owner_agent_id": customer.owner_agent_id,
        "custom_fields": dict(customer.custom_fields),
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
        "version": customer.version,
    }


_TICKET_COLUMNS = [column for column in m.tickets.c if column.name != "next_wakeup_at"]


def _ticket(row: Row[Any]) -> Ticket:
    data = {column.name: getattr(row, column.name) for column in _TICKET_COLUMNS}
    return Ticket.model_validate(data)


def _ticket_values(ticket: Ticket) -> dict[str, Any]:
    values = ticket.model_dump(exclude={"response_clock", "resolution_clock"})
    for name in ("urgency", "impact", "priority", "status"):
        values[name] = str(values[name].value)
    values["response_clock"] = (
        ticket.response_clock.model_dump(mode="json") if ticket.response_clock else None
    )
    values["resolution_clock"] = (
        ticket.resolution_clock.model_dump(mode="json") if ticket.resolution_clock else None
    )
    return values


def _contact(row: Row[Any]) -> ContactEntry:
    return parse_contact(
        {
            **row.data,
            "id": row.id,
            "tenant_id": row.tenant_id,
            "customer_id": row.customer_id,
            "at": row.at,
            "kind": row.kind,
        }
    )


_CONTACT_BASE_FIELDS = {"id", "tenant_id", "customer_id", "at", "kind"}


def contact_data(entry: ContactEntry) -> dict[str, Any]:
    """The fields of an entry kept in the `data` column."""
    return entry.model_dump(mode="json", exclude=_CONTACT_BASE_FIELDS)


class TicketsRepository:
    """Queries within one tenant transaction."""

    def __init__(self, session: AsyncSession, tenant_id: str, *, postgres: bool) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.postgres = postgres
        self.committed_callbacks: list[Callable[[], None]] = []
        self.touched_customers: set[str] = set()
        self.numbers_changed = False

    def touch_customers(self, *customer_ids: str | None) -> None:
        """Note customers whose look-up this transaction changes (announced at commit)."""
        self.touched_customers.update(c for c in customer_ids if c is not None)

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.committed_callbacks.append(callback)

    async def _flush_unique(self, statement: Any, *, error_id: str, field: str) -> Any:
        """Execute in a savepoint; a unique-constraint violation becomes 409 `error_id`."""
        try:
            async with self.session.begin_nested():
                return await self.session.execute(statement)
        except IntegrityError as exc:
            raise Conflict(
                "the change conflicts with an existing record",
                error_id=error_id,
                details={"field": field},
            ) from exc

    # -- settings and numbering -----------------------------------------------------------------

    async def settings(self) -> SettingsRecord | None:
        t = m.settings_table
        row = (
            await self.session.execute(sa.select(t).where(t.c.tenant_id == self.tenant_id))
        ).first()
        if row is None:
            return None
        return SettingsRecord(row.policy, row.default_region, row.version, row.updated_at)

    async def save_settings(
        self,
        *,
        policy: dict[str, Any],
        default_region: str | None,
        expected_version: int,
        at: datetime,
    ) -> int:
        """Store the settings if still at `expected_version` (0: none yet); the new version."""
        t = m.settings_table
        new_version = expected_version + 1
        values = {"policy": policy, "default_region": default_region, "updated_at": at}
        if expected_version == 0:
            statement = _insert_ignoring(self.postgres, t, ["tenant_id"]).values(
                tenant_id=self.tenant_id, version=new_version, **values
            )
        else:
            statement = (
                sa.update(t)
                .where(t.c.tenant_id == self.tenant_id, t.c.version == expected_version)
                .values(version=new_version, **values)
            )
        result = await self.session.execute(statement)
        if getattr(result, "rowcount", 0) != 1:
            current = await self.settings()
            raise Conflict(
                "the ticket settings changed since they were read; reload and retry",
                error_id="version-conflict",
                details={
                    "resource": "ticket-settings",
                    "expected_version": expected_version,
                    "actual_version": current.version if current else 0,
                },
            )
        return new_version

    async def next_sequence(self) -> int:
        """The tenant's next ticket number (atomic: concurrent callers get distinct ones)."""
        t = m.sequences
        insert = postgresql.insert(t) if self.postgres else sqlite.insert(t)
        statement = (
            insert.values(tenant_id=self.tenant_id, last_value=1)
            .on_conflict_do_update(
                index_elements=["tenant_id"], set_={"last_value": t.c.last_value + 1}
            )
            .returning(t.c.last_value)
        )
        return int((await self.session.execute(statement)).scalar_one())

    # -- agent directory -------------------------------------------------------------------

    async def agent_known(self, agent_id: str) -> bool:
        t = m.agents
        query = sa.select(t.c.enabled).where(
            t.c.tenant_id == self.tenant_id, t.c.agent_id == agent_id
        )
        return bool(await self.session.scalar(query))

    async def save_agent(
        self, agent_id: str, display_name: str, enabled: bool, at: datetime
    ) -> None:
        t = m.agents
        insert = postgresql.insert(t) if self.postgres else sqlite.insert(t)
        values = {"display_name": display_name[:200], "enabled": enabled, "updated_at": at}
        await self.session.execute(
            insert.values(
                tenant_id=self.tenant_id, agent_id=agent_id, **values
            ).on_conflict_do_update(index_elements=["tenant_id", "agent_id"], set_=values)
        )

    async def delete_agent(self, agent_id: str) -> None:
        t = m.agents
        await self.session.execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.agent_id == agent_id)
        )

    # -- departments ---------------------------------------------------------------------------

    async def department(self, department_id: str) -> DepartmentPublic | None:
        t = m.departments
        row = (
            await self.session.execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.id == department_id)
            )
        ).first()
        return DepartmentPublic.model_validate(row, from_attributes=True) if row else None

    async def departments(self) -> list[DepartmentPublic]:
        t = m.departments
        rows = await self.session.execute(
            sa.select(t).where(t.c.tenant_id == self.tenant_id).order_by(t.c.name)
        )
        return [DepartmentPublic.model_validate(row, from_attributes=True) for row in rows]

    async def insert_department(self, department: DepartmentPublic) -> None:
        await self._flush_unique(
            sa.insert(m.departments).values(tenant_id=self.tenant_id, **department.model_dump()),
            error_id="department-exists",
            field="name",
        )

    async def update_department(self, department: DepartmentPublic, expected_version: int) -> bool:
        t = m.departments
        result = await self._flush_unique(
            sa.update(t)
            .where(
                t.c.tenant_id == self.tenant_id,
                t.c.id == department.id,
                t.c.version == expected_version,
            )
            .values(**department.model_dump(exclude={"id", "created_at"})),
            error_id="department-exists",
            field="name",
        )
        return bool(_affected(result) == 1)

    async def delete_department(self, department_id: str) -> None:
        t = m.departments
        await self.session.execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.id == department_id)
        )

    async def department_in_use(self, department_id: str) -> bool:
        t = m.tickets
        query = sa.select(sa.literal(1)).where(
            t.c.tenant_id == self.tenant_id,
            t.c.department_id == department_id,
            t.c.status.in_([status.value for status in OPEN_STATUSES]),
        )
        return (await self.session.scalar(query.limit(1))) is not None

    # -- categories ----------------------------------------------------------------------------

    async def category(self, key: str) -> CategoryPublic | None:
        t = m.categories
        row = (
            await self.session.execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.key == key)
            )
        ).first()
        return CategoryPublic.model_validate(row, from_attributes=True) if row else None

    async def categories(self) -> list[CategoryPublic]:
        t = m.categories
        rows = await self.session.execute(
            sa.select(t).where(t.c.tenant_id == self.tenant_id).order_by(t.c.key)
        )
        return [CategoryPublic.model_validate(row, from_attributes=True) for row in rows]

    async def insert_category(self, category: CategoryPublic) -> None:
        await self._flush_unique(
            sa.insert(m.categories).values(tenant_id=self.tenant_id, **category.model_dump()),
            error_id="category-exists",
            field="key",
        )

    async def update_category(self, category: CategoryPublic) -> None:
        t = m.categories
        await self.session.execute(
            sa.update(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.key == category.key)
            .values(name=category.name, active=category.active)
        )

    async def delete_category(self, key: str) -> None:
        t = m.categories
        await self.session.execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.key == key)
        )

    async def has_subcategories(self, key: str) -> bool:
        t = m.categories
        query = sa.select(sa.literal(1)).where(
            t.c.tenant_id == self.tenant_id, t.c.parent_key == key
        )
        return (await self.session.scalar(query.limit(1))) is not None

    async def category_in_use(self, key: str) -> bool:
        t = m.tickets
        query = sa.select(sa.literal(1)).where(t.c.tenant_id == self.tenant_id, t.c.category == key)
        return (await self.session.scalar(query.limit(1))) is not None

    # -- custom field definitions --------------------------------------------------------------

    async def custom_fields(self) -> list[CustomFieldDefinition]:
        t = m.customer_fields
        rows = await self.session.execute(
            sa.select(t.c.definition)
            .where(t.c.tenant_id == self.tenant_id)
            .order_by(t.c.position, t.c.key)
        )
        return [CustomFieldDefinition.model_validate(row.definition) for row in rows]

    async def save_custom_field(self, definition: CustomFieldDefinition, at: datetime) -> bool:
        """Create or replace; True when it was created."""
        t = m.customer_fields
        data = definition.model_dump(mode="json")
        updated = await self.session.execute(
            sa.update(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.key == definition.key)
            .values(definition=data)
        )
        if _affected(updated) == 1:
            return False
        position = await self.session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(t.c.position), 0) + 1).where(
                t.c.tenant_id == self.tenant_id
            )
        )
        await self._flush_unique(
            sa.insert(t).values(
                tenant_id=self.tenant_id,
                key=definition.key,
                definition=data,
                position=int(position or 1),
                created_at=at,
            ),
            error_id="custom-field-exists",
            field="key",
        )
        return True

    async def delete_custom_field(self, key: str) -> bool:
        t = m.customer_fields
        result = await self.session.execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.key == key)
        )
        return bool(_affected(result) == 1)

    # -- customers ----------------------------------------------------------------------------

    async def customer(
        self, customer_id: str, *, for_update: bool = False
    ) -> CustomerRecord | None:
        t = m.customers
        query = sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.id == customer_id)
        if for_update and self.postgres:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _customer(row) if row else None

    async def insert_customer(self, record: CustomerRecord) -> None:
        self.touch_customers(record.id)
        await self.session.execute(sa.insert(m.customers).values(**_customer_values(record)))
        await self._write_phones(record)

    async def update_customer(self, record: CustomerRecord, *, expected_version: int) -> bool:
        t = m.customers
        values = _customer_values(record)
        values.pop("id")
        values.pop("tenant_id")
        values.pop("created_at")
        self.touch_customers(record.id)
        result = await self.session.execute(
            sa.update(t)
            .where(
                t.c.tenant_id == self.tenant_id,
                t.c.id == record.id,
                t.c.version == expected_version,
            )
            .values(**values)
        )
        if _affected(result) != 1:
            return False
        await self.session.execute(
            sa.delete(m.customer_phones).where(
                m.customer_phones.c.tenant_id == self.tenant_id,
                m.customer_phones.c.customer_id == record.id,
            )
        )
        await self._write_phones(record)
        return True

    async def _write_phones(self, record: CustomerRecord) -> None:
        self.numbers_changed = True
        rows = [
            {
                "tenant_id": self.tenant_id,
                "phone": phone,
                "customer_id": record.id,
                "is_lead": record.is_lead,
                "customer_created_at": record.customer.created_at,
            }
            for phone in record.customer.phones
        ]
        if rows:
            await self.session.execute(sa.insert(m.customer_phones), rows)

    async def delete_customer(self, customer_id: str) -> None:
        self.touch_customers(customer_id)
        self.numbers_changed = True
        t = m.customers
        await self.session.execute(
            sa.delete(t).where(t.c.tenant_id == self.tenant_id, t.c.id == customer_id)
        )

    async def phone_owners(self, phones: Iterable[str]) -> dict[str, str]:
        """The customer each number belongs to (customers before leads, then the oldest)."""
        wanted = sorted(set(phones))
        if not wanted:
            return {}
        t = m.customer_phones
        rows = await self.session.execute(
            sa.select(t.c.phone, t.c.customer_id)
            .where(t.c.tenant_id == self.tenant_id, t.c.phone.in_(wanted))
            .order_by(t.c.phone, t.c.is_lead, t.c.customer_created_at, t.c.customer_id)
        )
        owners: dict[str, str] = {}
        for phone, customer_id in rows:
            owners.setdefault(phone, customer_id)
        return owners

    async def list_customers(
        self, query: CustomerFilter, *, limit: int, after: TicketCursor | None
    ) -> list[CustomerRecord]:
        t = m.customers
        statement = sa.select(t).where(t.c.tenant_id == self.tenant_id)
        if query.text:
            pattern = query.text.lower()
            statement = statement.where(
                sa.or_(
                    sa.func.lower(t.c.name).contains(pattern, autoescape=True),
                    sa.func.lower(t.c.company).contains(pattern, autoescape=True),
                )
            )
        if query.phone:
            phones = m.customer_phones
            statement = statement.where(
                t.c.id.in_(
                    sa.select(phones.c.customer_id).where(
                        phones.c.tenant_id == self.tenant_id, phones.c.phone == query.phone
                    )
                )
            )
        if query.owner_agent_id:
            statement = statement.where(t.c.owner_agent_id == query.owner_agent_id)
        if query.lifecycle:
            statement = statement.where(t.c.lifecycle == query.lifecycle)
        if after is not None:
            statement = statement.where(_keyset_before(t.c.created_at, t.c.id, after))
        statement = statement.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        return [_customer(row) for row in await self.session.execute(statement)]

    # -- notes ------------------------------------------------------------------------------------

    async def insert_note(self, note: NotePublic) -> None:
        await self.session.execute(
            sa.insert(m.customer_notes).values(tenant_id=self.tenant_id, **note.model_dump())
        )

    async def notes(self, customer_id: str) -> list[NotePublic]:
        t = m.customer_notes
        rows = await self.session.execute(
            sa.select(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.customer_id == customer_id)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
        )
        return [NotePublic.model_validate(row, from_attributes=True) for row in rows]

    async def delete_note(self, customer_id: str, note_id: str) -> bool:
        t = m.customer_notes
        result = await self.session.execute(
            sa.delete(t).where(
                t.c.tenant_id == self.tenant_id,
                t.c.customer_id == customer_id,
                t.c.id == note_id,
            )
        )
        return bool(_affected(result) == 1)

    async def move_customer_data(self, *, from_id: str, to_id: str, at: datetime) -> None:
        """After a merge: notes, contact history and tickets follow the survivor."""
        self.touch_customers(from_id, to_id)
        for table in (m.customer_notes, m.contacts):
            await self.session.execute(
                sa.update(table)
                .where(table.c.tenant_id == self.tenant_id, table.c.customer_id == from_id)
                .values(customer_id=to_id)
            )
        await self.reassign_tickets_customer(from_id=from_id, to_id=to_id, at=at)

    async def reassign_tickets_customer(
        self, *, from_id: str, to_id: str | None, at: datetime
    ) -> list[str]:
        """Point the customer's tickets at `to_id` (None: detach them); their ids."""
        self.touch_customers(from_id, to_id)
        t = m.tickets
        result = await self.session.execute(
            sa.update(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.customer_id == from_id)
            .values(
                customer_id=to_id,
                version=t.c.version + 1,
                updated_at=sa.case(
                    (t.c.updated_at > at, t.c.updated_at),
                    else_=sa.literal(at, m.UtcDateTime()),
                ),
            )
            .returning(t.c.id)
        )
        return [row[0] for row in result]

    # -- contact history -------------------------------------------------------------------------

    async def customer_of_call(self, call_id: str) -> str | None:
        """The customer a call was attached to, if known yet."""
        t = m.contacts
        return await self.session.scalar(
            sa.select(t.c.customer_id).where(
                t.c.tenant_id == self.tenant_id, t.c.kind == "call", t.c.ref == call_id
            )
        )

    async def ensure_call_row(self, call_id: str, *, at: datetime) -> Row[Any]:
        """The contact row of a call, created if missing, locked for this transaction."""
        t = m.contacts
        await self.session.execute(
            _insert_ignoring(self.postgres, t, ["tenant_id", "kind", "ref"]).values(
                id=new_id(),
                tenant_id=self.tenant_id,
                customer_id=None,
                kind="call",
                ref=call_id,
                at=at,
                call_id=call_id,
                caller_number=None,
                data={"call_id": call_id},
                updated_at=at,
            )
        )
        query = sa.select(t).where(
            t.c.tenant_id == self.tenant_id, t.c.kind == "call", t.c.ref == call_id
        )
        if self.postgres:
            query = query.with_for_update()
        return (await self.session.execute(query)).one()

    async def update_call_row(
        self,
        row_id: str,
        *,
        at: datetime,
        data: dict[str, Any],
        customer_id: str | None,
        caller_number: str | None,
        updated_at: datetime,
    ) -> None:
        self.touch_customers(customer_id)
        t = m.contacts
        await self.session.execute(
            sa.update(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.id == row_id)
            .values(
                at=at,
                data=data,
                customer_id=customer_id,
                caller_number=caller_number,
                updated_at=updated_at,
            )
        )

    async def attach_call_surveys(self, call_id: str, customer_id: str) -> None:
        """Surveys of a call that came before the caller was known join the customer."""
        self.touch_customers(customer_id)
        t = m.contacts
        await self.session.execute(
            sa.update(t)
            .where(
                t.c.tenant_id == self.tenant_id,
                t.c.kind == "survey",
                t.c.call_id == call_id,
                t.c.customer_id.is_(None),
            )
            .values(customer_id=customer_id)
        )

    async def add_contact(self, entry: ContactEntry, *, ref: str, customer_id: str | None) -> bool:
        """Record an entry once per (kind, ref); False if it existed. `customer_id` (None:
        not known yet, e.g. a survey of a call whose caller is not resolved) is stored
        instead of the entry's own."""
        self.touch_customers(customer_id)
        t = m.contacts
        result = await self.session.execute(
            _insert_ignoring(self.postgres, t, ["tenant_id", "kind", "ref"]).values(
                id=entry.id,
                tenant_id=self.tenant_id,
                customer_id=customer_id,
                kind=entry.kind,
                ref=ref,
                at=entry.at,
                call_id=getattr(entry, "call_id", None),
                caller_number=None,
                data=contact_data(entry),
                updated_at=entry.at,
            )
        )
        return bool(_affected(result) == 1)

    async def contacts(
        self, customer_id: str, *, limit: int, after: TicketCursor | None = None
    ) -> list[ContactEntry]:
        t = m.contacts
        query = sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.customer_id == customer_id)
        if after is not None:
            query = query.where(_keyset_before(t.c.at, t.c.id, after))
        query = query.order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        return [_contact(row) for row in await self.session.execute(query)]

    # -- tickets ----------------------------------------------------------------------------------

    async def ticket(self, ticket_id: str, *, for_update: bool = False) -> Ticket | None:
        t = m.tickets
        query = sa.select(*_TICKET_COLUMNS).where(
            t.c.tenant_id == self.tenant_id, t.c.id == ticket_id
        )
        if for_update and self.postgres:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _ticket(row) if row else None

    async def claim_due_ticket(self, ticket_id: str, now: datetime) -> Ticket | None:
        """The ticket, locked, if its wake-up time has come and no one else holds it."""
        t = m.tickets
        query = sa.select(*_TICKET_COLUMNS).where(
            t.c.tenant_id == self.tenant_id,
            t.c.id == ticket_id,
            t.c.next_wakeup_at.is_not(None),
            t.c.next_wakeup_at <= now,
        )
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        row = (await self.session.execute(query)).first()
        return _ticket(row) if row else None

    async def insert_ticket(self, ticket: Ticket, *, next_wakeup_at: datetime | None) -> None:
        self.touch_customers(ticket.customer_id)
        await self.session.execute(
            sa.insert(m.tickets).values(**_ticket_values(ticket), next_wakeup_at=next_wakeup_at)
        )

    async def update_ticket(
        self, ticket: Ticket, *, expected_version: int, next_wakeup_at: datetime | None
    ) -> bool:
        t = m.tickets
        values = _ticket_values(ticket)
        for name in ("id", "tenant_id", "sequence", "number", "created_at"):
            values.pop(name)
        self.touch_customers(ticket.customer_id)
        result = await self.session.execute(
            sa.update(t)
            .where(
                t.c.tenant_id == self.tenant_id,
                t.c.id == ticket.id,
                t.c.version == expected_version,
            )
            .values(**values, next_wakeup_at=next_wakeup_at)
        )
        return bool(_affected(result) == 1)

    async def set_next_wakeup(self, ticket_id: str, at: datetime | None) -> None:
        t = m.tickets
        await self.session.execute(
            sa.update(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.id == ticket_id)
            .values(next_wakeup_at=at)
        )

    async def tickets_of_call(self, call_id: str) -> list[Ticket]:
        t = m.tickets
        rows = await self.session.execute(
            sa.select(*_TICKET_COLUMNS).where(
                t.c.tenant_id == self.tenant_id, t.c.origin_call_id == call_id
            )
        )
        return [_ticket(row) for row in rows]

    async def open_tickets(self, customer_id: str, *, limit: int) -> list[OpenTicketRow]:
        t = m.tickets
        rows = await self.session.execute(
            sa.select(
                t.c.id,
                t.c.number,
                t.c.subject,
                t.c.status,
                t.c.priority,
                t.c.response_clock,
                t.c.resolution_clock,
            )
            .where(
                t.c.tenant_id == self.tenant_id,
                t.c.customer_id == customer_id,
                t.c.status.in_([status.value for status in OPEN_STATUSES]),
            )
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(limit)
        )
        return [OpenTicketRow(*row) for row in rows]

    async def search_tickets(
        self, query: TicketSearchQuery, *, sequence: int | None, words: Sequence[str]
    ) -> list[Ticket]:
        """One page (plus one row, to tell whether more follow), newest first.

        Free text on PostgreSQL runs in two steps, because "newest first" and "matching
        these words" favour opposite plans and prefix-word estimates are too rough for the
        planner to choose: first the newest `RECENT_WINDOW` tickets that pass the other
        filters are checked (words common enough to fill a page there are answered at
        once); only when that is not conclusive does the full-text index look for the
        rarer words (bitmap scan, then sort).
        """
        t = m.tickets
        conditions = self._search_conditions(query, sequence)
        wanted = query.offset + query.size + 1
        if words and self.postgres:
            tsquery = _tsquery(words)
            ids = None
            if wanted <= RECENT_WINDOW:
                ids = await self._recent_matches(conditions, tsquery, wanted)
            if ids is None:
                ids = await self._indexed_matches(conditions, tsquery, query)
            else:
                ids = ids[query.offset : query.offset + query.size + 1]
            return await self._tickets_in_order(ids)
        if words:
            conditions.append(_substring_match(words))
        statement = (
            sa.select(*_TICKET_COLUMNS)
            .where(*conditions)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .offset(query.offset)
            .limit(query.size + 1)
        )
        return [_ticket(row) for row in await self.session.execute(statement)]

    def _search_conditions(
        self, query: TicketSearchQuery, sequence: int | None
    ) -> list[sa.ColumnElement[bool]]:
        t = m.tickets
        conditions: list[sa.ColumnElement[bool]] = [t.c.tenant_id == self.tenant_id]
        if query.number is not None:
            if sequence is not None:
                conditions.append(t.c.sequence == sequence)
            else:
                conditions.append(t.c.number == query.number)
        if query.customer_id is not None:
            conditions.append(t.c.customer_id == query.customer_id)
        if query.status:
            conditions.append(t.c.status.in_([status.value for status in query.status]))
        if query.department_id is not None:
            conditions.append(t.c.department_id == query.department_id)
        if query.assignee_id is not None:
            conditions.append(t.c.assignee_id == query.assignee_id)
        if query.unassigned:
            conditions.append(t.c.assignee_id.is_(None))
        if query.category is not None:
            conditions.append(t.c.category == query.category)
        if query.created_from is not None:
            conditions.append(t.c.created_at >= query.created_from)
        if query.created_to is not None:
            conditions.append(t.c.created_at < query.created_to)
        after = query.after
        if after is not None:
            conditions.append(_keyset_before(t.c.created_at, t.c.id, after))
        return conditions

    async def _recent_matches(
        self,
        conditions: Sequence[sa.ColumnElement[bool]],
        tsquery: sa.ColumnElement[Any],
        wanted: int,
    ) -> list[str] | None:
        """Matches among the newest tickets that pass the filters, newest first; None when
        the window was full and still held fewer than `wanted` matches."""
        t = m.tickets
        recent = (
            sa.select(t.c.id, t.c.created_at, _SEARCH_VECTOR.label("search_vector"))
            .where(*conditions)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(RECENT_WINDOW)
            .subquery("recent")
        )
        hit = recent.c.search_vector.op("@@")(tsquery)
        ordered = aggregate_order_by(recent.c.id, recent.c.created_at.desc(), recent.c.id.desc())
        row = (
            await self.session.execute(
                sa.select(sa.func.count(), sa.func.array_agg(ordered).filter(hit))
            )
        ).one()
        scanned, hits = int(row[0]), list(row[1] or ())
        if len(hits) >= wanted or scanned < RECENT_WINDOW:
            return hits
        return None

    async def _indexed_matches(
        self,
        conditions: Sequence[sa.ColumnElement[bool]],
        tsquery: sa.ColumnElement[Any],
        query: TicketSearchQuery,
    ) -> list[str]:
        """Matches through the full-text index (the planner is told not to walk the
        created-at index instead, which would read every ticket of the tenant; the
        settings last until the search's transaction ends)."""
        t = m.tickets
        await self.session.execute(sa.text(_BITMAP_ONLY))
        rows = await self.session.execute(
            sa.select(t.c.id)
            .where(*conditions, _SEARCH_VECTOR.op("@@")(tsquery))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .offset(query.offset)
            .limit(query.size + 1)
        )
        return [row[0] for row in rows]

    async def _tickets_in_order(self, ids: Sequence[str]) -> list[Ticket]:
        if not ids:
            return []
        t = m.tickets
        rows = await self.session.execute(
            sa.select(*_TICKET_COLUMNS).where(t.c.tenant_id == self.tenant_id, t.c.id.in_(ids))
        )
        by_id = {row.id: _ticket(row) for row in rows}
        return [by_id[ticket_id] for ticket_id in ids if ticket_id in by_id]

    # -- comments and attachments --------------------------------------------------------------

    async def insert_comment(self, comment: CommentPublic) -> None:
        await self.session.execute(
            sa.insert(m.comments).values(tenant_id=self.tenant_id, **comment.model_dump())
        )

    async def comments(self, ticket_id: str) -> list[CommentPublic]:
        t = m.comments
        rows = await self.session.execute(
            sa.select(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.ticket_id == ticket_id)
            .order_by(t.c.created_at, t.c.id)
        )
        return [CommentPublic.model_validate(row, from_attributes=True) for row in rows]

    async def insert_attachment(self, attachment: AttachmentPublic) -> None:
        await self.session.execute(
            sa.insert(m.attachments).values(tenant_id=self.tenant_id, **attachment.model_dump())
        )

    async def attachments(self, ticket_id: str) -> list[AttachmentPublic]:
        t = m.attachments
        rows = await self.session.execute(
            sa.select(t)
            .where(t.c.tenant_id == self.tenant_id, t.c.ticket_id == ticket_id)
            .order_by(t.c.created_at, t.c.id)
        )
        return [AttachmentPublic.model_validate(row, from_attributes=True) for row in rows]

    async def delete_attachment(self, ticket_id: str, attachment_id: str) -> bool:
        t = m.attachments
        result = await self.session.execute(
            sa.delete(t).where(
                t.c.tenant_id == self.tenant_id,
                t.c.ticket_id == ticket_id,
                t.c.id == attachment_id,
            )
        )
        return bool(_affected(result) == 1)

    # -- reminders, escalations, notifications -------------------------------------------------

    async def fired_keys(self, ticket_id: str) -> set[str]:
        t = m.fired_actions
        rows = await self.session.execute(
            sa.select(t.c.key).where(t.c.tenant_id == self.tenant_id, t.c.ticket_id == ticket_id)
        )
        return {row[0] for row in rows}

    async def claim_action(self, key: str, ticket_id: str, at: datetime) -> bool:
        """Record that action `key` fired; False if it had fired before (the unique key)."""
        result = await self.session.execute(
            _insert_ignoring(self.postgres, m.fired_actions, ["key"]).values(
                key=key, tenant_id=self.tenant_id, ticket_id=ticket_id, fired_at=at
            )
        )
        return bool(_affected(result) == 1)

    async def insert_notification(self, notification: NotificationPublic, *, key: str) -> None:
        await self.session.execute(
            sa.insert(m.notifications).values(
                tenant_id=self.tenant_id, action_key=key, **notification.model_dump()
            )
        )

    async def notifications(
        self,
        *,
        recipient_id: str | None,
        ticket_id: str | None,
        unacknowledged: bool,
        limit: int,
    ) -> list[NotificationPublic]:
        t = m.notifications
        query = sa.select(t).where(t.c.tenant_id == self.tenant_id)
        if recipient_id is not None:
            query = query.where(t.c.recipient_id == recipient_id)
        if ticket_id is not None:
            query = query.where(t.c.ticket_id == ticket_id)
        if unacknowledged:
            query = query.where(t.c.acknowledged_at.is_(None))
        query = query.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        return [
            NotificationPublic.model_validate(row, from_attributes=True)
            for row in await self.session.execute(query)
        ]

    async def acknowledge_notification(
        self, notification_id: str, *, by: str | None, at: datetime
    ) -> NotificationPublic | None:
        t = m.notifications
        await self.session.execute(
            sa.update(t)
            .where(
                t.c.tenant_id == self.tenant_id,
                t.c.id == notification_id,
                t.c.acknowledged_at.is_(None),
            )
            .values(acknowledged_at=at, acknowledged_by=by)
        )
        row = (
            await self.session.execute(
                sa.select(t).where(t.c.tenant_id == self.tenant_id, t.c.id == notification_id)
            )
        ).first()
        return NotificationPublic.model_validate(row, from_attributes=True) if row else None


class PlatformRepository:
    """Cross-tenant queries: which tickets are due, and every number's owner."""

    def __init__(self, session: AsyncSession, *, postgres: bool) -> None:
        self.session = session
        self.postgres = postgres

    async def due_tickets(self, now: datetime, *, limit: int) -> list[tuple[str, str]]:
        """(tenant id, ticket id) of tickets whose wake-up time has come, earliest first."""
        t = m.tickets
        rows = await self.session.execute(
            sa.select(t.c.tenant_id, t.c.id)
            .where(t.c.next_wakeup_at.is_not(None), t.c.next_wakeup_at <= now)
            .order_by(t.c.next_wakeup_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

    async def earliest_wakeup(self) -> datetime | None:
        t = m.tickets
        value = await self.session.scalar(
            sa.select(sa.func.min(t.c.next_wakeup_at)).where(t.c.next_wakeup_at.is_not(None))
        )
        if value is None:
            return None
        return m.UtcDateTime().process_result_value(value, self.session.get_bind().dialect)

    async def recently_active_customers(self, limit: int) -> list[tuple[str, str]]:
        """(tenant, customer id) of the customers with the latest contacts, latest first."""
        t = m.contacts
        latest = sa.func.max(t.c.at)
        rows = await self.session.execute(
            sa.select(t.c.tenant_id, t.c.customer_id)
            .where(t.c.customer_id.is_not(None))
            .group_by(t.c.tenant_id, t.c.customer_id)
            .order_by(latest.desc())
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]

    async def phone_owners(
        self, *, chunk: int = 20_000
    ) -> AsyncIterator[list[tuple[str, str, str]]]:
        """Every (tenant, number, owner) in chunks, owners chosen as `phone_owners` does."""
        t = m.customer_phones
        result = await self.session.stream(
            sa.select(t.c.tenant_id, t.c.phone, t.c.customer_id)
            .order_by(
                t.c.tenant_id, t.c.phone, t.c.is_lead, t.c.customer_created_at, t.c.customer_id
            )
            .execution_options(yield_per=chunk)
        )
        previous: tuple[str, str] | None = None
        async for partition in result.partitions(chunk):
            owners: list[tuple[str, str, str]] = []
            for tenant_id, phone, customer_id in partition:
                if (tenant_id, phone) == previous:
                    continue
                previous = (tenant_id, phone)
                owners.append((tenant_id, phone, customer_id))
            yield owners
