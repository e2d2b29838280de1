"""Publish and consume through the real broker: wire format, key = tenant, headers, metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from switchboard_common.bus import (
    BrokerEndpoint,
    EventConsumer,
    EventPublisher,
    partition_for_tenant,
)
from switchboard_common.events import Envelope, decode, topics
from switchboard_common.events.calls import CallDtmf
from switchboard_common.testing.kafka import EventCollector


def _envelope(tenant: str, digit: str = "1") -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id=f"call-{tenant}", node_id="fs-1", digit=digit),
        source="tests/bus",
        tenant=tenant,
        subject=f"call-{tenant}",
    )


async def _raw_record(bootstrap: str, topic: str, partition: int, offset: int) -> object:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        tp = TopicPartition(topic, partition)
        reader.assign([tp])
        reader.seek(tp, offset)
        return await reader.getone()
    finally:
        await reader.stop()


async def test_an_event_crosses_the_broker_keyed_by_tenant_with_headers(
    kafka_broker: BrokerEndpoint,
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    topic = await make_topic()
    consumer = consumers([topic], collector)
    await consumer.start()
    envelope = _envelope("tenant-42")
    delivery = await publisher.publish(envelope, topic=topic)
    assert delivery.topic == topic
    assert delivery.partition == partition_for_tenant("tenant-42", 4)
    await collector.wait_for_ids([envelope.id])
    assert collector.events == [envelope]
    record = await _raw_record(
        kafka_broker.bootstrap_servers, topic, delivery.partition, delivery.offset
    )
    assert record.key == b"tenant-42"  # type: ignore[attr-defined]
    assert decode(record.value) == envelope  # type: ignore[attr-defined]
    headers = dict(record.headers)  # type: ignore[attr-defined]
    assert headers["ce_id"] == envelope.id.encode()
    assert headers["ce_type"] == b"switchboard.call.dtmf.v1"
    assert headers["ce_tenant"] == b"tenant-42"


async def test_the_topic_comes_from_the_payload_and_publishing_is_counted(
    kafka_broker: BrokerEndpoint, publisher: EventPublisher
) -> None:
    labels = {"topic": topics.CALLS, "type": "switchboard.call.dtmf.v1"}
    before = REGISTRY.get_sample_value("bus_events_published_total", labels) or 0.0
    envelope = _envelope("acme")
    delivery = await publisher.publish(envelope)
    assert delivery.topic == topics.CALLS
    assert REGISTRY.get_sample_value("bus_events_published_total", labels) == before + 1
    record = await _raw_record(
        kafka_broker.bootstrap_servers, topics.CALLS, delivery.partition, delivery.offset
    )
    assert decode(record.value).id == envelope.id  # type: ignore[attr-defined]


async def test_one_tenants_events_arrive_in_publish_order(
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    topic = await make_topic()
    await consumers([topic], collector).start()
    sent = {tenant: [_envelope(tenant, str(n % 10)) for n in range(15)] for tenant in "xyz"}
    for batch in zip(*sent.values(), strict=True):
        for envelope in batch:
            await publisher.publish(envelope, topic=topic)
    everything = [envelope.id for envelopes in sent.values() for envelope in envelopes]
    await collector.wait_for_ids(everything)
    for tenant, envelopes in sent.items():
        received = [event.id for event in collector.events if event.tenant == tenant]
        assert received == [envelope.id for envelope in envelopes]
