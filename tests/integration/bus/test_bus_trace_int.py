"""The producer's trace continues in the consumer: same trace id, parent = publish span."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from switchboard_common.bus import BrokerEndpoint, EventConsumer, EventPublisher
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.testing.kafka import EventCollector


async def test_the_consumer_span_belongs_to_the_producers_trace(
    kafka_broker: BrokerEndpoint,
    make_topic: Callable[..., Awaitable[str]],
    consumers: Callable[..., EventConsumer],
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.bus")
    handled_in: list[int] = []
    collector = EventCollector()

    async def handler(envelope: Envelope) -> None:
        handled_in.append(trace.get_current_span().get_span_context().trace_id)
        await collector(envelope)

    topic = await make_topic()
    await consumers([topic], handler, tracer=tracer).start()
    envelope = Envelope.wrap(
        CallDtmf(call_id="c", node_id="fs", digit="9"), source="t", tenant="acme"
    )
    async with EventPublisher(kafka_broker.producer_settings(), tracer=tracer) as publisher:
        with tracer.start_as_current_span("incoming request") as request_span:
            await publisher.publish(envelope, topic=topic)
    await collector.wait_for_ids([envelope.id])

    spans = {span.name: span for span in exporter.get_finished_spans()}
    publish_span = spans[f"{topic} publish"]
    process_span = spans[f"{topic} process"]
    trace_id = request_span.get_span_context().trace_id
    assert publish_span.context.trace_id == trace_id
    assert process_span.context.trace_id == trace_id
    assert process_span.parent is not None
    assert process_span.parent.span_id == publish_span.context.span_id
    assert process_span.kind is trace.SpanKind.CONSUMER
    assert handled_in == [trace_id]
