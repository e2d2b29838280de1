"""Tables owned by the routing service.

Tenant tables (row-level security on PostgreSQL, scoped by `app.tenant_id`):
- `routing_queues`: queue configurations; a deleted queue stays as a tombstone so that its
  version keeps growing if the id is used again;
- `routing_skills`, `routing_tenants`, `routing_users`: what routing keeps of admin's
  configuration events (skill names for validation, SIP domain and extensions for the agent
  endpoints);
- `routing_snapshots`: each tenant's engine state, saved by its partition owner;
- `routing_decisions`: each call's latest routing decision (for explain);
- `routing_traffic`: per-minute arrivals and handle times per queue (staffing).

Platform tables: `routing_partitions` (owner, epoch and event-log positions per partition of
`switchboard.queues.v1`) and the outbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import MetaData

from switchboard_common.outbox import outbox_table

metadata = MetaData()

SERVICE = "routing"

queues = sa.Table(
    "routing_queues",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("queue_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("config", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
)

skills = sa.Table(
    "routing_skills",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("skill_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

tenants = sa.Table(
    "routing_tenants",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("sip_domain", sa.String(253), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

users = sa.Table(
    "routing_users",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("extension", sa.String(32), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

snapshots = sa.Table(
    "routing_snapshots",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("partition", sa.Integer(), nullable=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("snapshot", sa.JSON(), nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
)

decisions = sa.Table(
    "routing_decisions",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("call_id", sa.String(128), primary_key=True),
    sa.Column("decision", sa.JSON(), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_routing_decisions_decided_at", "decided_at"),
)

traffic = sa.Table(
    "routing_traffic",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("queue_id", sa.String(64), primary_key=True),
    sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("arrivals", sa.Integer(), nullable=False),
    sa.Column("answered", sa.Integer(), nullable=False),
    sa.Column("abandoned", sa.Integer(), nullable=False),
    sa.Column("handled", sa.Integer(), nullable=False),
    sa.Column("handle_seconds", sa.Float(), nullable=False),
)

partitions = sa.Table(
    "routing_partitions",
    metadata,
    sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("owner_address", sa.String(255), nullable=False),
    sa.Column("positions", sa.JSON(), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True),
)

outbox = outbox_table(metadata, SERVICE)

TENANT_TABLES: tuple[str, ...] = (
    "routing_queues",
    "routing_skills",
    "routing_tenants",
    "routing_users",
    "routing_snapshots",
    "routing_decisions",
    "routing_traffic",
)
PLATFORM_TABLES: tuple[str, ...] = ("routing_partitions", "routing_outbox")
