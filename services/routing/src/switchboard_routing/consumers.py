"""Kafka inputs of the routing service: decode the event, call `RoutingService`.

- The routing consumer group reads `switchboard.queues.v1`. Its assignment decides which
  tenants this instance routes (tenant -> partition by `partition_for_tenant`); its handler
  takes `queue.call_enqueued` from ivr, and reads back routing's own events: those this
  instance published are skipped, another owner's account of a call (answered, left) is
  applied as a correction.
- `PartitionFollower` reads the same partition numbers of `switchboard.agents.v1`
  (`agent.state_changed`), `switchboard.calls.v1` (`call.ended`) and `switchboard.config.v1`
  (queue changes, users' extensions, SIP domains, skills), by manual assignment: a
  partition's positions in those topics are saved with its tenants' snapshots, so the next
  owner carries on exactly where the state it restores stops.
- `RoutingConsumers` ties them to partition ownership: on assignment it takes new partitions
  over (epoch + 1, snapshots), replays their event log from the snapshots' positions to the
  end (`switchboard.queues.v1` included) before routing them; when a rebalance starts it
  checkpoints; partitions it loses are saved and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from switchboard_common.bus import (
    ConsumerSettings,
    EventConsumer,
    InMemoryProcessedEvents,
    Outcome,
    RecordPublisher,
    TopicPartition,
)
from switchboard_common.bus.records import CE_ID, CE_SOURCE, header_value
from switchboard_common.errors import AppError
from switchboard_common.events import Envelope, decode, topics
from switchboard_common.events.agents import AgentStateChanged
from switchboard_common.events.calls import CallEnded
from switchboard_common.events.queues import CallEnqueued
from switchboard_routing.notifier import SOURCE
from switchboard_routing.ownership import Positions, Takeover
from switchboard_routing.services import RoutingService

log = logging.getLogger(__name__)

FOLLOWED_TOPICS: tuple[str, ...] = (topics.AGENTS, topics.CALLS, topics.CONFIG)
HISTORY_TOPICS = frozenset({topics.AGENTS, topics.CONFIG})
"""Read from the start on a partition's very first takeover (calls: from the end)."""

Observer = Callable[[Envelope, float], None]


class QueueEventsHandler:
    """Handler of `switchboard.queues.v1` in the routing group."""

    def __init__(self, service: RoutingService) -> None:
        self._service = service
        self.observer: Observer | None = None
        """Called with each `queue.call_enqueued` and the moment it was taken off the bus
        (benchmarks and tracing)."""

    async def __call__(self, envelope: Envelope) -> None:
        consumed_at = time.perf_counter()
        if envelope.source == SOURCE:
            if not self._service.is_own_event(envelope.id):
                self._service.correct(envelope.tenant, envelope.payload())
            return
        if envelope.type != CallEnqueued.EVENT_TYPE:
            return
        payload = envelope.payload_as(CallEnqueued)
        if self.observer is not None:
            self.observer(envelope, consumed_at)
        await self._service.call_enqueued(envelope.tenant, payload, consumed_at=consumed_at)


class FollowedEventsHandler:
    """Handler of the followed topics (agents, call ends, configuration)."""

    def __init__(self, service: RoutingService) -> None:
        self._service = service

    async def __call__(self, envelope: Envelope) -> None:
        if envelope.type == AgentStateChanged.EVENT_TYPE:
            await self._service.agent_changed(
                envelope.tenant, envelope.payload_as(AgentStateChanged)
            )
        elif envelope.type == CallEnded.EVENT_TYPE:
            await self._service.call_ended(envelope.tenant, envelope.payload_as(CallEnded))
        elif envelope.topic == topics.CONFIG:
            await self._service.config_event(envelope.tenant, envelope.payload())


class TrackingConsumer(EventConsumer):
    """An `EventConsumer` that remembers how far it has handled each partition, and passes
    over the events this instance published itself by their CloudEvents headers alone
    (reading them back is most of the traffic: four or five per call routed)."""

    def __init__(self, *args: Any, own: Callable[[str], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._own = own
        self._positions: dict[TopicPartition, int] = {}

    async def process(self, record: Any) -> Outcome:
        event_id = header_value(record.headers, CE_ID)
        if (
            event_id is not None
            and header_value(record.headers, CE_SOURCE) == SOURCE
            and self._own(event_id)
        ):
            outcome = Outcome.DUPLICATE
        else:
            outcome = await super().process(record)
        if outcome is not Outcome.RETRY_LATER:
            self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
        return outcome

    def position(self, topic: str, partition: int) -> int | None:
        return self._positions.get(TopicPartition(topic, partition))

    def forget(self, topic: str, partition: int) -> None:
        self._positions.pop(TopicPartition(topic, partition), None)


RecordHandler = Callable[[Envelope], Awaitable[None]]


class PartitionFollower:
    """Reads chosen partitions of the followed topics by manual assignment, from given
    positions (no consumer group: positions are saved with the state they produced)."""

    def __init__(
        self,
        bootstrap_servers: str,
        handler: RecordHandler,
        *,
        topics_followed: Iterable[str] = FOLLOWED_TOPICS,
        client_id: str = "switchboard-routing",
        from_start: bool = True,
        fetch_max_wait_ms: int = 100,
        poll_timeout_ms: int = 200,
        request_timeout_ms: int = 10_000,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._handler = handler
        self._topics = tuple(topics_followed)
        self._client_id = client_id
        self._from_start = from_start
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._poll_timeout_ms = poll_timeout_ms
        self._request_timeout_ms = request_timeout_ms
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._followed: set[int] = set()
        self._positions: dict[KafkaTopicPartition, int] = {}
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            request_timeout_ms=self._request_timeout_ms,
        )
        await consumer.start()
        self._consumer = consumer
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="routing-follower")

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(KafkaError):
                await consumer.stop()

    def positions(self, partition: int) -> Positions:
        return {
            tp.topic: offset for tp, offset in self._positions.items() if tp.partition == partition
        }

    async def partition_count(self, topic: str) -> int:
        consumer = self._require()
        await consumer.topics()
        return len(consumer.partitions_for_topic(topic) or ())

    def _require(self) -> Any:
        if self._consumer is None:
            raise RuntimeError("the partition follower is not started")
        return self._consumer

    async def follow(
        self,
        starts: Mapping[int, Mapping[str, int]],
        *,
        replay: RecordHandler | None = None,
        replay_topic: str = topics.QUEUES,
        timeout_s: float = 30.0,
    ) -> None:
        """Start following partitions (partition -> saved positions; a topic missing: from
        the start of the history topics, the end of the others) and read up to the current
        end before returning. With `replay`, `replay_topic`'s records from each saved
        position to its end also go to `replay` (then that topic is left to the group)."""
        consumer = self._require()
        async with self._lock:
            followed: list[KafkaTopicPartition] = []
            replayed: dict[KafkaTopicPartition, int] = {}
            for partition, positions in starts.items():
                self._followed.add(partition)
                for topic in self._topics:
                    tp = KafkaTopicPartition(topic, partition)
                    self._positions.pop(tp, None)
                    followed.append(tp)
                if replay is not None and replay_topic in positions:
                    replayed[KafkaTopicPartition(replay_topic, partition)] = positions[replay_topic]
            await self._assign(extra=list(replayed))
            for tp in followed:
                positions = starts[tp.partition]
                if tp.topic in positions:
                    consumer.seek(tp, positions[tp.topic])
                elif self._from_start and tp.topic in HISTORY_TOPICS:
                    await consumer.seek_to_beginning(tp)
                else:
                    await consumer.seek_to_end(tp)
                self._positions[tp] = await consumer.position(tp)
            for tp, offset in replayed.items():
                consumer.seek(tp, offset)
            await self._catch_up([*followed, *replayed], set(replayed), replay, timeout_s)
            if replayed:
                await self._assign()

    async def unfollow(self, partition: int) -> Positions:
        """Stop following `partition`; returns where it stopped."""
        consumer = self._consumer
        async with self._lock:
            left = self.positions(partition)
            self._followed.discard(partition)
            for tp in [tp for tp in self._positions if tp.partition == partition]:
                del self._positions[tp]
            if consumer is not None:
                await self._assign()
            return left

    async def _assign(self, extra: Iterable[KafkaTopicPartition] = ()) -> None:
        """Assign the followed partitions (plus `extra`) and put each back where it was."""
        consumer = self._require()
        wanted = [
            KafkaTopicPartition(topic, partition)
            for partition in sorted(self._followed)
            for topic in self._topics
        ]
        consumer.assign([*wanted, *extra])
        for tp in wanted:
            offset = self._positions.get(tp)
            if offset is not None:
                consumer.seek(tp, offset)

    async def _catch_up(
        self,
        partitions: list[KafkaTopicPartition],
        replayed: set[KafkaTopicPartition],
        replay: RecordHandler | None,
        timeout_s: float,
    ) -> None:
        consumer = self._require()
        ends: dict[KafkaTopicPartition, int] = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        pending = [tp for tp in partitions if await consumer.position(tp) < ends[tp]]
        while pending:
            if time.monotonic() > deadline:
                log.error(
                    "catching up %s did not finish within %.0fs; routing resumes anyway",
                    sorted(f"{tp.topic}[{tp.partition}]" for tp in pending),
                    timeout_s,
                )
                return
            batch = await consumer.getmany(*pending, timeout_ms=self._poll_timeout_ms)
            for tp, records in batch.items():
                for record in records:
                    if tp in replayed:
                        if replay is not None:
                            await self._handle(record, replay)
                        continue
                    await self._handle(record, self._handler)
                    self._positions[tp] = record.offset + 1
            pending = [tp for tp in pending if await consumer.position(tp) < ends[tp]]

    async def _handle(self, record: Any, handler: RecordHandler) -> None:
        try:
            envelope = decode(record.value if record.value is not None else b"")
        except AppError as exc:
            log.warning(
                "malformed record skipped at %s[%d]@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                exc.message,
            )
            return
        try:
            await handler(envelope)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event %s (%s) could not be handled", envelope.id, envelope.type)

    async def _run(self) -> None:
        consumer = self._require()
        while not self._stopping.is_set():
            if not self._followed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._poll_timeout_ms / 1000)
                continue
            try:
                async with self._lock:
                    if not self._followed:
                        continue
                    batch = await consumer.getmany(timeout_ms=self._poll_timeout_ms)
                    for tp, records in batch.items():
                        if tp not in self._positions and tp.partition not in self._followed:
                            continue
                        for record in records:
                            await self._handle(record, self._handler)
                            self._positions[tp] = record.offset + 1
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning("follower poll failed: %s", exc)
                await asyncio.sleep(0.5)


class ReplayHandler:
    """`switchboard.queues.v1` records from a takeover's saved position to the end: applied
    like the group's handler would, and marked handled so that the group skips them."""

    def __init__(self, service: RoutingService, processed: InMemoryProcessedEvents) -> None:
        self._service = service
        self._processed = processed

    async def __call__(self, envelope: Envelope) -> None:
        await self._processed.mark_processed(envelope.id)
        if envelope.source == SOURCE:
            self._service.is_own_event(envelope.id)
            self._service.correct(envelope.tenant, envelope.payload())
        elif envelope.type == CallEnqueued.EVENT_TYPE:
            await self._service.call_enqueued(envelope.tenant, envelope.payload_as(CallEnqueued))


class RoutingConsumers:
    """Component: the routing group consumer and the follower, driven by partition
    ownership (see the module docstring)."""

    def __init__(
        self,
        service: RoutingService,
        settings: ConsumerSettings,
        follower_bootstrap: str,
        *,
        dead_letters: RecordPublisher | None = None,
        follow_from_start: bool = True,
        catch_up_timeout_s: float = 30.0,
    ) -> None:
        self._service = service
        self._catch_up_timeout_s = catch_up_timeout_s
        self._processed = InMemoryProcessedEvents()
        self.queue_handler = QueueEventsHandler(service)
        self.consumer = TrackingConsumer(
            settings,
            [topics.QUEUES],
            self.queue_handler,
            processed=self._processed,
            dead_letters=dead_letters,
            on_partitions_assigned=self._assigned,
            on_partitions_revoked=self._revoked,
            own=service.is_own_event,
        )
        self.follower = PartitionFollower(
            follower_bootstrap,
            FollowedEventsHandler(service),
            client_id=settings.client_id,
            from_start=follow_from_start,
            request_timeout_ms=settings.request_timeout_ms,
        )
        self.replay_handler = ReplayHandler(service, self._processed)
        self._stopping = False
        service.set_positions_source(self.positions)

    def positions(self, partition: int) -> Positions:
        found = self.follower.positions(partition)
        queues = self.consumer.position(topics.QUEUES, partition)
        if queues is not None:
            found[topics.QUEUES] = queues
        return found

    async def start(self) -> None:
        self._stopping = False
        await self.follower.start()
        await self.consumer.start()

    async def stop(self) -> None:
        """Leave the group: every owned partition is saved and released."""
        self._stopping = True
        await self.consumer.stop()
        await self.follower.stop()

    async def wait_until_routing(self, timeout_s: float) -> frozenset[int]:
        """Wait until this instance owns at least one partition."""
        assigned = await self.consumer.wait_for_assignment(timeout_s)
        return frozenset(tp.partition for tp in assigned)

    async def _revoked(self, revoked: frozenset[TopicPartition]) -> None:
        partitions = sorted({tp.partition for tp in revoked if tp.topic == topics.QUEUES})
        for partition in partitions:
            if self._stopping:
                await self.follower.unfollow(partition)
                await self._service.release(partition)
                self.consumer.forget(topics.QUEUES, partition)
            else:
                await self._service.checkpoint(partition)

    async def _assigned(self, assigned: frozenset[TopicPartition]) -> None:
        service = self._service
        if not service.ownership.known:
            count = await self.follower.partition_count(topics.QUEUES)
            service.ownership.set_partition_count(count)
            for topic in FOLLOWED_TOPICS:
                if await self.follower.partition_count(topic) != count:
                    log.error(
                        "%s does not have %d partitions like %s: the tenants of a partition "
                        "would not match across topics",
                        topic,
                        count,
                        topics.QUEUES,
                    )
        wanted = {tp.partition for tp in assigned if tp.topic == topics.QUEUES}
        for partition in sorted(set(service.ownership.owned) - wanted):
            await self.follower.unfollow(partition)
            await service.release(partition)
            self.consumer.forget(topics.QUEUES, partition)
        starts: dict[int, Positions] = {}
        for partition in sorted(wanted):
            if partition in service.ownership.owned and await service.still_owner(partition):
                service.resume(partition)
                continue
            takeover = await self._take_over(partition)
            if takeover is not None:
                self.consumer.forget(topics.QUEUES, partition)
                starts[partition] = takeover.positions
        if starts:
            await self.follower.follow(
                starts, replay=self.replay_handler, timeout_s=self._catch_up_timeout_s
            )
        for partition in sorted(starts):
            service.resume(partition)

    async def _take_over(self, partition: int) -> Takeover | None:
        """Take `partition` over, retrying while the database is unreachable (nothing of
        the partition can be routed without its state) for up to the catch-up timeout."""
        deadline = time.monotonic() + self._catch_up_timeout_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._service.take_over(partition)
            except Exception:
                if time.monotonic() >= deadline:
                    log.exception("partition %d could not be taken over; left unrouted", partition)
                    return None
                delay = min(5.0, 0.25 * 2**attempt)
                log.warning("taking partition %d over failed, retry in %.1fs", partition, delay)
                await asyncio.sleep(delay)
