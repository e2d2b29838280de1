"""Routing tables: queues, configuration kept from admin's events, engine snapshots, latest
decisions, traffic, partition ownership and the outbox; on PostgreSQL also the application
role and row-level security.

Revision ID: 0001_routing_initial
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from switchboard_common.db import TENANT_SETTING, rls_policy_statements
from switchboard_common.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001_routing_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "switchboard_app"
PLATFORM_SCOPE = "*"
TENANT_TABLES = (
    "routing_queues",
    "routing_skills",
    "routing_tenants",
    "routing_users",
    "routing_snapshots",
    "routing_decisions",
    "routing_traffic",
)
PLATFORM_TABLES = ("routing_partitions", "routing_outbox")
SEQUENCES = ("routing_outbox_id_seq",)


def _at(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "routing_queues",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "queue_id"),
    )
    op.create_table(
        "routing_skills",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("skill_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "skill_id"),
    )
    op.create_table(
        "routing_tenants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("sip_domain", sa.String(253), nullable=False),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "routing_users",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("extension", sa.String(32), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id"),
    )
    op.create_table(
        "routing_snapshots",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        _at("saved_at"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "routing_decisions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(128), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        _at("decided_at"),
        sa.PrimaryKeyConstraint("tenant_id", "call_id"),
    )
    op.create_index("ix_routing_decisions_decided_at", "routing_decisions", ["decided_at"])
    op.create_table(
        "routing_traffic",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=False),
        _at("minute"),
        sa.Column("arrivals", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("handle_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "queue_id", "minute"),
    )
    op.create_table(
        "routing_partitions",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("owner_address", sa.String(255), nullable=False),
        sa.Column("positions", sa.JSON(), nullable=False),
        _at("taken_at"),
        _at("saved_at", nullable=True),
        sa.PrimaryKeyConstraint("partition"),
    )
    create_outbox_table(op, "routing")
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()


def _postgresql_upgrade() -> None:
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
        # Partition takeovers and the partition writer work across the tenants of a
        # partition: their transactions use the platform scope `*`.
        op.execute(
            f"CREATE POLICY {table}_platform_scope ON {table} "
            f"USING (current_setting('{TENANT_SETTING}', true) = '{PLATFORM_SCOPE}') "
            f"WITH CHECK (current_setting('{TENANT_SETTING}', true) = '{PLATFORM_SCOPE}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {table}_platform_scope ON {table}")
            op.execute(f"DROP POLICY IF EXISTS {table}_tenant_isolation ON {table}")
    drop_outbox_table(op, "routing")
    op.drop_table("routing_partitions")
    op.drop_table("routing_traffic")
    op.drop_index("ix_routing_decisions_decided_at", table_name="routing_decisions")
    op.drop_table("routing_decisions")
    op.drop_table("routing_snapshots")
    op.drop_table("routing_users")
    op.drop_table("routing_tenants")
    op.drop_table("routing_skills")
    op.drop_table("routing_queues")
