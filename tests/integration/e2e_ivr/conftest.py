"""Fixture of the IVR end-to-end tests: the embedded broker, the FreeSWITCH simulator, the
switch service, the routing service and the ivr service (as `build()` wires it, talking to
the switch's CallControl over gRPC), all in one process and shared by the module's tests."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common import db
from switchboard_common.bus import ConsumerSettings, EventConsumer, EventPublisher, ProducerSettings
from switchboard_common.events import topics
from switchboard_common.runtime import Component, ServiceRuntime
from switchboard_common.testing.kafka import EventCollector
from switchboard_ivr.main import build as build_ivr
from switchboard_ivr.settings import IvrSettings
from switchboard_simulator.config import CallerBehaviour, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from ivr_harness import SECRET, TALK_S, WAIT_S, Callers, IvrHarness  # noqa: E402

from tests.integration.stack_support import routing_under_test, start_switch  # noqa: E402

INTERNAL_SECRET = "e2e-ivr-internal-secret-0123456789"


def _world() -> WorldConfig:
    """Callers never give up on their own (patience 0), press nothing unless scripted, press
    0.5 s into a prompt, and speak a second or two into a voicemail before hanging up; every
    conversation with an agent lasts `TALK_S`; a playback lasts half a second."""
    return WorldConfig(
        seed=random.randrange(1, 2**31),
        numbers=[],
        agents=[],
        callers=CallerBehaviour(
            patience_mean_s=0,
            dtmf_choices={},
            dtmf_delay_s=0.5,
            message_mean_s=1.0,
            max_talk_s=TALK_S,
        ),
        playback_seconds=0.5,
    )


async def _start_in_order(components: list[Component], started: list[Component]) -> None:
    """Start `components` one after the other, noting each one started (for the stop)."""
    for component in components:
        await component.start()
        started.append(component)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    kafka_bootstrap: str, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[IvrHarness]:
    """The whole stack, shared by a module's tests (each test uses its own tenant)."""
    home: Path = tmp_path_factory.mktemp("e2e-ivr-home")
    sim = Simulator(SimulatorConfig(world=_world(), esl_port=0, start_traffic=False))
    await sim.start()
    callers = Callers(sim)
    sim.world.add_sink(callers)
    node_id = f"fs-ivr-{uuid.uuid4().hex[:6]}"
    switch = await start_switch(sim, kafka_bootstrap, home, node_id, WAIT_S)
    ivr_started: list[Component] = []
    routing_components: list[Component] = []
    engine: AsyncEngine | None = None
    observer_started: list[Component] = []
    publisher: EventPublisher | None = None
    ivr: ServiceRuntime | None = None
    try:
        switch_grpc = switch.grpc_address
        await db.upgrade("routing", "switchboard_routing", pg_url)
        engine = db.create_engine(pg_url, pool_size=5)
        group = f"routing-e2e-ivr-{uuid.uuid4().hex[:8]}"
        routing = routing_under_test(kafka_bootstrap, engine, switch_grpc, group, SECRET)
        assert routing.consumers is not None

        voicemail_template = str(home / "voicemail" / "{tenant}" / "{mailbox}" / "{call_id}.wav")
        ivr_settings = IvrSettings(
            environment="test",
            home=home,
            database_url=pg_url,
            jwt_secret=SECRET,
            internal_secret=INTERNAL_SECRET,
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_enable_idempotence=False,
            consumer_group=f"ivr-e2e-{uuid.uuid4().hex[:8]}",
            switch_grpc=switch_grpc,
            liveness_interval_s=1.0,
            voicemail_path_template=voicemail_template,
        )
        ivr = await build_ivr(ivr_settings)

        collector = EventCollector()
        observer = EventConsumer(
            ConsumerSettings(
                bootstrap_servers=kafka_bootstrap,
                group_id=f"e2e-ivr-collector-{uuid.uuid4().hex[:8]}",
                auto_offset_reset="latest",
            ),
            [topics.CALLS, topics.QUEUES, topics.IVR],
            collector,
        )
        # Joining a consumer group takes seconds on the embedded broker: the services
        # start side by side (each one its own components in order, consumers last).
        ivr_consumers = [c for c in ivr.components if isinstance(c, EventConsumer)]
        await _start_in_order([c for c in ivr.components if c not in ivr_consumers], ivr_started)
        await asyncio.gather(
            _start_in_order(routing.components, routing_components),
            *(_start_in_order([c], ivr_started) for c in ivr_consumers),
            _start_in_order([observer], observer_started),
        )
        publisher = EventPublisher(
            ProducerSettings(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
        )
        await publisher.start()

        await routing.consumers.wait_until_routing(30)
        for component in [*ivr.components, observer]:
            if isinstance(component, EventConsumer):
                await component.wait_for_assignment(30)

        yield IvrHarness(
            sim=sim,
            switch=switch.runtime,
            node_id=node_id,
            routing=routing,
            ivr=ivr,
            publisher=publisher,
            collector=collector,
            callers=callers,
            voicemail_template=voicemail_template,
        )
    finally:
        if publisher is not None:
            await publisher.stop()
        for component in observer_started:
            await component.stop()
        for component in reversed(ivr_started):
            with contextlib.suppress(Exception):
                await component.stop()
        if ivr is not None:
            for hook in ivr.on_stop:
                with contextlib.suppress(Exception):
                    await hook()
        for component in reversed(routing_components):
            with contextlib.suppress(Exception):
                await component.stop()
        if engine is not None:
            await engine.dispose()
        await switch.stop()
        await sim.stop()
