"""Admin tables, outbox, and on PostgreSQL the application role and row-level security.

Revision ID: 0001_admin_initial
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from switchboard_common.db import rls_policy_statements
from switchboard_common.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001_admin_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "switchboard_app"
TENANT_TABLES = (
    "admin_roles",
    "admin_users",
    "admin_user_roles",
    "admin_api_keys",
    "admin_numbers",
    "admin_skills",
    "admin_calendars",
    "admin_audit_log",
)
PLATFORM_TABLES = ("admin_tenants", "admin_number_directory", "admin_outbox")
SEQUENCES = ("admin_audit_log_id_seq", "admin_outbox_id_seq")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(length: int = 36) -> sa.Column[str]:
    return sa.Column("id", sa.String(length), primary_key=True)


def _tenant_id() -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(36),
        sa.ForeignKey("admin_tenants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    op.create_table(
        "admin_tenants",
        _id(),
        sa.Column("slug", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sip_domain", sa.String(253), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=False),
        sa.Column("max_agents", sa.Integer(), nullable=False),
        sa.Column("max_queues", sa.Integer(), nullable=False),
        sa.Column("recording_retention_days", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("suspended_at", nullable=True),
    )
    op.create_table(
        "admin_number_directory",
        sa.Column("number", sa.String(20), primary_key=True),
        _tenant_id(),
        sa.Column("number_id", sa.String(36), nullable=False),
    )
    op.create_table(
        "admin_roles",
        _id(),
        _tenant_id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_admin_roles_name"),
    )
    op.create_table(
        "admin_users",
        _id(),
        _tenant_id(),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("extension", sa.String(32), nullable=True),
        sa.Column("sip_a1_hash", sa.String(32), nullable=True),
        sa.Column("sip_a1_domain", sa.String(253), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("last_login_at", nullable=True),
        sa.UniqueConstraint("tenant_id", "username", name="uq_admin_users_username"),
        sa.UniqueConstraint("tenant_id", "extension", name="uq_admin_users_extension"),
    )
    op.create_table(
        "admin_user_roles",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("admin_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "role_id",
            sa.String(36),
            sa.ForeignKey("admin_roles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _tenant_id(),
    )
    op.create_table(
        "admin_api_keys",
        _id(32),
        _tenant_id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at", nullable=True),
        _ts("revoked_at", nullable=True),
        _ts("last_used_at", nullable=True),
    )
    op.create_table(
        "admin_numbers",
        _id(),
        _tenant_id(),
        sa.Column("number", sa.String(20), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_table(
        "admin_skills",
        _id(),
        _tenant_id(),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_admin_skills_name"),
    )
    op.create_table(
        "admin_calendars",
        _id(),
        _tenant_id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_admin_calendars_name"),
    )
    op.create_table(
        "admin_audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        _ts("at"),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
    )
    op.create_index("ix_admin_audit_log_tenant_id_id", "admin_audit_log", ["tenant_id", "id"])
    create_outbox_table(op, "admin")
    if op.get_bind().dialect.name == "postgresql":
        _secure_postgres()


def _secure_postgres() -> None:
    """The application role (not the tables' owner, not superuser) and the RLS policies.

    Roles are cluster-wide and other services' migrations create the same one, so creation
    tolerates a concurrent or earlier creator. A non-superuser migrating user is made a
    member so that the service can `SET ROLE` to it.
    """
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
    drop_outbox_table(op, "admin")
    op.drop_index("ix_admin_audit_log_tenant_id_id", table_name="admin_audit_log")
    for table in (
        "admin_audit_log",
        "admin_calendars",
        "admin_skills",
        "admin_numbers",
        "admin_api_keys",
        "admin_user_roles",
        "admin_users",
        "admin_roles",
        "admin_number_directory",
        "admin_tenants",
    ):
        op.drop_table(table)
