"""Prometheus metrics of the bus and the outbox (process-wide, exposed on `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

EVENTS_PUBLISHED = Counter(
    "bus_events_published", "Events acknowledged by the broker", ["topic", "type"]
)
PUBLISH_LATENCY = Histogram(
    "bus_publish_latency_seconds",
    "Time from send to broker acknowledgement (retries included)",
    ["topic"],
    buckets=_LATENCY_BUCKETS,
)
PUBLISH_ERRORS = Counter(
    "bus_publish_errors", "Failed send attempts, by error class", ["topic", "error"]
)

EVENTS_CONSUMED = Counter(
    "bus_events_consumed",
    "Records taken off the bus, by outcome (handled, duplicate, malformed, dead_lettered)",
    ["topic", "group", "outcome"],
)
HANDLE_LATENCY = Histogram(
    "bus_handle_latency_seconds",
    "Time spent handling one event (retries included)",
    ["topic", "group"],
    buckets=_LATENCY_BUCKETS,
)
HANDLER_RETRIES = Counter(
    "bus_handler_retries", "Handler failures that were retried", ["topic", "group"]
)
EVENTS_MALFORMED = Counter(
    "bus_events_malformed", "Records that are not a valid event envelope", ["topic", "group"]
)
EVENTS_DEAD_LETTERED = Counter(
    "bus_events_dead_lettered",
    "Records given up on; destination is `dlq` (the <topic>.dlq topic) or `log`",
    ["topic", "group", "reason", "destination"],
)

OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_RELAYED = Counter(
    "outbox_events_relayed", "Outbox rows published to the bus", ["service", "topic"]
)
OUTBOX_RELAY_ERRORS = Counter(
    "outbox_relay_errors",
    "Relay failures, by stage (publish, database, cycle)",
    ["service", "stage"],
)
OUTBOX_PURGED = Counter("outbox_rows_purged", "Published outbox rows deleted", ["service"])
