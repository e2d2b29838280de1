"""Client settings: defaults, validation, and what the broker endpoints hand out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchboard_common.bus import (
    BrokerStartFailed,
    ConsumerSettings,
    EmbeddedBroker,
    ExternalBroker,
    ProducerSettings,
    default_topics,
)
from switchboard_common.events import topics
from switchboard_common.settings import ServiceSettings


class _RoutingSettings(ServiceSettings):
    SERVICE = "routing"


def test_producer_settings_follow_the_service_settings() -> None:
    service = _RoutingSettings(
        kafka_bootstrap_servers="kafka-1:9092,kafka-2:9092", kafka_enable_idempotence=False
    )
    settings = ProducerSettings.from_service_settings(service, linger_ms=20)
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.enable_idempotence is False
    assert settings.client_id == "switchboard-routing"
    assert settings.linger_ms == 20


def test_producer_idempotence_is_on_by_default() -> None:
    assert ProducerSettings(bootstrap_servers="k:9092").enable_idempotence is True


def test_consumer_settings_from_service_settings() -> None:
    service = _RoutingSettings(kafka_bootstrap_servers="kafka:9092")
    settings = ConsumerSettings.from_service_settings(service, "routing-calls")
    assert settings.group_id == "routing-calls"
    assert settings.client_id == "switchboard-routing"


def test_the_embedded_broker_gets_short_join_and_fetch_timings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = _RoutingSettings(kafka_bootstrap_servers="kafka:9092")
    apache = ConsumerSettings.from_service_settings(service, "routing-calls")
    assert (apache.rebalance_timeout_ms, apache.fetch_max_wait_ms) == (10_000, 500)
    monkeypatch.setenv("KAFKA_EMBEDDED", "true")
    embedded = ConsumerSettings.from_service_settings(
        _RoutingSettings(kafka_bootstrap_servers="127.0.0.1:9092"), "routing-calls"
    )
    assert (embedded.rebalance_timeout_ms, embedded.fetch_max_wait_ms) == (1_500, 50)
    overridden = ConsumerSettings.from_service_settings(
        _RoutingSettings(kafka_bootstrap_servers="127.0.0.1:9092"),
        "routing-calls",
        fetch_max_wait_ms=5,
    )
    assert overridden.fetch_max_wait_ms == 5


def test_consumer_heartbeat_must_be_below_session_timeout() -> None:
    with pytest.raises(ValidationError, match="heartbeat_interval_ms"):
        ConsumerSettings(
            bootstrap_servers="k:9092",
            group_id="g",
            session_timeout_ms=3000,
            heartbeat_interval_ms=3000,
        )


def test_empty_bootstrap_is_refused() -> None:
    with pytest.raises(ValidationError):
        ProducerSettings(bootstrap_servers="")


def test_embedded_broker_settings_disable_idempotence_and_shorten_rebalances() -> None:
    broker = EmbeddedBroker(port=19092)
    assert broker.bootstrap_servers == "127.0.0.1:19092"
    producer = broker.producer_settings()
    assert producer.enable_idempotence is False
    assert broker.producer_settings(linger_ms=0).linger_ms == 0
    consumer = broker.consumer_settings("g1", handler_attempts=5)
    assert (
        consumer.rebalance_timeout_ms
        < ConsumerSettings.model_fields["rebalance_timeout_ms"].default
    )
    assert consumer.handler_attempts == 5
    assert consumer.group_id == "g1"


def test_external_broker_keeps_idempotence() -> None:
    broker = ExternalBroker("kafka:9092")
    assert broker.producer_settings().enable_idempotence is True
    assert broker.consumer_settings("g").bootstrap_servers == "kafka:9092"


def test_default_topics_include_dead_letter_topics() -> None:
    names = default_topics()
    assert set(topics.ALL_TOPICS) <= set(names)
    assert "switchboard.calls.v1.dlq" in names
    assert default_topics(dead_letters=False) == topics.ALL_TOPICS


def test_embedded_broker_without_port_has_none_before_start() -> None:
    with pytest.raises(BrokerStartFailed):
        _ = EmbeddedBroker().bootstrap_servers


def test_embedded_broker_with_a_missing_binary_fails_clearly() -> None:
    broker = EmbeddedBroker(binary="/nonexistent/tansu")
    with pytest.raises(BrokerStartFailed, match="/nonexistent/tansu") as info:
        broker.start_blocking()
    assert info.value.error_id == "broker-start-failed"
    assert not broker.running


def test_embedded_broker_rejects_zero_partitions() -> None:
    with pytest.raises(ValueError):
        EmbeddedBroker(partitions=0)
