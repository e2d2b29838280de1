"""The composition root wires the outbox relay only with Kafka; config events then reach
`switchboard.config.v1` keyed by tenant, in the order of the changes."""

import asyncio
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from switchboard_admin.main import build
from switchboard_admin.settings import AdminSettings
from switchboard_common.bus import BrokerEndpoint, partition_for_tenant
from switchboard_common.events import decode, topics
from switchboard_common.outbox import OutboxRelay

OPERATOR = {"Authorization": "Bearer integration-operator-token-0123456789"}


async def config_events_of(bootstrap: str, tenant_id: str, count: int) -> list[str]:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topics.CONFIG) or {0}
        partition = TopicPartition(topics.CONFIG, partition_for_tenant(tenant_id, len(partitions)))
        reader.assign([partition])
        await reader.seek_to_beginning(partition)
        found: list[str] = []
        async with asyncio.timeout(30):
            while len(found) < count:
                batch = await reader.getmany(partition, timeout_ms=500)
                for record in batch.get(partition, []):
                    envelope = decode(record.value)
                    if envelope.tenant == tenant_id:
                        assert record.key == tenant_id.encode()
                        found.append(envelope.type)
        return found
    finally:
        await reader.stop()


async def test_without_kafka_no_relay_is_wired(admin_settings: AdminSettings) -> None:
    runtime = await build(admin_settings.model_copy(update={"kafka_bootstrap_servers": ""}))
    try:
        assert runtime.components == []
    finally:
        for hook in runtime.on_stop:
            await hook()


async def test_config_events_reach_kafka_through_the_outbox(
    admin_settings: AdminSettings, kafka_broker: BrokerEndpoint
) -> None:
    settings = admin_settings.model_copy(
        update={
            "kafka_bootstrap_servers": kafka_broker.bootstrap_servers,
            "kafka_enable_idempotence": False,
        }
    )
    runtime = await build(settings)
    assert any(isinstance(component, OutboxRelay) for component in runtime.components)
    for component in runtime.components:
        await component.start()
    try:
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as http:
            created = await http.post(
                "/v1/tenants",
                json={"slug": f"ev{uuid.uuid4().hex[:8]}", "name": "Events"},
                headers=OPERATOR,
            )
            tenant: dict[str, Any] = created.json()["tenant"]
            key = {"X-API-Key": created.json()["api_key"]["key"]}
            await http.post("/v1/skills", json={"name": "german"}, headers=key)
            await http.post(f"/v1/tenants/{tenant['id']}/suspend", headers=OPERATOR)
        received = await config_events_of(kafka_broker.bootstrap_servers, tenant["id"], 3)
        assert received == [
            "switchboard.tenant.created.v1",
            "switchboard.skill.changed.v1",
            "switchboard.tenant.suspended.v1",
        ]
    finally:
        for component in reversed(runtime.components):
            await component.stop()
        for hook in runtime.on_stop:
            await hook()
