"""Use cases of the admin service. Each service class gets its ports in the constructor
(the store, the notifier, the password hasher, a clock) and is called by the REST layer
with the caller's `Principal`; every write is audited and announced in its transaction."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from switchboard_admin.domain import permissions as perms
from switchboard_admin.domain.credentials import (
    Passwords,
    api_secret_matches,
    new_api_key,
    parse_api_key,
    sip_a1_hash,
)
from switchboard_admin.domain.dialplan import DialplanDecision, NumberRoute, decide
from switchboard_admin.domain.numbers import dialled_to_e164, normalize_e164
from switchboard_admin.domain.passwords import check_password, check_sip_password
from switchboard_admin.domain.tenants import (
    check_quota,
    check_sip_domain,
    check_slug,
    check_timezone,
    default_sip_domain,
    next_status,
)
from switchboard_admin.domain.throttle import LoginThrottle
from switchboard_admin.models import (
    ApiKey,
    AuditEntry,
    Calendar,
    NumberDirectoryEntry,
    PhoneNumber,
    Role,
    Skill,
    Tenant,
    User,
)
from switchboard_admin.notifier import ConfigNotifier
from switchboard_admin.repository import AdminRepository, AdminStore, AuditQuery
from switchboard_admin.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    AuditEntryPublic,
    CalendarCreate,
    CalendarPublic,
    CalendarUpdate,
    LoginRequest,
    NumberCreate,
    NumberPublic,
    NumberUpdate,
    Page,
    Quotas,
    RoleCreate,
    RolePublic,
    RoleUpdate,
    SkillCreate,
    SkillPublic,
    SkillUpdate,
    TenantCreate,
    TenantProvisioned,
    TenantPublic,
    TenantUpdate,
    TokenResponse,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from switchboard_common.auth import Principal, issue_access_token
from switchboard_common.business_hours import BusinessCalendar
from switchboard_common.errors import (
    AppError,
    Conflict,
    ErrorKind,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    ValidationFailed,
)

Clock = Callable[[], datetime]
MAX_PAGE = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class TooManyAttempts(AppError):
    """Login refused before checking the password; `retry_after` seconds to wait."""

    kind = ErrorKind.RATE_LIMITED
    error_id = "too-many-attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed logins; try again in {retry_after} s",
            details={"retry_after_s": retry_after},
        )
        self.retry_after = retry_after


# -- cursors and pages -------------------------------------------------------------------------


def offset_of(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit() or len(cursor) > 9:
        raise ValidationFailed(
            "not a cursor from a previous page", field="cursor", error_id="invalid-cursor"
        )
    return int(cursor)


def _page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], str | None]:
    """`items` holds up to limit + 1 rows; the extra one says there is a next page."""
    if len(items) > limit:
        return items[:limit], str(offset + limit)
    return items, None


# -- views -------------------------------------------------------------------------------------


def tenant_public(tenant: Tenant) -> TenantPublic:
    return TenantPublic(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        sip_domain=tenant.sip_domain,
        timezone=tenant.timezone,
        status="suspended" if tenant.status == "suspended" else "active",
        quotas=Quotas(
            max_concurrent_calls=tenant.max_concurrent_calls,
            max_agents=tenant.max_agents,
            max_queues=tenant.max_queues,
            recording_retention_days=tenant.recording_retention_days,
        ),
        created_at=tenant.created_at,
        updated_at=tenant.updated_at,
        suspended_at=tenant.suspended_at,
    )


def role_permissions(role: Role) -> frozenset[str]:
    """Built-in roles always carry the current catalog's permissions for their name."""
    if role.builtin and role.name in perms.BUILTIN_ROLES:
        return perms.BUILTIN_ROLES[role.name].permissions
    return frozenset(role.permissions)


def role_public(role: Role) -> RolePublic:
    return RolePublic(
        id=role.id,
        name=role.name,
        description=role.description,
        permissions=sorted(role_permissions(role)),
        builtin=role.builtin,
        created_at=role.created_at,
        updated_at=role.updated_at,
    )


def user_public(user: User, roles: Sequence[Role]) -> UserPublic:
    names = sorted(role.name for role in roles)
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        roles=names,
        permissions=sorted(perms.union_of(role_permissions(role) for role in roles)),
        is_agent=perms.AGENT_ROLE in names,
        extension=user.extension,
        has_sip_credentials=user.sip_a1_hash is not None,
        skills={str(key): int(value) for key, value in user.skills.items()},
        enabled=user.enabled,
        created_at=user.created_at,
        updated_at=user.updated_at,
        last_login_at=user.last_login_at,
    )


def api_key_public(key: ApiKey, now: datetime) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=key.id,
        name=key.name,
        permissions=list(key.permissions),
        created_by=key.created_by,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        active=_key_active(key, now),
    )


def _key_active(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


def number_public(number: PhoneNumber) -> NumberPublic:
    return NumberPublic(
        id=number.id,
        number=number.number,
        label=number.label,
        target_kind="queue" if number.target_kind == "queue" else "ivr_flow",
        target_id=number.target_id,
        created_at=number.created_at,
        updated_at=number.updated_at,
    )


def skill_public(skill: Skill) -> SkillPublic:
    return SkillPublic(
        id=skill.id,
        name=skill.name,
        description=skill.description,
        created_at=skill.created_at,
        updated_at=skill.updated_at,
    )


def calendar_public(calendar: Calendar) -> CalendarPublic:
    return CalendarPublic.model_validate(
        {
            **calendar.definition,
            "id": calendar.id,
            "name": calendar.name,
            "created_at": calendar.created_at,
            "updated_at": calendar.updated_at,
        }
    )


def audit_public(entry: AuditEntry) -> AuditEntryPublic:
    return AuditEntryPublic(
        id=entry.id,
        at=entry.at,
        actor_kind=entry.actor_kind,
        actor_id=entry.actor_id,
        action=entry.action,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id,
        before=entry.before,
        after=entry.after,
    )


def _tenant_of(actor: Principal) -> str:
    if actor.tenant_id is None:
        raise Forbidden("this operation acts for a tenant", details={"reason": "no-tenant"})
    return actor.tenant_id


def _snapshot(model: BaseModel | None) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(mode="json")


class Auditor:
    """Appends to the audit log in the caller's transaction."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self._clock = clock

    def record(
        self,
        repo: AdminRepository,
        actor: Principal,
        action: str,
        resource_type: str,
        resource_id: str,
        *,
        before: BaseModel | None = None,
        after: BaseModel | None = None,
    ) -> None:
        repo.add(
            AuditEntry(
                tenant_id=repo.tenant_id,
                at=self._clock(),
                actor_kind=actor.kind,
                actor_id=actor.subject[:64],
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                before=_snapshot(before),
                after=_snapshot(after),
            )
        )


@dataclass
class Ports:
    """What every use case needs: storage, events, audit, password hashing, a clock."""

    store: AdminStore
    notifier: ConfigNotifier
    passwords: Passwords
    clock: Clock = utcnow

    @property
    def auditor(self) -> Auditor:
        return Auditor(self.clock)


# -- tenants -----------------------------------------------------------------------------------


class TenantsService:
    """The platform operator's use cases, and a tenant's view of itself."""

    def __init__(self, ports: Ports, *, sip_domain_suffix: str) -> None:
        self._p = ports
        self._suffix = sip_domain_suffix

    async def create(self, actor: Principal, body: TenantCreate) -> TenantProvisioned:
        slug = check_slug(body.slug)
        domain = (
            check_sip_domain(body.sip_domain)
            if body.sip_domain is not None
            else default_sip_domain(slug, self._suffix)
        )
        timezone = check_timezone(body.timezone)
        if body.admin is None and not body.create_api_key:
            raise ValidationFailed(
                "a new tenant needs an admin user or an API key",
                field="admin",
                error_id="no-tenant-admin",
            )
        password_hash: str | None = None
        if body.admin is not None:
            check_password(
                body.admin.password, username=body.admin.username, field="admin.password"
            )
            password_hash = await asyncio.to_thread(self._p.passwords.hash, body.admin.password)
        tenant_id = new_id()
        now = self._p.clock()
        auditor = self._p.auditor
        async with self._p.store.tenant(tenant_id) as repo:
            taken = await repo.tenant_taken(slug=slug, sip_domain=domain)
            if taken is not None:
                raise Conflict(
                    f"another tenant already uses this {taken.replace('_', ' ')}",
                    error_id=f"{taken.replace('_', '-')}-taken",
                    details={"field": taken},
                )
            tenant = Tenant(
                id=tenant_id,
                slug=slug,
                name=body.name,
                sip_domain=domain,
                timezone=timezone,
                status="active",
                created_at=now,
                updated_at=now,
                suspended_at=None,
                **body.quotas.model_dump(),
            )
            repo.add(tenant)
            await repo.flush(conflict_id="tenant-taken")
            roles = {
                name: Role(
                    id=new_id(),
                    tenant_id=tenant_id,
                    name=name,
                    description=builtin.description,
                    permissions=sorted(builtin.permissions),
                    builtin=True,
                    created_at=now,
                    updated_at=now,
                )
                for name, builtin in perms.BUILTIN_ROLES.items()
            }
            for role in roles.values():
                repo.add(role)
            public = tenant_public(tenant)
            auditor.record(repo, actor, "tenant.create", "tenant", tenant_id, after=public)
            admin_view: UserPublic | None = None
            if body.admin is not None and password_hash is not None:
                user = User(
                    id=new_id(),
                    tenant_id=tenant_id,
                    username=body.admin.username,
                    display_name=body.admin.display_name or body.admin.username,
                    email=body.admin.email,
                    password_hash=password_hash,
                    extension=None,
                    sip_a1_hash=None,
                    sip_a1_domain=None,
                    skills={},
                    enabled=True,
                    created_at=now,
                    updated_at=now,
                    last_login_at=None,
                )
                repo.add(user)
                await repo.flush()
                admin_roles = [roles[perms.TENANT_ADMIN_ROLE]]
                await repo.set_roles(user, admin_roles)
                admin_view = user_public(user, admin_roles)
                auditor.record(repo, actor, "user.create", "user", user.id, after=admin_view)
            key_view: ApiKeyCreated | None = None
            if body.create_api_key:
                fresh = new_api_key(tenant_id)
                key = ApiKey(
                    id=fresh.key_id,
                    tenant_id=tenant_id,
                    name="provisioning key",
                    secret_hash=fresh.secret_hash,
                    permissions=sorted(perms.PERMISSIONS),
                    created_by=actor.subject[:64],
                    created_at=now,
                    expires_at=None,
                    revoked_at=None,
                    last_used_at=None,
                )
                repo.add(key)
                key_public = api_key_public(key, now)
                key_view = ApiKeyCreated(**key_public.model_dump(), key=fresh.key)
                auditor.record(repo, actor, "api_key.create", "api_key", key.id, after=key_public)
            await repo.flush()
            await self._p.notifier.tenant_created(repo.session, public)
            if admin_view is not None:
                await self._p.notifier.user_saved(repo.session, tenant_id, admin_view, created=True)
        return TenantProvisioned(tenant=public, admin_user=admin_view, api_key=key_view)

    async def list(
        self, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[TenantPublic]:
        offset = offset_of(cursor)
        async with self._p.store.platform() as repo:
            rows = await repo.list_tenants(status=status, offset=offset, limit=limit + 1)
        items, next_cursor = _page([tenant_public(row) for row in rows], offset, limit)
        return Page[TenantPublic](items=items, next_cursor=next_cursor)

    async def _resolve(self, reference: str) -> str:
        async with self._p.store.platform() as repo:
            tenant = await repo.find_tenant(reference)
        if tenant is None:
            raise NotFound(
                "no such tenant", error_id="no-such-tenant", details={"tenant": reference[:64]}
            )
        return tenant.id

    async def _locked(self, repo: AdminRepository) -> Tenant:
        tenant = await repo.tenant_by_id(repo.tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", error_id="no-such-tenant")
        return tenant

    async def get(self, reference: str) -> TenantPublic:
        async with self._p.store.platform() as repo:
            tenant = await repo.find_tenant(reference)
        if tenant is None:
            raise NotFound(
                "no such tenant", error_id="no-such-tenant", details={"tenant": reference[:64]}
            )
        return tenant_public(tenant)

    async def own(self, actor: Principal) -> TenantPublic:
        async with self._p.store.platform() as repo:
            tenant = await repo.tenant_by_id(_tenant_of(actor))
        if tenant is None:
            raise NotFound("no such tenant", error_id="no-such-tenant")
        return tenant_public(tenant)

    async def update(self, actor: Principal, reference: str, body: TenantUpdate) -> TenantPublic:
        tenant_id = await self._resolve(reference)
        async with self._p.store.tenant(tenant_id) as repo:
            tenant = await self._locked(repo)
            before = tenant_public(tenant)
            if body.name is not None:
                tenant.name = body.name
            if body.timezone is not None:
                tenant.timezone = check_timezone(body.timezone)
            if body.sip_domain is not None:
                domain = check_sip_domain(body.sip_domain)
                if domain != tenant.sip_domain:
                    if await repo.tenant_taken(slug=None, sip_domain=domain):
                        raise Conflict(
                            "another tenant already uses this SIP domain",
                            error_id="sip-domain-taken",
                            details={"field": "sip_domain"},
                        )
                    tenant.sip_domain = domain
            if body.quotas is not None:
                for name, value in body.quotas.model_dump(exclude_none=True).items():
                    setattr(tenant, name, value)
            tenant.updated_at = self._p.clock()
            await repo.flush(conflict_id="sip-domain-taken", field="sip_domain")
            after = tenant_public(tenant)
            self._p.auditor.record(
                repo, actor, "tenant.update", "tenant", tenant_id, before=before, after=after
            )
            await self._p.notifier.tenant_updated(repo.session, after)
        return after

    async def suspend(self, actor: Principal, reference: str) -> TenantPublic:
        return await self._lifecycle(actor, reference, "suspend")

    async def resume(self, actor: Principal, reference: str) -> TenantPublic:
        return await self._lifecycle(actor, reference, "resume")

    async def _lifecycle(self, actor: Principal, reference: str, action: str) -> TenantPublic:
        tenant_id = await self._resolve(reference)
        async with self._p.store.tenant(tenant_id) as repo:
            tenant = await self._locked(repo)
            before = tenant_public(tenant)
            now = self._p.clock()
            if action == "suspend":
                tenant.status = next_status(before.status, "suspend")
                tenant.suspended_at = now
            else:
                tenant.status = next_status(before.status, "resume")
                tenant.suspended_at = None
            tenant.updated_at = now
            after = tenant_public(tenant)
            self._p.auditor.record(
                repo, actor, f"tenant.{action}", "tenant", tenant_id, before=before, after=after
            )
            if action == "suspend":
                await self._p.notifier.tenant_suspended(repo.session, tenant_id, now)
            else:
                await self._p.notifier.tenant_resumed(repo.session, tenant_id, now)
        return after

    async def delete(self, actor: Principal, reference: str) -> None:
        tenant_id = await self._resolve(reference)
        async with self._p.store.tenant(tenant_id) as repo:
            tenant = await self._locked(repo)
            before = tenant_public(tenant)
            await repo.delete_tenant_rows()
            await repo.delete(tenant)
            self._p.auditor.record(repo, actor, "tenant.delete", "tenant", tenant_id, before=before)
            await self._p.notifier.tenant_deleted(repo.session, tenant_id, self._p.clock())


# -- users -------------------------------------------------------------------------------------


class UsersService:
    def __init__(self, ports: Ports) -> None:
        self._p = ports

    async def list(self, actor: Principal, *, cursor: str | None, limit: int) -> Page[UserPublic]:
        offset = offset_of(cursor)
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.page(User, order_by=User.username, offset=offset, limit=limit + 1)
            roles = await repo.roles_of([row.id for row in rows])
            views = [user_public(row, roles[row.id]) for row in rows]
        items, next_cursor = _page(views, offset, limit)
        return Page[UserPublic](items=items, next_cursor=next_cursor)

    async def get(self, actor: Principal, user_id: str) -> UserPublic:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            user = await _user(repo, user_id)
            return user_public(user, (await repo.roles_of([user.id]))[user.id])

    async def create(self, actor: Principal, body: UserCreate) -> UserPublic:
        tenant_id = _tenant_of(actor)
        check_password(body.password, username=body.username)
        if body.sip_password is not None:
            check_sip_password(body.sip_password)
            if body.extension is None:
                raise ValidationFailed(
                    "a SIP password needs an extension",
                    field="sip_password",
                    error_id="extension-required",
                )
        password_hash = await asyncio.to_thread(self._p.passwords.hash, body.password)
        now = self._p.clock()
        async with self._p.store.tenant(tenant_id) as repo:
            tenant = await _lock_tenant(repo)
            if await repo.user_by_username(body.username) is not None:
                raise Conflict(
                    "this username is taken",
                    error_id="username-taken",
                    details={"field": "username"},
                )
            if body.extension is not None and await repo.user_by_extension(body.extension):
                raise Conflict(
                    "this extension is taken",
                    error_id="extension-taken",
                    details={"field": "extension"},
                )
            roles = await _roles_named(repo, body.roles)
            granted = perms.union_of(role_permissions(role) for role in roles)
            perms.ensure_can_grant(actor.permissions, granted)
            await _check_skills(repo, body.skills)
            if any(role.name == perms.AGENT_ROLE for role in roles):
                await _check_agent_quota(repo, tenant)
            user = User(
                id=new_id(),
                tenant_id=tenant_id,
                username=body.username,
                display_name=body.display_name or body.username,
                email=body.email,
                password_hash=password_hash,
                extension=body.extension,
                sip_a1_hash=None,
                sip_a1_domain=None,
                skills=dict(body.skills),
                enabled=body.enabled,
                created_at=now,
                updated_at=now,
                last_login_at=None,
            )
            if body.sip_password is not None and body.extension is not None:
                user.sip_a1_hash = sip_a1_hash(body.extension, tenant.sip_domain, body.sip_password)
                user.sip_a1_domain = tenant.sip_domain
            repo.add(user)
            await repo.flush(conflict_id="username-taken", field="username")
            await repo.set_roles(user, roles)
            await repo.flush()
            view = user_public(user, roles)
            self._p.auditor.record(repo, actor, "user.create", "user", user.id, after=view)
            await self._p.notifier.user_saved(repo.session, tenant_id, view, created=True)
        return view

    async def update(self, actor: Principal, user_id: str, body: UserUpdate) -> UserPublic:
        tenant_id = _tenant_of(actor)
        given = body.model_fields_set
        async with self._p.store.tenant(tenant_id) as repo:
            tenant = await _lock_tenant(repo)
            user = await _user(repo, user_id)
            current_roles = (await repo.roles_of([user.id]))[user.id]
            before = user_public(user, current_roles)
            perms.ensure_can_grant(actor.permissions, before.permissions)
            if body.password is not None:
                check_password(body.password, username=user.username)
                user.password_hash = await asyncio.to_thread(self._p.passwords.hash, body.password)
            if body.display_name is not None:
                user.display_name = body.display_name or user.username
            if "email" in given:
                user.email = body.email
            roles = current_roles
            if body.roles is not None:
                roles = await _roles_named(repo, body.roles)
                added = perms.union_of(role_permissions(r) for r in roles) - set(before.permissions)
                perms.ensure_can_grant(actor.permissions, added)
                if perms.AGENT_ROLE in {r.name for r in roles} and not before.is_agent:
                    await _check_agent_quota(repo, tenant)
                await repo.set_roles(user, roles)
            if "extension" in given and body.extension != user.extension:
                if body.extension is not None and await repo.user_by_extension(body.extension):
                    raise Conflict(
                        "this extension is taken",
                        error_id="extension-taken",
                        details={"field": "extension"},
                    )
                user.extension = body.extension
                user.sip_a1_hash = None
                user.sip_a1_domain = None
            if body.sip_password is not None:
                check_sip_password(body.sip_password)
                if user.extension is None:
                    raise ValidationFailed(
                        "a SIP password needs an extension",
                        field="sip_password",
                        error_id="extension-required",
                    )
                user.sip_a1_hash = sip_a1_hash(user.extension, tenant.sip_domain, body.sip_password)
                user.sip_a1_domain = tenant.sip_domain
            if body.skills is not None:
                await _check_skills(repo, body.skills)
                user.skills = dict(body.skills)
            if body.enabled is not None:
                user.enabled = body.enabled
            losing_admin = perms.TENANT_ADMIN_ROLE in before.roles and (
                perms.TENANT_ADMIN_ROLE not in {r.name for r in roles} or user.enabled is False
            )
            if losing_admin:
                await _keep_one_admin(repo, user.id)
            user.updated_at = self._p.clock()
            await repo.flush(conflict_id="extension-taken", field="extension")
            after = user_public(user, roles)
            self._p.auditor.record(
                repo, actor, "user.update", "user", user.id, before=before, after=after
            )
            await self._p.notifier.user_saved(repo.session, tenant_id, after, created=False)
        return after

    async def delete(self, actor: Principal, user_id: str) -> None:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            user = await _user(repo, user_id)
            roles = (await repo.roles_of([user.id]))[user.id]
            before = user_public(user, roles)
            perms.ensure_can_grant(actor.permissions, before.permissions)
            if perms.TENANT_ADMIN_ROLE in before.roles:
                await _keep_one_admin(repo, user.id)
            await repo.delete(user)
            self._p.auditor.record(repo, actor, "user.delete", "user", user.id, before=before)
            await self._p.notifier.user_deleted(repo.session, tenant_id, before)


async def _lock_tenant(repo: AdminRepository) -> Tenant:
    """The caller's tenant row, locked on PostgreSQL so that quota checks serialise."""
    tenant = await repo.session.get(Tenant, repo.tenant_id, with_for_update=True)
    if tenant is None:
        raise NotFound("no such tenant", error_id="no-such-tenant")
    return tenant


async def _user(repo: AdminRepository, user_id: str) -> User:
    user = await repo.get(User, user_id)
    if user is None:
        raise NotFound("no such user", error_id="no-such-user", details={"id": user_id[:64]})
    return user


async def _roles_named(repo: AdminRepository, names: Sequence[str]) -> list[Role]:
    wanted = sorted(set(names))
    roles = await repo.roles_by_names(wanted)
    found = {role.name for role in roles}
    for name in wanted:
        if name not in found:
            raise ValidationFailed(
                f"unknown role {name!r}",
                field="roles",
                error_id="unknown-role",
                details={"role": name},
            )
    return sorted(roles, key=lambda role: role.name)


async def _check_skills(repo: AdminRepository, skills: dict[str, int]) -> None:
    known = await repo.skill_ids(sorted(skills))
    for skill_id in sorted(skills):
        if skill_id not in known:
            raise ValidationFailed(
                f"unknown skill {skill_id!r}",
                field="skills",
                error_id="unknown-skill",
                details={"skill": skill_id},
            )


async def _check_agent_quota(repo: AdminRepository, tenant: Tenant) -> None:
    agent_role = await repo.by_name(Role, perms.AGENT_ROLE)
    used = 0 if agent_role is None else await repo.count_role_holders(agent_role.id)
    check_quota("max_agents", limit=tenant.max_agents, used=used)


async def _keep_one_admin(repo: AdminRepository, user_id: str) -> None:
    admin_role = await repo.by_name(Role, perms.TENANT_ADMIN_ROLE)
    if admin_role is None:
        return
    others = await repo.count_role_holders(admin_role.id, exclude_user=user_id)
    if others == 0:
        raise PreconditionFailed(
            "this is the tenant's last admin; make another user tenant-admin first",
            error_id="last-tenant-admin",
        )


# -- roles -------------------------------------------------------------------------------------


class RolesService:
    def __init__(self, ports: Ports) -> None:
        self._p = ports

    async def list(self, actor: Principal, *, cursor: str | None, limit: int) -> Page[RolePublic]:
        offset = offset_of(cursor)
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.page(Role, order_by=Role.name, offset=offset, limit=limit + 1)
        items, next_cursor = _page([role_public(row) for row in rows], offset, limit)
        return Page[RolePublic](items=items, next_cursor=next_cursor)

    async def get(self, actor: Principal, role_id: str) -> RolePublic:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            return role_public(await _role(repo, role_id))

    async def create(self, actor: Principal, body: RoleCreate) -> RolePublic:
        tenant_id = _tenant_of(actor)
        granted = perms.validate_permissions(body.permissions)
        perms.ensure_can_grant(actor.permissions, granted)
        now = self._p.clock()
        async with self._p.store.tenant(tenant_id) as repo:
            if await repo.by_name(Role, body.name) is not None:
                raise Conflict(
                    "a role with this name exists",
                    error_id="role-name-taken",
                    details={"field": "name"},
                )
            role = Role(
                id=new_id(),
                tenant_id=tenant_id,
                name=body.name,
                description=body.description,
                permissions=list(granted),
                builtin=False,
                created_at=now,
                updated_at=now,
            )
            repo.add(role)
            await repo.flush(conflict_id="role-name-taken", field="name")
            view = role_public(role)
            self._p.auditor.record(repo, actor, "role.create", "role", role.id, after=view)
        return view

    async def update(self, actor: Principal, role_id: str, body: RoleUpdate) -> RolePublic:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            role = await _role(repo, role_id)
            _not_builtin(role)
            before = role_public(role)
            if body.description is not None:
                role.description = body.description
            if body.permissions is not None:
                granted = perms.validate_permissions(body.permissions)
                perms.ensure_can_grant(actor.permissions, set(granted) - set(before.permissions))
                role.permissions = list(granted)
            role.updated_at = self._p.clock()
            after = role_public(role)
            self._p.auditor.record(
                repo, actor, "role.update", "role", role.id, before=before, after=after
            )
            if before.permissions != after.permissions:
                await _announce_holders(self._p, repo, role.id)
        return after

    async def delete(self, actor: Principal, role_id: str) -> None:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            role = await _role(repo, role_id)
            _not_builtin(role)
            holders = await repo.count_role_holders(role.id)
            if holders:
                raise PreconditionFailed(
                    "users still hold this role", error_id="role-in-use", details={"users": holders}
                )
            before = role_public(role)
            await repo.delete(role)
            self._p.auditor.record(repo, actor, "role.delete", "role", role.id, before=before)


async def _role(repo: AdminRepository, role_id: str) -> Role:
    role = await repo.get(Role, role_id)
    if role is None:
        raise NotFound("no such role", error_id="no-such-role", details={"id": role_id[:64]})
    return role


def _not_builtin(role: Role) -> None:
    if role.builtin:
        raise PreconditionFailed(
            "built-in roles cannot be changed or deleted",
            error_id="builtin-role",
            details={"role": role.name},
        )


async def _announce_holders(ports: Ports, repo: AdminRepository, role_id: str) -> None:
    """A role's permissions changed: every holder's snapshot changed with it."""
    await repo.flush()
    users = await repo.all_of(User)
    roles = await repo.roles_of([user.id for user in users])
    for user in users:
        if any(role.id == role_id for role in roles[user.id]):
            view = user_public(user, roles[user.id])
            await ports.notifier.user_saved(repo.session, repo.tenant_id, view, created=False)


# -- API keys ----------------------------------------------------------------------------------


class ApiKeysService:
    """Tenant API keys; also admin's own `ApiKeyVerifier`."""

    def __init__(self, ports: Ports, *, touch_interval: timedelta = timedelta(minutes=1)) -> None:
        self._p = ports
        self._touch_interval = touch_interval

    async def list(self, actor: Principal, *, cursor: str | None, limit: int) -> Page[ApiKeyPublic]:
        offset = offset_of(cursor)
        now = self._p.clock()
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.page(
                ApiKey, order_by=ApiKey.created_at, offset=offset, limit=limit + 1
            )
        items, next_cursor = _page([api_key_public(row, now) for row in rows], offset, limit)
        return Page[ApiKeyPublic](items=items, next_cursor=next_cursor)

    async def get(self, actor: Principal, key_id: str) -> ApiKeyPublic:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            return api_key_public(await _api_key(repo, key_id), self._p.clock())

    async def create(self, actor: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
        tenant_id = _tenant_of(actor)
        granted = perms.validate_permissions(body.permissions)
        perms.ensure_can_grant(actor.permissions, granted)
        now = self._p.clock()
        if body.expires_at is not None and (
            body.expires_at.tzinfo is None or body.expires_at <= now
        ):
            raise ValidationFailed(
                "expires_at must be a future time with a time zone",
                field="expires_at",
                error_id="invalid-expiry",
            )
        fresh = new_api_key(tenant_id)
        async with self._p.store.tenant(tenant_id) as repo:
            key = ApiKey(
                id=fresh.key_id,
                tenant_id=tenant_id,
                name=body.name,
                secret_hash=fresh.secret_hash,
                permissions=list(granted),
                created_by=actor.subject[:64],
                created_at=now,
                expires_at=body.expires_at,
                revoked_at=None,
                last_used_at=None,
            )
            repo.add(key)
            await repo.flush()
            view = api_key_public(key, now)
            self._p.auditor.record(repo, actor, "api_key.create", "api_key", key.id, after=view)
        return ApiKeyCreated(**view.model_dump(), key=fresh.key)

    async def revoke(self, actor: Principal, key_id: str) -> ApiKeyPublic:
        now = self._p.clock()
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            key = await _api_key(repo, key_id)
            before = api_key_public(key, now)
            if key.revoked_at is None:
                key.revoked_at = now
                after = api_key_public(key, now)
                self._p.auditor.record(
                    repo, actor, "api_key.revoke", "api_key", key.id, before=before, after=after
                )
                return after
            return before

    async def verify(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked, unexpired key; None otherwise."""
        parsed = parse_api_key(presented)
        if parsed is None:
            return None
        now = self._p.clock()
        async with self._p.store.tenant(parsed.tenant_id) as repo:
            key = await repo.get(ApiKey, parsed.key_id)
            if key is None or not api_secret_matches(parsed.secret, key.secret_hash):
                return None
            if not _key_active(key, now):
                return None
            if key.last_used_at is None or now - key.last_used_at >= self._touch_interval:
                key.last_used_at = now
            return Principal(
                kind="api_key",
                tenant_id=key.tenant_id,
                api_key_id=key.id,
                permissions=frozenset(key.permissions),
            )


async def _api_key(repo: AdminRepository, key_id: str) -> ApiKey:
    key = await repo.get(ApiKey, key_id)
    if key is None:
        raise NotFound("no such API key", error_id="no-such-api-key", details={"id": key_id[:64]})
    return key


# -- numbers -----------------------------------------------------------------------------------


class NumbersService:
    def __init__(self, ports: Ports) -> None:
        self._p = ports

    async def list(self, actor: Principal, *, cursor: str | None, limit: int) -> Page[NumberPublic]:
        offset = offset_of(cursor)
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.page(
                PhoneNumber, order_by=PhoneNumber.number, offset=offset, limit=limit + 1
            )
        items, next_cursor = _page([number_public(row) for row in rows], offset, limit)
        return Page[NumberPublic](items=items, next_cursor=next_cursor)

    async def get(self, actor: Principal, number_id: str) -> NumberPublic:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            return number_public(await _number(repo, number_id))

    async def create(self, actor: Principal, body: NumberCreate) -> NumberPublic:
        tenant_id = _tenant_of(actor)
        e164 = normalize_e164(body.number)
        now = self._p.clock()
        async with self._p.store.tenant(tenant_id) as repo:
            if await repo.number_owner(e164) is not None:
                raise Conflict(
                    f"{e164} is already in use on the platform",
                    error_id="number-taken",
                    details={"field": "number"},
                )
            number = PhoneNumber(
                id=new_id(),
                tenant_id=tenant_id,
                number=e164,
                label=body.label,
                target_kind=body.target_kind,
                target_id=body.target_id,
                created_at=now,
                updated_at=now,
            )
            repo.add(NumberDirectoryEntry(number=e164, tenant_id=tenant_id, number_id=number.id))
            repo.add(number)
            await repo.flush(conflict_id="number-taken", field="number")
            view = number_public(number)
            self._p.auditor.record(repo, actor, "number.create", "number", number.id, after=view)
            await self._p.notifier.number_assigned(repo.session, tenant_id, view)
        return view

    async def update(self, actor: Principal, number_id: str, body: NumberUpdate) -> NumberPublic:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            number = await _number(repo, number_id)
            before = number_public(number)
            if body.label is not None:
                number.label = body.label
            if body.target_kind is not None and body.target_id is not None:
                number.target_kind = body.target_kind
                number.target_id = body.target_id
            number.updated_at = self._p.clock()
            after = number_public(number)
            self._p.auditor.record(
                repo, actor, "number.update", "number", number.id, before=before, after=after
            )
            await self._p.notifier.number_assigned(repo.session, tenant_id, after)
        return after

    async def delete(self, actor: Principal, number_id: str) -> None:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            number = await _number(repo, number_id)
            before = number_public(number)
            await repo.delete(number)
            await repo.release_directory_entry(number.number)
            self._p.auditor.record(repo, actor, "number.delete", "number", number.id, before=before)
            await self._p.notifier.number_released(repo.session, tenant_id, before)


async def _number(repo: AdminRepository, number_id: str) -> PhoneNumber:
    number = await repo.get(PhoneNumber, number_id)
    if number is None:
        raise NotFound("no such number", error_id="no-such-number", details={"id": number_id[:64]})
    return number


# -- skills ------------------------------------------------------------------------------------


class SkillsService:
    def __init__(self, ports: Ports) -> None:
        self._p = ports

    async def list(self, actor: Principal, *, cursor: str | None, limit: int) -> Page[SkillPublic]:
        offset = offset_of(cursor)
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.page(Skill, order_by=Skill.name, offset=offset, limit=limit + 1)
        items, next_cursor = _page([skill_public(row) for row in rows], offset, limit)
        return Page[SkillPublic](items=items, next_cursor=next_cursor)

    async def get(self, actor: Principal, skill_id: str) -> SkillPublic:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            return skill_public(await _skill(repo, skill_id))

    async def create(self, actor: Principal, body: SkillCreate) -> SkillPublic:
        tenant_id = _tenant_of(actor)
        now = self._p.clock()
        async with self._p.store.tenant(tenant_id) as repo:
            await _skill_name_free(repo, body.name)
            skill = Skill(
                id=new_id(),
                tenant_id=tenant_id,
                name=body.name,
                description=body.description,
                created_at=now,
                updated_at=now,
            )
            repo.add(skill)
            await repo.flush(conflict_id="skill-name-taken", field="name")
            view = skill_public(skill)
            self._p.auditor.record(repo, actor, "skill.create", "skill", skill.id, after=view)
            await self._p.notifier.skill_changed(repo.session, tenant_id, view, "created")
        return view

    async def update(self, actor: Principal, skill_id: str, body: SkillUpdate) -> SkillPublic:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            skill = await _skill(repo, skill_id)
            before = skill_public(skill)
            if body.name is not None and body.name != skill.name:
                await _skill_name_free(repo, body.name)
                skill.name = body.name
            if body.description is not None:
                skill.description = body.description
            skill.updated_at = self._p.clock()
            await repo.flush(conflict_id="skill-name-taken", field="name")
            after = skill_public(skill)
            self._p.auditor.record(
                repo, actor, "skill.update", "skill", skill.id, before=before, after=after
            )
            await self._p.notifier.skill_changed(repo.session, tenant_id, after, "updated")
        return after

    async def delete(self, actor: Principal, skill_id: str) -> None:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            skill = await _skill(repo, skill_id)
            holders = await repo.users_with_skill(skill.id)
            if holders:
                raise PreconditionFailed(
                    "users still have this skill",
                    error_id="skill-in-use",
                    details={"users": len(holders)},
                )
            before = skill_public(skill)
            await repo.delete(skill)
            self._p.auditor.record(repo, actor, "skill.delete", "skill", skill.id, before=before)
            await self._p.notifier.skill_changed(repo.session, tenant_id, before, "deleted")


async def _skill(repo: AdminRepository, skill_id: str) -> Skill:
    skill = await repo.get(Skill, skill_id)
    if skill is None:
        raise NotFound("no such skill", error_id="no-such-skill", details={"id": skill_id[:64]})
    return skill


async def _skill_name_free(repo: AdminRepository, name: str) -> None:
    if await repo.by_name(Skill, name) is not None:
        raise Conflict(
            "a skill with this name exists", error_id="skill-name-taken", details={"field": "name"}
        )


# -- calendars ---------------------------------------------------------------------------------


class CalendarsService:
    """Business-hours calendars, validated by the shared `BusinessCalendar`."""

    def __init__(self, ports: Ports) -> None:
        self._p = ports

    async def list(
        self, actor: Principal, *, cursor: str | None, limit: int
    ) -> Page[CalendarPublic]:
        offset = offset_of(cursor)
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.page(Calendar, order_by=Calendar.name, offset=offset, limit=limit + 1)
        items, next_cursor = _page([calendar_public(row) for row in rows], offset, limit)
        return Page[CalendarPublic](items=items, next_cursor=next_cursor)

    async def get(self, actor: Principal, calendar_id: str) -> CalendarPublic:
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            return calendar_public(await _calendar(repo, calendar_id))

    async def create(self, actor: Principal, body: CalendarCreate) -> CalendarPublic:
        tenant_id = _tenant_of(actor)
        definition = _calendar_definition(body.model_dump(mode="json", exclude={"name"}))
        now = self._p.clock()
        async with self._p.store.tenant(tenant_id) as repo:
            await _calendar_name_free(repo, body.name)
            calendar = Calendar(
                id=new_id(),
                tenant_id=tenant_id,
                name=body.name,
                definition=definition,
                created_at=now,
                updated_at=now,
            )
            repo.add(calendar)
            await repo.flush(conflict_id="calendar-name-taken", field="name")
            view = calendar_public(calendar)
            self._p.auditor.record(
                repo, actor, "calendar.create", "calendar", calendar.id, after=view
            )
            await self._p.notifier.calendar_changed(repo.session, tenant_id, view, "created")
        return view

    async def update(
        self, actor: Principal, calendar_id: str, body: CalendarUpdate
    ) -> CalendarPublic:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            calendar = await _calendar(repo, calendar_id)
            before = calendar_public(calendar)
            if body.name is not None and body.name != calendar.name:
                await _calendar_name_free(repo, body.name)
                calendar.name = body.name
            changes = body.model_dump(mode="json", exclude={"name"}, exclude_none=True)
            if changes:
                calendar.definition = _calendar_definition({**calendar.definition, **changes})
            calendar.updated_at = self._p.clock()
            await repo.flush(conflict_id="calendar-name-taken", field="name")
            after = calendar_public(calendar)
            self._p.auditor.record(
                repo, actor, "calendar.update", "calendar", calendar.id, before=before, after=after
            )
            await self._p.notifier.calendar_changed(repo.session, tenant_id, after, "updated")
        return after

    async def delete(self, actor: Principal, calendar_id: str) -> None:
        tenant_id = _tenant_of(actor)
        async with self._p.store.tenant(tenant_id) as repo:
            calendar = await _calendar(repo, calendar_id)
            before = calendar_public(calendar)
            await repo.delete(calendar)
            self._p.auditor.record(
                repo, actor, "calendar.delete", "calendar", calendar.id, before=before
            )
            await self._p.notifier.calendar_changed(repo.session, tenant_id, before, "deleted")


def _calendar_definition(data: dict[str, Any]) -> dict[str, Any]:
    """Validate with the shared BusinessCalendar and keep its canonical JSON."""
    return BusinessCalendar.parse(data).model_dump(mode="json")


async def _calendar(repo: AdminRepository, calendar_id: str) -> Calendar:
    calendar = await repo.get(Calendar, calendar_id)
    if calendar is None:
        raise NotFound(
            "no such calendar", error_id="no-such-calendar", details={"id": calendar_id[:64]}
        )
    return calendar


async def _calendar_name_free(repo: AdminRepository, name: str) -> None:
    if await repo.by_name(Calendar, name) is not None:
        raise Conflict(
            "a calendar with this name exists",
            error_id="calendar-name-taken",
            details={"field": "name"},
        )


# -- audit -------------------------------------------------------------------------------------


class AuditService:
    def __init__(self, ports: Ports) -> None:
        self._p = ports

    async def query(
        self, actor: Principal, query: AuditQuery, *, cursor: str | None
    ) -> Page[AuditEntryPublic]:
        if cursor:
            if not cursor.isdigit() or len(cursor) > 18:
                raise ValidationFailed(
                    "not a cursor from a previous page", field="cursor", error_id="invalid-cursor"
                )
            query = replace(query, before_id=int(cursor))
        async with self._p.store.tenant(_tenant_of(actor)) as repo:
            rows = await repo.audit(query)
        items = [audit_public(row) for row in rows]
        next_cursor = str(items[-1].id) if len(items) == query.limit and items else None
        return Page[AuditEntryPublic](items=items, next_cursor=next_cursor)


# -- login -------------------------------------------------------------------------------------


class AuthService:
    """People log in with tenant, username and password and get a short-lived JWT."""

    def __init__(
        self,
        ports: Ports,
        throttle: LoginThrottle,
        *,
        jwt_secret: str,
        token_ttl: timedelta,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._p = ports
        self._throttle = throttle
        self._jwt_secret = jwt_secret
        self._ttl = token_ttl
        self._monotonic = monotonic

    async def login(self, body: LoginRequest, address: str) -> TokenResponse:
        user_key = f"{body.tenant.lower()}/{body.username.lower()}"
        wait = self._throttle.retry_after(user_key, address, self._monotonic())
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))
        async with self._p.store.platform() as repo:
            tenant = await repo.find_tenant(body.tenant)
        user: User | None = None
        roles: list[Role] = []
        if tenant is not None:
            async with self._p.store.tenant(tenant.id) as repo:
                user = await repo.user_by_username(body.username)
                if user is not None:
                    roles = (await repo.roles_of([user.id]))[user.id]
        usable = user is not None and user.enabled
        stored = user.password_hash if user is not None and usable else None
        ok = await asyncio.to_thread(self._p.passwords.verify, stored, body.password)
        if not ok or tenant is None or user is None:
            self._throttle.failed(user_key, address, self._monotonic())
            raise Unauthenticated(
                "wrong tenant, username or password", details={"reason": "bad-credentials"}
            )
        self._throttle.succeeded(user_key)
        now = self._p.clock()
        rehash = self._p.passwords.needs_rehash(user.password_hash)
        new_hash = (
            await asyncio.to_thread(self._p.passwords.hash, body.password) if rehash else None
        )
        async with self._p.store.tenant(tenant.id) as repo:
            fresh = await repo.get(User, user.id)
            if fresh is not None:
                fresh.last_login_at = now
                if new_hash is not None:
                    fresh.password_hash = new_hash
        view = user_public(user, roles)
        issued = issue_access_token(
            self._jwt_secret,
            kind="user",
            subject=user.id,
            tenant_id=tenant.id,
            roles=view.roles,
            permissions=view.permissions,
            ttl=self._ttl,
            now=now,
        )
        return TokenResponse(
            access_token=issued.token,
            expires_at=issued.expires_at,
            expires_in=int(self._ttl.total_seconds()),
            tenant_id=tenant.id,
            user_id=user.id,
            roles=view.roles,
            permissions=view.permissions,
        )


# -- FreeSWITCH --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A SIP user of a tenant domain; only users whose a1-hash matches the domain are
    listed (a changed SIP domain needs new SIP passwords)."""

    extension: str
    user_id: str
    display_name: str
    a1_hash: str


@dataclass(frozen=True, slots=True)
class DirectoryDomain:
    domain: str
    tenant_id: str
    users: tuple[DirectoryUser, ...]


class FreeswitchService:
    """What mod_xml_curl asks: the dialplan for a dialled number, a domain's users."""

    def __init__(self, store: AdminStore, *, suspended_announcement: str = "") -> None:
        self._store = store
        self._announcement = suspended_announcement

    async def dialplan(self, destination: str) -> DialplanDecision:
        return decide(
            destination, await self._route(destination), suspended_announcement=self._announcement
        )

    async def _route(self, destination: str) -> NumberRoute | None:
        e164 = dialled_to_e164(destination)
        if e164 is None:
            return None
        async with self._store.platform() as repo:
            entry = await repo.number_owner(e164)
            tenant = await repo.tenant_by_id(entry.tenant_id) if entry is not None else None
            if tenant is None:
                return None
            await repo.enter(tenant.id)
            number = await repo.number_in_tenant(e164)
        if number is None:
            return None
        return NumberRoute(
            tenant_id=tenant.id,
            tenant_status=tenant.status,
            number=number.number,
            target_kind=number.target_kind,
            target_id=number.target_id,
            timezone=tenant.timezone,
            max_concurrent_calls=tenant.max_concurrent_calls,
        )

    async def directory(self, domain: str, user: str | None) -> DirectoryDomain | None:
        """An active tenant's domain with its SIP users (only `user` when given)."""
        async with self._store.platform() as repo:
            tenant = await repo.tenant_by_domain(domain.strip().lower())
            if tenant is None or tenant.status != "active":
                return None
            await repo.enter(tenant.id)
            users = await repo.sip_users(user)
        registrable = tuple(
            DirectoryUser(
                extension=row.extension,
                user_id=row.id,
                display_name=row.display_name,
                a1_hash=row.sip_a1_hash,
            )
            for row in users
            if row.extension is not None
            and row.sip_a1_hash is not None
            and row.sip_a1_domain == tenant.sip_domain
        )
        if user is not None and not registrable:
            return None
        return DirectoryDomain(domain=tenant.sip_domain, tenant_id=tenant.id, users=registrable)

    async def domains(self) -> list[str]:
        async with self._store.platform() as repo:
            return [tenant.sip_domain for tenant in await repo.active_tenants()]
