"""Storage of the admin service: transactions scoped to a tenant, and the queries.

Every transaction opened by `AdminStore` starts, on PostgreSQL, with
`set_config('role', <app role>, true)` (= `SET LOCAL ROLE switchboard_app`) and, for tenant
transactions, `set_config('app.tenant_id', <tenant>, true)`. The engine may therefore log
in as the tables' owner or even as a superuser (as the tests do with `postgres`): each
statement still runs as `switchboard_app`, which owns nothing and is no superuser, so the
row-level-security policies apply. Both settings are transaction-local, so nothing leaks to
the next user of a pooled connection. Every tenant query also filters on `tenant_id`
itself (SQLite has no RLS; on PostgreSQL the policy is a second line).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from switchboard_admin.models import (
    ApiKey,
    AuditEntry,
    Base,
    Calendar,
    NumberDirectoryEntry,
    PhoneNumber,
    Role,
    Skill,
    Tenant,
    User,
    UserRole,
)
from switchboard_common.db import TENANT_SETTING
from switchboard_common.errors import Conflict

_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

TenantObject = TypeVar("TenantObject", Role, User, ApiKey, PhoneNumber, Skill, Calendar)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor_id: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


class AdminStore:
    """Opens the admin service's transactions as the application role."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, app_role: str = "") -> None:
        self._sessions = sessions
        self._app_role = app_role

    @asynccontextmanager
    async def tenant(self, tenant_id: str) -> AsyncIterator[AdminRepository]:
        """One transaction that sees only `tenant_id`'s rows (plus the platform tables)."""
        _check_tenant_id(tenant_id)
        async with self._sessions() as session, session.begin():
            repo = AdminRepository(session, None, self._app_role)
            await repo.enter(tenant_id)
            yield repo

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[AdminRepository]:
        """One transaction over the platform tables (tenant tables look empty until
        `enter(tenant_id)`)."""
        async with self._sessions() as session, session.begin():
            repo = AdminRepository(session, None, self._app_role)
            await repo.enter(None)
            yield repo


def _check_tenant_id(tenant_id: str) -> None:
    if not _TENANT_ID.match(tenant_id):
        raise ValueError(f"invalid tenant id {tenant_id!r}")


class AdminRepository:
    """Queries within one transaction. Tenant methods need a tenant transaction."""

    def __init__(self, session: AsyncSession, tenant_id: str | None, app_role: str = "") -> None:
        self.session = session
        self._tenant_id = tenant_id
        self._app_role = app_role

    @property
    def tenant_id(self) -> str:
        if self._tenant_id is None:
            raise RuntimeError("a tenant query ran in a platform transaction")
        return self._tenant_id

    async def enter(self, tenant_id: str | None) -> None:
        """Scope the rest of the transaction: on PostgreSQL, run as the application role and
        let RLS show `tenant_id`'s rows (none when None)."""
        if tenant_id is not None:
            _check_tenant_id(tenant_id)
        self._tenant_id = tenant_id
        if self.session.get_bind().dialect.name != "postgresql":
            return
        settings: list[str] = []
        params: dict[str, str] = {}
        if self._app_role:
            settings.append("set_config('role', :role, true)")
            params["role"] = self._app_role
        settings.append("set_config(:tenant_setting, :tenant, true)")
        params["tenant_setting"] = TENANT_SETTING
        params["tenant"] = tenant_id or ""
        await self.session.execute(sa.text("SELECT " + ", ".join(settings)), params)

    # -- writing ------------------------------------------------------------------------------

    def add(self, obj: Base) -> None:
        self.session.add(obj)

    async def delete(self, obj: Base) -> None:
        await self.session.delete(obj)

    async def flush(self, *, conflict_id: str = "conflict", field: str | None = None) -> None:
        """Write pending changes; a unique-constraint race becomes a 409."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            details: dict[str, Any] = {"field": field} if field else {}
            raise Conflict(
                "the change conflicts with an existing object",
                error_id=conflict_id,
                details=details,
            ) from exc

    # -- platform: tenants and the number directory --------------------------------------------

    async def tenant_by_id(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def find_tenant(self, reference: str) -> Tenant | None:
        """By id, else by slug."""
        return await self.session.scalar(
            sa.select(Tenant).where(sa.or_(Tenant.id == reference, Tenant.slug == reference))
        )

    async def tenant_by_domain(self, domain: str) -> Tenant | None:
        return await self.session.scalar(sa.select(Tenant).where(Tenant.sip_domain == domain))

    async def tenant_taken(self, *, slug: str | None, sip_domain: str | None) -> str | None:
        """Which of `slug` / `sip_domain` another tenant already uses."""
        if slug is not None and await self.session.scalar(
            sa.select(Tenant.id).where(Tenant.slug == slug)
        ):
            return "slug"
        if sip_domain is not None and await self.session.scalar(
            sa.select(Tenant.id).where(Tenant.sip_domain == sip_domain)
        ):
            return "sip_domain"
        return None

    async def list_tenants(self, *, status: str | None, offset: int, limit: int) -> list[Tenant]:
        query = sa.select(Tenant).order_by(Tenant.slug).offset(offset).limit(limit)
        if status is not None:
            query = query.where(Tenant.status == status)
        return list((await self.session.scalars(query)).all())

    async def active_tenants(self) -> list[Tenant]:
        query = sa.select(Tenant).where(Tenant.status == "active").order_by(Tenant.slug)
        return list((await self.session.scalars(query)).all())

    async def number_owner(self, number: str) -> NumberDirectoryEntry | None:
        return await self.session.get(NumberDirectoryEntry, number)

    async def release_directory_entry(self, number: str) -> None:
        await self.session.execute(
            sa.delete(NumberDirectoryEntry).where(NumberDirectoryEntry.number == number)
        )

    # -- tenant objects ---------------------------------------------------------------------

    async def get(self, model: type[TenantObject], object_id: str) -> TenantObject | None:
        """An object of this tenant by id, or None (also for another tenant's id)."""
        return await self.session.scalar(
            sa.select(model).where(model.id == object_id, model.tenant_id == self.tenant_id)
        )

    async def by_name(self, model: type[Role | Skill | Calendar], name: str) -> Any:
        return await self.session.scalar(
            sa.select(model).where(model.tenant_id == self.tenant_id, model.name == name)
        )

    async def page(
        self,
        model: type[TenantObject],
        *,
        order_by: Any,
        offset: int,
        limit: int,
        where: Sequence[Any] = (),
    ) -> list[TenantObject]:
        query = (
            sa.select(model)
            .where(model.tenant_id == self.tenant_id, *where)
            .order_by(order_by, model.id)
            .offset(offset)
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())

    async def all_of(self, model: type[TenantObject]) -> list[TenantObject]:
        query = sa.select(model).where(model.tenant_id == self.tenant_id)
        return list((await self.session.scalars(query)).all())

    async def user_by_username(self, username: str) -> User | None:
        return await self.session.scalar(
            sa.select(User).where(User.tenant_id == self.tenant_id, User.username == username)
        )

    async def user_by_extension(self, extension: str) -> User | None:
        return await self.session.scalar(
            sa.select(User).where(User.tenant_id == self.tenant_id, User.extension == extension)
        )

    async def roles_by_names(self, names: Sequence[str]) -> list[Role]:
        if not names:
            return []
        query = sa.select(Role).where(Role.tenant_id == self.tenant_id, Role.name.in_(names))
        return list((await self.session.scalars(query)).all())

    async def roles_of(self, user_ids: Sequence[str]) -> dict[str, list[Role]]:
        """Each user's roles, sorted by name."""
        found: dict[str, list[Role]] = {user_id: [] for user_id in user_ids}
        if not user_ids:
            return found
        query = (
            sa.select(UserRole.user_id, Role)
            .join(Role, Role.id == UserRole.role_id)
            .where(UserRole.tenant_id == self.tenant_id, UserRole.user_id.in_(user_ids))
            .order_by(Role.name)
        )
        for user_id, role in (await self.session.execute(query)).all():
            found[user_id].append(role)
        return found

    async def set_roles(self, user: User, roles: Sequence[Role]) -> None:
        await self.session.execute(
            sa.delete(UserRole).where(
                UserRole.tenant_id == self.tenant_id, UserRole.user_id == user.id
            )
        )
        for role in roles:
            self.session.add(UserRole(user_id=user.id, role_id=role.id, tenant_id=self.tenant_id))

    async def count_role_holders(self, role_id: str, *, exclude_user: str | None = None) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(UserRole)
            .where(UserRole.tenant_id == self.tenant_id, UserRole.role_id == role_id)
        )
        if exclude_user is not None:
            query = query.where(UserRole.user_id != exclude_user)
        return int(await self.session.scalar(query) or 0)

    async def users_with_skill(self, skill_id: str) -> list[User]:
        return [user for user in await self.all_of(User) if skill_id in user.skills]

    async def skill_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        query = sa.select(Skill.id).where(Skill.tenant_id == self.tenant_id, Skill.id.in_(ids))
        return set((await self.session.scalars(query)).all())

    async def sip_users(self, extension: str | None = None) -> list[User]:
        """Enabled users with a SIP extension (one of them when `extension` is given)."""
        query = (
            sa.select(User)
            .where(
                User.tenant_id == self.tenant_id,
                User.enabled.is_(True),
                User.extension.is_not(None),
            )
            .order_by(User.extension)
        )
        if extension is not None:
            query = query.where(User.extension == extension)
        return list((await self.session.scalars(query)).all())

    async def number_in_tenant(self, number: str) -> PhoneNumber | None:
        return await self.session.scalar(
            sa.select(PhoneNumber).where(
                PhoneNumber.tenant_id == self.tenant_id, PhoneNumber.number == number
            )
        )

    async def delete_tenant_rows(self) -> None:
        """Everything of this tenant except its audit log (kept as history)."""
        for model in (UserRole, ApiKey, PhoneNumber, Calendar, Skill, User, Role):
            await self.session.execute(sa.delete(model).where(model.tenant_id == self.tenant_id))
        await self.session.execute(
            sa.delete(NumberDirectoryEntry).where(NumberDirectoryEntry.tenant_id == self.tenant_id)
        )

    # -- audit -----------------------------------------------------------------------------

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        conditions: list[Any] = [AuditEntry.tenant_id == self.tenant_id]
        if query.actor_id is not None:
            conditions.append(AuditEntry.actor_id == query.actor_id)
        if query.action is not None:
            conditions.append(AuditEntry.action == query.action)
        if query.resource_type is not None:
            conditions.append(AuditEntry.resource_type == query.resource_type)
        if query.resource_id is not None:
            conditions.append(AuditEntry.resource_id == query.resource_id)
        if query.since is not None:
            conditions.append(AuditEntry.at >= query.since)
        if query.until is not None:
            conditions.append(AuditEntry.at < query.until)
        if query.before_id is not None:
            conditions.append(AuditEntry.id < query.before_id)
        statement = (
            sa.select(AuditEntry)
            .where(*conditions)
            .order_by(AuditEntry.id.desc())
            .limit(query.limit)
        )
        return list((await self.session.scalars(statement)).all())
