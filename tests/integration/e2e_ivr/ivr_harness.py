"""The IVR end-to-end harness: the running stack (FreeSWITCH simulator, switch, routing, ivr,
embedded broker) and the moves of the services left out of it: admin (tenant, users,
calendars, numbers) and cti (agent states).

Simulated callers answer what they hear: `place_call(..., answers={prompt file: keys})`
makes the caller press `keys` after hearing the prompt whose (last) file is that path, and
nothing after any other prompt (the world's `sim_dtmf` channel variable is set on each
PLAYBACK_START of the caller's channel, right before the simulated caller decides what to
press).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from switchboard_common.auth import issue_access_token
from switchboard_common.bus import EventPublisher
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.agents import AgentState, AgentStateChanged
from switchboard_common.events.config import CalendarChanged, NumberAssigned
from switchboard_common.runtime import ServiceRuntime
from switchboard_common.testing.kafka import EventCollector
from switchboard_routing.main import RoutingApp
from switchboard_simulator.simulator import Simulator
from switchboard_simulator.wire import Event
from tests.integration import stack_support
from tests.integration.stack_support import agent_phone, new_tenant, onboard, publish_as

SECRET = "e2e-ivr-test-secret-0123456789-abcdefghij"
SOURCE = "tests/e2e_ivr"
IVR_PERMISSIONS = ("ivr:read", "ivr:write", "numbers:read", "numbers:write", "calls:read")
ROUTING_PERMISSIONS = ("queues:read", "queues:write")
WAIT_S = 20.0
"""Bound of every wait (the machine is small and shared)."""
TALK_S = 2.0
"""How long every conversation with an agent lasts before the agent hangs up: agents talk
for an hour on average, and the world cuts every conversation at `max_talk_s` (this), so
the tests' timing does not depend on a random talk time."""


def now() -> datetime:
    return datetime.now(UTC)


class Tenant(stack_support.Tenant):
    """A test tenant whose prompts the harness stores."""

    def prompt_file(self, prompt_id: str) -> str:
        """Where the harness stores the tenant's prompt `prompt_id`."""
        return f"/sounds/{self.tenant_id}/{prompt_id}.wav"


class Callers:
    """What each scripted caller presses after each prompt (an event sink of the world)."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._answers: dict[str, dict[str, str]] = {}
        self.heard: dict[str, list[str]] = {}
        """call id -> files the caller heard, in order"""
        self.channel_names: dict[str, str] = {}
        """every channel created, by uuid (agent legs are gone once they hang up)"""

    def script(self, call_id: str, answers: Mapping[str, str]) -> None:
        self._answers[call_id] = dict(answers)
        self.heard.setdefault(call_id, [])

    def __call__(self, event: Event) -> None:
        if event.name == "CHANNEL_CREATE":
            self.channel_names[event.get("Unique-ID") or ""] = event.get("Channel-Name") or ""
        if event.name != "PLAYBACK_START":
            return
        call_id = event.get("Unique-ID") or ""
        answers = self._answers.get(call_id)
        channel = self._sim.world.channels.get(call_id)
        if answers is None or channel is None:
            return
        played = event.get("Playback-File-Path") or ""
        files = played.removeprefix("file_string://").split("!")
        self.heard[call_id] += files
        # The caller answers the question heard last; "" falls back to the world's
        # behaviour, which presses nothing (no choices).
        channel.set_var("sim_dtmf", answers.get(files[-1], ""))


@dataclass
class IvrHarness:
    """The running stack and the moves of the services left out (admin, cti)."""

    sim: Simulator
    switch: ServiceRuntime
    node_id: str
    routing: RoutingApp
    ivr: ServiceRuntime
    publisher: EventPublisher
    collector: EventCollector
    callers: Callers
    voicemail_template: str

    async def publish(self, tenant: Tenant, payload: EventPayload, subject: str) -> None:
        await publish_as(self.publisher, SOURCE, tenant, payload, subject)

    # ------------------------------------------------------------------ admin

    async def new_tenant(self, agents: Sequence[str] = ()) -> Tenant:
        """A tenant with agents who answer at once and hang up after `TALK_S`: admin's
        tenant and user events published, the number and endpoints registered in the
        simulator."""
        tenant = new_tenant("v", Tenant)
        phones = {
            agent_id: agent_phone(tenant, str(2001 + index))
            for index, agent_id in enumerate(agents)
        }
        await onboard(self.sim, self.publish, tenant, phones, limit=20)
        if tenant.extensions:
            await self._until_directory_stored(tenant)
        return tenant

    async def _until_directory_stored(self, tenant: Tenant) -> None:
        """Until routing stored admin's directory events of the tenant, so that a test's
        first call finds the agents' extensions."""

        async def stored() -> bool:
            directory = (await self.routing.store.load_tenant(tenant.tenant_id)).directory
            return directory.sip_domain == tenant.domain and dict(directory.extensions) == dict(
                tenant.extensions
            )

        for _ in range(int(WAIT_S / 0.05)):
            if await stored():
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"routing did not store the directory of {tenant.tenant_id}")

    async def set_calendar(
        self, tenant: Tenant, calendar_id: str, weekly: Mapping[str, Sequence[str]]
    ) -> None:
        """Admin's `calendar.changed` (created): a UTC calendar open `weekly`."""
        changed = CalendarChanged(
            calendar_id=calendar_id,
            name=calendar_id,
            change="created",
            calendar={"timezone": "UTC", "weekly": {day: list(v) for day, v in weekly.items()}},
        )
        await self.publish(tenant, changed, calendar_id)

    async def assign_number(self, tenant: Tenant, flow_id: str) -> None:
        """Admin's `number.assigned` pointing the tenant's number at `flow_id`; waits until
        ivr knows it. Config events of a tenant share a partition (keyed by tenant), so
        every config event published before (calendars, tenant) is applied by then too."""
        number_id = f"n-{uuid.uuid4().hex[:8]}"
        assigned = NumberAssigned(
            number_id=number_id, number=tenant.number, target_kind="ivr_flow", target_id=flow_id
        )
        await self.publish(tenant, assigned, number_id)
        async with self.ivr_http(tenant) as client:
            for _ in range(int(WAIT_S / 0.05)):
                response = await client.get(f"/v1/numbers/{tenant.number}")
                if response.status_code == 200 and response.json()["target_id"] == flow_id:
                    return
                await asyncio.sleep(0.05)
        raise TimeoutError(f"ivr did not learn that {tenant.number} leads to {flow_id}")

    # ------------------------------------------------------------------ REST (tenant admin)

    def _client(
        self, app: Any, base_url: str, tenant: Tenant, permissions: Sequence[str]
    ) -> httpx.AsyncClient:
        access = issue_access_token(
            SECRET,
            kind="user",
            subject="e2e-ivr",
            tenant_id=tenant.tenant_id,
            permissions=tuple(permissions),
        ).token
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=base_url,
            headers={"Authorization": f"Bearer {access}"},
            timeout=WAIT_S,
        )

    def ivr_http(self, tenant: Tenant) -> httpx.AsyncClient:
        return self._client(self.ivr.app, "http://ivr.test", tenant, IVR_PERMISSIONS)

    def routing_http(self, tenant: Tenant) -> httpx.AsyncClient:
        return self._client(self.routing.app, "http://routing.test", tenant, ROUTING_PERMISSIONS)

    async def create_queue(self, tenant: Tenant, config: dict[str, Any]) -> None:
        async with self.routing_http(tenant) as client:
            response = await client.post("/v1/queues", json=config)
        assert response.status_code == 201, response.text

    async def put_prompts(self, tenant: Tenant, *prompt_ids: str) -> None:
        """The tenant's prompt catalog: each prompt is one file (`Tenant.prompt_file`)."""
        async with self.ivr_http(tenant) as client:
            for prompt_id in prompt_ids:
                response = await client.put(
                    f"/v1/ivr/prompts/{prompt_id}",
                    json={"paths": {"*": tenant.prompt_file(prompt_id)}},
                )
                assert response.status_code == 200, response.text

    async def publish_flow(self, tenant: Tenant, flow: dict[str, Any]) -> int:
        """Create the flow and publish it; returns the published version."""
        async with self.ivr_http(tenant) as client:
            created = await client.post("/v1/flows", json=flow)
            assert created.status_code == 201, created.text
            assert created.json()["warnings"] == [], created.text
            published = await client.post(f"/v1/flows/{flow['id']}/publish")
            assert published.status_code == 200, published.text
        version = published.json()["published_version"]
        assert isinstance(version, int)
        return version

    async def simulate(self, tenant: Tenant, flow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.ivr_http(tenant) as client:
            response = await client.post(f"/v1/flows/{flow_id}/simulate", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    # ------------------------------------------------------------------ cti

    async def agent_available(self, tenant: Tenant, agent_id: str, queues: Sequence[str]) -> None:
        """cti's `agent.state_changed` (available, serving `queues`), and wait until routing
        applied it and knows the agent's endpoint."""
        changed = AgentStateChanged(
            agent_id=agent_id,
            state=AgentState.AVAILABLE,
            queues=list(queues),
            changed_at=now() - timedelta(seconds=5),
        )
        await self.publish(tenant, changed, agent_id)

        def applied() -> bool:
            found = self.routing.routing.tenant(tenant.tenant_id)
            return (
                found is not None
                and found.engine.agent_state(agent_id) is AgentState.AVAILABLE
                and found.directory.extensions.get(agent_id) == tenant.extensions[agent_id]
            )

        await self.eventually(applied, f"routing did not make {agent_id} available")

    # ------------------------------------------------------------------ calls

    def place_call(self, tenant: Tenant, caller_number: str, answers: Mapping[str, str]) -> str:
        """A caller dials the tenant's number and will press `answers[prompt file]` after
        each prompt. Returns the caller's call id."""
        call_id = self.sim.place_call(tenant.number, caller_number)
        self.callers.script(call_id, answers)
        return call_id

    def hang_up(self, call_id: str) -> None:
        self.sim.hangup(call_id)

    # ------------------------------------------------------------------ observing

    def events(self, call_id: str, event_type: str) -> list[Envelope]:
        return stack_support.call_events(self.collector, call_id, event_type)

    async def wait_event(
        self, call_id: str, event_type: str, count: int = 1, timeout_s: float = WAIT_S
    ) -> list[Envelope]:
        """The events of `event_type` about `call_id`, once at least `count` arrived."""
        try:
            return await stack_support.wait_call_events(
                self.collector, call_id, event_type, count, timeout_s
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}; prompts heard: {self.callers.heard.get(call_id)}"
            ) from None

    def leg_endpoint(self, leg_id: str) -> str:
        """The simulator's name of a channel (an agent leg's names its endpoint)."""
        name = self.callers.channel_names.get(leg_id)
        assert name is not None, f"no channel {leg_id} was created in the simulator"
        return name

    @staticmethod
    async def eventually(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
        """Poll `check` until it holds (AssertionError naming `what` after `timeout_s`)."""
        for _ in range(int(timeout_s / 0.02)):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{what} (after {timeout_s}s)")
