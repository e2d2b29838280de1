"""`EventConsumer`: a consumer-group member that decodes events, handles them one at a time
in partition order, and commits offsets only after handling.

- idempotent: events whose id the `ProcessedEvents` store knows are skipped;
- malformed records (not an envelope) are logged, counted and skipped;
- a failing handler is retried with backoff `handler_attempts` times, then the record goes to
  the dead-letter topic `<topic>.dlq` (when a publisher is given; else it is logged and
  counted). Dead-lettering rather than blocking keeps one poison event from stalling every
  later event of the tenants on that partition, and keeps the event for inspection and
  replay. Payload validation errors are not retried: they cannot heal;
- each handled event gets a CONSUMER span whose parent is the producer's trace context;
- rebalance hooks let a service rebuild per-partition state when partitions move.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError
from opentelemetry import trace

from switchboard_common.bus.errors import BusNotStarted, BusUnavailable
from switchboard_common.bus.idempotency import InMemoryProcessedEvents, ProcessedEvents
from switchboard_common.bus.metrics import (
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_MALFORMED,
    HANDLE_LATENCY,
    HANDLER_RETRIES,
)
from switchboard_common.bus.producer import RecordPublisher
from switchboard_common.bus.records import (
    CE_ID,
    CE_TYPE,
    OutgoingRecord,
    TopicPartition,
    dead_letter_topic,
    header_value,
)
from switchboard_common.bus.retry import backoff_delay
from switchboard_common.bus.settings import ConsumerSettings
from switchboard_common.errors import AppError, ValidationFailed
from switchboard_common.events import Envelope, decode
from switchboard_common.telemetry import extract_context

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]
PartitionsCallback = Callable[[frozenset[TopicPartition]], Awaitable[None]]

DLQ_REASON = "dlq_reason"
DLQ_ERROR = "dlq_error"
DLQ_SOURCE_TOPIC = "dlq_source_topic"
DLQ_SOURCE_PARTITION = "dlq_source_partition"
DLQ_SOURCE_OFFSET = "dlq_source_offset"
DLQ_GROUP = "dlq_group"
_MAX_ERROR_TEXT = 1000


class Outcome(enum.Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    DEAD_LETTERED = "dead_lettered"
    RETRY_LATER = "retry_later"


def _partition(tp: Any) -> TopicPartition:
    return TopicPartition(tp.topic, tp.partition)


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: EventConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._owner._partitions_revoked(frozenset(_partition(tp) for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        await self._owner._partitions_assigned(frozenset(_partition(tp) for tp in assigned))


class EventConsumer:
    """Consume `topics` as a member of `settings.group_id`, calling `handler` per event."""

    def __init__(
        self,
        settings: ConsumerSettings,
        topics: Sequence[str],
        handler: Handler,
        *,
        processed: ProcessedEvents | None = None,
        dead_letters: RecordPublisher | None = None,
        on_partitions_assigned: PartitionsCallback | None = None,
        on_partitions_revoked: PartitionsCallback | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        if not topics:
            raise ValidationFailed("a consumer needs at least one topic", field="topics")
        self._settings = settings
        self._topics = tuple(topics)
        self._handler = handler
        self._processed: ProcessedEvents = (
            processed if processed is not None else InMemoryProcessedEvents()
        )
        self._dead_letters = dead_letters
        self._on_assigned = on_partitions_assigned
        self._on_revoked = on_partitions_revoked
        self._tracer = tracer or trace.get_tracer(__name__)
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._lock = asyncio.Lock()
        self._generation = 0
        self._handled: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._assignment: frozenset[TopicPartition] = frozenset()
        self._assignment_changed = asyncio.Condition()

    @property
    def _request_timeout_s(self) -> float:
        return self._settings.request_timeout_ms / 1000

    @property
    def group_id(self) -> str:
        return self._settings.group_id

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    @property
    def assignment(self) -> frozenset[TopicPartition]:
        """The partitions this member owns since the last rebalance."""
        return self._assignment

    def partitions_for_topic(self, topic: str) -> frozenset[int]:
        """The partition ids of `topic` as the consumer's metadata knows them."""
        consumer = self._require_consumer()
        return frozenset(consumer.partitions_for_topic(topic) or ())

    async def wait_for_assignment(
        self,
        timeout_s: float,
        condition: Callable[[frozenset[TopicPartition]], bool] | None = None,
    ) -> frozenset[TopicPartition]:
        """Wait until the assignment satisfies `condition` (default: at least one partition)."""
        check = condition if condition is not None else bool
        try:
            async with asyncio.timeout(timeout_s), self._assignment_changed:
                await self._assignment_changed.wait_for(lambda: check(self._assignment))
        except TimeoutError:
            raise BusUnavailable(
                f"consumer group {self.group_id}: assignment {sorted(self._assignment)} "
                f"still not as expected after {timeout_s}s",
                details={"group_id": self.group_id},
            ) from None
        return self._assignment

    async def _set_assignment(self, assignment: frozenset[TopicPartition]) -> None:
        async with self._assignment_changed:
            self._assignment = assignment
            self._assignment_changed.notify_all()

    def _require_consumer(self) -> Any:
        if self._consumer is None:
            raise BusNotStarted(f"consumer {self.group_id} is not started")
        return self._consumer

    async def start(self) -> None:
        """Join the group and start the consuming task."""
        if self._consumer is not None:
            return
        s = self._settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=s.group_id,
            client_id=s.client_id,
            enable_auto_commit=False,
            auto_offset_reset=s.auto_offset_reset,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            rebalance_timeout_ms=s.rebalance_timeout_ms,
            max_poll_interval_ms=s.max_poll_interval_ms,
            max_poll_records=s.max_poll_records,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            metadata_max_age_ms=s.metadata_max_age_ms,
            request_timeout_ms=s.request_timeout_ms,
        )
        consumer.subscribe(list(self._topics), listener=_RebalanceListener(self))
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise BusUnavailable(
                f"consumer {s.group_id} cannot reach Kafka at {s.bootstrap_servers}: {exc}",
                details={"bootstrap_servers": s.bootstrap_servers, "group_id": s.group_id},
            ) from exc
        self._consumer = consumer
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{s.group_id}")

    async def stop(self) -> None:
        """Let the current event finish (bounded), commit, tell the revoke hook, leave."""
        consumer = self._consumer
        if consumer is None:
            return
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self._settings.shutdown_timeout_s)
            except TimeoutError:
                log.warning(
                    "consumer %s: handler still busy at shutdown, cancelling", self.group_id
                )
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        async with self._lock:
            await self._commit(self._assignment)
            owned = self._assignment
            await self._set_assignment(frozenset())
        if owned and self._on_revoked is not None:
            await self._call_hook(self._on_revoked, owned, "on_partitions_revoked")
        self._consumer = None
        self._handled.clear()
        self._committed.clear()
        try:
            await asyncio.wait_for(consumer.stop(), self._request_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("consumer %s: error while leaving the group: %s", self.group_id, exc)

    async def __aenter__(self) -> EventConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                retry_later = await self._consume_batch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = backoff_delay(
                    failures,
                    initial=self._settings.backoff_initial_s,
                    maximum=self._settings.backoff_max_s,
                )
                log.warning(
                    "consumer %s: poll failed (%s: %s), retry in %.2fs",
                    self.group_id,
                    type(exc).__name__,
                    exc,
                    delay,
                    exc_info=not isinstance(exc, KafkaError),
                )
                await self._sleep(delay)
                continue
            failures = 0
            if retry_later:
                await self._sleep(self._settings.backoff_max_s)

    async def _consume_batch(self) -> bool:
        """Fetch and handle one batch, then commit. True if a record must be retried later."""
        consumer = self._consumer
        s = self._settings
        batch = await consumer.getmany(timeout_ms=s.poll_timeout_ms, max_records=s.max_poll_records)
        generation = self._generation
        retry_later = False
        for kafka_tp, records in batch.items():
            tp = _partition(kafka_tp)
            for record in records:
                if self._stopping.is_set() or generation != self._generation:
                    break
                async with self._lock:
                    if generation != self._generation:
                        break
                    outcome = await self.process(record)
                    if outcome is Outcome.RETRY_LATER:
                        if tp in self._assignment and not self._stopping.is_set():
                            consumer.seek(kafka_tp, record.offset)
                        retry_later = True
                        break
                    self._handled[tp] = record.offset + 1
        async with self._lock:
            await self._commit(self._assignment)
        return retry_later

    async def _commit(self, partitions: Iterable[TopicPartition]) -> None:
        """Commit handled offsets of `partitions` that moved since the last commit."""
        pending = {
            tp: offset
            for tp in partitions
            if (offset := self._handled.get(tp)) is not None and self._committed.get(tp) != offset
        }
        if not pending or self._consumer is None:
            return
        offsets = {KafkaTopicPartition(tp.topic, tp.partition): off for tp, off in pending.items()}
        try:
            # aiokafka retries a commit for as long as the broker is away: bound it.
            await asyncio.wait_for(self._consumer.commit(offsets), self._request_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning(
                "consumer %s: commit failed (%s); events may be redelivered", self.group_id, exc
            )
            return
        self._committed.update(pending)

    async def _partitions_revoked(self, revoked: frozenset[TopicPartition]) -> None:
        self._generation += 1
        async with self._lock:
            await self._commit(revoked)
            for tp in revoked:
                self._handled.pop(tp, None)
                self._committed.pop(tp, None)
            await self._set_assignment(self._assignment - revoked)
        log.info("consumer %s: partitions revoked %s", self.group_id, sorted(revoked))
        if revoked and self._on_revoked is not None:
            await self._call_hook(self._on_revoked, revoked, "on_partitions_revoked")

    async def _partitions_assigned(self, assigned: frozenset[TopicPartition]) -> None:
        log.info("consumer %s: partitions assigned %s", self.group_id, sorted(assigned))
        if self._on_assigned is not None:
            await self._call_hook(self._on_assigned, assigned, "on_partitions_assigned")
        await self._set_assignment(assigned)

    async def _call_hook(
        self, hook: PartitionsCallback, partitions: frozenset[TopicPartition], name: str
    ) -> None:
        try:
            await hook(partitions)
        except Exception:
            log.exception("consumer %s: %s hook failed", self.group_id, name)

    async def process(self, record: Any) -> Outcome:
        """Handle one Kafka record (anything with topic, partition, offset, key, value and
        headers). Never raises, except CancelledError."""
        topic: str = record.topic
        group = self.group_id
        try:
            envelope = decode(record.value if record.value is not None else b"")
        except ValidationFailed as exc:
            log.warning(
                "consumer %s: malformed record skipped at %s[%d]@%d: %s",
                group,
                topic,
                record.partition,
                record.offset,
                exc.message,
                extra={"error_id": exc.error_id},
            )
            EVENTS_MALFORMED.labels(topic, group).inc()
            if not await self._dead_letter(record, "malformed", exc):
                return Outcome.RETRY_LATER
            EVENTS_CONSUMED.labels(topic, group, Outcome.MALFORMED.value).inc()
            return Outcome.MALFORMED
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"{topic} process",
            context=extract_context(record.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation": "process",
                "messaging.destination.name": topic,
                "messaging.consumer.group.name": group,
                "messaging.kafka.destination.partition": record.partition,
                "messaging.kafka.message.offset": record.offset,
                "messaging.message.id": envelope.id,
                "cloudevents.event_type": envelope.type,
            },
        ) as span:
            outcome = await self._handle_with_retries(record, envelope, span)
            span.set_attribute("switchboard.outcome", outcome.value)
        HANDLE_LATENCY.labels(topic, group).observe(time.perf_counter() - started)
        if outcome is not Outcome.RETRY_LATER:
            EVENTS_CONSUMED.labels(topic, group, outcome.value).inc()
        return outcome

    async def _handle_with_retries(
        self, record: Any, envelope: Envelope, span: trace.Span
    ) -> Outcome:
        s = self._settings
        attempt = 0
        while True:
            attempt += 1
            try:
                if await self._processed.is_processed(envelope.id):
                    return Outcome.DUPLICATE
                await self._handler(envelope)
                await self._processed.mark_processed(envelope.id)
                return Outcome.HANDLED
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                span.record_exception(exc)
                permanent = isinstance(exc, ValidationFailed)
                if permanent or attempt >= s.handler_attempts:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                    log.error(
                        "consumer %s: giving up on event %s (%s) after %d attempt(s): %s",
                        self.group_id,
                        envelope.id,
                        envelope.type,
                        attempt,
                        exc,
                        exc_info=not isinstance(exc, AppError),
                    )
                    reason = "invalid-event" if permanent else "handler-failed"
                    if await self._dead_letter(record, reason, exc):
                        return Outcome.DEAD_LETTERED
                    return Outcome.RETRY_LATER
                HANDLER_RETRIES.labels(record.topic, self.group_id).inc()
                delay = backoff_delay(attempt, initial=s.backoff_initial_s, maximum=s.backoff_max_s)
                log.warning(
                    "consumer %s: handler failed on event %s (attempt %d), retry in %.2fs: %s",
                    self.group_id,
                    envelope.id,
                    attempt,
                    delay,
                    exc,
                )
                await self._sleep(delay)
                if self._stopping.is_set():
                    return Outcome.RETRY_LATER

    async def _dead_letter(self, record: Any, reason: str, error: BaseException) -> bool:
        """Park the record on `<topic>.dlq`; False when that failed (retry the record later).
        Without a dead-letter publisher the record is only logged and counted."""
        topic: str = record.topic
        if self._dead_letters is None:
            EVENTS_DEAD_LETTERED.labels(topic, self.group_id, reason, "log").inc()
            log.error(
                "consumer %s: dropped record %s[%d]@%d (%s): %s",
                self.group_id,
                topic,
                record.partition,
                record.offset,
                reason,
                error,
            )
            return True
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]
        headers += [
            (DLQ_REASON, reason.encode()),
            (DLQ_ERROR, str(error)[:_MAX_ERROR_TEXT].encode()),
            (DLQ_SOURCE_TOPIC, topic.encode()),
            (DLQ_SOURCE_PARTITION, str(record.partition).encode()),
            (DLQ_SOURCE_OFFSET, str(record.offset).encode()),
            (DLQ_GROUP, self.group_id.encode()),
        ]
        dead = OutgoingRecord(
            topic=dead_letter_topic(topic),
            key=record.key or b"",
            value=record.value or b"",
            headers=tuple(headers),
            event_id=header_value(record.headers, CE_ID)
            or f"{topic}:{record.partition}:{record.offset}",
            event_type=header_value(record.headers, CE_TYPE) or "unknown",
        )
        try:
            await self._dead_letters.publish_record(dead)
        except AppError as exc:
            log.error("consumer %s: dead-lettering failed, will retry: %s", self.group_id, exc)
            return False
        EVENTS_DEAD_LETTERED.labels(topic, self.group_id, reason, "dlq").inc()
        return True
