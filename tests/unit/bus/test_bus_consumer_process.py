"""EventConsumer.process() without a broker: idempotency, malformed records, handler retries,
dead-lettering and the consumer span's parent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from switchboard_common.bus import (
    BusUnavailable,
    ConsumerSettings,
    Delivery,
    EventConsumer,
    InMemoryProcessedEvents,
    Outcome,
    OutgoingRecord,
    record_for,
)
from switchboard_common.errors import ValidationFailed
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf

TOPIC = "unit.calls"


@dataclass
class FakeRecord:
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    key: bytes | None = b"acme"
    topic: str = TOPIC
    partition: int = 2
    offset: int = 41


@dataclass
class FakeDeadLetters:
    fail: bool = False
    records: list[OutgoingRecord] = field(default_factory=list)

    async def publish_record(self, record: OutgoingRecord) -> Delivery:
        if self.fail:
            raise BusUnavailable("broker down")
        self.records.append(record)
        return Delivery(record.topic, 0, len(self.records) - 1)

    async def publish_batch(self, records: Sequence[OutgoingRecord]) -> list[Delivery | Exception]:
        return [await self.publish_record(record) for record in records]


def _settings(**overrides: object) -> ConsumerSettings:
    values: dict[str, object] = {
        "bootstrap_servers": "127.0.0.1:1",
        "group_id": "unit-group",
        "handler_attempts": 3,
        "backoff_initial_s": 0.001,
        "backoff_max_s": 0.002,
    }
    values.update(overrides)
    return ConsumerSettings(**values)


def _event_record(headers: dict[str, str] | None = None) -> tuple[Envelope, FakeRecord]:
    envelope = Envelope.wrap(
        CallDtmf(call_id="c1", node_id="fs-1", digit="3"), source="unit", tenant="acme"
    )
    record = record_for(envelope, topic=TOPIC, extra_headers=headers or {})
    return envelope, FakeRecord(value=record.value, headers=record.headers, key=record.key)


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_event_is_handled_once_and_its_redelivery_skipped() -> None:
    seen: list[str] = []

    async def handler(envelope: Envelope) -> None:
        seen.append(envelope.id)

    store = InMemoryProcessedEvents()
    consumer = EventConsumer(_settings(), [TOPIC], handler, processed=store)
    envelope, record = _event_record()
    assert await consumer.process(record) is Outcome.HANDLED
    assert await consumer.process(record) is Outcome.DUPLICATE
    assert seen == [envelope.id]
    assert await store.is_processed(envelope.id)


async def test_malformed_records_are_skipped_counted_and_dead_lettered() -> None:
    calls: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        calls.append(envelope)

    dead = FakeDeadLetters()
    consumer = EventConsumer(_settings(), [TOPIC], handler, dead_letters=dead)
    before = _metric("bus_events_malformed_total", topic=TOPIC, group="unit-group")
    for raw in (b"not json", b"[1,2]", b'{"id": "x"}', None):
        assert await consumer.process(FakeRecord(value=raw)) is Outcome.MALFORMED
    assert calls == []
    assert _metric("bus_events_malformed_total", topic=TOPIC, group="unit-group") == before + 4
    assert [record.topic for record in dead.records] == [f"{TOPIC}.dlq"] * 4
    first = dead.records[0]
    assert first.value == b"not json"
    assert first.key == b"acme"
    headers = dict(first.headers)
    assert headers["dlq_reason"] == b"malformed"
    assert headers["dlq_source_offset"] == b"41"
    assert headers["dlq_source_partition"] == b"2"
    assert headers["dlq_group"] == b"unit-group"


async def test_a_failing_handler_is_retried_until_it_succeeds() -> None:
    attempts: list[int] = []

    async def flaky(envelope: Envelope) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("database away")

    consumer = EventConsumer(_settings(), [TOPIC], flaky)
    before = _metric("bus_handler_retries_total", topic=TOPIC, group="unit-group")
    _, record = _event_record()
    assert await consumer.process(record) is Outcome.HANDLED
    assert len(attempts) == 3
    assert _metric("bus_handler_retries_total", topic=TOPIC, group="unit-group") == before + 2


async def test_a_handler_that_keeps_failing_sends_the_event_to_the_dead_letter_topic() -> None:
    attempts: list[int] = []

    async def broken(envelope: Envelope) -> None:
        attempts.append(1)
        raise RuntimeError("bug in handler")

    dead = FakeDeadLetters()
    store = InMemoryProcessedEvents()
    consumer = EventConsumer(_settings(), [TOPIC], broken, processed=store, dead_letters=dead)
    envelope, record = _event_record()
    assert await consumer.process(record) is Outcome.DEAD_LETTERED
    assert len(attempts) == 3
    assert len(dead.records) == 1
    parked = dead.records[0]
    assert parked.event_id == envelope.id
    assert parked.value == record.value
    headers = dict(parked.headers)
    assert headers["dlq_reason"] == b"handler-failed"
    assert b"bug in handler" in headers["dlq_error"]
    assert headers["ce_id"] == envelope.id.encode()
    assert not await store.is_processed(envelope.id)


async def test_invalid_payloads_are_not_retried() -> None:
    attempts: list[int] = []

    async def strict(envelope: Envelope) -> None:
        attempts.append(1)
        raise ValidationFailed("bad data", field="digit")

    dead = FakeDeadLetters()
    consumer = EventConsumer(_settings(), [TOPIC], strict, dead_letters=dead)
    _, record = _event_record()
    assert await consumer.process(record) is Outcome.DEAD_LETTERED
    assert len(attempts) == 1
    assert dict(dead.records[0].headers)["dlq_reason"] == b"invalid-event"


async def test_without_dead_letter_publisher_the_event_is_logged_and_counted() -> None:
    async def broken(envelope: Envelope) -> None:
        raise RuntimeError("nope")

    consumer = EventConsumer(_settings(handler_attempts=1), [TOPIC], broken)
    labels = {
        "topic": TOPIC,
        "group": "unit-group",
        "reason": "handler-failed",
        "destination": "log",
    }
    before = _metric("bus_events_dead_lettered_total", **labels)
    _, record = _event_record()
    assert await consumer.process(record) is Outcome.DEAD_LETTERED
    assert _metric("bus_events_dead_lettered_total", **labels) == before + 1


async def test_when_dead_lettering_fails_the_event_is_retried_later() -> None:
    async def broken(envelope: Envelope) -> None:
        raise RuntimeError("nope")

    dead = FakeDeadLetters(fail=True)
    consumer = EventConsumer(_settings(handler_attempts=1), [TOPIC], broken, dead_letters=dead)
    _, record = _event_record()
    assert await consumer.process(record) is Outcome.RETRY_LATER
    assert await consumer.process(FakeRecord(value=b"garbage")) is Outcome.RETRY_LATER


async def test_the_consumer_span_continues_the_producers_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent_span = "00f067aa0ba902b7"
    handled_in: list[int] = []

    async def handler(envelope: Envelope) -> None:
        from opentelemetry import trace

        handled_in.append(trace.get_current_span().get_span_context().trace_id)

    consumer = EventConsumer(_settings(), [TOPIC], handler, tracer=provider.get_tracer("unit"))
    _, record = _event_record({"traceparent": f"00-{trace_id}-{parent_span}-01"})
    assert await consumer.process(record) is Outcome.HANDLED
    (span,) = exporter.get_finished_spans()
    assert span.name == f"{TOPIC} process"
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == parent_span
    assert handled_in == [int(trace_id, 16)]
    assert span.attributes is not None
    assert span.attributes["switchboard.outcome"] == "handled"


def test_a_consumer_needs_topics() -> None:
    async def handler(envelope: Envelope) -> None:
        return None

    with pytest.raises(ValidationFailed):
        EventConsumer(_settings(), [], handler)
