"""The only place the ivr service publishes events.

- Call-run announcements (ivr.started, ivr.node_entered, ivr.completed, survey.completed,
  voicemail.left, callback.requested, queue.call_enqueued) describe in-memory runs: they go
  straight to Kafka through `RunNotifier`, which never blocks a call. It queues envelopes
  and a background task sends them in batches (order kept per tenant, as every record of a
  tenant goes to one partition), then retries the ones that failed with the publisher's own
  bounded retries.
- Flow publications (a database write that must be announced) go through the outbox in the
  writing transaction (`FlowNotifier`).

`IvrStats` counts what was announced since start (the supervisor's summary line).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from typing import Protocol

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_common.bus.producer import RecordPublisher
from switchboard_common.bus.records import Delivery, OutgoingRecord, record_for
from switchboard_common.errors import AppError
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.ivr import (
    CallbackRequested,
    FlowPublished,
    IvrCompleted,
    SurveyCompleted,
    VoicemailLeft,
)
from switchboard_common.telemetry import inject_headers

log = logging.getLogger(__name__)

SOURCE = "switchboard/ivr"
_TRACE_CACHE_SIZE = 4096


@dataclass
class IvrStats:
    """Figures since the process started: arrivals and admissions counted by the calls
    service, the rest by the notifier from what runs announce."""

    calls_arrived: int = 0
    runs_started: int = 0
    ivr_completed: int = 0
    run_errors: int = 0
    over_quota: int = 0
    unrouted: int = 0
    arrival_errors: int = 0
    surveys: int = 0
    voicemails: int = 0
    callbacks: int = 0
    events_dropped: int = 0

    def count(self, payload: EventPayload) -> None:
        if isinstance(payload, IvrCompleted):
            if payload.phase == "ivr":
                self.ivr_completed += 1
            if payload.exit_reason == "error":
                self.run_errors += 1
        elif isinstance(payload, SurveyCompleted):
            self.surveys += 1
        elif isinstance(payload, VoicemailLeft):
            self.voicemails += 1
        elif isinstance(payload, CallbackRequested):
            self.callbacks += 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Announcer(Protocol):
    """What a run needs to announce what happens to its call (never blocks)."""

    def announce(self, tenant_id: str, payload: EventPayload, *, subject: str) -> None: ...


class RunNotifier:
    """Publishes run announcements in the background; without a publisher it only counts.

    `max_pending` bounds memory when Kafka is away: beyond it new events are dropped (and
    counted in `stats.events_dropped`) rather than slowing calls down.
    """

    def __init__(
        self,
        publisher: RecordPublisher | None,
        *,
        stats: IvrStats | None = None,
        source: str = SOURCE,
        batch_size: int = 500,
        max_pending: int = 100_000,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self._publisher = publisher
        self.stats = stats if stats is not None else IvrStats()
        self._source = source
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._stop_timeout_s = stop_timeout_s
        self._pending: list[OutgoingRecord] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._trace_cache: dict[
            int, tuple[otel_context.Context, tuple[tuple[str, bytes], ...]]
        ] = {}

    def announce(self, tenant_id: str, payload: EventPayload, *, subject: str) -> None:
        self.stats.count(payload)
        if self._publisher is None:
            return
        if len(self._pending) >= self._max_pending:
            self.stats.events_dropped += 1
            log.error(
                "event %s dropped: %d events wait for Kafka", payload.EVENT_TYPE, len(self._pending)
            )
            return
        envelope = Envelope.wrap(payload, source=self._source, tenant=tenant_id, subject=subject)
        self._pending.append(record_for(envelope, extra_headers=self._trace_headers()))
        self._idle.clear()
        self._wakeup.set()

    def _trace_headers(self) -> tuple[tuple[str, bytes], ...]:
        """The current trace context as headers. A run keeps one context for its whole life
        (the consumer span of its call.arrived), so the headers are computed once per run."""
        context = otel_context.get_current()
        cached = self._trace_cache.get(id(context))
        if cached is not None and cached[0] is context:
            return cached[1]
        headers = tuple(inject_headers())
        self._trace_cache[id(context)] = (context, headers)
        if len(self._trace_cache) > _TRACE_CACHE_SIZE:
            self._trace_cache.pop(next(iter(self._trace_cache)))
        return headers

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        if self._publisher is None or self._task is not None:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="ivr-run-notifier")

    async def stop(self) -> None:
        """Send what is queued (bounded by `stop_timeout_s`), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._stop_timeout_s)
        self._stopping = True
        self._wakeup.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self._pending:
            log.error("%d events not published at shutdown", len(self._pending))

    async def flush(self) -> None:
        """Wait until every queued event has been handed to the publisher."""
        await self._idle.wait()

    async def _run(self) -> None:
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._batch_size]
                del self._pending[: self._batch_size]
                await self._send(batch)
            self._idle.set()

    async def _send(self, batch: list[OutgoingRecord]) -> None:
        assert self._publisher is not None
        try:
            results: list[Delivery | Exception] = await self._publisher.publish_batch(batch)
        except AppError as exc:
            results = [exc] * len(batch)
        for record, result in zip(batch, results, strict=True):
            if isinstance(result, Delivery):
                continue
            try:
                await self._publisher.publish_record(record)
            except AppError as exc:
                self.stats.events_dropped += 1
                log.error(
                    "event %s (%s) not published: %s", record.event_id, record.event_type, exc
                )


class EventSink(Protocol):
    """Where envelopes go inside a transaction (`switchboard_common.outbox.Outbox`)."""

    async def add(self, session: AsyncSession, envelope: Envelope) -> None: ...


class FlowNotifier:
    """Announces flow publications through the outbox, in the caller's transaction."""

    def __init__(self, sink: EventSink, *, source: str = SOURCE) -> None:
        self._sink = sink
        self._source = source

    async def flow_published(
        self, session: AsyncSession, tenant_id: str, payload: FlowPublished
    ) -> None:
        envelope = Envelope.wrap(
            payload, source=self._source, tenant=tenant_id, subject=payload.flow_id
        )
        await self._sink.add(session, envelope)
