"""Records built from envelopes, partitioning, backoff and error classification."""

from __future__ import annotations

import random

import orjson
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    UnknownTopicOrPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner

from switchboard_common.bus.records import (
    CE_ID,
    CE_SOURCE,
    CE_TENANT,
    CE_TYPE,
    dead_letter_topic,
    header_value,
    partition_for_key,
    partition_for_tenant,
    record_for,
)
from switchboard_common.bus.retry import backoff_delay, is_retriable
from switchboard_common.events import Envelope, decode, topics
from switchboard_common.events.calls import CallDtmf


def _envelope(tenant: str = "acme") -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id="call-1", node_id="fs-1", digit="7"),
        source="switch/fs-1",
        tenant=tenant,
        subject="call-1",
    )


def test_record_uses_payload_topic_tenant_key_and_cloudevents_headers() -> None:
    envelope = _envelope()
    record = record_for(envelope)
    assert record.topic == topics.CALLS
    assert record.key == b"acme"
    assert decode(record.value) == envelope
    headers = dict(record.headers)
    assert headers[CE_ID] == envelope.id.encode()
    assert headers[CE_TYPE] == b"switchboard.call.dtmf.v1"
    assert headers[CE_SOURCE] == b"switch/fs-1"
    assert headers[CE_TENANT] == b"acme"
    assert record.event_id == envelope.id
    assert record.event_type == envelope.type


def test_record_topic_override_and_extra_headers_in_both_forms() -> None:
    envelope = _envelope()
    from_mapping = record_for(envelope, topic="other", extra_headers={"traceparent": "00-a-b-01"})
    from_pairs = record_for(envelope, extra_headers=[("tracestate", b"x=1")])
    assert from_mapping.topic == "other"
    assert ("traceparent", b"00-a-b-01") in from_mapping.headers
    assert ("tracestate", b"x=1") in from_pairs.headers
    assert orjson.loads(from_mapping.value)["tenant"] == "acme"


def test_partition_for_key_matches_the_producer_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for count in (1, 3, 4, 6, 12):
        partitions = list(range(count))
        for index in range(200):
            key = f"tenant-{index}".encode()
            assert partition_for_key(key, count) == partitioner(key, partitions, partitions)


def test_partition_for_tenant_is_stable_and_in_range() -> None:
    chosen = {partition_for_tenant(f"t{index}", 6) for index in range(100)}
    assert chosen <= set(range(6))
    assert len(chosen) > 1
    assert partition_for_tenant("acme", 6) == partition_for_key(b"acme", 6)


def test_partition_count_must_be_positive() -> None:
    with pytest.raises(ValueError):
        partition_for_key(b"k", 0)


def test_header_value_takes_the_last_and_handles_missing() -> None:
    headers = [("a", b"1"), ("b", b"2"), ("a", b"3")]
    assert header_value(headers, "a") == "3"
    assert header_value(headers, "c") is None
    assert header_value(None, "a") is None


def test_dead_letter_topic_name() -> None:
    assert dead_letter_topic(topics.CALLS) == "switchboard.calls.v1.dlq"


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_delay(n, initial=0.1, maximum=1.0, jitter=0) for n in range(1, 8)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert backoff_delay(10_000, initial=0.1, maximum=2.0, jitter=0) == 2.0


def test_backoff_jitter_stays_within_its_fraction() -> None:
    rng = random.Random(7)
    samples = [
        backoff_delay(3, initial=1.0, maximum=10.0, jitter=0.25, rng=rng) for _ in range(500)
    ]
    assert all(3.0 <= value <= 5.0 for value in samples)
    assert len(set(samples)) > 100


def test_backoff_attempts_start_at_one() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, initial=0.1, maximum=1.0)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KafkaConnectionError(), True),
        (KafkaTimeoutError(), True),
        (NotLeaderForPartitionError(), True),
        (UnknownTopicOrPartitionError(), True),
        (MessageSizeTooLargeError(), False),
        (ValueError("no"), False),
    ],
)
def test_retriable_errors(error: BaseException, expected: bool) -> None:
    assert is_retriable(error) is expected
