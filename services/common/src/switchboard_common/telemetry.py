"""OpenTelemetry tracing set-up and W3C trace-context helpers for Kafka headers and gRPC."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

_state = {"configured": False}


def configure_tracing(
    service: str,
    exporter: str = "none",
    endpoint: str = "",
    extra_exporter: SpanExporter | None = None,
) -> TracerProvider:
    """Install a TracerProvider named after the service; idempotent per process."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"switchboard-{service}"}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        otlp = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(otlp))
    if extra_exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(extra_exporter))
    if not _state["configured"]:
        trace.set_tracer_provider(provider)
        _state["configured"] = True
    return provider


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers() -> list[tuple[str, bytes]]:
    """The current trace context as Kafka record headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def extract_context(
    headers: Iterable[tuple[str, bytes]] | Mapping[str, str] | None,
) -> otel_context.Context:
    """A context whose parent is the trace found in Kafka headers or gRPC metadata."""
    carrier: dict[str, str] = {}
    if headers is None:
        return propagate.extract(carrier)
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        carrier[key.lower()] = value.decode() if isinstance(value, bytes) else str(value)
    return propagate.extract(carrier)
