"""Use cases of the routing service; they talk to the ports given in their constructors.

- `RoutingService` runs the ACD of the tenants this instance owns: one `RoutingEngine` per
  tenant, fed by the consumers (calls enqueued, agent states, call ends, configuration), the
  timer (`tick`) and the outcomes of the Bridge commands it sends for every offer. It takes
  partitions over (rebuilding their tenants from the stored snapshots, then the event log),
  checkpoints and releases them, and buffers what it announces per partition; the partition
  writer (`persist`) saves a partition's events, decisions, traffic and snapshots in one
  transaction fenced by the partition's epoch.
- `RoutingQueries` answers status and explain questions from the owner of the tenant (this
  instance, or the owner over gRPC).
- `QueuesService` is the REST side: queue CRUD (stored, announced through the outbox, applied
  to the engine), staffing figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard_common.errors import (
    AppError,
    Conflict,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from switchboard_common.events import EventPayload
from switchboard_common.events.agents import AgentStateChanged
from switchboard_common.events.calls import CallEnded
from switchboard_common.events.config import (
    SkillChanged,
    TenantCreated,
    TenantDeleted,
    TenantUpdated,
    UserCreated,
    UserDeleted,
    UserUpdated,
)
from switchboard_common.events.queues import (
    CallDequeued,
    CallEnqueued,
    CallOverflowed,
    QueueConfigChanged,
    QueueDeleted,
    RoutingDecisionMade,
)
from switchboard_routing.callcontrol import BridgeCommand, BridgeReport, CallControl, CallLeg
from switchboard_routing.domain import (
    AgentState,
    Announcement,
    CallLeft,
    EngineSnapshot,
    Offer,
    OfferOutcome,
    OfferResolution,
    Overflow,
    OverflowReason,
    OverflowTarget,
    QueueConfig,
    RoutingEngine,
    TargetKind,
    parse_queue_config,
    queue_config_to_dict,
    translate,
)
from switchboard_routing.domain.staffing import (
    agents_for_service_level,
    erlang_a_agents_for_service_level,
    traffic_erlangs,
)
from switchboard_routing.notifier import CallEvents, ConfigNotifier, decision_payload
from switchboard_routing.ownership import (
    NotOwner,
    PartitionOwner,
    PartitionOwnership,
    Positions,
    Takeover,
)
from switchboard_routing.repository import (
    DecisionRow,
    Directory,
    PartitionBatch,
    QueueRecord,
    RoutingRepository,
    RoutingStore,
    SnapshotRow,
    TenantLoad,
    TrafficRow,
)
from switchboard_routing.schemas import (
    ErlangAFigures,
    ErlangCFigures,
    ExplanationPublic,
    ExplanationSource,
    QueuePublic,
    QueueStatusPublic,
    RoutingStatsPublic,
    StaffingPublic,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]
PositionsSource = Callable[[int], Mapping[str, int]]

WORK_STATES = frozenset({AgentState.ON_CALL, AgentState.ON_HOLD, AgentState.WRAP_UP})
"""An answered agent's handle time runs until it leaves these states."""
DECISIONS_KEPT_PER_TENANT = 2_000
OWN_EVENT_IDS_KEPT = 200_000
CONSUMED_TIMES_KEPT = 100_000
"""Calls whose first Bridge is still to come (for the enqueue -> bridge histogram)."""
_SAFE_VARIABLE = re.compile(r"^[A-Za-z0-9_.:@+\-/ #*=]{1,128}$")


class CallsInProgress(Collector):
    """`switchboard_calls_in_progress{service="routing"}` (the HPA's signal): calls waiting
    or being offered in the routing services of this process, read when scraped. It names
    nothing to the registry up front, so that another service's module registering its own
    gauge of that name in the same process (tests) does not collide with it."""

    def __init__(self) -> None:
        self._services: weakref.WeakSet[RoutingService] = weakref.WeakSet()

    def track(self, service: RoutingService) -> None:
        self._services.add(service)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "switchboard_calls_in_progress",
            "Calls in progress (routing: waiting in a queue or being offered)",
            labels=["service"],
        )
        family.add_metric(["routing"], sum(s.calls_in_progress() for s in list(self._services)))
        yield family


CALLS_IN_PROGRESS = CallsInProgress()
REGISTRY.register(CALLS_IN_PROGRESS)
DECISIONS = Counter(
    "switchboard_routing_decisions_total", "Routing decisions (offers made)", ["strategy"]
)
ENQUEUE_TO_BRIDGE = Histogram(
    "switchboard_routing_enqueue_to_bridge_seconds",
    "From a call's queue.call_enqueued consumed to its first Bridge command sent",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600),
)
OFFER_OUTCOMES = Counter(
    "switchboard_routing_offer_outcomes_total", "How offers ended", ["outcome"]
)


def wall_clock() -> float:
    return time.time()


async def _failed_bridge(error: Exception) -> BridgeReport:
    raise error


# ---------------------------------------------------------------------------- ports


class RoutingStorePort(Protocol):
    """What `RoutingService` needs from storage (`RoutingStore` serves it)."""

    async def take_over(
        self, partition: int, owner: str, address: str, at: datetime
    ) -> Takeover: ...

    async def load_partition(self, partition: int, partition_count: int) -> list[TenantLoad]: ...

    async def load_tenant(self, tenant_id: str) -> TenantLoad: ...

    async def queue_record(self, tenant_id: str, queue_id: str) -> QueueRecord | None: ...

    async def save_partition(self, batch: PartitionBatch) -> bool: ...

    async def apply_config_event(
        self, tenant_id: str, payload: EventPayload, at: datetime
    ) -> None: ...

    async def owner(self, partition: int) -> PartitionOwner | None: ...


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class RoutingOptions:
    instance_id: str = "routing"
    address: str = ""
    """host:port of this instance's gRPC API, recorded with the partitions it owns."""
    bridge_grace_s: float = 5.0
    position_prompt: str = "ivr/ivr-you_are_number.wav"
    wait_prompt: str = "ivr/ivr-estimated_wait_time_is.wav"
    minutes_prompt: str = "time/minutes.wav"
    digits_template: str = "digits/{n}.wav"


@dataclass(slots=True)
class RoutingStats:
    calls_enqueued: int = 0
    calls_offered: int = 0
    calls_answered: int = 0
    calls_abandoned: int = 0
    calls_overflowed: int = 0
    offers_failed: int = 0
    results_refused: int = 0
    takeovers: int = 0
    fenced: int = 0


@dataclass(slots=True)
class TenantRouting:
    """One owned tenant: its engine and what the service keeps beside it."""

    tenant_id: str
    partition: int
    engine: RoutingEngine
    directory: Directory
    queue_versions: dict[str, int] = field(default_factory=dict)
    answered: dict[str, tuple[str, float]] = field(default_factory=dict)
    """agent -> (queue, answered at): handle times for staffing."""
    decisions: OrderedDict[str, RoutingDecisionMade] = field(default_factory=OrderedDict)
    """call -> decision of its latest offer."""

    def endpoint(self, agent_id: str) -> str:
        """The dial string of an agent: `user/<extension>@<tenant SIP domain>`, from admin's
        user and tenant events (the agent id is the user id); the agent id and the tenant id
        stand in for what is not known yet."""
        extension = self.directory.extensions.get(agent_id, agent_id)
        domain = self.directory.sip_domain or self.tenant_id
        return f"user/{extension}@{domain}"


@dataclass(slots=True)
class PartitionBuffer:
    """What a partition owner has to write, and whether it may route yet."""

    partition: int
    epoch: int
    positions: Positions
    envelopes: list[Any] = field(default_factory=list)
    decisions: list[DecisionRow] = field(default_factory=list)
    traffic: dict[tuple[str, str, datetime], list[float]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    routing: bool = False
    """False while the partition is being rebuilt or handed over: no new offers."""
    saved_positions: Positions | None = None

    def count(self, tenant_id: str, queue_id: str, at: float, slot: int, amount: float) -> None:
        key = (tenant_id, queue_id, _minute(at))
        counters = self.traffic.setdefault(key, [0, 0, 0, 0, 0.0])
        counters[slot] += amount

    def take(
        self, at: datetime, snapshots: list[SnapshotRow] | None, positions: Positions | None
    ) -> PartitionBatch:
        batch = PartitionBatch(
            partition=self.partition,
            epoch=self.epoch,
            at=at,
            envelopes=tuple(self.envelopes),
            decisions=tuple(self.decisions),
            traffic=tuple(
                TrafficRow(
                    tenant_id=tenant,
                    queue_id=queue,
                    minute=minute,
                    arrivals=int(c[0]),
                    answered=int(c[1]),
                    abandoned=int(c[2]),
                    handled=int(c[3]),
                    handle_seconds=float(c[4]),
                )
                for (tenant, queue, minute), c in self.traffic.items()
            ),
            snapshots=tuple(snapshots or ()),
            positions=positions,
        )
        self.envelopes, self.decisions, self.traffic = [], [], {}
        return batch

    def give_back(self, batch: PartitionBatch) -> None:
        """A batch that could not be written goes back in front of what came since."""
        self.envelopes[:0] = batch.envelopes
        self.decisions[:0] = batch.decisions
        for row in batch.traffic:
            counters = self.traffic.setdefault(
                (row.tenant_id, row.queue_id, row.minute), [0, 0, 0, 0, 0.0]
            )
            for slot, amount in enumerate(
                (row.arrivals, row.answered, row.abandoned, row.handled, row.handle_seconds)
            ):
                counters[slot] += amount
        self.dirty.update(row.tenant_id for row in batch.snapshots)


ARRIVALS, ANSWERED, ABANDONED, HANDLED, HANDLE_SECONDS = range(5)


def _minute(at: float) -> datetime:
    return translate.from_epoch(math.floor(at / 60.0) * 60.0)


@dataclass(frozen=True, slots=True)
class Explanation:
    source: ExplanationSource
    decision: RoutingDecisionMade


_DIRECTORY_EVENTS = (
    TenantCreated,
    TenantUpdated,
    TenantDeleted,
    UserCreated,
    UserUpdated,
    UserDeleted,
    SkillChanged,
)


# ---------------------------------------------------------------------------- the ACD


class RoutingService:
    """The ACD of the tenants this instance owns (see the module docstring)."""

    def __init__(
        self,
        store: RoutingStorePort,
        control: CallControl,
        *,
        clock: Clock = wall_clock,
        options: RoutingOptions | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._control = control
        self._clock = clock
        self.options = options or RoutingOptions()
        self._rng = rng or random.Random()
        self.ownership = PartitionOwnership()
        self.stats = RoutingStats()
        self._tenants: dict[str, TenantRouting] = {}
        self._directory_changes_while_loading: dict[str, list[EventPayload]] = {}
        self._buffers: dict[int, PartitionBuffer] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._consumed_at: dict[str, float] = {}
        self._own_ids: OrderedDict[str, None] = OrderedDict()
        self._announcing: list[tuple[str, Offer]] = []
        self._positions: PositionsSource = lambda _partition: {}
        self._events = CallEvents(self._emit)

    # ------------------------------------------------------------------ wiring

    def set_positions_source(self, source: PositionsSource) -> None:
        """Where the consumers say how far they have read each partition's topics."""
        self._positions = source

    def tenant(self, tenant_id: str) -> TenantRouting | None:
        return self._tenants.get(tenant_id)

    def tenants_of(self, partition: int) -> list[str]:
        return sorted(t for t, state in self._tenants.items() if state.partition == partition)

    def calls_in_progress(self) -> int:
        """Calls waiting in a queue or being offered, over the tenants owned here."""
        total = 0
        for state in self._tenants.values():
            engine = state.engine
            total += len(engine.reservations())
            total += sum(len(engine.waiting_call_ids(q)) for q in engine.queue_ids)
        return total

    def stats_view(self) -> RoutingStatsPublic:
        s = self.stats
        return RoutingStatsPublic(
            calls_enqueued=s.calls_enqueued,
            calls_offered=s.calls_offered,
            calls_answered=s.calls_answered,
            calls_abandoned=s.calls_abandoned,
            calls_overflowed=s.calls_overflowed,
            offers_failed=s.offers_failed,
            results_refused=s.results_refused,
            calls_in_progress=self.calls_in_progress(),
            owned_partitions=sorted(self.ownership.owned),
        )

    def _lock(self, partition: int) -> asyncio.Lock:
        return self._locks.setdefault(partition, asyncio.Lock())

    def _now_dt(self) -> datetime:
        return translate.from_epoch(self._clock())

    # ------------------------------------------------------------------ partitions

    async def take_over(self, partition: int) -> Takeover:
        """Become the owner of `partition`: bump its epoch, rebuild its tenants from their
        snapshots and stored queues. Offers the previous owner had in flight are revoked.
        The partition routes once `resume` is called (after the event log is replayed)."""
        async with self._lock(partition):
            self._drop(partition)
            takeover = await self._store.take_over(
                partition, self.options.instance_id, self.options.address, self._now_dt()
            )
            loads = await self._store.load_partition(partition, self.ownership.partition_count)
            buffer = PartitionBuffer(partition, takeover.epoch, dict(takeover.positions))
            self._buffers[partition] = buffer
            self.ownership.add(partition, takeover.epoch)
            for load in loads:
                self._install(load, partition, takeover.epoch)
            self.stats.takeovers += 1
            log.info(
                "took partition %d over (epoch %d, %d tenants)",
                partition,
                takeover.epoch,
                len(loads),
            )
            return takeover

    async def still_owner(self, partition: int) -> bool:
        """True when the stored epoch of `partition` is still ours (nobody took it over)."""
        epoch = self.ownership.epoch_of(partition)
        if epoch is None:
            return False
        owner = await self._store.owner(partition)
        return owner is not None and owner.epoch == epoch

    def resume(self, partition: int) -> None:
        """Start (again) making offers for the tenants of `partition`."""
        buffer = self._buffers.get(partition)
        if buffer is None:
            return
        buffer.routing = True
        for tenant_id in self.tenants_of(partition):
            self._dispatch(self._tenants[tenant_id])

    async def checkpoint(self, partition: int) -> None:
        """Stop offering and save everything (a rebalance is starting: the partition may
        move to another instance, which will rebuild from this)."""
        buffer = self._buffers.get(partition)
        if buffer is None:
            return
        buffer.routing = False
        async with self._lock(partition):
            buffer.dirty.update(self.tenants_of(partition))
            if not await self._persist_locked(partition, snapshots=True):
                self._fenced(partition)

    async def release(self, partition: int) -> None:
        """Save and forget `partition` (it now belongs to another instance, or we stop)."""
        async with self._lock(partition):
            buffer = self._buffers.get(partition)
            if buffer is not None:
                buffer.routing = False
                buffer.dirty.update(self.tenants_of(partition))
                if not await self._persist_locked(partition, snapshots=True):
                    log.info("partition %d: already taken over, last changes left out", partition)
            self._drop(partition)

    def _drop(self, partition: int) -> None:
        for tenant_id in self.tenants_of(partition):
            del self._tenants[tenant_id]
        self._buffers.pop(partition, None)
        self.ownership.remove(partition)

    def _fenced(self, partition: int) -> None:
        self.stats.fenced += 1
        log.error(
            "partition %d was taken over by another instance: its tenants are dropped here",
            partition,
        )
        self._drop(partition)

    def _install(self, load: TenantLoad, partition: int, epoch: int) -> TenantRouting:
        now = self._clock()
        engine: RoutingEngine | None = None
        revoked: tuple[OfferResolution, ...] = ()
        if load.snapshot is not None:
            try:
                snapshot = EngineSnapshot.from_dict(load.snapshot)
                engine, revoked = RoutingEngine.restore(
                    snapshot, epoch=epoch, now=now, rng=random.Random(self._rng.random())
                )
            except AppError as exc:
                log.error(
                    "snapshot of tenant %s cannot be restored (%s): starting empty",
                    load.tenant_id,
                    exc.message,
                )
        if engine is None:
            engine = RoutingEngine(
                load.tenant_id, epoch=epoch, rng=random.Random(self._rng.random())
            )
        state = TenantRouting(load.tenant_id, partition, engine, load.directory)
        self._tenants[load.tenant_id] = state
        for resolution in revoked:
            self._resolved(state, resolution)
        stored = {record.queue_id: record for record in load.queues}
        for record in load.queues:
            if record.live:
                self._configure(state, record, now)
            state.queue_versions[record.queue_id] = record.version
        for queue_id in engine.queue_ids:
            found = stored.get(queue_id)
            if found is None or not found.live:
                for overflow in engine.delete_queue(queue_id, now):
                    self._overflowed(state, overflow)
        self._buffers[partition].dirty.add(load.tenant_id)
        return state

    def _configure(self, state: TenantRouting, record: QueueRecord, now: float) -> None:
        try:
            config = parse_queue_config({**record.config, "queue_id": record.queue_id})
        except ValidationFailed as exc:
            log.error(
                "stored queue %s of tenant %s is invalid (%s): not applied",
                record.queue_id,
                state.tenant_id,
                exc.message,
            )
            return
        state.engine.configure_queue(config, now)

    async def _tenant(self, tenant_id: str) -> TenantRouting | None:
        """The routing state of an owned tenant, built on first use; None if not ours."""
        state = self._tenants.get(tenant_id)
        if state is not None or not self.ownership.owns(tenant_id):
            return state
        partition = self.ownership.partition_of(tenant_id)
        epoch = self.ownership.epoch_of(partition)
        changes = self._directory_changes_while_loading.setdefault(tenant_id, [])
        try:
            load = await self._store.load_tenant(tenant_id)
        finally:
            if self._directory_changes_while_loading.get(tenant_id) is changes:
                del self._directory_changes_while_loading[tenant_id]
        state = self._tenants.get(tenant_id)
        if state is not None:
            return state
        if epoch is None or self.ownership.epoch_of(partition) != epoch:
            return None
        state = self._install(load, partition, epoch)
        for payload in changes:
            _apply_directory_change(state.directory, payload)
        return state

    def _buffer(self, state: TenantRouting) -> PartitionBuffer | None:
        buffer = self._buffers.get(state.partition)
        if buffer is None or buffer.epoch != state.engine.epoch:
            return None
        return buffer

    def _emit(self, envelope: Any) -> None:
        if self._announcing:
            self._announce_offers()
        state = self._tenants.get(envelope.tenant)
        buffer = self._buffer(state) if state is not None else None
        if buffer is None:
            log.debug("event %s of a tenant no longer owned dropped", envelope.type)
            return
        buffer.envelopes.append(envelope)
        self._own_ids[envelope.id] = None
        while len(self._own_ids) > OWN_EVENT_IDS_KEPT:
            self._own_ids.popitem(last=False)

    def is_own_event(self, event_id: str) -> bool:
        """True (once) for an event this instance published; the consumers skip those."""
        return self._own_ids.pop(event_id, 0) is None

    def _touch(self, state: TenantRouting) -> None:
        buffer = self._buffers.get(state.partition)
        if buffer is not None:
            buffer.dirty.add(state.tenant_id)

    # ------------------------------------------------------------------ inputs

    async def call_enqueued(
        self, tenant_id: str, event: CallEnqueued, *, consumed_at: float | None = None
    ) -> None:
        """ivr put a call in a queue."""
        state = await self._tenant(tenant_id)
        if state is None:
            return
        now = self._clock()
        request = translate.call_request(event)
        try:
            result = state.engine.enqueue(request, now)
        except AppError as exc:
            if exc.error_id == "call-already-queued":
                return
            if exc.error_id != "no-such-queue":
                raise
            self._overflowed(
                state,
                Overflow(
                    call_id=request.call_id,
                    node_id=request.node_id,
                    from_queue_id=request.queue_id,
                    reason=OverflowReason.QUEUE_DELETED,
                    target=OverflowTarget(TargetKind.VOICEMAIL),
                    waited_seconds=0.0,
                    moved=False,
                    at=now,
                    note=f"queue {request.queue_id} does not exist",
                ),
            )
            return
        self.stats.calls_enqueued += 1
        self._consumed_at[request.call_id] = (
            consumed_at if consumed_at is not None else time.perf_counter()
        )
        if len(self._consumed_at) > CONSUMED_TIMES_KEPT:
            del self._consumed_at[next(iter(self._consumed_at))]
        buffer = self._buffers.get(state.partition)
        if buffer is not None:
            buffer.count(tenant_id, request.queue_id, now, ARRIVALS, 1)
        for overflow in result.overflows:
            self._overflowed(state, overflow)
        self._touch(state)
        self._dispatch(state)

    async def call_ended(self, tenant_id: str, event: CallEnded) -> None:
        """The caller hung up (or any call ended: only calls still queued matter)."""
        state = self._tenants.get(tenant_id)
        if state is None:
            return
        left = state.engine.caller_hung_up(event.call_id, self._clock())
        if left is not None:
            self._left(state, left)
            self._dispatch(state)

    async def agent_changed(self, tenant_id: str, event: AgentStateChanged) -> None:
        state = await self._tenant(tenant_id)
        if state is None:
            return
        update = translate.agent_update(event)
        if not state.engine.agent_changed(update, self._clock()):
            return
        self._handle_time(state, update.agent_id, update.state, update.changed_at)
        self._touch(state)
        self._dispatch(state)

    async def config_event(self, tenant_id: str, payload: EventPayload) -> None:
        """Configuration of a tenant this instance owns (from `switchboard.config.v1`)."""
        if isinstance(payload, QueueConfigChanged | QueueDeleted):
            await self.refresh_queue(tenant_id, payload.queue_id)
            return
        if not isinstance(payload, _DIRECTORY_EVENTS):
            return
        pending = self._directory_changes_while_loading.get(tenant_id)
        if pending is not None:
            pending.append(payload)
        await self._store.apply_config_event(tenant_id, payload, self._now_dt())
        state = self._tenants.get(tenant_id)
        if state is not None:
            _apply_directory_change(state.directory, payload)

    async def refresh_queue(self, tenant_id: str, queue_id: str) -> None:
        """Apply the stored state of a queue (created, changed or deleted) to the engine of
        its tenant, when this instance owns it. Older versions than applied are ignored."""
        if not self.ownership.owns(tenant_id):
            return
        record = await self._store.queue_record(tenant_id, queue_id)
        state = await self._tenant(tenant_id)
        if state is None or record is None:
            return
        if record.version <= state.queue_versions.get(queue_id, 0):
            return
        state.queue_versions[queue_id] = record.version
        now = self._clock()
        if record.live:
            self._configure(state, record, now)
        elif queue_id in state.engine.queue_ids:
            for overflow in state.engine.delete_queue(queue_id, now):
                self._overflowed(state, overflow)
        self._touch(state)
        self._dispatch(state)

    def correct(self, tenant_id: str, payload: EventPayload) -> None:
        """Another owner's account of a call (read back from the event log after a takeover):
        a call it answered, or that left, is not waiting here any more."""
        state = self._tenants.get(tenant_id)
        if state is None:
            return
        left_queue = (isinstance(payload, CallDequeued) and payload.reason != "overflowed") or (
            isinstance(payload, CallOverflowed) and payload.target_kind != "queue"
        )
        gone = getattr(payload, "call_id", None) if left_queue else None
        if gone is not None and state.engine.remove_call(gone, self._clock()) is not None:
            self._consumed_at.pop(gone, None)
            self._touch(state)
            self._dispatch(state)

    # ------------------------------------------------------------------ timers

    def tick(self) -> None:
        """Run the engines' timers (overflow after a wait, max wait, announcements, skill
        relaxation, wrap-up end, offers whose outcome never came), then offer."""
        now = self._clock()
        for state in list(self._tenants.values()):
            buffer = self._buffer(state)
            if buffer is None or not buffer.routing:
                continue
            result = state.engine.tick(now)
            for resolution in result.expired_offers:
                self._resolved(state, resolution)
            for overflow in result.overflows:
                self._overflowed(state, overflow)
            for announcement in result.announcements:
                self._announce(state, announcement)
            if result.expired_offers or result.overflows:
                self._touch(state)
            self._dispatch(state)

    # ------------------------------------------------------------------ offers

    def _dispatch(self, state: TenantRouting) -> None:
        buffer = self._buffer(state)
        if buffer is None or not buffer.routing:
            return
        offers = state.engine.next_offers(self._clock())
        if offers:
            self._touch(state)
        for offer in offers:
            self._start_offer(state, offer)

    def _start_offer(self, state: TenantRouting, offer: Offer) -> None:
        """Send the Bridge at once; its decision and offer events are built right after, once
        the command is on its way (`_announce_offers`)."""
        self.stats.calls_offered += 1
        DECISIONS.labels(offer.decision.strategy.value).inc()
        variables = {
            "sb_tenant": state.tenant_id,
            "sb_queue": offer.queue_id,
            "sb_agent": offer.agent_id,
            "sb_reservation": offer.reservation_id,
            "sb_epoch": str(offer.epoch),
            "sb_decision": offer.decision.decision_id,
        }
        command = BridgeCommand(
            call=CallLeg(state.tenant_id, offer.call_id, offer.node_id),
            endpoint=",".join(state.endpoint(agent_id) for agent_id in offer.agent_ids),
            ring_timeout_s=max(1, math.ceil(offer.ring_timeout_seconds)),
            variables={k: v for k, v in variables.items() if _SAFE_VARIABLE.match(v)},
        )
        consumed_at = self._consumed_at.pop(offer.call_id, None)
        if consumed_at is not None:
            ENQUEUE_TO_BRIDGE.observe(time.perf_counter() - consumed_at)
        deadline = offer.ring_timeout_seconds + self.options.bridge_grace_s
        try:
            outcome = self._control.bridge(command, deadline_s=deadline)
        except Exception as exc:
            outcome = _failed_bridge(exc)
        task = asyncio.create_task(
            self._await_offer(state.tenant_id, offer, outcome, deadline),
            name=f"offer-{offer.reservation_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if not self._announcing:
            asyncio.get_running_loop().call_soon(self._announce_offers)
        self._announcing.append((state.tenant_id, offer))

    def _announce_offers(self) -> None:
        """The `routing.decision` and `queue.call_offered` of the offers started since the
        last call; runs before any other event is emitted, so the order is kept."""
        pending, self._announcing = self._announcing, []
        for tenant_id, offer in pending:
            state = self._tenants.get(tenant_id)
            buffer = self._buffer(state) if state is not None else None
            if state is None or buffer is None or state.engine.epoch != offer.epoch:
                continue
            decision = self._events.offered(tenant_id, offer)
            buffer.decisions.append(
                DecisionRow(
                    tenant_id, offer.call_id, decision.model_dump(mode="json"), decision.decided_at
                )
            )
            state.decisions[offer.call_id] = decision
            state.decisions.move_to_end(offer.call_id)
            while len(state.decisions) > DECISIONS_KEPT_PER_TENANT:
                state.decisions.popitem(last=False)

    async def _await_offer(
        self, tenant_id: str, offer: Offer, outcome: Awaitable[BridgeReport], deadline: float
    ) -> None:
        """Wait for the Bridge outcome and report it; any failure (error, deadline) is
        FAILED: the reservation always ends."""
        try:
            report = await asyncio.wait_for(outcome, deadline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "bridge of call %s to agent %s failed: %s", offer.call_id, offer.agent_id, exc
            )
            report = BridgeReport(OfferOutcome.FAILED, cause=type(exc).__name__)
        self.offer_finished(tenant_id, offer, report)

    def offer_finished(self, tenant_id: str, offer: Offer, report: BridgeReport) -> bool:
        """Report a Bridge outcome to the engine; False when it is refused (the offer was
        made under another epoch, i.e. by a previous owner of the tenant, or is over)."""
        OFFER_OUTCOMES.labels(report.outcome.value).inc()
        state = self._tenants.get(tenant_id)
        if state is None or state.engine.epoch != offer.epoch:
            self.stats.results_refused += 1
            log.warning(
                "outcome %s of reservation %s refused: epoch %d is not the owner's",
                report.outcome.value,
                offer.reservation_id,
                offer.epoch,
            )
            return False
        now = self._clock()
        if report.outcome is OfferOutcome.CALLER_HUNG_UP:
            left = state.engine.caller_hung_up(offer.call_id, now)
            if left is not None:
                self._left(state, left)
        else:
            answered_by = (
                _answered_by(state, offer, report)
                if report.outcome is OfferOutcome.ANSWERED
                else None
            )
            try:
                resolution = state.engine.offer_result(
                    offer.reservation_id,
                    report.outcome,
                    now,
                    epoch=offer.epoch,
                    answered_by=answered_by,
                )
            except NotFound:
                return False
            except PreconditionFailed:
                self.stats.results_refused += 1
                return False
            self._resolved(state, resolution)
        self._touch(state)
        self._dispatch(state)
        return True

    def _resolved(self, state: TenantRouting, resolution: OfferResolution) -> None:
        self._events.offer_ended(state.tenant_id, resolution)
        buffer = self._buffers.get(state.partition)
        if resolution.answered_by is not None:
            self.stats.calls_answered += 1
            state.answered[resolution.answered_by] = (resolution.queue_id, resolution.at)
            if buffer is not None:
                buffer.count(state.tenant_id, resolution.queue_id, resolution.at, ANSWERED, 1)
        else:
            self.stats.offers_failed += 1
        for overflow in resolution.overflows:
            self._overflowed(state, overflow)

    def _left(self, state: TenantRouting, left: CallLeft) -> None:
        self._events.left(state.tenant_id, left)
        self._consumed_at.pop(left.call_id, None)
        self.stats.calls_abandoned += 1
        buffer = self._buffers.get(state.partition)
        if buffer is not None:
            buffer.count(state.tenant_id, left.queue_id, left.at, ABANDONED, 1)

    def _overflowed(self, state: TenantRouting, overflow: Overflow) -> None:
        self._events.overflowed(state.tenant_id, overflow)
        self.stats.calls_overflowed += 1
        if not overflow.moved:
            self._consumed_at.pop(overflow.call_id, None)
            return
        buffer = self._buffers.get(state.partition)
        if buffer is not None:
            buffer.count(state.tenant_id, overflow.target.destination, overflow.at, ARRIVALS, 1)

    def _handle_time(
        self, state: TenantRouting, agent_id: str, agent_state: AgentState, changed_at: float
    ) -> None:
        answered = state.answered.get(agent_id)
        if answered is None or agent_state in WORK_STATES or agent_state is AgentState.RESERVED:
            return
        queue_id, answered_at = answered
        if changed_at < answered_at:
            return
        del state.answered[agent_id]
        buffer = self._buffers.get(state.partition)
        if buffer is not None:
            buffer.count(state.tenant_id, queue_id, changed_at, HANDLED, 1)
            handle = changed_at - answered_at
            buffer.count(state.tenant_id, queue_id, changed_at, HANDLE_SECONDS, handle)

    def _announce(self, state: TenantRouting, announcement: Announcement) -> None:
        items: list[str] = []
        template = self.options.digits_template
        if announcement.position is not None:
            items += [self.options.position_prompt, template.format(n=announcement.position)]
        if announcement.estimated_wait_seconds is not None:
            minutes = max(1, math.ceil(announcement.estimated_wait_seconds / 60.0))
            items += [
                self.options.wait_prompt,
                template.format(n=minutes),
                self.options.minutes_prompt,
            ]
        if not items:
            return
        call = CallLeg(state.tenant_id, announcement.call_id, announcement.node_id)
        task = asyncio.create_task(self._play(call, items), name=f"announce-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, call: CallLeg, items: Sequence[str]) -> None:
        try:
            await self._control.announce(call, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("announcement to call %s not played: %s", call.call_id, exc)

    async def wait_for_offers(self, timeout_s: float) -> None:
        """Wait (bounded) until the Bridge commands in flight have reported."""
        pending = set(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    async def stop(self) -> None:
        """Cancel what is in flight (call after the consumers have released the partitions)."""
        tasks, self._tasks = set(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ persistence

    async def persist(self, *, snapshots: bool) -> None:
        """Write every owned partition's pending events (and, with `snapshots`, the state of
        the tenants that changed and the event-log positions it reflects)."""
        for partition in list(self.ownership.owned):
            async with self._lock(partition):
                if not await self._persist_locked(partition, snapshots=snapshots):
                    self._fenced(partition)

    async def _persist_locked(self, partition: int, *, snapshots: bool) -> bool:
        """Write what is pending; False when the partition's epoch has moved on (fenced)."""
        if self._announcing:
            self._announce_offers()
        buffer = self._buffers.get(partition)
        if buffer is None:
            return True
        rows: list[SnapshotRow] | None = None
        positions: Positions | None = None
        if snapshots:
            buffer.positions.update(self._positions(partition))
            rows = [
                SnapshotRow(tenant, self._tenants[tenant].engine.snapshot().to_dict())
                for tenant in sorted(buffer.dirty)
                if tenant in self._tenants
            ]
            buffer.dirty.clear()
            if rows or buffer.positions != buffer.saved_positions:
                positions = dict(buffer.positions)
        batch = buffer.take(self._now_dt(), rows, positions)
        if batch.empty:
            return True
        try:
            saved = await self._store.save_partition(batch)
        except Exception:
            log.exception("partition %d: saving failed, will retry", partition)
            buffer.give_back(batch)
            return True
        if saved and positions is not None:
            buffer.saved_positions = positions
        return saved

    # ------------------------------------------------------------------ queries

    async def queue_status(self, tenant_id: str, queue_id: str) -> QueueStatusPublic:
        state = await self._tenant(tenant_id)
        if state is None:
            raise NotOwner(f"tenant {tenant_id} is not routed by this instance")
        now = self._clock()
        status = state.engine.queue_status(queue_id, now)
        return QueueStatusPublic.of(status, at=now, epoch=state.engine.epoch)

    async def explain(self, tenant_id: str, call_id: str) -> Explanation | None:
        """The decision of the call's latest offer, or the live decision for a call that was
        never offered; None when this owner knows neither."""
        state = await self._tenant(tenant_id)
        if state is None:
            raise NotOwner(f"tenant {tenant_id} is not routed by this instance")
        if self._announcing:
            self._announce_offers()
        decision = state.decisions.get(call_id)
        if decision is not None:
            return Explanation("offer", decision)
        if state.engine.call_queue(call_id) is None:
            return None
        live = state.engine.explain(call_id, self._clock())
        return Explanation("live", decision_payload(live, epoch=state.engine.epoch))


# ---------------------------------------------------------------------------- timers


class RoutingTimers:
    """Component: the engines' timers (`tick`, every `tick_interval_s`) and the partition
    writer (`persist`: events every `flush_interval_s`, snapshots every
    `snapshot_interval_s`, old decisions and traffic purged every `purge_interval_s`)."""

    def __init__(
        self,
        service: RoutingService,
        *,
        tick_interval_s: float = 0.25,
        flush_interval_s: float = 0.1,
        snapshot_interval_s: float = 1.0,
        purge: Callable[[], Awaitable[None]] | None = None,
        purge_interval_s: float = 3600.0,
    ) -> None:
        self._service = service
        self._tick_s = tick_interval_s
        self._flush_s = flush_interval_s
        self._snapshot_s = snapshot_interval_s
        self._purge = purge
        self._purge_s = purge_interval_s
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        if self._tasks:
            return
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._ticks(), name="routing-ticks"),
            asyncio.create_task(self._writes(), name="routing-writer"),
        ]

    async def stop(self) -> None:
        """Stop the loops, then write what is still pending."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._service.persist(snapshots=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _ticks(self) -> None:
        while not self._stopping.is_set():
            try:
                self._service.tick()
            except Exception:
                log.exception("routing timers failed")
            await self._sleep(self._tick_s)

    async def _writes(self) -> None:
        loop = asyncio.get_running_loop()
        last_snapshot = last_purge = loop.time()
        while not self._stopping.is_set():
            now = loop.time()
            snapshots = now - last_snapshot >= self._snapshot_s
            try:
                await self._service.persist(snapshots=snapshots)
                if snapshots:
                    last_snapshot = now
                if self._purge is not None and now - last_purge >= self._purge_s:
                    last_purge = now
                    await self._purge()
            except Exception:
                log.exception("routing partition writer failed")
            await self._sleep(self._flush_s)


# ---------------------------------------------------------------------------- queries


class OwnerLink(Protocol):
    """Asks another routing instance (the owner of a tenant) over gRPC."""

    async def queue_status(
        self, address: str, tenant_id: str, queue_id: str
    ) -> QueueStatusPublic: ...

    async def explain(self, address: str, tenant_id: str, call_id: str) -> Explanation | None: ...


class DecisionStore(Protocol):
    async def decision(self, tenant_id: str, call_id: str) -> RoutingDecisionMade | None: ...


class RoutingQueries:
    """Status and explanations from whichever instance owns the tenant."""

    def __init__(
        self,
        routing: RoutingService,
        store: RoutingStorePort,
        decisions: DecisionStore,
        link: OwnerLink | None = None,
    ) -> None:
        self._routing = routing
        self._store = store
        self._decisions = decisions
        self._link = link

    async def _owner_address(self, tenant_id: str) -> str:
        ownership = self._routing.ownership
        owner = await self._store.owner(ownership.partition_of(tenant_id))
        if (
            self._link is None
            or owner is None
            or not owner.address
            or owner.address == self._routing.options.address
        ):
            raise NotOwner(f"no routing instance answers for tenant {tenant_id} now")
        return owner.address

    async def queue_status(
        self, tenant_id: str, queue_id: str, *, forward: bool = True
    ) -> QueueStatusPublic:
        if self._routing.ownership.owns(tenant_id) or not forward:
            return await self._routing.queue_status(tenant_id, queue_id)
        address = await self._owner_address(tenant_id)
        assert self._link is not None
        return await self._link.queue_status(address, tenant_id, queue_id)

    async def explain(self, tenant_id: str, call_id: str, *, forward: bool = True) -> Explanation:
        found: Explanation | None = None
        if self._routing.ownership.owns(tenant_id):
            found = await self._routing.explain(tenant_id, call_id)
        if found is None:
            stored = await self._decisions.decision(tenant_id, call_id)
            if stored is not None:
                found = Explanation("offer", stored)
        if found is None and forward and not self._routing.ownership.owns(tenant_id):
            with contextlib.suppress(NotOwner):
                address = await self._owner_address(tenant_id)
                assert self._link is not None
                found = await self._link.explain(address, tenant_id, call_id)
        if found is None:
            raise NotFound(
                f"no routing decision for call {call_id}",
                error_id="no-such-call",
                details={"field": "call_id"},
            )
        return found


# ---------------------------------------------------------------------------- REST use cases


@dataclass(frozen=True, slots=True)
class StaffingQuery:
    interval_s: float = 1800.0
    calls: float | None = None
    aht_s: float | None = None
    service_level: float = 0.8
    answer_s: float | None = None
    shrinkage: float = 0.0
    max_occupancy: float = 1.0
    patience_s: float | None = None
    lookback_s: float | None = None


def unknown_field(given: Any, canonical: Any, path: str = "") -> str | None:
    """The first key of `given` (a request body) that the canonical document lacks."""
    if isinstance(given, dict) and isinstance(canonical, dict):
        for key, value in given.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in canonical:
                return where
            found = unknown_field(value, canonical[key], where)
            if found is not None:
                return found
    elif isinstance(given, list) and isinstance(canonical, list):
        for index, (value, known) in enumerate(zip(given, canonical, strict=False)):
            found = unknown_field(value, known, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _queue_targets(config: QueueConfig) -> list[tuple[str, str]]:
    """(field, queue id) of every queue this one can send calls to."""
    targets: list[tuple[str, str]] = []
    if config.exit_target is not None and config.exit_target.kind is TargetKind.QUEUE:
        targets.append(("exit_target.destination", config.exit_target.destination))
    for index, rule in enumerate(config.overflow_rules):
        if rule.target.kind is TargetKind.QUEUE:
            targets.append((f"overflow_rules[{index}].target.destination", rule.target.destination))
    return targets


def _skills_used(config: QueueConfig) -> list[tuple[str, str]]:
    used = [(f"required_skills[{i}].skill", r.skill) for i, r in enumerate(config.required_skills)]
    used += [
        (f"priority_rules[{i}].required_skill", rule.required_skill)
        for i, rule in enumerate(config.priority_rules)
        if rule.required_skill
    ]
    return used


def _public(record: QueueRecord) -> QueuePublic:
    return QueuePublic(
        id=record.queue_id,
        name=record.name,
        version=record.version,
        config=record.config,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


class QueuesService:
    """Queue configuration (REST): stored, announced, applied to the owner's engine."""

    def __init__(
        self,
        store: RoutingStore,
        notifier: ConfigNotifier,
        routing: RoutingService,
        queries: RoutingQueries,
        *,
        clock: Clock = wall_clock,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._routing = routing
        self._queries = queries
        self._clock = clock

    async def list(self, tenant_id: str) -> list[QueuePublic]:
        async with self._store.tenant(tenant_id) as repo:
            return [_public(record) for record in await repo.queues()]

    async def get(self, tenant_id: str, queue_id: str) -> QueuePublic:
        async with self._store.tenant(tenant_id) as repo:
            return _public(await self._existing(repo, queue_id))

    async def create(self, tenant_id: str, body: Mapping[str, Any]) -> QueuePublic:
        document = dict(body)
        given = {key: document.pop(key) for key in ("id", "queue_id") if key in document}
        if len(set(map(str, given.values()))) > 1:
            raise ValidationFailed(
                "id and queue_id differ", field="queue_id", error_id="queue-id-mismatch"
            )
        queue_id = str(next(iter(given.values()), None) or uuid.uuid4())
        if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", queue_id):
            raise ValidationFailed(
                "a queue id is 1-64 letters, digits, _ . : or -", field="id", error_id="invalid-id"
            )
        now = self._clock()
        at = translate.from_epoch(now)
        async with self._store.tenant(tenant_id) as repo:
            previous = await repo.queue(queue_id, include_deleted=True, for_update=True)
            if previous is not None and previous.live:
                raise Conflict(
                    f"queue {queue_id} already exists",
                    error_id="queue-exists",
                    details={"field": "id"},
                )
            config = await self._validated(repo, queue_id, document)
            record = QueueRecord(
                tenant_id=tenant_id,
                queue_id=queue_id,
                name=config.name,
                version=(previous.version + 1) if previous is not None else 1,
                config=queue_config_to_dict(config),
                created_at=at,
                updated_at=at,
            )
            await repo.save_queue(record, insert=previous is None)
            await self._notifier.queue_changed(repo.session, tenant_id, config, record.version, now)
        await self._apply(tenant_id, queue_id)
        return _public(record)

    async def replace(
        self,
        tenant_id: str,
        queue_id: str,
        body: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> QueuePublic:
        return await self._change(tenant_id, queue_id, dict(body), False, expected_version)

    async def patch(
        self,
        tenant_id: str,
        queue_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> QueuePublic:
        return await self._change(tenant_id, queue_id, dict(changes), True, expected_version)

    async def _change(
        self,
        tenant_id: str,
        queue_id: str,
        document: dict[str, Any],
        merge: bool,
        expected_version: int | None,
    ) -> QueuePublic:
        for key in ("id", "queue_id"):
            if key in document and document.pop(key) != queue_id:
                raise ValidationFailed(
                    "the queue id cannot change", field=key, error_id="queue-id-mismatch"
                )
        now = self._clock()
        async with self._store.tenant(tenant_id) as repo:
            current = await self._existing(repo, queue_id, for_update=True)
            _check_version(current, expected_version)
            if merge:
                document = {**current.config, **document}
            config = await self._validated(repo, queue_id, document)
            record = QueueRecord(
                tenant_id=tenant_id,
                queue_id=queue_id,
                name=config.name,
                version=current.version + 1,
                config=queue_config_to_dict(config),
                created_at=current.created_at,
                updated_at=translate.from_epoch(now),
            )
            await repo.save_queue(record, insert=False)
            await self._notifier.queue_changed(repo.session, tenant_id, config, record.version, now)
        await self._apply(tenant_id, queue_id)
        return _public(record)

    async def delete(
        self, tenant_id: str, queue_id: str, *, expected_version: int | None = None
    ) -> None:
        """Delete a queue; its waiting calls go to its overflow targets (never dropped)."""
        now = self._clock()
        async with self._store.tenant(tenant_id) as repo:
            current = await self._existing(repo, queue_id, for_update=True)
            _check_version(current, expected_version)
            users = [
                other.queue_id
                for other in await repo.queues()
                if other.queue_id != queue_id
                and any(
                    target == queue_id
                    for _, target in _queue_targets(
                        parse_queue_config({**other.config, "queue_id": other.queue_id})
                    )
                )
            ]
            if users:
                raise Conflict(
                    f"queue {queue_id} is an overflow target of {', '.join(users)}",
                    error_id="queue-in-use",
                    details={"field": "id", "queues": users},
                )
            at = translate.from_epoch(now)
            record = QueueRecord(
                tenant_id=tenant_id,
                queue_id=queue_id,
                name=current.name,
                version=current.version + 1,
                config=current.config,
                created_at=current.created_at,
                updated_at=at,
                deleted_at=at,
            )
            await repo.save_queue(record, insert=False)
            await self._notifier.queue_deleted(
                repo.session, tenant_id, queue_id, record.version, now
            )
        await self._apply(tenant_id, queue_id)

    async def status(self, tenant_id: str, queue_id: str) -> QueueStatusPublic:
        await self.get(tenant_id, queue_id)
        return await self._queries.queue_status(tenant_id, queue_id)

    async def explain(self, tenant_id: str, call_id: str) -> ExplanationPublic:
        found = await self._queries.explain(tenant_id, call_id)
        return ExplanationPublic(call_id=call_id, source=found.source, decision=found.decision)

    async def staffing(self, tenant_id: str, queue_id: str, query: StaffingQuery) -> StaffingPublic:
        """Agents needed for the queue's target service level (Erlang C; Erlang A too when
        the callers' patience is given), from the queue's recorded traffic or given figures."""
        now = self._clock()
        lookback = query.lookback_s or query.interval_s
        async with self._store.tenant(tenant_id) as repo:
            record = await self._existing(repo, queue_id)
            totals = await repo.traffic(queue_id, translate.from_epoch(now - lookback))
        config = parse_queue_config({**record.config, "queue_id": queue_id})
        interval = query.interval_s
        if query.calls is not None:
            calls, source = query.calls, "given"
        else:
            calls, source = totals.arrivals * interval / lookback, "recorded"
        if query.aht_s is not None:
            aht, aht_source = query.aht_s, "given"
        elif totals.handled:
            aht, aht_source = totals.handle_seconds / totals.handled, "measured"
        else:
            aht, aht_source = config.default_handle_seconds, "queue_default"
        if aht <= 0:
            aht, aht_source = config.default_handle_seconds, "queue_default"
        answer = query.answer_s if query.answer_s is not None else config.service_level_seconds
        traffic = traffic_erlangs(calls, interval, aht)
        plan = agents_for_service_level(
            traffic,
            handle_seconds=aht,
            target_seconds=answer,
            service_level=query.service_level,
            shrinkage=query.shrinkage,
            max_occupancy=query.max_occupancy,
        )
        figures = plan.figures
        erlang_a: ErlangAFigures | None = None
        if query.patience_s is not None and calls > 0:
            a = erlang_a_agents_for_service_level(
                arrival_rate=calls / interval,
                handle_seconds=aht,
                patience_seconds=query.patience_s,
                target_seconds=answer,
                service_level=query.service_level,
            )
            erlang_a = ErlangAFigures(
                patience_s=query.patience_s,
                agents=a.agents,
                scheduled_agents=math.ceil(a.agents / (1.0 - query.shrinkage) - 1e-9),
                probability_of_waiting=a.probability_of_waiting,
                probability_of_abandon=a.probability_of_abandon,
                service_level=a.service_level,
                average_wait_s=a.average_wait_seconds,
                occupancy=a.occupancy,
            )
        return StaffingPublic(
            queue_id=queue_id,
            interval_s=interval,
            source=source,
            lookback_s=None if source == "given" else lookback,
            calls=calls,
            aht_s=aht,
            aht_source=aht_source,
            traffic_erlangs=traffic,
            target_service_level=query.service_level,
            target_answer_s=answer,
            shrinkage=query.shrinkage,
            max_occupancy=query.max_occupancy,
            erlang_c=ErlangCFigures(
                agents=plan.agents,
                scheduled_agents=plan.scheduled_agents,
                probability_of_waiting=figures.probability_of_waiting,
                service_level=figures.service_level,
                average_speed_of_answer_s=(
                    figures.average_speed_of_answer
                    if math.isfinite(figures.average_speed_of_answer)
                    else None
                ),
                occupancy=figures.occupancy,
            ),
            erlang_a=erlang_a,
        )

    async def _apply(self, tenant_id: str, queue_id: str) -> None:
        """Apply a committed change to this instance's engine when it owns the tenant (the
        owner elsewhere applies it from the configuration event)."""
        try:
            await self._routing.refresh_queue(tenant_id, queue_id)
        except Exception:
            log.exception("queue %s of tenant %s: engine not refreshed", queue_id, tenant_id)

    @staticmethod
    async def _existing(
        repo: RoutingRepository, queue_id: str, *, for_update: bool = False
    ) -> QueueRecord:
        record = await repo.queue(queue_id, for_update=for_update)
        if record is None:
            raise NotFound(
                f"no queue {queue_id}", error_id="no-such-queue", details={"field": "queue_id"}
            )
        return record

    async def _validated(
        self, repo: RoutingRepository, queue_id: str, document: Mapping[str, Any]
    ) -> QueueConfig:
        """The queue configuration of a request body; 422 naming the field at fault."""
        config = parse_queue_config({**document, "queue_id": queue_id})
        unknown = unknown_field(dict(document), queue_config_to_dict(config))
        if unknown is not None:
            raise ValidationFailed(
                f"unknown field {unknown}", field=unknown, error_id="unknown-field"
            )
        known = await repo.skill_names()
        for where, skill in _skills_used(config):
            if skill not in known:
                raise ValidationFailed(
                    f"unknown skill {skill!r} (skills come from admin's skill events)",
                    field=where,
                    error_id="unknown-skill",
                )
        for where, target in _queue_targets(config):
            if await repo.queue(target) is None:
                raise ValidationFailed(
                    f"queue {target} does not exist", field=where, error_id="unknown-queue"
                )
        return config


def _check_version(current: QueueRecord, expected: int | None) -> None:
    if expected is not None and expected != current.version:
        raise PreconditionFailed(
            f"queue {current.queue_id} is at version {current.version}, not {expected}",
            error_id="version-mismatch",
            details={"field": "If-Match", "version": current.version},
        )


__all__ = [
    "CALLS_IN_PROGRESS",
    "Explanation",
    "QueuesService",
    "RoutingOptions",
    "RoutingQueries",
    "RoutingService",
    "RoutingStats",
    "StaffingQuery",
    "TenantRouting",
]


def _answered_by(state: TenantRouting, offer: Offer, report: BridgeReport) -> str:
    """The agent whose endpoint answered; for a single-agent offer, that agent. A ring-all
    answer naming none of the offered endpoints (a switch that does not say) is put on the
    first agent, so the reservation still ends."""
    if len(offer.agent_ids) == 1:
        return offer.agent_id
    for agent_id in offer.agent_ids:
        if state.endpoint(agent_id) == report.answered_endpoint:
            return agent_id
    log.warning(
        "ring-all offer %s answered by unknown endpoint %r; crediting agent %s",
        offer.reservation_id,
        report.answered_endpoint,
        offer.agent_id,
    )
    return offer.agent_id


def _apply_directory_change(directory: Directory, payload: EventPayload) -> None:
    """Mirror one tenant or user config event in routing's in-memory directory."""
    if isinstance(payload, TenantCreated | TenantUpdated):
        directory.sip_domain = payload.sip_domain
    elif isinstance(payload, TenantDeleted):
        directory.sip_domain = None
        directory.extensions.clear()
    elif isinstance(payload, UserCreated | UserUpdated):
        if payload.extension:
            directory.extensions[payload.user_id] = payload.extension
        else:
            directory.extensions.pop(payload.user_id, None)
    elif isinstance(payload, UserDeleted):
        directory.extensions.pop(payload.user_id, None)
