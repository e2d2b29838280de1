"""The only place the switch service publishes from: call events on `switchboard.calls.v1`.

ESL events must never wait for Kafka, so `submit()` only queues; a task publishes in order,
in batches, and retries while the broker is away (events wait in the bounded buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import Counter, Gauge

from switchboard_common.bus import EventPublisher, OutgoingRecord
from switchboard_common.bus.records import record_for
from switchboard_common.events import Envelope
from switchboard_switch.domain.channels import TenantEvent

log = logging.getLogger(__name__)

CALL_EVENTS_PUBLISHED = Counter("switch_call_events_published_total", "Call events published")
CALL_EVENTS_DROPPED = Counter(
    "switch_call_events_dropped_total", "Call events dropped because the buffer was full"
)
CALL_EVENT_BACKLOG = Gauge("switch_call_event_backlog", "Call events waiting to be published")

BATCH = 500


class CallEventNotifier:
    def __init__(self, publisher: EventPublisher, node_id: str, buffer: int = 100_000) -> None:
        self.publisher = publisher
        self.source = f"switchboard/switch/{node_id}"
        self._queue: asyncio.Queue[TenantEvent] = asyncio.Queue(maxsize=buffer)
        self._task: asyncio.Task[None] | None = None
        self.submitted = 0
        self.published = 0
        self._progress = asyncio.Event()

    def submit(self, event: TenantEvent) -> None:
        try:
            self._queue.put_nowait(event)
            self.submitted += 1
        except asyncio.QueueFull:
            CALL_EVENTS_DROPPED.inc()
            log.error(
                "call event buffer full; dropped %s for call %s",
                event.payload.EVENT_TYPE,
                event.call_id,
            )
        CALL_EVENT_BACKLOG.set(self._queue.qsize())

    def _record(self, event: TenantEvent) -> OutgoingRecord:
        envelope = Envelope.wrap(
            event.payload,
            source=self.source,
            tenant=event.tenant,
            subject=event.call_id,
            time=event.time,
        )
        return record_for(envelope)

    async def _run(self) -> None:
        pending: list[OutgoingRecord] = []
        failures = 0
        while True:
            if not pending:
                pending.append(self._record(await self._queue.get()))
            while len(pending) < BATCH and not self._queue.empty():
                pending.append(self._record(self._queue.get_nowait()))
            results = await self.publisher.publish_batch(pending)
            sent = 0
            for result in results:
                if isinstance(result, Exception):
                    break
                sent += 1
            self.published += sent
            self._progress.set()
            CALL_EVENTS_PUBLISHED.inc(sent)
            pending = pending[sent:]
            CALL_EVENT_BACKLOG.set(self._queue.qsize() + len(pending))
            if pending:
                failures += 1
                delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                log.warning(
                    "publishing call events failed; %d waiting, retry in %.1fs",
                    len(pending) + self._queue.qsize(),
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                failures = 0

    async def start(self) -> None:
        await self.publisher.start()
        self._task = asyncio.create_task(self._run(), name="call-event-notifier")

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until everything submitted so far is published (or the timeout passes)."""
        target = self.submitted
        async with asyncio.timeout(timeout_s):
            while self.published < target:
                self._progress.clear()
                await self._progress.wait()

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await self.drain(3.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.publisher.stop()
