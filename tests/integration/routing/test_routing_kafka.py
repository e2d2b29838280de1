"""Routing with the real broker and PostgreSQL, and a fake switch serving CallControl:
agent and configuration events in, a call enqueued, Bridge out, decision/offer/answer events
back; then two instances in one consumer group sharing tenants by partition, one leaving
while an offer is in flight: the other takes its tenants over, rebuilds them, and the
previous owner's epoch is fenced."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from routing_it_support import (
    SECRET,
    FakeSwitch,
    routing_settings,
    token,
)

from switchboard_common import db
from switchboard_common.auth import Authenticator
from switchboard_common.bus import (
    BrokerEndpoint,
    EventConsumer,
    EventPublisher,
    partition_for_tenant,
)
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.agents import AgentState, AgentStateChanged
from switchboard_common.events.calls import CallEnded
from switchboard_common.events.config import TenantCreated, TenantQuotas, UserCreated
from switchboard_common.events.queues import (
    CallAbandoned,
    CallDequeued,
    CallEnqueued,
    CallOffered,
    CallOfferFailed,
    QueueCallAnswered,
    RoutingDecisionMade,
)
from switchboard_common.events.topics import QUEUES
from switchboard_common.testing.kafka import EventCollector
from switchboard_routing.main import RoutingApp, assemble
from switchboard_routing.repository import PartitionBatch
from switchboard_routing.services import RoutingOptions
from tests.integration.stack_support import eventually

PARTITIONS = 4


def now() -> datetime:
    return datetime.now(UTC)


def wrap(tenant: str, payload: EventPayload, subject: str) -> Envelope:
    return Envelope.wrap(payload, source="tests/routing", tenant=tenant, subject=subject)


def available(agent_id: str, *queues: str) -> AgentStateChanged:
    return AgentStateChanged(
        agent_id=agent_id, state=AgentState.AVAILABLE, queues=list(queues), changed_at=now()
    )


def enqueued(call_id: str, queue_id: str) -> CallEnqueued:
    return CallEnqueued(call_id=call_id, queue_id=queue_id, node_id="fs1", enqueued_at=now())


Starter = Callable[..., Any]


def sentinel(tenant: str) -> Envelope:
    """A queues.v1 event routing ignores (not a call enqueued, not its own)."""
    call_id = f"sentinel-{uuid.uuid4().hex[:8]}"
    payload = CallDequeued(
        call_id=call_id, queue_id="none", reason="removed", waited_s=0, dequeued_at=now()
    )
    return wrap(tenant, payload, call_id)


async def until_consuming(
    publisher: EventPublisher, tenant: str, seen: Callable[[str], Awaitable[bool]]
) -> None:
    """A consumer starting at the latest offset settles it some time after its assignment:
    publish sentinels of `tenant` until one is seen, so that nothing published next is
    missed."""
    for _ in range(30):
        envelope = sentinel(tenant)
        await publisher.publish(envelope)
        if await seen(envelope.id):
            return
    raise TimeoutError(f"no consumer saw the sentinels of {tenant}")


def routing_reads(app: RoutingApp, tenant: str) -> Callable[[str], Awaitable[bool]]:
    assert app.consumers is not None
    consumer = app.consumers.consumer
    partition = partition_for_tenant(tenant, PARTITIONS)

    async def seen(_event_id: str) -> bool:
        before = consumer.position(QUEUES, partition)
        for _ in range(50):
            position = consumer.position(QUEUES, partition)
            if position is not None and position != before:
                return True
            await asyncio.sleep(0.02)
        return False

    return seen


def collected(collector: EventCollector) -> Callable[[str], Awaitable[bool]]:
    async def seen(event_id: str) -> bool:
        try:
            await collector.wait_for_ids([event_id], timeout_s=1.0)
        except TimeoutError:
            return False
        return True

    return seen


@pytest.fixture()
async def switch() -> AsyncIterator[FakeSwitch]:
    fake = FakeSwitch()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture()
async def publisher(kafka_broker: BrokerEndpoint) -> AsyncIterator[EventPublisher]:
    async with EventPublisher(kafka_broker.producer_settings()) as publisher:
        yield publisher


@pytest.fixture()
async def queue_events(kafka_broker: BrokerEndpoint) -> AsyncIterator[EventCollector]:
    """Everything published on switchboard.queues.v1 from now on."""
    collector = EventCollector()
    consumer = EventConsumer(
        kafka_broker.consumer_settings(
            f"routing-test-collector-{uuid.uuid4().hex[:8]}", auto_offset_reset="latest"
        ),
        [QUEUES],
        collector,
    )
    await consumer.start()
    await consumer.wait_for_assignment(30, lambda owned: len(owned) == PARTITIONS)
    yield collector
    await consumer.stop()


@pytest.fixture()
async def instances(
    kafka_broker: BrokerEndpoint, fresh_pg_url: str, switch: FakeSwitch
) -> AsyncIterator[Starter]:
    """`start(name, group)`: a routing instance on the test's database, started."""
    await db.upgrade("routing", "switchboard_routing", fresh_pg_url)
    running: list[tuple[RoutingApp, Any]] = []

    async def start(name: str, group: str) -> RoutingApp:
        engine = db.create_engine(fresh_pg_url, pool_size=4)
        app = assemble(
            routing_settings(
                kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
                switch_grpc=switch.address,
                flush_interval_s=0.02,
                snapshot_interval_s=0.5,
            ),
            engine,
            authenticator=Authenticator(jwt_secret=SECRET),
            producer_settings=kafka_broker.producer_settings(),
            consumer_settings=kafka_broker.consumer_settings(group, auto_offset_reset="latest"),
            options=RoutingOptions(instance_id=name, address=f"{name}.test:9103"),
        )
        for component in app.components:
            await component.start()
        running.append((app, engine))
        return app

    yield start
    for app, engine in reversed(running):
        for component in reversed(app.components):
            await component.stop()
        await engine.dispose()


def rest(app: RoutingApp, tenant: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app.app),
        base_url="http://routing.test",
        headers={"Authorization": f"Bearer {token(tenant)}"},
    )


def of_call(events: list[Envelope], call_id: str, kind: type[EventPayload]) -> list[Any]:
    return [
        e.payload_as(kind) for e in events if e.type == kind.EVENT_TYPE and e.subject == call_id
    ]


async def test_a_call_enqueued_is_bridged_to_an_agent_and_announced(
    instances: Starter,
    switch: FakeSwitch,
    publisher: EventPublisher,
    queue_events: EventCollector,
) -> None:
    tenant = f"k{uuid.uuid4().hex[:10]}"
    first_call, second_call = f"{tenant}-c1", f"{tenant}-c2"
    app = await instances("solo", f"routing-test-{uuid.uuid4().hex[:8]}")
    assert app.consumers is not None
    assert await app.consumers.wait_until_routing(30) == frozenset(range(PARTITIONS))
    await until_consuming(publisher, tenant, collected(queue_events))
    await until_consuming(publisher, tenant, routing_reads(app, tenant))
    async with rest(app, tenant) as http:
        assert (await http.post("/v1/queues", json={"id": "sales"})).status_code == 201

    quotas = TenantQuotas(
        max_concurrent_calls=10, max_agents=10, max_queues=10, recording_retention_days=1
    )
    await publisher.publish(
        wrap(
            tenant,
            TenantCreated(
                tenant_id=tenant,
                slug=tenant,
                name="Acme",
                sip_domain=f"{tenant}.example",
                timezone="UTC",
                status="active",
                quotas=quotas,
            ),
            tenant,
        )
    )
    await publisher.publish(
        wrap(
            tenant,
            UserCreated(
                user_id="agent-1",
                username="alice",
                display_name="Alice",
                roles=("agent",),
                permissions=(),
                is_agent=True,
                extension="1001",
            ),
            "agent-1",
        )
    )
    await publisher.publish(wrap(tenant, available("agent-1", "sales"), "agent-1"))

    def ready() -> bool:
        state = app.routing.tenant(tenant)
        return (
            state is not None
            and state.engine.agent_state("agent-1") is AgentState.AVAILABLE
            and state.directory.extensions.get("agent-1") == "1001"
        )

    await eventually(ready)
    await publisher.publish(wrap(tenant, enqueued(first_call, "sales"), first_call))
    bridge = (await switch.wait_for(first_call))[0]
    assert bridge.endpoint == f"user/1001@{tenant}.example"
    assert bridge.call.tenant_id == tenant
    assert bridge.variables["sb_agent"] == "agent-1"

    await queue_events.wait_for(
        lambda events: bool(of_call(events, first_call, QueueCallAnswered)), timeout_s=20
    )
    events = [e for e in queue_events.events if e.subject == first_call]
    kinds = [e.type for e in events]
    assert kinds.index(RoutingDecisionMade.EVENT_TYPE) < kinds.index(CallOffered.EVENT_TYPE)
    assert kinds.index(CallOffered.EVENT_TYPE) < kinds.index(QueueCallAnswered.EVENT_TYPE)
    decision = of_call(events, first_call, RoutingDecisionMade)[0]
    assert decision.chosen_agent_ids == ["agent-1"]
    assert [c.agent_id for c in decision.candidates] == ["agent-1"]
    assert of_call(events, first_call, QueueCallAnswered)[0].agent_id == "agent-1"

    await publisher.publish(wrap(tenant, enqueued(second_call, "sales"), second_call))
    await eventually(lambda: app.routing.calls_in_progress() == 1)
    ended = CallEnded(
        call_id=second_call,
        node_id="fs1",
        hangup_cause="NORMAL_CLEARING",
        ended_at=now(),
        duration_s=5,
        billable_s=0,
    )
    await publisher.publish(wrap(tenant, ended, second_call))
    await queue_events.wait_for(
        lambda events: bool(of_call(events, second_call, CallAbandoned)), timeout_s=20
    )
    assert app.routing.calls_in_progress() == 0


def tenants_covering_every_partition(prefix: str) -> list[str]:
    found: dict[int, str] = {}
    index = 0
    while len(found) < PARTITIONS:
        tenant = f"{prefix}{index}"
        found.setdefault(partition_for_tenant(tenant, PARTITIONS), tenant)
        index += 1
    return [found[partition] for partition in range(PARTITIONS)]


async def test_partitions_move_between_instances_and_the_old_owner_is_fenced(
    instances: Starter,
    switch: FakeSwitch,
    publisher: EventPublisher,
    queue_events: EventCollector,
) -> None:
    group = f"routing-test-{uuid.uuid4().hex[:8]}"
    tenants = tenants_covering_every_partition(f"r{uuid.uuid4().hex[:6]}-")
    first = await instances("first", group)
    assert first.consumers is not None
    await first.consumers.wait_until_routing(30)
    for tenant in tenants:
        async with rest(first, tenant) as http:
            assert (await http.post("/v1/queues", json={"id": "q"})).status_code == 201
        await publisher.publish(wrap(tenant, available("agent", "q"), "agent"))

    def knows_agents(app: RoutingApp, owned: list[str]) -> bool:
        return all(
            (state := app.routing.tenant(tenant)) is not None
            and state.engine.agent_state("agent") is AgentState.AVAILABLE
            for tenant in owned
        )

    await eventually(lambda: knows_agents(first, tenants))

    second = await instances("second", group)
    assert second.consumers is not None
    moved = await second.consumers.wait_until_routing(30)
    await first.consumers.consumer.wait_for_assignment(
        30, lambda owned: {tp.partition for tp in owned} == set(range(PARTITIONS)) - moved
    )
    second_tenants = [tenants[p] for p in sorted(moved)]
    assert knows_agents(second, second_tenants), "rebuilt from the first owner's snapshots"
    assert all(first.routing.tenant(t) is None for t in second_tenants)

    tenant = second_tenants[0]
    held = f"{tenant}-held"
    partition = tenants.index(tenant)
    old_epoch = second.routing.ownership.epoch_of(partition)
    assert old_epoch is not None and old_epoch >= 2
    await until_consuming(publisher, tenant, collected(queue_events))
    await until_consuming(publisher, tenant, routing_reads(second, tenant))
    switch.hold.add(held)
    await publisher.publish(wrap(tenant, enqueued(held, "q"), held))
    first_bridge = (await switch.wait_for(held))[0]
    assert first_bridge.variables["sb_epoch"] == str(old_epoch)

    await second.consumers.stop()
    await first.consumers.consumer.wait_for_assignment(30, lambda owned: len(owned) == PARTITIONS)
    new_epoch = first.routing.ownership.epoch_of(partition)
    assert new_epoch == old_epoch + 1
    retried = (await switch.wait_for(held, count=2))[1]
    assert retried.variables["sb_epoch"] == str(new_epoch)

    switch.release(held)
    await eventually(lambda: second.routing.stats.results_refused == 1)
    fenced = PartitionBatch(
        partition=partition,
        epoch=old_epoch,
        at=now(),
        envelopes=(sentinel(tenant),),
    )
    assert not await second.store.save_partition(fenced)

    await queue_events.wait_for(
        lambda events: bool(of_call(events, held, QueueCallAnswered)), timeout_s=20
    )
    events = [e for e in queue_events.events if e.tenant == tenant]
    offered = of_call(events, held, CallOffered)
    assert [o.epoch for o in offered] == [old_epoch, new_epoch]
    revoked = of_call(events, held, CallOfferFailed)
    assert [(f.outcome, f.reservation_id) for f in revoked] == [
        ("revoked", offered[0].reservation_id)
    ]
    answered = of_call(events, held, QueueCallAnswered)
    assert [a.reservation_id for a in answered] == [offered[1].reservation_id]
