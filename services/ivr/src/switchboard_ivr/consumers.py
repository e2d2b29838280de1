"""Kafka handlers of the ivr service: decode the event, call the service.

- `CallEventsHandler` (topics calls and queues): call.arrived starts a run; call.ended,
  call.unbridged, call.dtmf and queue.call_answered reach the run of that call;
  queue.call_overflowed sends a call ivr handed over to its overflow target.
- `ConfigEventsHandler` (topic config): admin's numbers, calendars and tenants.

Events of other types on those topics are skipped without decoding their data.
"""

from __future__ import annotations

from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallArrived, CallDtmf, CallEnded, CallUnbridged
from switchboard_common.events.config import (
    CalendarChanged,
    NumberAssigned,
    NumberReleased,
    TenantCreated,
    TenantDeleted,
    TenantResumed,
    TenantSuspended,
    TenantUpdated,
)
from switchboard_common.events.queues import CallOverflowed, QueueCallAnswered
from switchboard_ivr.services import CallsService, ConfigService

CALL_EVENT_TYPES = frozenset(
    cls.EVENT_TYPE
    for cls in (
        CallArrived,
        CallEnded,
        CallUnbridged,
        CallDtmf,
        QueueCallAnswered,
        CallOverflowed,
    )
)
CONFIG_EVENT_TYPES = frozenset(
    cls.EVENT_TYPE
    for cls in (
        NumberAssigned,
        NumberReleased,
        CalendarChanged,
        TenantCreated,
        TenantUpdated,
        TenantSuspended,
        TenantResumed,
        TenantDeleted,
    )
)


class CallEventsHandler:
    def __init__(self, calls: CallsService) -> None:
        self._calls = calls

    async def __call__(self, envelope: Envelope) -> None:
        if envelope.type not in CALL_EVENT_TYPES:
            return
        payload = envelope.payload()
        tenant = envelope.tenant
        if isinstance(payload, CallArrived):
            await self._calls.call_arrived(tenant, payload)
        elif isinstance(payload, CallEnded):
            self._calls.call_ended(tenant, payload)
        elif isinstance(payload, CallUnbridged):
            self._calls.call_unbridged(tenant, payload)
        elif isinstance(payload, CallDtmf):
            self._calls.dtmf(tenant, payload)
        elif isinstance(payload, QueueCallAnswered):
            self._calls.queue_call_answered(tenant, payload)
        elif isinstance(payload, CallOverflowed):
            await self._calls.call_overflowed(tenant, envelope.id, payload)


class ConfigEventsHandler:
    def __init__(self, config: ConfigService) -> None:
        self._config = config

    async def __call__(self, envelope: Envelope) -> None:
        if envelope.type in CONFIG_EVENT_TYPES:
            await self._config.apply(envelope.tenant, envelope.payload())
