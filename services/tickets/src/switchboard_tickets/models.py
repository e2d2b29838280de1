"""Tables owned by the tickets service (SQLAlchemy Core; the migrations create them).

Every table but the outbox and the processed-events markers carries `tenant_id` and, on
PostgreSQL, a row-level-security policy. `tickets_tickets.search_vector` (a generated
`tsvector` with a GIN index) exists on PostgreSQL only and is therefore not declared here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from switchboard_common.bus.idempotency import processed_events_table
from switchboard_common.outbox import outbox_table

SERVICE = "tickets"
ID_LENGTH = 64

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: written in UTC, read back timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError("instants must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def _id(name: str = "id", *, nullable: bool = False, primary_key: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(ID_LENGTH), nullable=nullable, primary_key=primary_key)


def _tenant() -> sa.Column[Any]:
    return sa.Column("tenant_id", sa.String(ID_LENGTH), nullable=False)


settings_table = sa.Table(
    "tickets_settings",
    metadata,
    sa.Column("tenant_id", sa.String(ID_LENGTH), primary_key=True),
    sa.Column("policy", sa.JSON(), nullable=False),
    sa.Column("default_region", sa.String(2), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False),
    _ts("updated_at"),
)

sequences = sa.Table(
    "tickets_sequences",
    metadata,
    sa.Column("tenant_id", sa.String(ID_LENGTH), primary_key=True),
    sa.Column("last_value", sa.BigInteger(), nullable=False),
)

agents = sa.Table(
    "tickets_agents",
    metadata,
    sa.Column("tenant_id", sa.String(ID_LENGTH), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    _ts("updated_at"),
)

departments = sa.Table(
    "tickets_departments",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("lead_agent_id", sa.String(128), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.UniqueConstraint("tenant_id", "name", name="uq_tickets_departments_name"),
)

categories = sa.Table(
    "tickets_categories",
    metadata,
    sa.Column("tenant_id", sa.String(ID_LENGTH), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("parent_key", sa.String(64), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    _ts("created_at"),
)

customer_fields = sa.Table(
    "tickets_customer_fields",
    metadata,
    sa.Column("tenant_id", sa.String(ID_LENGTH), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    _ts("created_at"),
)

customers = sa.Table(
    "tickets_customers",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("company", sa.String(200), nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False),
    sa.Column("phones", sa.JSON(), nullable=False),
    sa.Column("emails", sa.JSON(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("vip_level", sa.SmallInteger(), nullable=False),
    sa.Column("owner_agent_id", sa.String(128), nullable=True),
    sa.Column("custom_fields", sa.JSON(), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Index("ix_tickets_customers_tenant_created", "tenant_id", "created_at", "id"),
)

customer_phones = sa.Table(
    "tickets_customer_phones",
    metadata,
    _tenant(),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column(
        "customer_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_customers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("is_lead", sa.Boolean(), nullable=False),
    _ts("customer_created_at"),
    sa.PrimaryKeyConstraint("tenant_id", "phone", "customer_id", name="pk_tickets_customer_phones"),
    sa.Index("ix_tickets_customer_phones_customer", "customer_id"),
)
"""Which customer a number belongs to: a number may sit on several records (duplicates not
merged yet); the owner is the first by (is_lead, customer_created_at, customer_id)."""

customer_notes = sa.Table(
    "tickets_customer_notes",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column(
        "customer_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_customers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("author_id", sa.String(128), nullable=True),
    sa.Column("body", sa.Text(), nullable=False),
    _ts("created_at"),
    sa.Index("ix_tickets_customer_notes_customer", "tenant_id", "customer_id", "created_at"),
)

contacts = sa.Table(
    "tickets_contacts",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column(
        "customer_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_customers.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("ref", sa.String(128), nullable=False),
    _ts("at"),
    sa.Column("call_id", sa.String(128), nullable=True),
    sa.Column("caller_number", sa.String(64), nullable=True),
    sa.Column("data", sa.JSON(), nullable=False),
    _ts("updated_at"),
    sa.UniqueConstraint("tenant_id", "kind", "ref", name="uq_tickets_contacts_ref"),
    sa.Index("ix_tickets_contacts_customer_at", "tenant_id", "customer_id", "at"),
    sa.Index("ix_tickets_contacts_call", "tenant_id", "call_id"),
)
"""Contact history: one row per call (merged from the call's events, `ref` = call id), per
survey and per ticket milestone. `data` holds the fields of the domain entry."""

tickets = sa.Table(
    "tickets_tickets",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column("sequence", sa.BigInteger(), nullable=False),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    _id("customer_id", nullable=True),
    _id("department_id", nullable=True),
    sa.Column("assignee_id", sa.String(128), nullable=True),
    sa.Column("urgency", sa.String(8), nullable=False),
    sa.Column("impact", sa.String(8), nullable=False),
    sa.Column("priority", sa.String(2), nullable=False),
    sa.Column("priority_overridden", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("origin_call_id", sa.String(128), nullable=True),
    _ts("origin_call_ended_at", nullable=True),
    _ts("first_response_at", nullable=True),
    sa.Column("resolution", sa.Text(), nullable=True),
    _ts("resolved_at", nullable=True),
    sa.Column("resolved_during_call_id", sa.String(128), nullable=True),
    _ts("closed_at", nullable=True),
    sa.Column("reopen_count", sa.Integer(), nullable=False),
    sa.Column("response_clock", sa.JSON(), nullable=True),
    sa.Column("resolution_clock", sa.JSON(), nullable=True),
    _ts("next_wakeup_at", nullable=True),
    sa.UniqueConstraint("tenant_id", "sequence", name="uq_tickets_tickets_sequence"),
    sa.Index("ix_tickets_tickets_created", "tenant_id", "created_at", "id"),
    sa.Index("ix_tickets_tickets_status", "tenant_id", "status", "created_at"),
    sa.Index("ix_tickets_tickets_customer", "tenant_id", "customer_id", "created_at"),
    sa.Index("ix_tickets_tickets_assignee", "tenant_id", "assignee_id", "created_at"),
    sa.Index("ix_tickets_tickets_department", "tenant_id", "department_id", "created_at"),
    sa.Index("ix_tickets_tickets_category", "tenant_id", "category", "created_at"),
    sa.Index("ix_tickets_tickets_number", "tenant_id", "number"),
    sa.Index("ix_tickets_tickets_origin_call", "tenant_id", "origin_call_id"),
    sa.Index(
        "ix_tickets_tickets_wakeup",
        "next_wakeup_at",
        postgresql_where=sa.text("next_wakeup_at IS NOT NULL"),
        sqlite_where=sa.text("next_wakeup_at IS NOT NULL"),
    ),
)

comments = sa.Table(
    "tickets_comments",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column(
        "ticket_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_tickets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("author_id", sa.String(128), nullable=True),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("internal", sa.Boolean(), nullable=False),
    _ts("created_at"),
    sa.Index("ix_tickets_comments_ticket", "tenant_id", "ticket_id", "created_at"),
)

attachments = sa.Table(
    "tickets_attachments",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column(
        "ticket_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_tickets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("recording_id", sa.String(512), nullable=True),
    sa.Column("url", sa.String(2048), nullable=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=True),
    _ts("created_at"),
    sa.Index("ix_tickets_attachments_ticket", "tenant_id", "ticket_id", "created_at"),
)

fired_actions = sa.Table(
    "tickets_fired_actions",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    _tenant(),
    sa.Column(
        "ticket_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_tickets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _ts("fired_at"),
    sa.Index("ix_tickets_fired_actions_ticket", "ticket_id"),
)
"""Idempotency keys of reminders and escalations already fired: the primary key is what
makes the timer fire each action at most once, across restarts and instances."""

notifications = sa.Table(
    "tickets_notifications",
    metadata,
    _id(primary_key=True),
    _tenant(),
    sa.Column(
        "ticket_id",
        sa.String(ID_LENGTH),
        sa.ForeignKey("tickets_tickets.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("action_key", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("clock", sa.String(16), nullable=False),
    sa.Column("level", sa.Integer(), nullable=False),
    sa.Column("notify", sa.String(32), nullable=False),
    sa.Column("recipient_id", sa.String(128), nullable=True),
    _ts("due_at"),
    _ts("fire_at"),
    _ts("created_at"),
    _ts("acknowledged_at", nullable=True),
    sa.Column("acknowledged_by", sa.String(128), nullable=True),
    sa.Index("ix_tickets_notifications_recipient", "tenant_id", "recipient_id", "created_at"),
    sa.Index("ix_tickets_notifications_ticket", "tenant_id", "ticket_id", "created_at"),
)

outbox = outbox_table(metadata, SERVICE)
processed_events = processed_events_table(metadata, SERVICE)

TENANT_TABLES: tuple[str, ...] = (
    "tickets_settings",
    "tickets_sequences",
    "tickets_agents",
    "tickets_departments",
    "tickets_categories",
    "tickets_customer_fields",
    "tickets_customers",
    "tickets_customer_phones",
    "tickets_customer_notes",
    "tickets_contacts",
    "tickets_tickets",
    "tickets_comments",
    "tickets_attachments",
    "tickets_fired_actions",
    "tickets_notifications",
)
PLATFORM_TABLES: tuple[str, ...] = ("tickets_outbox", "tickets_processed_events")
