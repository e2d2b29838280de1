"""REST API of the admin service: parse, check permission, call the service, return.

- `/v1/tenants...`: the platform operator (operator token or operator JWT);
- `/v1/users`, `/v1/roles`, `/v1/api-keys`, `/v1/numbers`, `/v1/skills`, `/v1/calendars`,
  `/v1/audit`, `/v1/tenant`, `/v1/permissions`: a tenant's user or API key, always within
  the caller's own tenant (another tenant's id answers 404);
- `/v1/auth/login`, `/v1/auth/me`: people log in and get a JWT;
- `/v1/internal/api-keys/verify`: other services check API keys (internal secret).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr

from switchboard_admin.domain.permissions import PERMISSIONS
from switchboard_admin.repository import AuditQuery
from switchboard_admin.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeyVerifyRequest,
    AuditEntryPublic,
    CalendarCreate,
    CalendarPublic,
    CalendarUpdate,
    LoginRequest,
    NumberCreate,
    NumberPublic,
    NumberUpdate,
    Page,
    PermissionPublic,
    RoleCreate,
    RolePublic,
    RoleUpdate,
    SkillCreate,
    SkillPublic,
    SkillUpdate,
    TenantCreate,
    TenantProvisioned,
    TenantPublic,
    TenantStatus,
    TenantUpdate,
    TokenResponse,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from switchboard_admin.services import (
    ApiKeysService,
    AuditService,
    AuthService,
    CalendarsService,
    NumbersService,
    RolesService,
    SkillsService,
    TenantsService,
    TooManyAttempts,
    UsersService,
)
from switchboard_common.auth import (
    INTERNAL_SECRET_HEADER,
    Principal,
    authenticate,
    internal_secret_matches,
    require,
    require_operator,
    tenant_principal,
)
from switchboard_common.errors import NotFound, Unauthenticated


class ErrorBody(BaseModel):
    error: str
    message: str
    details: dict[str, Any]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "missing or invalid credentials (`unauthenticated`)"),
        (403, "the caller lacks the permission named in details (`forbidden`)"),
        (404, "no such object in the caller's tenant"),
        (409, "conflicts with the current state (error id says which)"),
        (422, "invalid input; details.field names the field"),
        (429, "a quota (`quota-exceeded`) or a rate limit was reached"),
    )
}

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
ObjectRef = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="id")
]
TenantRef = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="id or slug"),
]
_NO_NUL = r"^[^\x00]*$"
Cursor = Annotated[
    str | None,
    Query(max_length=32, pattern=r"^[0-9]*$", description="next_cursor of the last page"),
]


@dataclass
class AdminServices:
    tenants: TenantsService
    users: UsersService
    roles: RolesService
    api_keys: ApiKeysService
    numbers: NumbersService
    skills: SkillsService
    calendars: CalendarsService
    audit: AuditService
    auth: AuthService


def install_admin_error_handlers(app: FastAPI) -> None:
    """429 `too-many-attempts` carries Retry-After."""

    async def _too_many(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TooManyAttempts)
        return JSONResponse(
            status_code=429,
            content=exc.to_body(),
            headers={"Retry-After": str(exc.retry_after)},
        )

    app.add_exception_handler(TooManyAttempts, _too_many)


def operator_router(services: AdminServices) -> APIRouter:
    router = APIRouter(prefix="/v1/tenants", tags=["operator"], responses=ERROR_RESPONSES)
    Operator = Annotated[Principal, Depends(require_operator)]
    tenants = services.tenants

    @router.post("", status_code=201, summary="Onboard a tenant (roles, admin, key, domain)")
    async def create_tenant(body: TenantCreate, actor: Operator) -> TenantProvisioned:
        return await tenants.create(actor, body)

    @router.get("", summary="List tenants")
    async def list_tenants(
        _actor: Operator,
        status: Annotated[TenantStatus | None, Query()] = None,
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Page[TenantPublic]:
        return await tenants.list(status=status, cursor=cursor, limit=limit)

    @router.get("/{tenant_ref}", summary="A tenant, by id or slug")
    async def get_tenant(tenant_ref: TenantRef, _actor: Operator) -> TenantPublic:
        return await tenants.get(tenant_ref)

    @router.patch("/{tenant_ref}", summary="Change name, SIP domain, time zone or quotas")
    async def update_tenant(
        tenant_ref: TenantRef, body: TenantUpdate, actor: Operator
    ) -> TenantPublic:
        return await tenants.update(actor, tenant_ref, body)

    @router.post("/{tenant_ref}/suspend", summary="Stop new calls; keep the data")
    async def suspend_tenant(tenant_ref: TenantRef, actor: Operator) -> TenantPublic:
        return await tenants.suspend(actor, tenant_ref)

    @router.post("/{tenant_ref}/resume", summary="Take a suspended tenant back into service")
    async def resume_tenant(tenant_ref: TenantRef, actor: Operator) -> TenantPublic:
        return await tenants.resume(actor, tenant_ref)

    @router.delete("/{tenant_ref}", status_code=204, summary="Delete a tenant and its objects")
    async def delete_tenant(tenant_ref: TenantRef, actor: Operator) -> Response:
        await tenants.delete(actor, tenant_ref)
        return Response(status_code=204)

    return router


def tenant_router(services: AdminServices) -> APIRouter:
    router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

    def can(permission: str) -> Any:
        return Depends(require(permission))

    @router.get("/tenant", tags=["tenant"], summary="The caller's tenant")
    async def own_tenant(actor: Annotated[Principal, can("tenant:read")]) -> TenantPublic:
        return await services.tenants.own(actor)

    @router.get("/permissions", tags=["roles"], summary="Every permission a role may grant")
    async def list_permissions(
        _actor: Annotated[Principal, Depends(tenant_principal)],
    ) -> list[PermissionPublic]:
        return [PermissionPublic(name=name, description=text) for name, text in PERMISSIONS.items()]

    # users
    users = services.users

    @router.get("/users", tags=["users"], summary="List users")
    async def list_users(
        actor: Annotated[Principal, can("users:read")], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[UserPublic]:
        return await users.list(actor, cursor=cursor, limit=limit)

    @router.post("/users", tags=["users"], status_code=201, summary="Create a user")
    async def create_user(
        body: UserCreate, actor: Annotated[Principal, can("users:write")]
    ) -> UserPublic:
        return await users.create(actor, body)

    @router.get("/users/{user_id}", tags=["users"], summary="A user")
    async def get_user(
        user_id: ObjectRef, actor: Annotated[Principal, can("users:read")]
    ) -> UserPublic:
        return await users.get(actor, user_id)

    @router.patch("/users/{user_id}", tags=["users"], summary="Change a user")
    async def update_user(
        user_id: ObjectRef, body: UserUpdate, actor: Annotated[Principal, can("users:write")]
    ) -> UserPublic:
        return await users.update(actor, user_id, body)

    @router.delete("/users/{user_id}", tags=["users"], status_code=204, summary="Delete a user")
    async def delete_user(
        user_id: ObjectRef, actor: Annotated[Principal, can("users:write")]
    ) -> Response:
        await users.delete(actor, user_id)
        return Response(status_code=204)

    # roles
    roles = services.roles

    @router.get("/roles", tags=["roles"], summary="List roles")
    async def list_roles(
        actor: Annotated[Principal, can("roles:read")], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[RolePublic]:
        return await roles.list(actor, cursor=cursor, limit=limit)

    @router.post("/roles", tags=["roles"], status_code=201, summary="Create a role")
    async def create_role(
        body: RoleCreate, actor: Annotated[Principal, can("roles:write")]
    ) -> RolePublic:
        return await roles.create(actor, body)

    @router.get("/roles/{role_id}", tags=["roles"], summary="A role")
    async def get_role(
        role_id: ObjectRef, actor: Annotated[Principal, can("roles:read")]
    ) -> RolePublic:
        return await roles.get(actor, role_id)

    @router.patch("/roles/{role_id}", tags=["roles"], summary="Change a custom role")
    async def update_role(
        role_id: ObjectRef, body: RoleUpdate, actor: Annotated[Principal, can("roles:write")]
    ) -> RolePublic:
        return await roles.update(actor, role_id, body)

    @router.delete("/roles/{role_id}", tags=["roles"], status_code=204, summary="Delete a role")
    async def delete_role(
        role_id: ObjectRef, actor: Annotated[Principal, can("roles:write")]
    ) -> Response:
        await roles.delete(actor, role_id)
        return Response(status_code=204)

    # API keys
    keys = services.api_keys

    @router.get("/api-keys", tags=["api-keys"], summary="List API keys (never their secrets)")
    async def list_api_keys(
        actor: Annotated[Principal, can("api_keys:read")],
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Page[ApiKeyPublic]:
        return await keys.list(actor, cursor=cursor, limit=limit)

    @router.post(
        "/api-keys", tags=["api-keys"], status_code=201, summary="Create a key (secret shown once)"
    )
    async def create_api_key(
        body: ApiKeyCreate, actor: Annotated[Principal, can("api_keys:write")]
    ) -> ApiKeyCreated:
        return await keys.create(actor, body)

    @router.get("/api-keys/{key_id}", tags=["api-keys"], summary="An API key")
    async def get_api_key(
        key_id: ObjectRef, actor: Annotated[Principal, can("api_keys:read")]
    ) -> ApiKeyPublic:
        return await keys.get(actor, key_id)

    @router.delete("/api-keys/{key_id}", tags=["api-keys"], summary="Revoke an API key")
    async def revoke_api_key(
        key_id: ObjectRef, actor: Annotated[Principal, can("api_keys:write")]
    ) -> ApiKeyPublic:
        return await keys.revoke(actor, key_id)

    # numbers
    numbers = services.numbers

    @router.get("/numbers", tags=["numbers"], summary="List phone numbers")
    async def list_numbers(
        actor: Annotated[Principal, can("numbers:read")], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[NumberPublic]:
        return await numbers.list(actor, cursor=cursor, limit=limit)

    @router.post("/numbers", tags=["numbers"], status_code=201, summary="Assign a number")
    async def create_number(
        body: NumberCreate, actor: Annotated[Principal, can("numbers:write")]
    ) -> NumberPublic:
        return await numbers.create(actor, body)

    @router.get("/numbers/{number_id}", tags=["numbers"], summary="A phone number")
    async def get_number(
        number_id: ObjectRef, actor: Annotated[Principal, can("numbers:read")]
    ) -> NumberPublic:
        return await numbers.get(actor, number_id)

    @router.patch("/numbers/{number_id}", tags=["numbers"], summary="Re-route or relabel")
    async def update_number(
        number_id: ObjectRef, body: NumberUpdate, actor: Annotated[Principal, can("numbers:write")]
    ) -> NumberPublic:
        return await numbers.update(actor, number_id, body)

    @router.delete(
        "/numbers/{number_id}", tags=["numbers"], status_code=204, summary="Release a number"
    )
    async def delete_number(
        number_id: ObjectRef, actor: Annotated[Principal, can("numbers:write")]
    ) -> Response:
        await numbers.delete(actor, number_id)
        return Response(status_code=204)

    # skills
    skills = services.skills

    @router.get("/skills", tags=["skills"], summary="List skills")
    async def list_skills(
        actor: Annotated[Principal, can("skills:read")], cursor: Cursor = None, limit: Limit = 100
    ) -> Page[SkillPublic]:
        return await skills.list(actor, cursor=cursor, limit=limit)

    @router.post("/skills", tags=["skills"], status_code=201, summary="Create a skill")
    async def create_skill(
        body: SkillCreate, actor: Annotated[Principal, can("skills:write")]
    ) -> SkillPublic:
        return await skills.create(actor, body)

    @router.get("/skills/{skill_id}", tags=["skills"], summary="A skill")
    async def get_skill(
        skill_id: ObjectRef, actor: Annotated[Principal, can("skills:read")]
    ) -> SkillPublic:
        return await skills.get(actor, skill_id)

    @router.patch("/skills/{skill_id}", tags=["skills"], summary="Rename or describe a skill")
    async def update_skill(
        skill_id: ObjectRef, body: SkillUpdate, actor: Annotated[Principal, can("skills:write")]
    ) -> SkillPublic:
        return await skills.update(actor, skill_id, body)

    @router.delete("/skills/{skill_id}", tags=["skills"], status_code=204, summary="Delete a skill")
    async def delete_skill(
        skill_id: ObjectRef, actor: Annotated[Principal, can("skills:write")]
    ) -> Response:
        await skills.delete(actor, skill_id)
        return Response(status_code=204)

    # calendars
    calendars = services.calendars

    @router.get("/calendars", tags=["calendars"], summary="List business-hours calendars")
    async def list_calendars(
        actor: Annotated[Principal, can("calendars:read")],
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Page[CalendarPublic]:
        return await calendars.list(actor, cursor=cursor, limit=limit)

    @router.post("/calendars", tags=["calendars"], status_code=201, summary="Create a calendar")
    async def create_calendar(
        body: CalendarCreate, actor: Annotated[Principal, can("calendars:write")]
    ) -> CalendarPublic:
        return await calendars.create(actor, body)

    @router.get("/calendars/{calendar_id}", tags=["calendars"], summary="A calendar")
    async def get_calendar(
        calendar_id: ObjectRef, actor: Annotated[Principal, can("calendars:read")]
    ) -> CalendarPublic:
        return await calendars.get(actor, calendar_id)

    @router.patch("/calendars/{calendar_id}", tags=["calendars"], summary="Change a calendar")
    async def update_calendar(
        calendar_id: ObjectRef,
        body: CalendarUpdate,
        actor: Annotated[Principal, can("calendars:write")],
    ) -> CalendarPublic:
        return await calendars.update(actor, calendar_id, body)

    @router.delete(
        "/calendars/{calendar_id}", tags=["calendars"], status_code=204, summary="Delete it"
    )
    async def delete_calendar(
        calendar_id: ObjectRef, actor: Annotated[Principal, can("calendars:write")]
    ) -> Response:
        await calendars.delete(actor, calendar_id)
        return Response(status_code=204)

    # audit
    @router.get("/audit", tags=["audit"], summary="Who changed what, newest first")
    async def query_audit(
        actor: Annotated[Principal, can("audit:read")],
        actor_id: Annotated[str | None, Query(max_length=64, pattern=_NO_NUL)] = None,
        action: Annotated[
            str | None, Query(max_length=64, pattern=_NO_NUL, examples=["user.create"])
        ] = None,
        resource_type: Annotated[str | None, Query(max_length=32, pattern=_NO_NUL)] = None,
        resource_id: Annotated[str | None, Query(max_length=64, pattern=_NO_NUL)] = None,
        since: Annotated[datetime | None, Query(description="inclusive")] = None,
        until: Annotated[datetime | None, Query(description="exclusive")] = None,
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Page[AuditEntryPublic]:
        query = AuditQuery(
            actor_id=actor_id,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            since=_aware(since, "since"),
            until=_aware(until, "until"),
            limit=limit,
        )
        return await services.audit.query(actor, query, cursor=cursor)

    return router


def _aware(value: datetime | None, field: str) -> datetime | None:
    from switchboard_common.errors import ValidationFailed

    if value is not None and value.tzinfo is None:
        raise ValidationFailed(
            f"{field} needs a time zone (e.g. Z)", field=field, error_id="naive-datetime"
        )
    return value


def auth_router(services: AdminServices) -> APIRouter:
    router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)

    @router.post("/login", summary="Log a person in: a short-lived JWT")
    async def login(body: LoginRequest, request: Request) -> TokenResponse:
        address = request.client.host if request.client is not None else "unknown"
        return await services.auth.login(body, address)

    @router.get("/me", summary="The caller as the platform sees it")
    async def me(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return principal

    return router


def internal_router(services: AdminServices, internal_secret: SecretStr) -> APIRouter:
    router = APIRouter(prefix="/v1/internal", tags=["internal"], responses=ERROR_RESPONSES)

    async def internal_caller(
        secret: Annotated[str | None, Header(alias=INTERNAL_SECRET_HEADER)] = None,
    ) -> None:
        if not internal_secret_matches(secret, internal_secret):
            raise Unauthenticated("internal secret required", details={"reason": "internal"})

    @router.post(
        "/api-keys/verify",
        summary="Other services: is this API key valid, and for whom? (404 when not)",
        dependencies=[Depends(internal_caller)],
    )
    async def verify_api_key(body: ApiKeyVerifyRequest) -> Principal:
        principal = await services.api_keys.verify(body.key)
        if principal is None:
            raise NotFound("no valid API key matches", error_id="no-such-api-key")
        return principal

    return router
