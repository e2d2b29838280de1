"""The only place the admin service publishes events: config events on
`switchboard.config.v1`, written to the outbox in the caller's transaction (so an event
exists exactly when its change was committed) and relayed to Kafka afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_admin.schemas import (
    CalendarPublic,
    NumberPublic,
    SkillPublic,
    TenantPublic,
    UserPublic,
)
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.config import (
    CalendarChanged,
    ChangeKind,
    NumberAssigned,
    NumberReleased,
    SkillChanged,
    TenantCreated,
    TenantDeleted,
    TenantQuotas,
    TenantResumed,
    TenantSuspended,
    TenantUpdated,
    UserCreated,
    UserDeleted,
    UserUpdated,
)

SOURCE = "switchboard/admin"


class EventSink(Protocol):
    """Where envelopes go inside a transaction (`switchboard_common.outbox.Outbox`)."""

    async def add(self, session: AsyncSession, envelope: Envelope) -> None: ...


class ConfigNotifier:
    def __init__(self, sink: EventSink, *, source: str = SOURCE) -> None:
        self._sink = sink
        self._source = source

    async def _publish(
        self, session: AsyncSession, tenant_id: str, payload: EventPayload, subject: str
    ) -> None:
        envelope = Envelope.wrap(payload, source=self._source, tenant=tenant_id, subject=subject)
        await self._sink.add(session, envelope)

    async def tenant_created(self, session: AsyncSession, tenant: TenantPublic) -> None:
        await self._publish(session, tenant.id, TenantCreated(**_tenant_fields(tenant)), tenant.id)

    async def tenant_updated(self, session: AsyncSession, tenant: TenantPublic) -> None:
        await self._publish(session, tenant.id, TenantUpdated(**_tenant_fields(tenant)), tenant.id)

    async def tenant_suspended(self, session: AsyncSession, tenant_id: str, at: datetime) -> None:
        payload = TenantSuspended(tenant_id=tenant_id, suspended_at=at)
        await self._publish(session, tenant_id, payload, tenant_id)

    async def tenant_resumed(self, session: AsyncSession, tenant_id: str, at: datetime) -> None:
        payload = TenantResumed(tenant_id=tenant_id, resumed_at=at)
        await self._publish(session, tenant_id, payload, tenant_id)

    async def tenant_deleted(self, session: AsyncSession, tenant_id: str, at: datetime) -> None:
        payload = TenantDeleted(tenant_id=tenant_id, deleted_at=at)
        await self._publish(session, tenant_id, payload, tenant_id)

    async def user_saved(
        self, session: AsyncSession, tenant_id: str, user: UserPublic, *, created: bool
    ) -> None:
        fields = {
            "user_id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "email": user.email,
            "roles": tuple(user.roles),
            "permissions": tuple(user.permissions),
            "is_agent": user.is_agent,
            "extension": user.extension,
            "skills": dict(user.skills),
            "enabled": user.enabled,
        }
        payload: EventPayload = UserCreated(**fields) if created else UserUpdated(**fields)
        await self._publish(session, tenant_id, payload, user.id)

    async def user_deleted(self, session: AsyncSession, tenant_id: str, user: UserPublic) -> None:
        payload = UserDeleted(user_id=user.id, username=user.username)
        await self._publish(session, tenant_id, payload, user.id)

    async def number_assigned(
        self, session: AsyncSession, tenant_id: str, number: NumberPublic
    ) -> None:
        payload = NumberAssigned(
            number_id=number.id,
            number=number.number,
            target_kind=number.target_kind,
            target_id=number.target_id,
            label=number.label,
        )
        await self._publish(session, tenant_id, payload, number.id)

    async def number_released(
        self, session: AsyncSession, tenant_id: str, number: NumberPublic
    ) -> None:
        payload = NumberReleased(number_id=number.id, number=number.number)
        await self._publish(session, tenant_id, payload, number.id)

    async def skill_changed(
        self, session: AsyncSession, tenant_id: str, skill: SkillPublic, change: ChangeKind
    ) -> None:
        payload = SkillChanged(
            skill_id=skill.id, name=skill.name, description=skill.description, change=change
        )
        await self._publish(session, tenant_id, payload, skill.id)

    async def calendar_changed(
        self, session: AsyncSession, tenant_id: str, calendar: CalendarPublic, change: ChangeKind
    ) -> None:
        definition = (
            {}
            if change == "deleted"
            else calendar.model_dump(mode="json", include={"timezone", "weekly", "holidays"})
        )
        payload = CalendarChanged(
            calendar_id=calendar.id, name=calendar.name, change=change, calendar=definition
        )
        await self._publish(session, tenant_id, payload, calendar.id)


def _tenant_fields(tenant: TenantPublic) -> dict[str, object]:
    return {
        "tenant_id": tenant.id,
        "slug": tenant.slug,
        "name": tenant.name,
        "sip_domain": tenant.sip_domain,
        "timezone": tenant.timezone,
        "status": tenant.status,
        "quotas": TenantQuotas(**tenant.quotas.model_dump()),
    }
