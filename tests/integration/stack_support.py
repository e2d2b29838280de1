"""Pieces of the in-process stacks that the end-to-end suites build: the switch service on a
simulator, the routing service on PostgreSQL, and the config events admin would publish."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.auth import Authenticator
from switchboard_common.bus import ConsumerSettings, EventPublisher, ProducerSettings
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.config import TenantCreated, TenantQuotas, UserCreated
from switchboard_common.runtime import ServiceRuntime
from switchboard_common.settings import load_settings
from switchboard_common.testing.kafka import EventCollector
from switchboard_routing.main import RoutingApp, assemble
from switchboard_routing.services import RoutingOptions
from switchboard_routing.settings import RoutingSettings
from switchboard_simulator.config import AgentEndpoint, TenantNumber
from switchboard_simulator.simulator import Simulator
from switchboard_switch.esl_adapter import EslLink
from switchboard_switch.main import build
from switchboard_switch.settings import SwitchSettings


@dataclass
class RunningSwitch:
    """The switch service running against a simulator, its gRPC CallControl listening."""

    runtime: ServiceRuntime
    task: asyncio.Task[None]
    stop_event: asyncio.Event

    @property
    def grpc_address(self) -> str:
        server = self.runtime.grpc_server
        assert server is not None
        return f"127.0.0.1:{server.port}"

    async def stop(self) -> None:
        self.stop_event.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.task, 15)


async def wait_until_linked(runtime: ServiceRuntime, timeout_s: float = 20.0) -> None:
    """Until the switch service has connected to its FreeSWITCH and resynchronised."""
    link = next(c for c in runtime.components if isinstance(c, EslLink))
    for _ in range(int(timeout_s / 0.05)):
        if await link.healthy():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the switch did not connect to FreeSWITCH within {timeout_s}s")


async def start_switch(
    sim: Simulator, kafka_bootstrap: str, home: Path, node_id: str, timeout_s: float = 20.0
) -> RunningSwitch:
    """Build and run the switch service on `sim`; returns once linked and serving gRPC."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWITCHBOARD_HOME", str(home))
        settings = load_settings(
            SwitchSettings,
            http_port=0,
            grpc_port=0,
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_enable_idempotence=False,
            freeswitch_esl=f"127.0.0.1:{sim.esl_port}",
            node_id=node_id,
        )
        runtime = await build(settings)
    stop_event = asyncio.Event()
    running = RunningSwitch(runtime, asyncio.create_task(runtime.run(stop_event)), stop_event)
    try:
        await wait_until_linked(runtime, timeout_s)
        server = runtime.grpc_server
        assert server is not None
        for _ in range(int(timeout_s / 0.05)):
            if server.port:
                return running
            await asyncio.sleep(0.05)
        raise TimeoutError("the switch's gRPC server did not start listening")
    except BaseException:
        await running.stop()
        raise


def routing_under_test(
    kafka_bootstrap: str, engine: AsyncEngine, switch_grpc: str, group: str, secret: str
) -> RoutingApp:
    """The routing service as its composition root assembles it, ticking fast for tests."""
    return assemble(
        RoutingSettings(
            jwt_secret=secret,
            kafka_bootstrap_servers=kafka_bootstrap,
            switch_grpc=switch_grpc,
            flush_interval_s=0.02,
            tick_interval_s=0.1,
        ),
        engine,
        authenticator=Authenticator(jwt_secret=secret),
        producer_settings=ProducerSettings(
            bootstrap_servers=kafka_bootstrap, enable_idempotence=False
        ),
        consumer_settings=ConsumerSettings(
            bootstrap_servers=kafka_bootstrap, group_id=group, auto_offset_reset="earliest"
        ),
        options=RoutingOptions(instance_id=group, address=f"{group}.test:9103"),
    )


def tenant_created(tenant_id: str, sip_domain: str, limit: int = 50) -> TenantCreated:
    """Admin's `tenant.created` for a test tenant whose quotas are all `limit`."""
    return TenantCreated(
        tenant_id=tenant_id,
        slug=tenant_id,
        name=tenant_id,
        sip_domain=sip_domain,
        timezone="UTC",
        status="active",
        quotas=TenantQuotas(
            max_concurrent_calls=limit,
            max_agents=limit,
            max_queues=limit,
            recording_retention_days=1,
        ),
    )


def agent_created(agent_id: str, extension: str) -> UserCreated:
    """Admin's `user.created` for an agent with a SIP extension."""
    return UserCreated(
        user_id=agent_id,
        username=agent_id,
        display_name=agent_id,
        roles=("agent",),
        permissions=(),
        is_agent=True,
        extension=extension,
    )


@dataclass
class Tenant:
    """A test tenant: its number in the simulator, SIP domain and agents' extensions."""

    tenant_id: str
    number: str
    domain: str
    extensions: dict[str, str] = field(default_factory=dict)
    """agent id -> extension"""

    def endpoint_key(self, agent_id: str) -> str:
        """The agent's phone as the simulator knows it: `<extension>@<SIP domain>`."""
        return f"{self.extensions[agent_id]}@{self.domain}"

    def endpoint(self, agent_id: str) -> str:
        """The dial string routing uses for the agent: `user/<extension>@<SIP domain>`."""
        return f"user/{self.endpoint_key(agent_id)}"


AnyTenant = TypeVar("AnyTenant", bound=Tenant)


def new_tenant(prefix: str, kind: type[AnyTenant]) -> AnyTenant:
    """A fresh test tenant (of a suite's `Tenant` subclass `kind`): unique id (`prefix` names
    the suite), number and SIP domain."""
    tenant_id = f"{prefix}{uuid.uuid4().hex[:10]}"
    return kind(
        tenant_id, number=f"+1555{random.randrange(10**6, 10**7)}", domain=f"{tenant_id}.example"
    )


def agent_phone(tenant: Tenant, extension: str, **behaviour: Any) -> AgentEndpoint:
    """A simulated agent phone in the tenant's SIP domain that answers within 0.1 s and
    stays on the call for an hour unless `behaviour` says otherwise."""
    settings: dict[str, Any] = {"answer_delay_s": (0.05, 0.1), "handle_time_mean_s": 3600.0}
    return AgentEndpoint(user=extension, domain=tenant.domain, **{**settings, **behaviour})


async def publish_as(
    publisher: EventPublisher, source: str, tenant: Tenant, payload: EventPayload, subject: str
) -> None:
    """Publish `payload` about `subject` as the tenant's event from `source`."""
    envelope = Envelope.wrap(payload, source=source, tenant=tenant.tenant_id, subject=subject)
    await publisher.publish(envelope)


async def onboard(
    sim: Simulator,
    publish: Callable[[Tenant, EventPayload, str], Any],
    tenant: Tenant,
    phones: Mapping[str, AgentEndpoint],
    *,
    limit: int = 50,
) -> None:
    """What admin and the phones do for a new tenant: its number in the simulator,
    `tenant.created`, and per agent (agent id -> phone) the phone registered and
    `user.created` with the phone's extension."""
    sim.add_number(TenantNumber(number=tenant.number, tenant=tenant.tenant_id))
    await publish(tenant, tenant_created(tenant.tenant_id, tenant.domain, limit), tenant.tenant_id)
    for agent_id, phone in phones.items():
        tenant.extensions[agent_id] = phone.user
        sim.set_agent(phone)
        await publish(tenant, agent_created(agent_id, phone.user), agent_id)


async def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll `check` until it holds (TimeoutError after `timeout_s`)."""
    step = 0.02
    for _ in range(int(timeout_s / step)):
        if check():
            return
        await asyncio.sleep(step)
    raise TimeoutError(f"condition still false after {timeout_s}s")


def call_events(collector: EventCollector, call_id: str, event_type: str) -> list[Envelope]:
    """The events of `event_type` about `call_id` collected so far."""
    return [e for e in collector.events if e.subject == call_id and e.type == event_type]


async def wait_call_events(
    collector: EventCollector, call_id: str, event_type: str, count: int, timeout_s: float
) -> list[Envelope]:
    """The events of `event_type` about `call_id`, once at least `count` arrived; else an
    AssertionError naming the events the call did get."""
    try:
        await collector.wait_for(
            lambda events: (
                sum(1 for e in events if e.subject == call_id and e.type == event_type) >= count
            ),
            timeout_s,
        )
    except TimeoutError:
        seen = [e.type for e in collector.events if e.subject == call_id]
        raise AssertionError(
            f"no {count} x {event_type} for call {call_id} within {timeout_s}s; its events: {seen}"
        ) from None
    return call_events(collector, call_id, event_type)
