"""The CTI end-to-end harness: the FreeSWITCH simulator, the switch service (gRPC
CallControl), the cti service wired by its composition root with the switch's real
CallControl, the embedded broker, and the moves of the services left out of the stack:
admin (tenant and agent users), ivr (`queue.call_enqueued`) and routing (`queue.call_offered`
followed by the switch's `Bridge` to the agent's endpoint, with routing's variables).

Agents log in over the desktop WebSocket (`/v1/agents/ws`) with admin-style JWTs.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.auth import issue_access_token
from switchboard_common.bus import EventPublisher
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.agents import AgentStateChanged, AgentWrapUpCompleted
from switchboard_common.events.calls import CallArrived
from switchboard_common.events.queues import CallEnqueued, CallOffered, QueueConfigChanged
from switchboard_common.testing.kafka import EventCollector
from switchboard_cti.main import CtiApp
from switchboard_cti.services import AgentRecord
from switchboard_cti.settings import CtiSettings
from switchboard_simulator.simulator import Simulator
from tests.integration.cti.harness import (
    AGENT_PERMISSIONS,
    SUPERVISOR_PERMISSIONS,
    Desktop,
    connect,
)
from tests.integration.stack_support import (
    Tenant,
    agent_phone,
    call_events,
    new_tenant,
    onboard,
    wait_call_events,
)

SECRET = "e2e-cti-test-secret-0123456789-abcdefghij"
SOURCE = "tests/e2e_cti"
WAIT_S = 20.0
"""Bound of every wait (the machine is small and shared)."""
QUEUE = "q-support"
DESKTOP_LOST_GRACE_S = 1.5
"""How long cti keeps an available agent without a desktop available (short, for the test of
a desktop that vanishes)."""
_extensions = itertools.count(random.randrange(10, 80) * 100)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Delivered:
    """A call connected to an agent: the customer's leg and the agent's leg."""

    call_id: str
    agent_leg: str


@dataclass
class CtiStack:
    """The running stack and the moves of the services left out of it."""

    sim: Simulator
    node_id: str
    switch_grpc: str
    cti: CtiApp
    cti_settings: CtiSettings
    publisher: EventPublisher
    collector: EventCollector
    channel: grpc.aio.Channel
    _tenants: list[Tenant] = field(default_factory=list)

    @property
    def callcontrol(self) -> Any:
        """The switch's CallControl, as routing and ivr call it."""
        return pb_grpc.CallControlStub(self.channel)

    # ------------------------------------------------------------------ admin

    async def publish(self, tenant: Tenant, payload: EventPayload, subject: str) -> Envelope:
        envelope = Envelope.wrap(payload, source=SOURCE, tenant=tenant.tenant_id, subject=subject)
        await self.publisher.publish(envelope)
        return envelope

    async def new_tenant(
        self,
        agent_ids: Sequence[str],
        *,
        wrap_up_s: float = 30.0,
    ) -> Tenant:
        """A tenant with agents: admin's tenant and user events published (cti learns the
        extensions from them), the agents' phones registered in the simulator under the
        tenant's SIP domain, and a queue (routing's `queue.config_changed`) with the given
        wrap-up time."""
        tenant = new_tenant("c", Tenant)
        tenant_id = tenant.tenant_id
        self._tenants.append(tenant)
        phones = {agent_id: agent_phone(tenant, str(next(_extensions))) for agent_id in agent_ids}
        await onboard(self.sim, self.publish, tenant, phones)
        queue = QueueConfigChanged(
            queue_id=QUEUE,
            version=1,
            config={"name": "Support", "wrap_up_seconds": wrap_up_s},
            changed_at=now(),
        )
        await self.publish(tenant, queue, QUEUE)

        def known() -> bool:
            directory = self.cti.directory
            return directory.queue(tenant_id, QUEUE) is not None and all(
                (record := self.cti.agents.find(tenant_id, agent_id)) is not None
                and record.extension == extension
                for agent_id, extension in tenant.extensions.items()
            )

        await self.eventually(known, what="cti learnt the tenant's agents and queue")
        return tenant

    def token(
        self, tenant: Tenant, subject: str, permissions: Sequence[str] = AGENT_PERMISSIONS
    ) -> str:
        return issue_access_token(
            SECRET,
            kind="user",
            subject=subject,
            tenant_id=tenant.tenant_id,
            permissions=permissions,
        ).token

    @asynccontextmanager
    async def desk(self, tenant: Tenant, agent_id: str) -> AsyncIterator[Desktop]:
        """The agent's desktop, logged in (hello read) and available."""
        url = (
            f"ws://127.0.0.1:{self.cti_settings.http_port}/v1/agents/ws"
            f"?token={self.token(tenant, agent_id)}"
        )
        async with connect(url) as desktop:
            hello = await desktop.next("hello", WAIT_S)
            assert hello["agent"]["agent_id"] == agent_id
            reply = await desktop.send("set_state", state="available")
            assert reply["ok"], reply
            assert reply["result"]["agent"]["state"] == "available"
            yield desktop

    async def put_policy(self, tenant: Tenant, policy: dict[str, Any]) -> dict[str, Any]:
        """Change the tenant's cti policy as a supervisor would (REST)."""
        boss = self.token(tenant, "boss", SUPERVISOR_PERMISSIONS)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.cti_settings.http_port}",
            headers={"Authorization": f"Bearer {boss}"},
        ) as client:
            response = await client.put("/v1/cti/policy", json=policy)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    # ------------------------------------------------------------------ calls

    async def place_call(self, tenant: Tenant) -> str:
        """A caller dials the tenant's number; once the switch reported `call.arrived`, the
        call is answered over CallControl (as ivr would). Returns the caller's call id."""
        caller = f"+1444{random.randrange(10**6, 10**7)}"
        call_id = self.sim.place_call(tenant.number, caller)
        await self.wait_event(call_id, CallArrived.EVENT_TYPE)
        await self.callcontrol.Answer(
            pb.CallRef(tenant_id=tenant.tenant_id, call_id=call_id), timeout=WAIT_S
        )
        return call_id

    async def offer(self, tenant: Tenant, call_id: str, agent_id: str) -> None:
        """What ivr (`queue.call_enqueued`) and routing (`queue.call_offered`) publish for a
        call routing offers to `agent_id`."""
        channel = self.sim.world.channels[call_id]
        await self.publish(
            tenant,
            CallEnqueued(
                call_id=call_id,
                queue_id=QUEUE,
                node_id=self.node_id,
                caller_number=channel.profile.caller_id_number,
                enqueued_at=now(),
            ),
            call_id,
        )
        await self.publish(
            tenant,
            CallOffered(
                call_id=call_id,
                queue_id=QUEUE,
                node_id=self.node_id,
                agent_id=agent_id,
                agent_ids=[agent_id],
                decision_id=f"d-{call_id[:8]}",
                reservation_id=f"r-{call_id[:8]}",
                epoch=1,
                ring_timeout_s=20.0,
                offered_at=now(),
            ),
            call_id,
        )

    async def bridge(self, tenant: Tenant, call_id: str, agent_id: str) -> str:
        """Routing's `Bridge` of the caller to the agent's endpoint; the agent's leg."""
        result = await self.callcontrol.Bridge(
            pb.BridgeRequest(
                call=pb.CallRef(tenant_id=tenant.tenant_id, call_id=call_id),
                endpoint=tenant.endpoint(agent_id),
                ring_timeout_s=20,
                variables={
                    "sb_tenant": tenant.tenant_id,
                    "sb_queue": QUEUE,
                    "sb_agent": agent_id,
                    "sb_reservation": f"r-{call_id[:8]}",
                    "sb_epoch": "1",
                    "sb_decision": f"d-{call_id[:8]}",
                },
            ),
            timeout=WAIT_S + 5,
        )
        assert result.outcome == pb.BRIDGE_OUTCOME_ANSWERED, result
        return str(result.agent_call_id)

    async def deliver(self, tenant: Tenant, desk: Desktop, agent_id: str) -> Delivered:
        """A caller reaches `agent_id` the way routing connects calls: placed, answered,
        offered (the desktop pops), bridged to the agent's phone; returns once cti has the
        agent on the call with the agent's leg known (from the switch's `call.bridged`)."""
        call_id = await self.place_call(tenant)
        await self.offer(tenant, call_id, agent_id)
        pop = await desk.next("pop", WAIT_S, call_id=call_id)
        assert pop["queue"] == {"id": QUEUE, "name": "Support"}
        agent_leg = await self.bridge(tenant, call_id, agent_id)
        assert self.endpoint_of(agent_leg) == f"{tenant.extensions[agent_id]}@{tenant.domain}"

        def on_call() -> bool:
            record = self.record(tenant, agent_id)
            return (
                record.status.state.value == "on_call"
                and record.call is not None
                and record.call.call_id == call_id
                and record.call.agent_leg_id == agent_leg
            )

        await self.eventually(on_call, what=f"{agent_id} on the call with leg {agent_leg}")
        return Delivered(call_id, agent_leg)

    async def conference_in(self, desk: Desktop, call: Delivered, agent_id: str) -> tuple[str, str]:
        """The agent on `call` adds colleague `agent_id` from the desk; the colleague's leg
        and the room, once the three legs are in it."""
        merged = await desk.send("conference", target_kind="agent", target=agent_id)
        assert merged["ok"], merged
        leg = str(merged["result"]["conference_call_id"])
        room = str(merged["result"]["agent"]["call"]["conference_room"])
        assert merged["result"]["agent"]["call"]["conference_legs"] == [leg]
        await self.eventually(
            lambda: self.room_of(call.call_id) == (room, {call.call_id, call.agent_leg, leg}),
            what=lambda: f"the three legs in {room}: {self.room_of(call.call_id)}",
        )
        return leg, room

    def hang_up_everything(self, tenant: Tenant) -> None:
        """End what is left of the tenant's calls in the simulator (test clean-up)."""
        for channel in list(self.sim.world.channels.values()):
            if tenant.tenant_id in (channel.tenant, channel.get_var("sb_tenant")):
                self.sim.hangup(channel.uuid)

    def hang_up_all_tenants(self) -> None:
        for tenant in self._tenants:
            self.hang_up_everything(tenant)

    # ------------------------------------------------------------------ observing

    def record(self, tenant: Tenant, agent_id: str) -> AgentRecord:
        """cti's own record of the agent (state, current call)."""
        return self.cti.agents.require(tenant.tenant_id, agent_id)

    def state(self, tenant: Tenant, agent_id: str) -> str:
        return str(self.record(tenant, agent_id).status.state.value)

    async def wait_state(
        self, tenant: Tenant, agent_id: str, state: str, timeout_s: float = WAIT_S
    ) -> AgentRecord:
        await self.eventually(
            lambda: self.state(tenant, agent_id) == state,
            timeout_s,
            what=lambda: f"{agent_id} {state} (is {self.state(tenant, agent_id)})",
        )
        return self.record(tenant, agent_id)

    def states_published(self, tenant: Tenant, agent_id: str) -> list[str]:
        """The states of the agent's `agent.state_changed` events seen on Kafka, in order."""
        return [
            e.data["state"]
            for e in self.collector.events
            if e.tenant == tenant.tenant_id
            and e.type == AgentStateChanged.EVENT_TYPE
            and e.subject == agent_id
        ]

    def endpoint_of(self, leg: str) -> str:
        """`<user>@<domain>` a simulator channel dialled (from `sofia/internal/<...>`)."""
        channel = self.sim.world.channels.get(leg)
        assert channel is not None, f"no channel {leg} in the simulator"
        return str(channel.name).rsplit("/", 1)[-1]

    def alive(self, leg: str) -> bool:
        channel = self.sim.world.channels.get(leg)
        return channel is not None and not channel.hung_up

    def room_of(self, leg: str) -> tuple[str, set[str]] | None:
        """The simulated conference room `leg` is in and every member's leg."""
        for name, room in self.sim.world._conferences.items():
            if leg in room.members:
                return name, set(room.members)
        return None

    def events(self, call_id: str, event_type: str) -> list[Envelope]:
        return call_events(self.collector, call_id, event_type)

    async def wait_event(
        self, call_id: str, event_type: str, count: int = 1, timeout_s: float = WAIT_S
    ) -> list[Envelope]:
        """The events of `event_type` about `call_id`, once at least `count` arrived."""
        return await wait_call_events(self.collector, call_id, event_type, count, timeout_s)

    async def wrap_up_filed(self, tenant: Tenant, agent_id: str) -> AgentWrapUpCompleted:
        """The agent's first `agent.wrap_up_completed` on Kafka (cti's outbox)."""

        def filed(events: list[Envelope]) -> list[Envelope]:
            return [
                e
                for e in events
                if e.tenant == tenant.tenant_id
                and e.type == AgentWrapUpCompleted.EVENT_TYPE
                and e.subject == agent_id
            ]

        await self.collector.wait_for(lambda events: bool(filed(events)), WAIT_S)
        return filed(self.collector.events)[0].payload_as(AgentWrapUpCompleted)

    async def wait_first(
        self, call_id: str, wanted: dict[str, int], timeout_s: float = WAIT_S
    ) -> str:
        """Which of `wanted` (event type -> count) `call_id` reached first."""

        def reached(events: list[Envelope]) -> str | None:
            for event_type, count in wanted.items():
                if sum(1 for e in events if e.subject == call_id and e.type == event_type) >= count:
                    return event_type
            return None

        await self.collector.wait_for(lambda events: reached(events) is not None, timeout_s)
        found = reached(self.collector.events)
        assert found is not None
        return found

    @staticmethod
    async def eventually(
        check: Callable[[], bool],
        timeout_s: float = WAIT_S,
        what: str | Callable[[], str] = "condition",
    ) -> None:
        """Poll `check` until it holds; AssertionError naming `what` after `timeout_s`."""
        step = 0.02
        for _ in range(int(timeout_s / step)):
            if check():
                return
            await asyncio.sleep(step)
        text = what() if callable(what) else what
        raise AssertionError(f"{text}: still not true after {timeout_s}s")
