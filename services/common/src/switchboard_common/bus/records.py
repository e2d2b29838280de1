"""What goes on the wire: the Kafka record built from an envelope, its headers, and the
partition a tenant's events land on.

Every record is keyed by tenant id (so one tenant's events keep their order) and carries
CloudEvents binary-mode headers `ce_id`, `ce_type`, `ce_source`, `ce_tenant` next to the
structured JSON value, plus the W3C trace context (`traceparent`, `tracestate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from aiokafka.partitioner import murmur2

from switchboard_common.events import Envelope

CE_ID = "ce_id"
CE_TYPE = "ce_type"
CE_SOURCE = "ce_source"
CE_TENANT = "ce_tenant"

DEAD_LETTER_SUFFIX = ".dlq"

Headers = tuple[tuple[str, bytes], ...]


class TopicPartition(NamedTuple):
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record ready for the producer."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers
    event_id: str
    event_type: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


def event_headers(envelope: Envelope) -> dict[str, str]:
    """The CloudEvents binary-mode attributes that let a reader route without parsing."""
    return {
        CE_ID: envelope.id,
        CE_TYPE: envelope.type,
        CE_SOURCE: envelope.source,
        CE_TENANT: envelope.tenant,
    }


def record_for(
    envelope: Envelope,
    *,
    topic: str | None = None,
    extra_headers: Mapping[str, str] | Iterable[tuple[str, bytes]] = (),
) -> OutgoingRecord:
    """The record for `envelope`: its own topic unless one is given, key = tenant id."""
    headers = [(name, value.encode()) for name, value in event_headers(envelope).items()]
    headers.extend(_header_items(extra_headers))
    return OutgoingRecord(
        topic=topic or envelope.topic,
        key=envelope.tenant.encode(),
        value=envelope.encode(),
        headers=tuple(headers),
        event_id=envelope.id,
        event_type=envelope.type,
    )


def _header_items(
    headers: Mapping[str, str] | Iterable[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    if isinstance(headers, Mapping):
        return [(name, value.encode()) for name, value in headers.items()]
    return list(headers)


def header_value(headers: Iterable[tuple[str, bytes]] | None, name: str) -> str | None:
    """The last value of header `name` as text, or None."""
    found: str | None = None
    for key, value in headers or ():
        if key == name and value is not None:
            found = value.decode(errors="replace")
    return found


def dead_letter_topic(topic: str) -> str:
    """Where events that could not be handled from `topic` are parked for inspection/replay."""
    return topic + DEAD_LETTER_SUFFIX


def partition_for_key(key: bytes, partition_count: int) -> int:
    """The partition the default Kafka partitioner (murmur2, as the Java client) picks."""
    if partition_count < 1:
        raise ValueError("partition_count must be at least 1")
    return int(murmur2(key) & 0x7FFFFFFF) % partition_count


def partition_for_tenant(tenant: str, partition_count: int) -> int:
    """The partition of every event of `tenant` on a topic with `partition_count` partitions."""
    return partition_for_key(tenant.encode(), partition_count)
