"""Fixture of the end-to-end tests: the embedded broker, the FreeSWITCH simulator, the switch
service and the routing service (PostgreSQL) in one process, shared by a module's tests."""

from __future__ import annotations

import contextlib
import random
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from switchboard_common import db
from switchboard_common.bus import ConsumerSettings, EventConsumer, EventPublisher, ProducerSettings
from switchboard_common.events import topics
from switchboard_common.testing.kafka import EventCollector
from switchboard_simulator.config import CallerBehaviour, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from e2e_harness import SECRET, Harness  # noqa: E402

from tests.integration.stack_support import routing_under_test, start_switch  # noqa: E402


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def harness(
    kafka_bootstrap: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harness]:
    """The whole stack, shared by a module's tests (each test uses its own tenant)."""
    home: Path = tmp_path_factory.mktemp("e2e-home")
    world = WorldConfig(
        seed=random.randrange(1, 2**31),
        numbers=[],
        agents=[],
        callers=CallerBehaviour(patience_mean_s=600, dtmf_choices={}),
    )
    sim = Simulator(SimulatorConfig(world=world, esl_port=0, start_traffic=False))
    await sim.start()
    node_id = f"fs-e2e-{uuid.uuid4().hex[:6]}"
    switch = await start_switch(sim, kafka_bootstrap, home, node_id)

    await db.upgrade("routing", "switchboard_routing", pg_url)
    engine = db.create_engine(pg_url, pool_size=5)
    group = f"routing-e2e-{uuid.uuid4().hex[:8]}"
    routing = routing_under_test(kafka_bootstrap, engine, switch.grpc_address, group, SECRET)
    for component in routing.components:
        await component.start()
    assert routing.consumers is not None
    await routing.consumers.wait_until_routing(30)

    collector = EventCollector()
    observer = EventConsumer(
        ConsumerSettings(
            bootstrap_servers=kafka_bootstrap,
            group_id=f"e2e-collector-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        ),
        [topics.QUEUES, topics.CALLS],
        collector,
    )
    await observer.start()
    publisher = EventPublisher(
        ProducerSettings(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    )
    await publisher.start()
    try:
        yield Harness(sim, switch.runtime, node_id, routing, publisher, collector)
    finally:
        await publisher.stop()
        await observer.stop()
        for component in reversed(routing.components):
            with contextlib.suppress(Exception):
                await component.stop()
        await engine.dispose()
        await switch.stop()
        await sim.stop()
