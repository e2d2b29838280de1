"""Request and response models of the admin REST API (`<Thing>Create`, `<Thing>Update`,
`<Thing>Public`). Every string is bounded, so oversized input is a 422 naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from switchboard_common.business_hours import Holiday, OpeningInterval, Weekday

T = TypeVar("T")

Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=500)]
Username = Annotated[
    str,
    Field(
        min_length=2,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9._@-]*$",
        description="lower case letters, digits and . _ @ -",
    ),
]
Password = Annotated[str, Field(min_length=1, max_length=256)]
RoleName = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]
SkillName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
]
Permission = Annotated[str, Field(min_length=3, max_length=64, description="<resource>:<action>")]
Extension = Annotated[
    str,
    Field(
        min_length=2,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="SIP user id in the tenant's domain (e.g. 1001)",
    ),
]
ObjectId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
TargetKind = Literal["ivr_flow", "queue"]
TenantStatus = Literal["active", "suspended"]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    if isinstance(value, BaseModel):
        return any(_has_nul(item) for item in value.__dict__.values())
    return False


class _Strict(BaseModel):
    """Request bodies: unknown fields and NUL characters (which PostgreSQL text cannot
    hold) are refused with a 422 naming the field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )


# -- tenants (operator API) --------------------------------------------------------------------


class Quotas(_Strict):
    max_concurrent_calls: int = Field(default=10, ge=0, le=100_000)
    max_agents: int = Field(default=10, ge=0, le=100_000)
    max_queues: int = Field(default=20, ge=0, le=10_000)
    recording_retention_days: int = Field(default=90, ge=0, le=3_650)


class QuotasUpdate(_Strict):
    max_concurrent_calls: int | None = Field(default=None, ge=0, le=100_000)
    max_agents: int | None = Field(default=None, ge=0, le=100_000)
    max_queues: int | None = Field(default=None, ge=0, le=10_000)
    recording_retention_days: int | None = Field(default=None, ge=0, le=3_650)


class TenantAdminCreate(_Strict):
    username: Username
    password: Password
    display_name: Annotated[str, Field(max_length=200)] = ""
    email: Annotated[str, Field(max_length=254)] | None = None


class TenantCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "slug": "acme",
                    "name": "Acme Corp",
                    "timezone": "Europe/Paris",
                    "admin": {"username": "boss", "password": "Correct-Horse-9"},
                }
            ]
        },
    )

    slug: Annotated[str, Field(min_length=1, max_length=64)]
    name: Name
    sip_domain: Annotated[str, Field(min_length=1, max_length=253)] | None = Field(
        default=None, description="default: <slug>.<ADMIN_SIP_DOMAIN_SUFFIX>"
    )
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    quotas: Quotas = Field(default_factory=Quotas)
    admin: TenantAdminCreate | None = Field(
        default=None, description="first tenant admin (role tenant-admin)"
    )
    create_api_key: bool = Field(
        default=True, description="also create a tenant-admin API key (its secret shown once)"
    )


class TenantUpdate(_Strict):
    name: Name | None = None
    sip_domain: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    quotas: QuotasUpdate | None = None


class TenantPublic(BaseModel):
    id: str
    slug: str
    name: str
    sip_domain: str
    timezone: str
    status: TenantStatus
    quotas: Quotas
    created_at: datetime
    updated_at: datetime
    suspended_at: datetime | None = None


# -- users, roles, keys ------------------------------------------------------------------------


class UserCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "alice",
                    "password": "Correct-Horse-9",
                    "roles": ["agent"],
                    "extension": "1001",
                    "sip_password": "s1p-Secret",
                }
            ]
        },
    )

    username: Username
    password: Password
    display_name: Annotated[str, Field(max_length=200)] = ""
    email: Annotated[str, Field(max_length=254)] | None = None
    roles: list[RoleName] = Field(default_factory=lambda: ["agent"], max_length=20)
    extension: Extension | None = None
    sip_password: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="SIP digest password (kept only as its a1-hash)"
    )
    skills: dict[ObjectId, Annotated[int, Field(ge=1, le=10)]] = Field(
        default_factory=dict, max_length=100, description="skill id -> proficiency 1-10"
    )
    enabled: bool = True


class UserUpdate(_Strict):
    password: Password | None = None
    display_name: Annotated[str, Field(max_length=200)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    roles: list[RoleName] | None = Field(default=None, max_length=20)
    extension: Extension | None = None
    sip_password: Annotated[str, Field(max_length=128)] | None = None
    skills: dict[ObjectId, Annotated[int, Field(ge=1, le=10)]] | None = Field(
        default=None, max_length=100
    )
    enabled: bool | None = None


class UserPublic(BaseModel):
    id: str
    username: str
    display_name: str
    email: str | None
    roles: list[str]
    permissions: list[str]
    is_agent: bool
    extension: str | None
    has_sip_credentials: bool
    skills: dict[str, int]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class RoleCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "team-lead", "permissions": ["agents:read", "reports:read"]}]
        },
    )

    name: RoleName
    description: Description = ""
    permissions: list[Permission] = Field(max_length=200)


class RoleUpdate(_Strict):
    description: Description | None = None
    permissions: list[Permission] | None = Field(default=None, max_length=200)


class RolePublic(BaseModel):
    id: str
    name: str
    description: str
    permissions: list[str]
    builtin: bool
    created_at: datetime
    updated_at: datetime


class PermissionPublic(BaseModel):
    name: str
    description: str


class ApiKeyCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "crm integration", "permissions": ["customers:read", "tickets:write"]}
            ]
        },
    )

    name: Name
    permissions: list[Permission] = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    permissions: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the secret: shown only in this answer, store it now")


class TenantProvisioned(BaseModel):
    tenant: TenantPublic
    admin_user: UserPublic | None = None
    api_key: ApiKeyCreated | None = None


# -- numbers, skills, calendars ----------------------------------------------------------------


class NumberCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"number": "+33 1 23 45 67 89", "target_kind": "queue", "target_id": "sales"}
            ]
        },
    )

    number: Annotated[str, Field(min_length=1, max_length=40, description="E.164, e.g. +3312..")]
    label: Annotated[str, Field(max_length=200)] = ""
    target_kind: TargetKind
    target_id: ObjectId


class NumberUpdate(_Strict):
    label: Annotated[str, Field(max_length=200)] | None = None
    target_kind: TargetKind | None = None
    target_id: ObjectId | None = None

    @model_validator(mode="after")
    def _target_together(self) -> NumberUpdate:
        if (self.target_kind is None) != (self.target_id is None):
            raise ValueError("target_kind and target_id change together")
        return self


class NumberPublic(BaseModel):
    id: str
    number: str
    label: str
    target_kind: TargetKind
    target_id: str
    created_at: datetime
    updated_at: datetime


class SkillCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "french", "description": "speaks French"}]},
    )

    name: SkillName
    description: Description = ""


class SkillUpdate(_Strict):
    name: SkillName | None = None
    description: Description | None = None


class SkillPublic(BaseModel):
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime


class CalendarBody(_Strict):
    timezone: Annotated[str, Field(min_length=1, max_length=64, description="IANA time zone")]
    weekly: dict[Weekday, list[OpeningInterval]] = Field(default_factory=dict)
    holidays: list[Holiday] = Field(default_factory=list, max_length=1000)


class CalendarCreate(CalendarBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "office",
                    "timezone": "Europe/Paris",
                    "weekly": {"mon": ["09:00-17:00"]},
                    "holidays": [{"first_day": "2026-12-25", "name": "Christmas"}],
                }
            ]
        },
    )

    name: Annotated[str, Field(min_length=1, max_length=100)]


class CalendarUpdate(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    timezone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    weekly: dict[Weekday, list[OpeningInterval]] | None = None
    holidays: list[Holiday] | None = Field(default=None, max_length=1000)


class CalendarPublic(CalendarBody):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: str
    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# -- authentication ----------------------------------------------------------------------------


class LoginRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"tenant": "acme", "username": "alice", "password": "Correct-Horse-9"}]
        },
    )

    tenant: Annotated[str, Field(min_length=1, max_length=64, description="tenant slug or id")]
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Password


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    expires_in: int
    tenant_id: str
    user_id: str
    roles: list[str]
    permissions: list[str]


class ApiKeyVerifyRequest(_Strict):
    key: Annotated[str, Field(min_length=1, max_length=512)]
