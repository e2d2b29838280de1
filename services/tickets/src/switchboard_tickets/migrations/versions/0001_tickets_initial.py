"""Tickets tables, outbox and processed-event markers; on PostgreSQL also the application
role, row-level security, and the full-text search column of tickets.

Revision ID: 0001_tickets_initial
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
from switchboard_common.db import TENANT_SETTING, rls_policy_statements
from switchboard_common.outbox import create_outbox_table, drop_outbox_table

revision: str = "0001_tickets_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "switchboard_app"
PLATFORM_SCOPE = "*"
TENANT_TABLES = (
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
PLATFORM_TABLES = ("tickets_outbox", "tickets_processed_events")
SEQUENCES = ("tickets_outbox_id_seq",)


def upgrade() -> None:
    op.create_table(
        "tickets_agents",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id"),
    )
    op.create_table(
        "tickets_categories",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_key", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key"),
    )
    op.create_table(
        "tickets_customer_fields",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key"),
    )
    op.create_table(
        "tickets_customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("vip_level", sa.SmallInteger(), nullable=False),
        sa.Column("owner_agent_id", sa.String(length=128), nullable=True),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_tickets_customers_tenant_created",
        "tickets_customers",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "tickets_departments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lead_agent_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_tickets_departments_name"),
    )
    op.create_table(
        "tickets_sequences",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "tickets_settings",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("default_region", sa.String(length=2), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "tickets_tickets",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("department_id", sa.String(length=64), nullable=True),
        sa.Column("assignee_id", sa.String(length=128), nullable=True),
        sa.Column("urgency", sa.String(length=8), nullable=False),
        sa.Column("impact", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("priority_overridden", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("origin_call_id", sa.String(length=128), nullable=True),
        sa.Column("origin_call_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_during_call_id", sa.String(length=128), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("response_clock", sa.JSON(), nullable=True),
        sa.Column("resolution_clock", sa.JSON(), nullable=True),
        sa.Column("next_wakeup_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "sequence", name="uq_tickets_tickets_sequence"),
    )
    op.create_index(
        "ix_tickets_tickets_assignee",
        "tickets_tickets",
        ["tenant_id", "assignee_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_category",
        "tickets_tickets",
        ["tenant_id", "category", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_created",
        "tickets_tickets",
        ["tenant_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_customer",
        "tickets_tickets",
        ["tenant_id", "customer_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_department",
        "tickets_tickets",
        ["tenant_id", "department_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_number", "tickets_tickets", ["tenant_id", "number"], unique=False
    )
    op.create_index(
        "ix_tickets_tickets_origin_call",
        "tickets_tickets",
        ["tenant_id", "origin_call_id"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_status",
        "tickets_tickets",
        ["tenant_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_tickets_wakeup",
        "tickets_tickets",
        ["next_wakeup_at"],
        unique=False,
        postgresql_where=sa.text("next_wakeup_at IS NOT NULL"),
        sqlite_where=sa.text("next_wakeup_at IS NOT NULL"),
    )
    op.create_table(
        "tickets_attachments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recording_id", sa.String(length=512), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets_tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_tickets_attachments_ticket",
        "tickets_attachments",
        ["tenant_id", "ticket_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "tickets_comments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets_tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_tickets_comments_ticket",
        "tickets_comments",
        ["tenant_id", "ticket_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "tickets_contacts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=True),
        sa.Column("caller_number", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["tickets_customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "kind", "ref", name="uq_tickets_contacts_ref"),
    )
    op.create_index(
        "ix_tickets_contacts_call", "tickets_contacts", ["tenant_id", "call_id"], unique=False
    )
    op.create_index(
        "ix_tickets_contacts_customer_at",
        "tickets_contacts",
        ["tenant_id", "customer_id", "at"],
        unique=False,
    )
    op.create_table(
        "tickets_customer_notes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=128), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["tickets_customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_tickets_customer_notes_customer",
        "tickets_customer_notes",
        ["tenant_id", "customer_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "tickets_customer_phones",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("is_lead", sa.Boolean(), nullable=False),
        sa.Column("customer_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["tickets_customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(
            "tenant_id", "phone", "customer_id", name="pk_tickets_customer_phones"
        ),
    )
    op.create_index(
        "ix_tickets_customer_phones_customer",
        "tickets_customer_phones",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "tickets_fired_actions",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets_tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(
        "ix_tickets_fired_actions_ticket", "tickets_fired_actions", ["ticket_id"], unique=False
    )
    op.create_table(
        "tickets_notifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("action_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("clock", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("notify", sa.String(length=32), nullable=False),
        sa.Column("recipient_id", sa.String(length=128), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets_tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("action_key"),
    )
    op.create_index(
        "ix_tickets_notifications_recipient",
        "tickets_notifications",
        ["tenant_id", "recipient_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_notifications_ticket",
        "tickets_notifications",
        ["tenant_id", "ticket_id", "created_at"],
        unique=False,
    )

    create_outbox_table(op, "tickets")
    create_processed_events_table(op, "tickets")
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()


def _postgresql_upgrade() -> None:
    op.execute(
        "ALTER TABLE tickets_tickets ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
        "(to_tsvector('simple', subject || ' ' || description)) STORED"
    )
    op.execute(
        "CREATE INDEX ix_tickets_tickets_search ON tickets_tickets USING gin (search_vector)"
    )
    # Under row-level security PostgreSQL only uses an index for leakproof operators, and
    # `@@` is not marked so: without this, a search for a rare word reads every ticket of
    # the tenant. ts_match_vq only returns whether a document matches (it raises nothing
    # that depends on the row), so it is safe to mark; only a superuser can.
    op.execute(
        """
        DO $$
        BEGIN
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
            ELSE
                RAISE NOTICE 'tickets: not a superuser, ts_match_vq stays non-leakproof; '
                    'searches for rare words will scan the tenant''s tickets';
            END IF;
        END $$;
        """
    )
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
        # The escalation timer and the phone-number cache work across tenants: they open
        # transactions whose tenant setting is the platform scope `*`.
        op.execute(
            f"CREATE POLICY {table}_platform_scope ON {table} "
            f"USING (current_setting('{TENANT_SETTING}', true) = '{PLATFORM_SCOPE}') "
            f"WITH CHECK (current_setting('{TENANT_SETTING}', true) = '{PLATFORM_SCOPE}')"
        )


def downgrade() -> None:
    # ts_match_vq stays leakproof: a property of PostgreSQL's own function, true whatever
    # the schema, and maybe relied upon by other full-text searches of the database.
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            op.execute(f"DROP POLICY IF EXISTS {table}_platform_scope ON {table}")
            op.execute(f"DROP POLICY IF EXISTS {table}_tenant_isolation ON {table}")
        op.execute("DROP INDEX IF EXISTS ix_tickets_tickets_search")
    drop_processed_events_table(op, "tickets")
    drop_outbox_table(op, "tickets")
    op.drop_index("ix_tickets_notifications_ticket", table_name="tickets_notifications")
    op.drop_index("ix_tickets_notifications_recipient", table_name="tickets_notifications")
    op.drop_table("tickets_notifications")
    op.drop_index("ix_tickets_fired_actions_ticket", table_name="tickets_fired_actions")
    op.drop_table("tickets_fired_actions")
    op.drop_index("ix_tickets_customer_phones_customer", table_name="tickets_customer_phones")
    op.drop_table("tickets_customer_phones")
    op.drop_index("ix_tickets_customer_notes_customer", table_name="tickets_customer_notes")
    op.drop_table("tickets_customer_notes")
    op.drop_index("ix_tickets_contacts_customer_at", table_name="tickets_contacts")
    op.drop_index("ix_tickets_contacts_call", table_name="tickets_contacts")
    op.drop_table("tickets_contacts")
    op.drop_index("ix_tickets_comments_ticket", table_name="tickets_comments")
    op.drop_table("tickets_comments")
    op.drop_index("ix_tickets_attachments_ticket", table_name="tickets_attachments")
    op.drop_table("tickets_attachments")
    op.drop_index(
        "ix_tickets_tickets_wakeup",
        table_name="tickets_tickets",
        postgresql_where=sa.text("next_wakeup_at IS NOT NULL"),
        sqlite_where=sa.text("next_wakeup_at IS NOT NULL"),
    )
    op.drop_index("ix_tickets_tickets_status", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_origin_call", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_number", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_department", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_customer", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_created", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_category", table_name="tickets_tickets")
    op.drop_index("ix_tickets_tickets_assignee", table_name="tickets_tickets")
    op.drop_table("tickets_tickets")
    op.drop_table("tickets_settings")
    op.drop_table("tickets_sequences")
    op.drop_table("tickets_departments")
    op.drop_index("ix_tickets_customers_tenant_created", table_name="tickets_customers")
    op.drop_table("tickets_customers")
    op.drop_table("tickets_customer_fields")
    op.drop_table("tickets_categories")
    op.drop_table("tickets_agents")
