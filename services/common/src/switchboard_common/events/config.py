"""Configuration events published by the admin service on `switchboard.config.v1`.

Other services keep what they need of the tenant's configuration (status, quotas, agents,
numbers, skills, calendars) up to date from these events instead of reading admin's tables.
Subjects: the tenant id for tenant events, else the id of the object that changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.events import topics
from switchboard_common.events.envelope import EventPayload, register

TenantStatus = Literal["active", "suspended"]
ChangeKind = Literal["created", "updated", "deleted"]
NumberTargetKind = Literal["ivr_flow", "queue"]


class TenantQuotas(BaseModel):
    """Limits of one tenant; 0 means the tenant may have none of that resource."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrent_calls: int = Field(ge=0, description="calls in progress at once")
    max_agents: int = Field(ge=0, description="users holding the agent role")
    max_queues: int = Field(ge=0, description="routing queues")
    recording_retention_days: int = Field(ge=0, description="days recordings are kept")


class _ConfigEvent(EventPayload):
    TOPIC = topics.CONFIG


class _TenantSnapshot(_ConfigEvent):
    tenant_id: str
    slug: str
    name: str
    sip_domain: str
    timezone: str = Field(description="IANA time zone")
    status: TenantStatus
    quotas: TenantQuotas


@register
class TenantCreated(_TenantSnapshot):
    EVENT_TYPE = "switchboard.tenant.created.v1"
    DESCRIPTION = "A tenant was onboarded (default roles, first admin and its SIP domain)."


@register
class TenantUpdated(_TenantSnapshot):
    EVENT_TYPE = "switchboard.tenant.updated.v1"
    DESCRIPTION = "A tenant's name, SIP domain, time zone or quotas changed (full snapshot)."


@register
class TenantSuspended(_ConfigEvent):
    EVENT_TYPE = "switchboard.tenant.suspended.v1"
    DESCRIPTION = "A tenant was suspended: new calls are rejected, its data is kept."

    tenant_id: str
    suspended_at: datetime


@register
class TenantResumed(_ConfigEvent):
    EVENT_TYPE = "switchboard.tenant.resumed.v1"
    DESCRIPTION = "A suspended tenant was resumed."

    tenant_id: str
    resumed_at: datetime


@register
class TenantDeleted(_ConfigEvent):
    EVENT_TYPE = "switchboard.tenant.deleted.v1"
    DESCRIPTION = "A tenant and all its configuration were deleted; drop anything cached."

    tenant_id: str
    deleted_at: datetime


class _UserSnapshot(_ConfigEvent):
    user_id: str
    username: str
    display_name: str
    email: str | None = None
    roles: tuple[str, ...] = Field(description="role names")
    permissions: tuple[str, ...] = Field(description="union of the roles' permissions")
    is_agent: bool = Field(description="holds the agent role (counts against max_agents)")
    extension: str | None = Field(default=None, description="SIP user id in the tenant domain")
    skills: dict[str, int] = Field(
        default_factory=dict, description="skill id -> proficiency (1-10)"
    )
    enabled: bool = True


@register
class UserCreated(_UserSnapshot):
    EVENT_TYPE = "switchboard.user.created.v1"
    DESCRIPTION = "A user (agent, supervisor, tenant admin) was created."


@register
class UserUpdated(_UserSnapshot):
    EVENT_TYPE = "switchboard.user.updated.v1"
    DESCRIPTION = "A user changed (roles, skills, extension, enabled...): full snapshot."


@register
class UserDeleted(_ConfigEvent):
    EVENT_TYPE = "switchboard.user.deleted.v1"
    DESCRIPTION = "A user was deleted."

    user_id: str
    username: str


@register
class NumberAssigned(_ConfigEvent):
    EVENT_TYPE = "switchboard.number.assigned.v1"
    DESCRIPTION = "A phone number now routes to a tenant's IVR flow or queue (new or changed)."

    number_id: str
    number: str = Field(description="E.164")
    target_kind: NumberTargetKind
    target_id: str
    label: str = ""


@register
class NumberReleased(_ConfigEvent):
    EVENT_TYPE = "switchboard.number.released.v1"
    DESCRIPTION = "A phone number no longer belongs to the tenant."

    number_id: str
    number: str = Field(description="E.164")


@register
class SkillChanged(_ConfigEvent):
    EVENT_TYPE = "switchboard.skill.changed.v1"
    DESCRIPTION = "A skill was created, renamed or deleted."

    skill_id: str
    name: str
    description: str = ""
    change: ChangeKind


@register
class CalendarChanged(_ConfigEvent):
    EVENT_TYPE = "switchboard.calendar.changed.v1"
    DESCRIPTION = (
        "A business-hours calendar was created, changed or deleted; `calendar` is the "
        "BusinessCalendar JSON (timezone, weekly, holidays), empty when deleted."
    )

    calendar_id: str
    name: str
    change: ChangeKind
    calendar: dict[str, Any] = Field(default_factory=dict)
