"""IVR tables (flows and versions, numbers, prompts, calendars, blacklist, tenant settings),
outbox and processed-event markers; on PostgreSQL also the application role and row-level
security.

Revision ID: 0001_ivr_initial
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard_common.bus.idempotency import (
    create_processed_events_table,
    drop_processed_events_table,
)
from switchboard_common.db import rls_policy_statements
from switchboard_common.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001_ivr_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "switchboard_app"
TENANT_TABLES = (
    "ivr_flows",
    "ivr_flow_versions",
    "ivr_numbers",
    "ivr_prompts",
    "ivr_calendars",
    "ivr_blacklist",
    "ivr_tenants",
    "ivr_tenant_settings",
)
PLATFORM_TABLES = ("ivr_outbox", "ivr_processed_events")
SEQUENCES = ("ivr_outbox_id_seq",)


def _tenant_id() -> sa.Column[str]:
    return sa.Column("tenant_id", sa.String(length=64), nullable=False)


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ivr_flows",
        _tenant_id(),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False, server_default=""),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "flow_id"),
    )
    op.create_table(
        "ivr_flow_versions",
        _tenant_id(),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("published_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "flow_id", "number"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "flow_id"],
            ["ivr_flows.tenant_id", "ivr_flows.flow_id"],
            ondelete="CASCADE",
            name="fk_ivr_flow_versions_flow",
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'published', 'retired', 'discarded')",
            name="ck_ivr_flow_versions_state",
        ),
    )
    for state in ("published", "draft"):
        op.create_index(
            f"uq_ivr_flow_versions_{state}",
            "ivr_flow_versions",
            ["tenant_id", "flow_id"],
            unique=True,
            postgresql_where=sa.text(f"state = '{state}'"),
            sqlite_where=sa.text(f"state = '{state}'"),
        )
    op.create_table(
        "ivr_numbers",
        _tenant_id(),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("number_id", sa.String(length=128), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "number"),
        sa.CheckConstraint(
            "target_kind IN ('ivr_flow', 'queue')", name="ck_ivr_numbers_target_kind"
        ),
    )
    op.create_table(
        "ivr_prompts",
        _tenant_id(),
        sa.Column("prompt_id", sa.String(length=128), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "prompt_id", "language"),
    )
    op.create_table(
        "ivr_calendars",
        _tenant_id(),
        sa.Column("calendar_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "calendar_id"),
    )
    op.create_table(
        "ivr_blacklist",
        _tenant_id(),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False, server_default=""),
        _at("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "number"),
    )
    op.create_table(
        "ivr_tenants",
        _tenant_id(),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "ivr_tenant_settings",
        _tenant_id(),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("webhook_secret", sa.String(length=256), nullable=True),
        sa.Column("error_transfer_to", sa.String(length=16), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    create_outbox_table(op, "ivr")
    create_processed_events_table(op, "ivr")
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgres()


def _secure_postgres() -> None:
    """The application role (shared by the services; creation tolerates an earlier creator)
    and the row-level-security policies of the tenant tables."""
    op.execute(
        f"""
        DO $$
        BEGIN
            CREATE ROLE {APP_ROLE} NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$;
        """
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
            END IF;
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    for table in (*PLATFORM_TABLES, *TENANT_TABLES):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    for sequence in SEQUENCES:
        op.execute(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {APP_ROLE}")
    for table in TENANT_TABLES:
        for statement in rls_policy_statements(table):
            op.execute(statement)


def downgrade() -> None:
    drop_processed_events_table(op, "ivr")
    drop_outbox_table(op, "ivr")
    for state in ("published", "draft"):
        op.drop_index(f"uq_ivr_flow_versions_{state}", table_name="ivr_flow_versions")
    for table in (
        "ivr_tenant_settings",
        "ivr_tenants",
        "ivr_blacklist",
        "ivr_calendars",
        "ivr_prompts",
        "ivr_numbers",
        "ivr_flow_versions",
        "ivr_flows",
    ):
        op.drop_table(table)
