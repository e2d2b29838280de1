"""Through the real Kafka-protocol broker: call events consumed into contact history, the
outbox relayed to `switchboard.tickets.v1`, and another instance's phone-number index
kept current by those customer events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from switchboard_common.bus import BrokerEndpoint, EventConsumer, EventPublisher
from switchboard_common.events import Envelope, topics
from switchboard_common.events.calls import CallArrived, CallEnded
from switchboard_common.testing import kafka as kafka_plugin
from switchboard_common.testing.kafka import EventCollector
from switchboard_tickets.main import TicketsApp

kafka_broker = kafka_plugin.kafka_broker


@pytest.fixture()
async def running(
    kafka_broker: BrokerEndpoint, make_service: Any
) -> AsyncIterator[list[TicketsApp]]:
    """Two instances with their Kafka parts started (relay, consumers, timer)."""
    group = f"tickets-{uuid.uuid4().hex[:8]}"
    instances: list[TicketsApp] = [
        await make_service(
            producer_settings=kafka_broker.producer_settings(),
            consumer_settings=kafka_broker.consumer_settings(group),
        )
        for _ in range(2)
    ]
    started = []
    try:
        for instance in instances:
            for component in instance.components:
                await component.start()
                started.append(component)
        yield instances
    finally:
        for component in reversed(started):
            await component.stop()


async def test_call_events_and_ticket_events_cross_the_broker(
    running: list[TicketsApp],
    kafka_broker: BrokerEndpoint,
    make_client: Any,
    tenant: str,
    clock: Any,
    eventually: Any,
) -> None:
    first, second = running
    collector = EventCollector()
    listener = EventConsumer(
        kafka_broker.consumer_settings(f"probe-{uuid.uuid4().hex[:8]}"),
        [topics.TICKETS],
        collector,
    )
    await listener.start()
    try:
        await listener.wait_for_assignment(30)
        for instance in running:
            for component in instance.components:
                if isinstance(component, EventConsumer):
                    await component.wait_for_assignment(30)
        start = clock()
        arrived = CallArrived(
            call_id="call-bus",
            node_id="fs-1",
            caller_number="+442079460958",
            destination_number="+33100000000",
            tenant_number="+33100000000",
            arrived_at=start,
        )
        ended = CallEnded(
            call_id="call-bus",
            node_id="fs-1",
            hangup_cause="NORMAL_CLEARING",
            ended_at=start + timedelta(seconds=45),
            duration_s=45,
            billable_s=40,
        )
        async with EventPublisher(kafka_broker.producer_settings()) as publisher:
            for payload in (arrived, ended, ended):
                await publisher.publish(
                    Envelope.wrap(payload, source="switchboard/switch", tenant=tenant)
                )

        client = make_client(tenant, app_service=first)

        async def lead_with_history() -> bool:
            leads = (await client.get("/v1/customers", params={"lifecycle": "lead"})).json()
            if not leads["items"]:
                return False
            history = await client.get(f"/v1/customers/{leads['items'][0]['id']}/contacts")
            items = history.json()["items"]
            return bool(items) and items[0].get("duration") == "PT45S"

        await eventually(lead_with_history)
        [lead] = (await client.get("/v1/customers", params={"lifecycle": "lead"})).json()["items"]
        history = (await client.get(f"/v1/customers/{lead['id']}/contacts")).json()["items"]
        assert len(history) == 1

        await collector.wait_for(
            lambda events: any(
                e.tenant == tenant and e.type == "switchboard.customer.created.v1" for e in events
            )
        )

        created = await client.post(
            "/v1/customers", json={"name": "Ada", "phones": ["+33142685300"]}
        )
        assert created.status_code == 201

        async def second_knows_the_number() -> bool:
            return bool(second.index.get(tenant, "+33142685300") == created.json()["id"])

        await eventually(second_knows_the_number)
    finally:
        await listener.stop()
