"""Tables owned by the ivr service (all prefixed `ivr_`; several services may share a database).

Tenant tables carry `tenant_id` and, on PostgreSQL, a row-level-security policy confining
them to the tenant set for the transaction. The outbox and the processed-event markers are
platform tables: the relay and the consumers read them across tenants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.types import TypeDecorator

from switchboard_common.bus.idempotency import processed_events_table
from switchboard_common.outbox import outbox_table

SERVICE = "ivr"

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TENANT_ID = sa.String(64)

flows = sa.Table(
    "ivr_flows",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("flow_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

flow_versions = sa.Table(
    "ivr_flow_versions",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("flow_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer(), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("published_at", UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(
        ["tenant_id", "flow_id"],
        ["ivr_flows.tenant_id", "ivr_flows.flow_id"],
        ondelete="CASCADE",
        name="fk_ivr_flow_versions_flow",
    ),
    sa.CheckConstraint(
        "state IN ('draft', 'published', 'retired', 'discarded')", name="ck_ivr_flow_versions_state"
    ),
)
sa.Index(
    "uq_ivr_flow_versions_published",
    flow_versions.c.tenant_id,
    flow_versions.c.flow_id,
    unique=True,
    postgresql_where=flow_versions.c.state == "published",
    sqlite_where=flow_versions.c.state == "published",
)
sa.Index(
    "uq_ivr_flow_versions_draft",
    flow_versions.c.tenant_id,
    flow_versions.c.flow_id,
    unique=True,
    postgresql_where=flow_versions.c.state == "draft",
    sqlite_where=flow_versions.c.state == "draft",
)

numbers = sa.Table(
    "ivr_numbers",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("number", sa.String(16), primary_key=True),
    sa.Column("target_kind", sa.String(16), nullable=False),
    sa.Column("target_id", sa.String(128), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("number_id", sa.String(128), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("target_kind IN ('ivr_flow', 'queue')", name="ck_ivr_numbers_target_kind"),
)

prompts = sa.Table(
    "ivr_prompts",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("prompt_id", sa.String(128), primary_key=True),
    sa.Column("language", sa.String(8), primary_key=True),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

calendars = sa.Table(
    "ivr_calendars",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("calendar_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("definition", sa.JSON(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

blacklist = sa.Table(
    "ivr_blacklist",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("number", sa.String(16), primary_key=True),
    sa.Column("reason", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

tenants = sa.Table(
    "ivr_tenants",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("max_concurrent_calls", sa.Integer(), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

tenant_settings = sa.Table(
    "ivr_tenant_settings",
    metadata,
    sa.Column("tenant_id", TENANT_ID, primary_key=True),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("webhook_url", sa.String(2048), nullable=True),
    sa.Column("webhook_secret", sa.String(256), nullable=True),
    sa.Column("error_transfer_to", sa.String(16), nullable=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

outbox = outbox_table(metadata, SERVICE)
processed_events = processed_events_table(metadata, SERVICE)

TENANT_TABLES: tuple[str, ...] = (
    "ivr_flows",
    "ivr_flow_versions",
    "ivr_numbers",
    "ivr_prompts",
    "ivr_calendars",
    "ivr_blacklist",
    "ivr_tenants",
    "ivr_tenant_settings",
)
PLATFORM_TABLES: tuple[str, ...] = ("ivr_outbox", "ivr_processed_events")
SEQUENCES: tuple[str, ...] = ("ivr_outbox_id_seq",)
