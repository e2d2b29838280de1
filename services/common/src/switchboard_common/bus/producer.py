"""`EventPublisher`: sends events to Kafka (acks=all), keyed by tenant, with CloudEvents and
W3C trace-context headers, bounded retries on transient errors, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import trace

from switchboard_common.bus.errors import BusNotStarted, BusUnavailable, PublishRejected
from switchboard_common.bus.metrics import EVENTS_PUBLISHED, PUBLISH_ERRORS, PUBLISH_LATENCY
from switchboard_common.bus.records import Delivery, OutgoingRecord, record_for
from switchboard_common.bus.retry import backoff_delay, is_retriable
from switchboard_common.bus.settings import ProducerSettings
from switchboard_common.events import Envelope
from switchboard_common.telemetry import inject_headers

log = logging.getLogger(__name__)


class RecordPublisher(Protocol):
    """What the outbox relay and the consumer's dead-lettering need from a publisher."""

    async def publish_record(self, record: OutgoingRecord) -> Delivery: ...

    async def publish_batch(
        self, records: Sequence[OutgoingRecord]
    ) -> list[Delivery | Exception]: ...


class EventPublisher:
    """One Kafka producer for a service. `start()` before use, `stop()` flushes and closes."""

    def __init__(self, settings: ProducerSettings, *, tracer: trace.Tracer | None = None) -> None:
        self._settings = settings
        self._tracer = tracer or trace.get_tracer(__name__)
        self._producer: Any = None

    @property
    def settings(self) -> ProducerSettings:
        return self._settings

    @property
    def started(self) -> bool:
        return self._producer is not None

    def _new_producer(self) -> Any:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=s.client_id,
            acks="all",
            enable_idempotence=s.enable_idempotence,
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_size,
            max_request_size=s.max_request_size,
            compression_type=s.compression_type,
            request_timeout_ms=s.request_timeout_ms,
            retry_backoff_ms=s.retry_backoff_ms,
            metadata_max_age_ms=s.metadata_max_age_ms,
        )

    async def start(self) -> None:
        """Connect, retrying transient failures `publish_attempts` times with backoff."""
        if self._producer is not None:
            return
        s = self._settings
        for attempt in range(1, s.publish_attempts + 1):
            producer = self._new_producer()
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                if attempt == s.publish_attempts:
                    raise BusUnavailable(
                        f"cannot reach Kafka at {s.bootstrap_servers}: {exc}",
                        details={"bootstrap_servers": s.bootstrap_servers},
                    ) from exc
                delay = backoff_delay(attempt, initial=s.backoff_initial_s, maximum=s.backoff_max_s)
                log.warning("Kafka not reachable, retrying in %.2fs: %s", delay, exc)
                await asyncio.sleep(delay)
            else:
                self._producer = producer
                return

    async def stop(self) -> None:
        """Send what is buffered, then close the connection."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def __aenter__(self) -> EventPublisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _require_producer(self) -> Any:
        if self._producer is None:
            raise BusNotStarted("the event publisher is not started")
        return self._producer

    async def publish(self, envelope: Envelope, *, topic: str | None = None) -> Delivery:
        """Publish one event and wait for the broker's acknowledgement.

        The topic is the payload's own unless given; the current trace context travels in the
        headers. Raises BusUnavailable after the bounded retries, PublishRejected for errors
        that retrying cannot fix."""
        target = topic or envelope.topic
        attributes = {
            "messaging.system": "kafka",
            "messaging.operation": "publish",
            "messaging.destination.name": target,
            "messaging.message.id": envelope.id,
            "cloudevents.event_type": envelope.type,
        }
        with self._tracer.start_as_current_span(
            f"{target} publish", kind=trace.SpanKind.PRODUCER, attributes=attributes
        ):
            record = record_for(envelope, topic=target, extra_headers=inject_headers())
            return await self.publish_record(record)

    async def publish_record(self, record: OutgoingRecord) -> Delivery:
        """Send a prepared record (outbox rows, dead letters) with bounded retries."""
        producer = self._require_producer()
        s = self._settings
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                metadata = await producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=list(record.headers)
                )
            except KafkaError as exc:
                PUBLISH_ERRORS.labels(record.topic, type(exc).__name__).inc()
                if not is_retriable(exc):
                    raise PublishRejected(
                        f"the broker rejected event {record.event_id}: {exc}",
                        details={"topic": record.topic, "event_id": record.event_id},
                    ) from exc
                if attempt >= s.publish_attempts:
                    raise BusUnavailable(
                        f"could not publish event {record.event_id} after {attempt} attempts: "
                        f"{exc}",
                        details={"topic": record.topic, "event_id": record.event_id},
                    ) from exc
                delay = backoff_delay(attempt, initial=s.backoff_initial_s, maximum=s.backoff_max_s)
                log.warning(
                    "publish to %s failed (%s), retry %d in %.2fs",
                    record.topic,
                    type(exc).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            PUBLISH_LATENCY.labels(record.topic).observe(time.perf_counter() - started)
            EVENTS_PUBLISHED.labels(record.topic, record.event_type).inc()
            return Delivery(metadata.topic, metadata.partition, metadata.offset)

    async def publish_batch(self, records: Sequence[OutgoingRecord]) -> list[Delivery | Exception]:
        """Send records in order without retrying, one result per record (a Delivery or the
        error). Records of one partition stay in order; once a send cannot even be queued
        (no metadata, buffer full), the rest are not sent so that no later record of the
        same key overtakes it."""
        producer = self._require_producer()
        futures: list[asyncio.Future[Any]] = []
        enqueue_error: Exception | None = None
        started = time.perf_counter()
        for record in records:
            try:
                futures.append(
                    await producer.send(
                        record.topic, record.value, key=record.key, headers=list(record.headers)
                    )
                )
            except KafkaError as exc:
                enqueue_error = exc
                break
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        elapsed = time.perf_counter() - started
        results: list[Delivery | Exception] = []
        for record, outcome in zip(records, outcomes, strict=False):
            if isinstance(outcome, BaseException):
                error = outcome if isinstance(outcome, Exception) else RuntimeError(str(outcome))
                PUBLISH_ERRORS.labels(record.topic, type(error).__name__).inc()
                results.append(error)
            else:
                PUBLISH_LATENCY.labels(record.topic).observe(elapsed)
                EVENTS_PUBLISHED.labels(record.topic, record.event_type).inc()
                results.append(Delivery(outcome.topic, outcome.partition, outcome.offset))
        if len(results) < len(records):
            assert enqueue_error is not None
            for record in records[len(results) :]:
                PUBLISH_ERRORS.labels(record.topic, type(enqueue_error).__name__).inc()
                results.append(enqueue_error)
        return results
