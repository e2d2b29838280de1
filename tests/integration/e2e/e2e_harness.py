"""The end-to-end harness: the running stack (simulator, switch, routing, broker) and the
moves of the services left out of it: admin (tenant, users, skills), cti (agent states) and
ivr (`queue.call_enqueued`)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from switchboard_common.auth import issue_access_token
from switchboard_common.bus import EventPublisher
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.agents import AgentSkill, AgentState, AgentStateChanged
from switchboard_common.events.config import SkillChanged
from switchboard_common.events.queues import CallEnqueued
from switchboard_common.runtime import ServiceRuntime
from switchboard_common.testing.kafka import EventCollector
from switchboard_routing.main import RoutingApp
from switchboard_simulator.config import AgentEndpoint
from switchboard_simulator.simulator import Simulator
from tests.integration.stack_support import (
    Tenant,
    agent_phone,
    call_events,
    eventually,
    new_tenant,
    onboard,
    publish_as,
    wait_call_events,
)

SECRET = "e2e-test-secret-0123456789-abcdefghij"
SOURCE = "tests/e2e"
ARRIVED = "switchboard.call.arrived.v1"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Harness:
    """The running stack and the moves of the services left out (admin, cti, ivr)."""

    sim: Simulator
    switch: ServiceRuntime
    node_id: str
    routing: RoutingApp
    publisher: EventPublisher
    collector: EventCollector

    async def publish(self, tenant: Tenant, payload: EventPayload, subject: str) -> None:
        await publish_as(self.publisher, SOURCE, tenant, payload, subject)

    # ------------------------------------------------------------------ admin

    async def new_tenant(self, agents: dict[str, AgentEndpoint | str]) -> Tenant:
        """A tenant with agents (agent id -> simulator endpoint or its outcome): admin's
        tenant and user events published, the endpoints registered in the simulator."""
        tenant = new_tenant("e", Tenant)
        phones = {
            agent_id: (
                agent_phone(tenant, str(2001 + index), outcome=behaviour, handle_time_mean_s=600)
                if isinstance(behaviour, str)
                else behaviour
            )
            for index, (agent_id, behaviour) in enumerate(agents.items())
        }
        await onboard(self.sim, self.publish, tenant, phones)
        await self._until_directory_stored(tenant)
        return tenant

    async def _until_directory_stored(self, tenant: Tenant, timeout_s: float = 20.0) -> None:
        """Wait until routing has stored admin's events of the tenant, so that a test's
        first call finds the agents' extensions."""
        step = 0.05
        for _ in range(int(timeout_s / step)):
            stored = (await self.routing.store.load_tenant(tenant.tenant_id)).directory
            if stored.sip_domain == tenant.domain and stored.extensions == tenant.extensions:
                return
            await asyncio.sleep(step)
        raise TimeoutError(f"routing did not store the directory of {tenant.tenant_id}")

    async def add_skill(self, tenant: Tenant, name: str) -> None:
        skill = SkillChanged(skill_id=uuid.uuid4().hex[:8], name=name, change="created")
        await self.publish(tenant, skill, skill.skill_id)

    def http(self, tenant: Tenant) -> httpx.AsyncClient:
        access = issue_access_token(
            SECRET,
            kind="user",
            subject="e2e",
            tenant_id=tenant.tenant_id,
            permissions=("queues:read", "queues:write"),
        ).token
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.routing.app),
            base_url="http://routing.test",
            headers={"Authorization": f"Bearer {access}"},
        )

    async def create_queue(self, tenant: Tenant, config: dict[str, Any]) -> None:
        """Create a queue through the REST API; retried while a skill it names is not yet
        known (admin's skill event still on its way)."""
        async with self.http(tenant) as client:
            for _ in range(100):
                response = await client.post("/v1/queues", json=config)
                if response.status_code == 201:
                    return
                if response.status_code != 422:
                    break
                await asyncio.sleep(0.1)
        raise AssertionError(f"queue not created: {response.status_code} {response.text}")

    # ------------------------------------------------------------------ cti

    async def agent_state(
        self,
        tenant: Tenant,
        agent_id: str,
        queues: Sequence[str],
        *,
        state: AgentState = AgentState.AVAILABLE,
        idle_s: float = 0.0,
        skills: dict[str, int] | None = None,
        talk_s: float = 0.0,
    ) -> None:
        """Publish cti's `agent.state_changed` and wait until routing applied it and knows
        the agent's endpoint (admin's events). `idle_s` dates the change in the past
        (longest idle); `talk_s` reports a finished call."""
        changed = AgentStateChanged(
            agent_id=agent_id,
            state=state,
            previous_state=AgentState.ON_CALL if talk_s else None,
            duration_in_previous_state_s=talk_s,
            skills=[AgentSkill(name=n, proficiency=p) for n, p in (skills or {}).items()],
            queues=list(queues),
            changed_at=now() - timedelta(seconds=idle_s),
        )
        await self.publish(tenant, changed, agent_id)

        def applied() -> bool:
            found = self.routing.routing.tenant(tenant.tenant_id)
            return (
                found is not None
                and found.engine.agent_state(agent_id) is state
                and found.directory.sip_domain == tenant.domain
                and found.directory.extensions.get(agent_id) == tenant.extensions[agent_id]
            )

        try:
            await self.eventually(applied)
        except TimeoutError:
            found = self.routing.routing.tenant(tenant.tenant_id)
            seen = (
                None
                if found is None
                else (
                    found.engine.agent_state(agent_id),
                    found.directory.sip_domain,
                    dict(found.directory.extensions),
                )
            )
            raise AssertionError(
                f"routing did not apply {agent_id} {state} (state, domain, extensions): {seen}"
            ) from None

    # ------------------------------------------------------------------ calls (ivr)

    async def enqueue_call(
        self,
        tenant: Tenant,
        queue_id: str,
        *,
        preferred_agent_id: str | None = None,
    ) -> str:
        """A caller dials the tenant's number (switch: `call.arrived`); ivr puts the call in
        `queue_id`. Returns the caller's call id."""
        call_id = self.sim.place_call(tenant.number, f"+1444{random.randrange(10**6, 10**7)}")
        await self.wait_event(call_id, ARRIVED)
        enqueued = CallEnqueued(
            call_id=call_id,
            queue_id=queue_id,
            node_id=self.node_id,
            caller_number="+14440000000",
            preferred_agent_id=preferred_agent_id,
            enqueued_at=now(),
        )
        await self.publish(tenant, enqueued, call_id)
        return call_id

    # ------------------------------------------------------------------ observing

    def events(self, call_id: str, event_type: str) -> list[Envelope]:
        return call_events(self.collector, call_id, event_type)

    async def wait_event(
        self, call_id: str, event_type: str, count: int = 1, timeout_s: float = 20.0
    ) -> list[Envelope]:
        """The events of `event_type` about `call_id`, once at least `count` arrived."""
        return await wait_call_events(self.collector, call_id, event_type, count, timeout_s)

    def leg_endpoint(self, leg_id: str) -> str:
        """The simulator's name of a channel (the agent leg's names its endpoint)."""
        channel = self.sim.world.channels.get(leg_id)
        assert channel is not None, f"no channel {leg_id} in the simulator"
        return str(channel.name)

    eventually = staticmethod(eventually)
