"""Fake ports for the routing service unit tests: an in-memory store that fences by epoch
like the real one, a CallControl whose Bridge outcomes the test decides, a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.agents import AgentSkill, AgentState, AgentStateChanged
from switchboard_common.events.queues import CallEnqueued
from switchboard_routing.callcontrol import BridgeCommand, BridgeReport, CallLeg
from switchboard_routing.domain import OfferOutcome
from switchboard_routing.ownership import PartitionOwner, Takeover
from switchboard_routing.repository import (
    Directory,
    PartitionBatch,
    QueueRecord,
    TenantLoad,
)
from switchboard_routing.services import RoutingOptions, RoutingService

TENANT = "acme"
START = 1_700_000_000.0


class ManualClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class FakeStore:
    """What `RoutingService` stores, in memory; refuses writes under a stale epoch."""

    epochs: dict[int, int] = field(default_factory=dict)
    positions: dict[int, dict[str, int]] = field(default_factory=dict)
    queues: dict[tuple[str, str], QueueRecord] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    directories: dict[str, Directory] = field(default_factory=dict)
    saved: list[PartitionBatch] = field(default_factory=list)
    refused: list[PartitionBatch] = field(default_factory=list)
    config_events: list[EventPayload] = field(default_factory=list)

    def put_queue(self, tenant_id: str, queue_id: str, **config: Any) -> QueueRecord:
        previous = self.queues.get((tenant_id, queue_id))
        at = datetime.fromtimestamp(START, UTC)
        record = QueueRecord(
            tenant_id=tenant_id,
            queue_id=queue_id,
            name=str(config.get("name", queue_id)),
            version=(previous.version + 1) if previous else 1,
            config={"queue_id": queue_id, **config},
            created_at=at,
            updated_at=at,
        )
        self.queues[(tenant_id, queue_id)] = record
        return record

    def delete_queue(self, tenant_id: str, queue_id: str) -> QueueRecord:
        current = self.queues[(tenant_id, queue_id)]
        record = replace(
            current, version=current.version + 1, deleted_at=datetime.fromtimestamp(START, UTC)
        )
        self.queues[(tenant_id, queue_id)] = record
        return record

    async def take_over(self, partition: int, owner: str, address: str, at: datetime) -> Takeover:
        self.epochs[partition] = self.epochs.get(partition, 0) + 1
        return Takeover(partition, self.epochs[partition], dict(self.positions.get(partition, {})))

    def _load(self, tenant_id: str) -> TenantLoad:
        return TenantLoad(
            tenant_id=tenant_id,
            queues=tuple(r for (t, _), r in sorted(self.queues.items()) if t == tenant_id),
            snapshot=self.snapshots.get(tenant_id),
            directory=self.directories.get(tenant_id, Directory()),
        )

    async def load_partition(self, partition: int, partition_count: int) -> list[TenantLoad]:
        tenants = {t for t, _ in self.queues} | set(self.snapshots)
        return [self._load(tenant) for tenant in sorted(tenants)]

    async def load_tenant(self, tenant_id: str) -> TenantLoad:
        return self._load(tenant_id)

    async def queue_record(self, tenant_id: str, queue_id: str) -> QueueRecord | None:
        return self.queues.get((tenant_id, queue_id))

    async def save_partition(self, batch: PartitionBatch) -> bool:
        if self.epochs.get(batch.partition) != batch.epoch:
            self.refused.append(batch)
            return False
        self.saved.append(batch)
        for row in batch.snapshots:
            self.snapshots[row.tenant_id] = row.snapshot
        if batch.positions is not None:
            self.positions[batch.partition] = dict(batch.positions)
        return True

    async def apply_config_event(self, tenant_id: str, payload: EventPayload, at: datetime) -> None:
        self.config_events.append(payload)

    async def owner(self, partition: int) -> PartitionOwner | None:
        epoch = self.epochs.get(partition)
        return PartitionOwner(partition, epoch, "me", "") if epoch is not None else None

    # -- what was published

    def envelopes(self) -> list[Envelope]:
        return [envelope for batch in self.saved for envelope in batch.envelopes]

    def events(self, kind: type[EventPayload]) -> list[Any]:
        return [
            envelope.payload_as(kind)
            for envelope in self.envelopes()
            if envelope.type == kind.EVENT_TYPE
        ]

    def types(self) -> list[str]:
        return [envelope.type.split(".", 1)[1].removesuffix(".v1") for envelope in self.envelopes()]


class FakeCallControl:
    """Each Bridge waits until the test settles it with `finish(...)` (or raises `error`)."""

    def __init__(self) -> None:
        self.commands: list[BridgeCommand] = []
        self.deadlines: list[float] = []
        self._pending: dict[str, asyncio.Future[BridgeReport]] = {}
        self.announcements: list[tuple[CallLeg, list[str]]] = []
        self.error: Exception | None = None
        self.hang = False
        self.sent = asyncio.Event()

    def bridge(self, command: BridgeCommand, *, deadline_s: float) -> Awaitable[BridgeReport]:
        self.commands.append(command)
        self.deadlines.append(deadline_s)
        self.sent.set()
        future: asyncio.Future[BridgeReport] = asyncio.get_running_loop().create_future()
        self._pending[command.variables["sb_reservation"]] = future
        return self._outcome(future)

    async def _outcome(self, future: asyncio.Future[BridgeReport]) -> BridgeReport:
        if self.error is not None:
            raise self.error
        if self.hang:
            await asyncio.Event().wait()
        return await future

    async def announce(self, call: CallLeg, items: Sequence[str]) -> None:
        self.announcements.append((call, list(items)))

    def last(self) -> BridgeCommand:
        return self.commands[-1]

    def finish(
        self,
        command: BridgeCommand,
        outcome: OfferOutcome,
        cause: str = "",
        answered_endpoint: str = "",
    ) -> None:
        self._pending.pop(command.variables["sb_reservation"]).set_result(
            BridgeReport(
                outcome,
                agent_call_id="leg-" + command.call.call_id,
                cause=cause,
                answered_endpoint=answered_endpoint,
            )
        )


def enqueued(call_id: str, queue_id: str = "sales", **fields: Any) -> CallEnqueued:
    return CallEnqueued(
        call_id=call_id,
        queue_id=queue_id,
        node_id="fs1",
        enqueued_at=datetime.fromtimestamp(START, UTC),
        **fields,
    )


def agent_event(
    agent_id: str,
    state: AgentState,
    at: float,
    *queues: str,
    skills: dict[str, int] | None = None,
    previous: AgentState | None = None,
) -> AgentStateChanged:
    return AgentStateChanged(
        agent_id=agent_id,
        state=state,
        previous_state=previous,
        queues=list(queues),
        skills=[AgentSkill(name=k, proficiency=v) for k, v in (skills or {}).items()],
        changed_at=datetime.fromtimestamp(at, UTC),
    )


async def routing(
    store: FakeStore, control: FakeCallControl, clock: ManualClock, **options: Any
) -> RoutingService:
    """A service owning the only partition (everything is ours), already routing."""
    service = RoutingService(
        store, control, clock=clock, options=RoutingOptions(instance_id="test", **options)
    )
    service.ownership.set_partition_count(1)
    await service.take_over(0)
    service.resume(0)
    return service


async def settle(service: RoutingService) -> None:
    """Let the Bridge tasks run until each has reached the fake (or finished)."""
    for _ in range(5):
        await asyncio.sleep(0)
    await service.wait_for_offers(0.01)
