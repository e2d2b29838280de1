"""Prometheus metrics shared by every service, exposed on `/metrics`."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
GRPC_REQUESTS = Counter("grpc_requests_total", "gRPC calls handled", ["service", "method", "code"])
SERVICE_INFO = Gauge("switchboard_service_up", "1 while the service runs", ["service"])


def render_latest() -> tuple[bytes, str]:
    """The process registry in Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
