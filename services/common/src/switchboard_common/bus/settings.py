"""Producer and consumer settings. Services build them from their `ServiceSettings`;
the embedded broker hands out presets that suit it (no idempotence, quick rebalances)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_common.settings import ServiceSettings


class ProducerSettings(BaseModel):
    """How `EventPublisher` talks to the broker. acks is always `all`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field(min_length=1, description="host:port[,host:port]")
    client_id: str = "switchboard"
    enable_idempotence: bool = Field(
        default=True,
        description="on for Apache Kafka; off for the embedded broker, which lacks it",
    )
    linger_ms: int = Field(default=5, ge=0, description="wait this long to fill a batch")
    max_batch_size: int = Field(default=65_536, ge=1024)
    max_request_size: int = Field(default=1_048_576, ge=1024)
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = None
    request_timeout_ms: int = Field(
        default=15_000, ge=100, description="bound on one send, client retries included"
    )
    retry_backoff_ms: int = Field(default=100, ge=0)
    metadata_max_age_ms: int = Field(default=60_000, ge=100)
    publish_attempts: int = Field(default=4, ge=1, description="sends per publish() call")
    backoff_initial_s: float = Field(default=0.1, gt=0)
    backoff_max_s: float = Field(default=5.0, gt=0)

    @classmethod
    def from_service_settings(cls, settings: ServiceSettings, **overrides: Any) -> ProducerSettings:
        values: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "client_id": f"switchboard-{settings.SERVICE}",
            "enable_idempotence": settings.kafka_enable_idempotence,
        }
        values.update(overrides)
        return cls(**values)


class ConsumerSettings(BaseModel):
    """How `EventConsumer` joins its group and what it does when a handler fails."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field(min_length=1)
    group_id: str = Field(min_length=1, max_length=249)
    client_id: str = "switchboard"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    session_timeout_ms: int = Field(default=10_000, ge=100)
    heartbeat_interval_ms: int = Field(default=3_000, ge=10)
    rebalance_timeout_ms: int = Field(
        default=10_000, ge=100, description="how long the group waits for members to rejoin"
    )
    max_poll_interval_ms: int = Field(default=300_000, ge=1_000)
    max_poll_records: int = Field(default=500, ge=1)
    poll_timeout_ms: int = Field(default=500, ge=1)
    fetch_max_wait_ms: int = Field(
        default=500, ge=0, description="how long the broker may hold a fetch for more data"
    )
    metadata_max_age_ms: int = Field(default=60_000, ge=100)
    request_timeout_ms: int = Field(default=40_000, ge=100)
    handler_attempts: int = Field(default=3, ge=1, description="tries before dead-lettering")
    backoff_initial_s: float = Field(default=0.1, gt=0)
    backoff_max_s: float = Field(default=2.0, gt=0)
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, description="how long stop() lets the current event finish"
    )

    @model_validator(mode="after")
    def _check_timeouts(self) -> ConsumerSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        return self

    @classmethod
    def from_service_settings(
        cls, settings: ServiceSettings, group_id: str, **overrides: Any
    ) -> ConsumerSettings:
        values: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_bootstrap_servers,
            "group_id": group_id,
            "client_id": f"switchboard-{settings.SERVICE}",
            **(EMBEDDED_CONSUMER_DEFAULTS if settings.kafka_embedded else {}),
        }
        values.update(overrides)
        return cls(**values)


EMBEDDED_PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable_idempotence": False,
    "request_timeout_ms": 10_000,
}

# The embedded broker holds a join until the rebalance timeout runs out, and an empty fetch
# for the whole fetch_max_wait_ms even when records arrive meanwhile: keep both short.
EMBEDDED_CONSUMER_DEFAULTS: dict[str, Any] = {
    "fetch_max_wait_ms": 50,
    "session_timeout_ms": 6_000,
    "heartbeat_interval_ms": 500,
    "rebalance_timeout_ms": 1_500,
    "metadata_max_age_ms": 5_000,
    "request_timeout_ms": 10_000,
}
