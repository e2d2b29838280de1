"""Tables owned by the admin service (all prefixed `admin_`, as several services may share one
PostgreSQL database).

Platform tables (`admin_tenants`, `admin_number_directory`, the outbox) carry no tenant
content and have no row-level security: the operator API, the FreeSWITCH dialplan and the
outbox relay read them across tenants. Every other table carries `tenant_id` and, on
PostgreSQL, a policy confining it to the tenant set for the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from switchboard_common.outbox import outbox_table

metadata = MetaData()

TENANT_TABLES: tuple[str, ...] = (
    "admin_roles",
    "admin_users",
    "admin_user_roles",
    "admin_api_keys",
    "admin_numbers",
    "admin_skills",
    "admin_calendars",
    "admin_audit_log",
)
PLATFORM_TABLES: tuple[str, ...] = ("admin_tenants", "admin_number_directory", "admin_outbox")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tenant_fk() -> sa.ForeignKey:
    return sa.ForeignKey("admin_tenants.id", ondelete="CASCADE")


class Base(DeclarativeBase):
    metadata = metadata
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: sa.JSON(), list[str]: sa.JSON()}


class Tenant(Base):
    __tablename__ = "admin_tenants"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    sip_domain: Mapped[str] = mapped_column(sa.String(253), unique=True)
    timezone: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    max_concurrent_calls: Mapped[int]
    max_agents: Mapped[int]
    max_queues: Mapped[int]
    recording_retention_days: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    suspended_at: Mapped[datetime | None]


class NumberDirectoryEntry(Base):
    """Which tenant owns a number: the one cross-tenant look-up the dialplan needs, and the
    platform-wide uniqueness of numbers."""

    __tablename__ = "admin_number_directory"

    number: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    number_id: Mapped[str] = mapped_column(sa.String(36))


class Role(Base):
    __tablename__ = "admin_roles"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_admin_roles_name"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(500))
    permissions: Mapped[list[str]]
    builtin: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class User(Base):
    __tablename__ = "admin_users"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "username", name="uq_admin_users_username"),
        sa.UniqueConstraint("tenant_id", "extension", name="uq_admin_users_extension"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    username: Mapped[str] = mapped_column(sa.String(64))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    extension: Mapped[str | None] = mapped_column(sa.String(32))
    sip_a1_hash: Mapped[str | None] = mapped_column(sa.String(32))
    sip_a1_domain: Mapped[str | None] = mapped_column(sa.String(253))
    skills: Mapped[dict[str, Any]]
    enabled: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class UserRole(Base):
    __tablename__ = "admin_user_roles"

    user_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("admin_users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("admin_roles.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)


class ApiKey(Base):
    __tablename__ = "admin_api_keys"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    permissions: Mapped[list[str]]
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class PhoneNumber(Base):
    __tablename__ = "admin_numbers"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    target_kind: Mapped[str] = mapped_column(sa.String(16))
    target_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Skill(Base):
    __tablename__ = "admin_skills"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_admin_skills_name"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Calendar(Base):
    __tablename__ = "admin_calendars"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_admin_calendars_name"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(36), _tenant_fk(), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """Who changed what, when, with the object before and after. Kept when the tenant is
    deleted (no foreign key)."""

    __tablename__ = "admin_audit_log"
    __table_args__ = (sa.Index("ix_admin_audit_log_tenant_id_id", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(sa.String(36))
    at: Mapped[datetime]
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    resource_type: Mapped[str] = mapped_column(sa.String(32))
    resource_id: Mapped[str] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON())


outbox = outbox_table(metadata, "admin")
