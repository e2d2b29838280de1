"""cti tables: agents, tenants, queues, state audit, wrap-ups, outbox.

Revision ID: 0001_cti_initial
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard_common.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001_cti_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def upgrade() -> None:
    op.create_table(
        "cti_agents",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
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
        sa.PrimaryKeyConstraint("tenant_id", "agent_id"),
    )
    op.create_table(
        "cti_tenants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("slug", sa.String(64), nullable=True),
        sa.Column("policy", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "cti_queues",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("wrap_up_s", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "queue_id"),
    )
    op.create_table(
        "cti_state_audit",
        _big_id(),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_cti_state_audit_tenant_agent", "cti_state_audit", ["tenant_id", "agent_id", "id"]
    )
    op.create_table(
        "cti_wrap_ups",
        _big_id(),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=True),
        sa.Column("queue_id", sa.String(128), nullable=True),
        sa.Column("disposition", sa.String(40), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cti_wrap_ups_tenant_call", "cti_wrap_ups", ["tenant_id", "call_id"])
    create_outbox_table(op, "cti")


def downgrade() -> None:
    drop_outbox_table(op, "cti")
    op.drop_index("ix_cti_wrap_ups_tenant_call", table_name="cti_wrap_ups")
    op.drop_table("cti_wrap_ups")
    op.drop_index("ix_cti_state_audit_tenant_agent", table_name="cti_state_audit")
    op.drop_table("cti_state_audit")
    op.drop_table("cti_queues")
    op.drop_table("cti_tenants")
    op.drop_table("cti_agents")
