"""The only place the cti service publishes events, through the outbox, in the transaction
that records the change (so a committed change is never without its event).

- `AgentStateChanged` on `switchboard.agents.v1` for every state change (routing's input);
- `AgentWrapUpCompleted` when an agent files a call's disposition (tickets' contact history);
- `CallEnqueued` when an agent transfers a caller to a queue (routing takes it from there).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.agents import AgentStateChanged, AgentWrapUpCompleted
from switchboard_common.events.queues import CallEnqueued
from switchboard_common.outbox import Outbox

SOURCE = "switchboard/cti"


class AgentNotifier:
    def __init__(self, outbox: Outbox, *, source: str = SOURCE) -> None:
        self._outbox = outbox
        self._source = source

    async def _add(
        self, connection: AsyncConnection, tenant_id: str, payload: EventPayload, subject: str
    ) -> Envelope:
        envelope = Envelope.wrap(payload, source=self._source, tenant=tenant_id, subject=subject)
        await self._outbox.add(connection, envelope)
        return envelope

    async def state_changed(
        self, connection: AsyncConnection, tenant_id: str, payload: AgentStateChanged
    ) -> Envelope:
        return await self._add(connection, tenant_id, payload, payload.agent_id)

    async def wrap_up_completed(
        self, connection: AsyncConnection, tenant_id: str, payload: AgentWrapUpCompleted
    ) -> Envelope:
        return await self._add(connection, tenant_id, payload, payload.agent_id)

    async def call_requeued(
        self, connection: AsyncConnection, tenant_id: str, payload: CallEnqueued
    ) -> Envelope:
        return await self._add(connection, tenant_id, payload, payload.call_id)
