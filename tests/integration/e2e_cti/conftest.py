"""Fixture of the CTI end-to-end tests: the embedded broker, the FreeSWITCH simulator, the
switch service and the cti service (as its composition root wires it, with the switch's gRPC
CallControl as its CallControl), all in one process and shared by the module's tests."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from switchboard_common import db
from switchboard_common.auth import Authenticator
from switchboard_common.bus import BrokerEndpoint, EventConsumer, EventPublisher, free_port
from switchboard_common.events import topics
from switchboard_common.grpc import client_channel
from switchboard_common.runtime import ServiceRuntime
from switchboard_common.testing.kafka import EventCollector
from switchboard_cti.main import assemble
from switchboard_cti.settings import CtiSettings
from switchboard_simulator.config import CallerBehaviour, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig
from tests.integration.cti.harness import FakeTickets
from tests.integration.e2e_cti.cti_stack import DESKTOP_LOST_GRACE_S, SECRET, WAIT_S, CtiStack
from tests.integration.stack_support import start_switch


def _world() -> WorldConfig:
    """Callers never give up on their own (patience 0) and press nothing; agents talk for an
    hour on average, so calls end only when a test ends them."""
    return WorldConfig(
        seed=random.randrange(1, 2**31),
        numbers=[],
        agents=[],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
    )


async def _wait_until_serving(runtime_task: asyncio.Task[None], port: int) -> None:
    async with asyncio.timeout(30), httpx.AsyncClient() as client:
        while True:
            if runtime_task.done():
                await runtime_task
                raise RuntimeError("cti stopped during start-up")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/health")).is_success:
                    return
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    kafka_broker: BrokerEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CtiStack]:
    """The whole stack, shared by a module's tests (each test uses its own tenant)."""
    home: Path = tmp_path_factory.mktemp("e2e-cti-home")
    bootstrap = kafka_broker.bootstrap_servers
    sim = Simulator(SimulatorConfig(world=_world(), esl_port=0, start_traffic=False))
    await sim.start()
    node_id = f"fs-cti-{uuid.uuid4().hex[:6]}"
    switch = await start_switch(sim, bootstrap, home, node_id, WAIT_S)
    stop = asyncio.Event()
    cti_task: asyncio.Task[None] | None = None
    observer: EventConsumer | None = None
    publisher: EventPublisher | None = None
    channel = client_channel(switch.grpc_address, default_deadline_s=WAIT_S)
    engine = None
    try:
        database = f"sqlite+aiosqlite:///{home / 'cti.db'}"
        await db.upgrade("cti", "switchboard_cti", database)
        engine = db.create_engine(database)
        group = f"cti-e2e-{uuid.uuid4().hex[:8]}"
        settings = CtiSettings(
            home=home,
            http_port=free_port(),
            jwt_secret=SECRET,
            kafka_bootstrap_servers=bootstrap,
            consumer_group=group,
            live_offset_reset="latest",
            switch_grpc=switch.grpc_address,
            desktop_lost_grace_s=DESKTOP_LOST_GRACE_S,
            consult_timeout_s=10,
        )
        # callcontrol left out: assemble() wires GrpcCallControl to settings.switch_grpc.
        cti = assemble(
            settings,
            engine,
            authenticator=Authenticator(jwt_secret=SECRET),
            tickets=FakeTickets(),
            producer_settings=kafka_broker.producer_settings(),
            consumer_settings=kafka_broker.consumer_settings(group),
        )
        runtime = ServiceRuntime(settings, cti.app, None, cti.components)
        cti_task = asyncio.create_task(runtime.run(stop))

        collector = EventCollector()
        observer = EventConsumer(
            kafka_broker.consumer_settings(
                f"e2e-cti-collector-{uuid.uuid4().hex[:8]}", auto_offset_reset="latest"
            ),
            [topics.CALLS, topics.QUEUES, topics.AGENTS],
            collector,
        )
        await observer.start()
        publisher = EventPublisher(kafka_broker.producer_settings())
        await publisher.start()

        await _wait_until_serving(cti_task, settings.http_port)
        for consumer in [*cti.consumers, observer]:
            await consumer.wait_for_assignment(60.0)

        stack = CtiStack(
            sim=sim,
            node_id=node_id,
            switch_grpc=switch.grpc_address,
            cti=cti,
            cti_settings=settings,
            publisher=publisher,
            collector=collector,
            channel=channel,
        )
        try:
            yield stack
        finally:
            stack.hang_up_all_tenants()
    finally:
        if publisher is not None:
            await publisher.stop()
        if observer is not None:
            await observer.stop()
        stop.set()
        if cti_task is not None:
            await asyncio.gather(cti_task, return_exceptions=True)
        await channel.close(None)
        if engine is not None:
            await engine.dispose()
        await switch.stop()
        await sim.stop()
