"""Malformed records and failing handlers never stop the consumer: malformed records are
skipped and counted, events a handler cannot take go to `<topic>.dlq`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY

from switchboard_common.bus import (
    BrokerEndpoint,
    EventConsumer,
    EventPublisher,
    dead_letter_topic,
)
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.testing.kafka import EventCollector


def _envelope(subject: str = "ok") -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id="c", node_id="fs", digit="1"), source="t", tenant="acme", subject=subject
    )


async def _read_all(bootstrap: str, topic: str, count: int) -> list[object]:
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await reader.start()
    records: list[object] = []
    try:
        while len(records) < count:
            batch = await reader.getmany(timeout_ms=30_000)
            assert batch, f"nothing more on {topic}"
            for part in batch.values():
                records.extend(part)
    finally:
        await reader.stop()
    return records


async def test_malformed_records_are_skipped_and_dead_lettered(
    kafka_broker: BrokerEndpoint,
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    topic = await make_topic()
    consumer = consumers([topic], collector, dead_letters=publisher)
    raw = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await raw.start()
    try:
        await raw.send_and_wait(topic, b"\x00 definitely not json", key=b"acme")
        await raw.send_and_wait(topic, b'{"specversion": "1.0", "id": ""}', key=b"acme")
    finally:
        await raw.stop()
    good = _envelope()
    await publisher.publish(good, topic=topic)
    labels = {"topic": topic, "group": consumer.group_id}
    await consumer.start()
    await collector.wait_for_ids([good.id])
    assert collector.ids == [good.id]
    assert REGISTRY.get_sample_value("bus_events_malformed_total", labels) == 2
    parked = await _read_all(kafka_broker.bootstrap_servers, dead_letter_topic(topic), 2)
    assert {record.value for record in parked} == {  # type: ignore[attr-defined]
        b"\x00 definitely not json",
        b'{"specversion": "1.0", "id": ""}',
    }
    assert all(
        dict(record.headers)["dlq_reason"] == b"malformed"  # type: ignore[attr-defined]
        for record in parked
    )


async def test_an_event_the_handler_cannot_take_goes_to_the_dead_letter_topic(
    kafka_broker: BrokerEndpoint,
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
    collector: EventCollector,
) -> None:
    attempts: list[str] = []

    async def handler(envelope: Envelope) -> None:
        if envelope.subject == "poison":
            attempts.append(envelope.id)
            raise RuntimeError("cannot handle this one")
        await collector(envelope)

    topic = await make_topic()
    consumer = consumers(
        [topic],
        handler,
        dead_letters=publisher,
        settings={"handler_attempts": 3, "backoff_initial_s": 0.01, "backoff_max_s": 0.05},
    )
    await consumer.start()
    poison, after = _envelope("poison"), _envelope("after")
    await publisher.publish(poison, topic=topic)
    await publisher.publish(after, topic=topic)
    await collector.wait_for_ids([after.id])
    assert attempts == [poison.id] * 3
    (parked,) = await _read_all(kafka_broker.bootstrap_servers, dead_letter_topic(topic), 1)
    headers = dict(parked.headers)  # type: ignore[attr-defined]
    assert headers["ce_id"] == poison.id.encode()
    assert headers["dlq_reason"] == b"handler-failed"
    assert headers["dlq_source_topic"] == topic.encode()
    assert b"cannot handle this one" in headers["dlq_error"]
