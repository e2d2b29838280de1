"""Kafka handlers of the cti service: decode the event, call the service.

- `LiveEventsHandler` (topics queues, calls, ivr): what happens to calls — the screen pop
  context, offers, answers, holds, hang-ups, missed offers;
- `ConfigEventsHandler` (topic config): tenants, agent users and queues.

Events of other types are skipped without decoding their data.
"""

from __future__ import annotations

from switchboard_common.events import Envelope, ivr
from switchboard_common.events import calls as c
from switchboard_common.events import config as cfg
from switchboard_common.events import queues as q
from switchboard_cti.directory import Directory
from switchboard_cti.services import AgentsService, ScreenPop

LIVE_TYPES = frozenset(
    cls.EVENT_TYPE
    for cls in (
        q.CallEnqueued,
        q.CallOffered,
        q.QueueCallAnswered,
        q.CallOfferFailed,
        q.CallAbandoned,
        c.CallArrived,
        c.CallBridged,
        c.CallHeld,
        c.CallResumed,
        c.CallDtmf,
        c.CallRecordingStarted,
        c.CallRecordingStopped,
        c.CallEnded,
        ivr.IvrStarted,
        ivr.IvrNodeEntered,
    )
)
CONFIG_TYPES = frozenset(
    cls.EVENT_TYPE
    for cls in (
        cfg.TenantCreated,
        cfg.TenantUpdated,
        cfg.TenantDeleted,
        cfg.UserCreated,
        cfg.UserUpdated,
        cfg.UserDeleted,
        cfg.SkillChanged,
        q.QueueConfigChanged,
        q.QueueDeleted,
    )
)
SKILL_SCALE = 10
"""admin rates skills 1-10; the agent profile (and routing) 1-100."""


class LiveEventsHandler:
    def __init__(self, agents: AgentsService, pop: ScreenPop) -> None:
        self._agents = agents
        self._pop = pop

    async def __call__(self, envelope: Envelope) -> None:
        if envelope.type not in LIVE_TYPES:
            return
        payload = envelope.payload()
        tenant = envelope.tenant
        agents, pop = self._agents, self._pop
        if isinstance(payload, q.CallOffered):
            await pop.offered(tenant, payload)
        elif isinstance(payload, q.CallEnqueued):
            pop.call_enqueued(tenant, payload)
        elif isinstance(payload, q.QueueCallAnswered):
            await agents.answered(tenant, payload.agent_id, payload.call_id)
        elif isinstance(payload, q.CallOfferFailed):
            await agents.offer_failed(tenant, payload)
        elif isinstance(payload, q.CallAbandoned):
            if payload.while_ringing:
                await agents.leg_ended(tenant, payload.call_id)
        elif isinstance(payload, c.CallArrived):
            pop.call_arrived(tenant, payload)
        elif isinstance(payload, c.CallBridged):
            await agents.bridged(tenant, payload.call_id, payload.other_call_id)
        elif isinstance(payload, c.CallHeld | c.CallResumed):
            await agents.held(tenant, payload.call_id, isinstance(payload, c.CallHeld))
        elif isinstance(payload, c.CallDtmf):
            pop.dtmf(tenant, payload)
        elif isinstance(payload, c.CallRecordingStarted | c.CallRecordingStopped):
            await agents.recording_seen(
                tenant, payload.call_id, isinstance(payload, c.CallRecordingStarted)
            )
        elif isinstance(payload, c.CallEnded):
            await agents.leg_ended(tenant, payload.call_id)
            pop.call_ended(tenant, payload.call_id)
        elif isinstance(payload, ivr.IvrStarted):
            pop.ivr_started(tenant, payload)
        elif isinstance(payload, ivr.IvrNodeEntered):
            pop.ivr_node(tenant, payload)


class ConfigEventsHandler:
    def __init__(self, agents: AgentsService, directory: Directory) -> None:
        self._agents = agents
        self._directory = directory

    async def __call__(self, envelope: Envelope) -> None:
        if envelope.type not in CONFIG_TYPES:
            return
        payload = envelope.payload()
        tenant = envelope.tenant
        if isinstance(payload, cfg.TenantCreated | cfg.TenantUpdated):
            await self._directory.tenant_seen(payload.tenant_id, payload.slug, payload.sip_domain)
        elif isinstance(payload, cfg.TenantDeleted):
            for record in self._agents.agents(payload.tenant_id):
                await self._agents.forget(payload.tenant_id, record.agent_id)
            await self._directory.tenant_deleted(payload.tenant_id)
        elif isinstance(payload, cfg.UserCreated | cfg.UserUpdated):
            if payload.is_agent and payload.enabled:
                await self._agents.update_profile(
                    tenant,
                    payload.user_id,
                    display_name=payload.display_name,
                    extension=payload.extension,
                    skills=[
                        (
                            self._directory.skill_name(tenant, skill_id),
                            min(100, max(1, level * SKILL_SCALE)),
                        )
                        for skill_id, level in payload.skills.items()
                    ],
                )
            else:
                await self._agents.forget(tenant, payload.user_id)
        elif isinstance(payload, cfg.UserDeleted):
            await self._agents.forget(tenant, payload.user_id)
        elif isinstance(payload, cfg.SkillChanged):
            self._directory.skill_changed(
                tenant, payload.skill_id, payload.name, deleted=payload.change == "deleted"
            )
        elif isinstance(payload, q.QueueConfigChanged):
            await self._directory.queue_changed(
                tenant, payload.queue_id, payload.version, payload.config
            )
        elif isinstance(payload, q.QueueDeleted):
            await self._directory.queue_deleted(tenant, payload.queue_id)
