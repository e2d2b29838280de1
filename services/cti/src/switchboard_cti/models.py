"""Tables owned by the cti service.

- `cti_agents`: each agent's routing profile and where it is in the state machine (the
  live truth is in memory; this row lets a restarted process pick up where it was);
- `cti_tenants`: tenant slug, SIP domain and cti policy (reasons, dispositions, wrap-up rules);
- `cti_queues`: queue names and wrap-up timers, from routing's queue configuration events;
- `cti_state_audit`: every forced state change (who, when, from, to);
- `cti_wrap_ups`: dispositions and notes filed after calls;
- `cti_outbox`: agent events waiting for the relay.
"""

import sqlalchemy as sa
from sqlalchemy import MetaData

from switchboard_common.outbox import outbox_table

metadata = MetaData()

agents = sa.Table(
    "cti_agents",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("agent_id", sa.String(128), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("extension", sa.String(64), nullable=True),
    sa.Column("skills", sa.JSON(), nullable=False),
    sa.Column("queues", sa.JSON(), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("state_since", sa.Float(), nullable=False),
    sa.Column("wrap_up_until", sa.Float(), nullable=True),
    sa.Column("disposition_done", sa.Boolean(), nullable=False),
    sa.Column("call", sa.JSON(), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

tenants = sa.Table(
    "cti_tenants",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("slug", sa.String(64), nullable=True),
    sa.Column("sip_domain", sa.String(253), nullable=True),
    sa.Column("policy", sa.JSON(), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

queues = sa.Table(
    "cti_queues",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("queue_id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("wrap_up_s", sa.Float(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
)

state_audit = sa.Table(
    "cti_state_audit",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=False),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_cti_state_audit_tenant_agent", "tenant_id", "agent_id", "id"),
)

wrap_ups = sa.Table(
    "cti_wrap_ups",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("agent_id", sa.String(128), nullable=False),
    sa.Column("call_id", sa.String(128), nullable=True),
    sa.Column("queue_id", sa.String(128), nullable=True),
    sa.Column("disposition", sa.String(40), nullable=False),
    sa.Column("notes", sa.Text(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_cti_wrap_ups_tenant_call", "tenant_id", "call_id"),
)

outbox = outbox_table(metadata, "cti")
