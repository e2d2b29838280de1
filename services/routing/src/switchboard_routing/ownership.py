"""Partition ownership: which tenants this routing instance routes, and under which epoch.

Tenants are owned by Kafka partition: a tenant's events are keyed by its id, so all of them
land on partition `partition_for_tenant(tenant, n)` of every topic (the topics have the same
partition count), and the member of the routing consumer group that is assigned that
partition of `switchboard.queues.v1` routes the tenant. Each takeover of a partition
increments its epoch in the database (`routing_partitions`); the epoch stamps every
reservation and fences the previous owner: its offer results are refused, and its writes
(events, snapshots) are rejected once the epoch has moved on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from switchboard_common.bus import partition_for_tenant
from switchboard_common.errors import Unavailable

Positions = dict[str, int]
"""Next offset to read per topic, for one partition number."""


@dataclass(frozen=True, slots=True)
class Takeover:
    """What the database says when this instance takes a partition."""

    partition: int
    epoch: int
    positions: Positions = field(default_factory=dict)
    """Where the previous owner's saved state stops in each topic's event log."""


@dataclass(frozen=True, slots=True)
class PartitionOwner:
    partition: int
    epoch: int
    owner: str
    address: str


class NotOwner(Unavailable):
    """This instance does not route the tenant (another instance does, or nobody yet)."""

    error_id = "routing-owner-unavailable"


class PartitionOwnership:
    """The partitions this instance owns, with their epochs."""

    def __init__(self, partition_count: int = 0) -> None:
        self._count = partition_count
        self._epochs: dict[int, int] = {}

    @property
    def partition_count(self) -> int:
        return self._count

    def set_partition_count(self, count: int) -> None:
        if count < 1:
            raise ValueError("a topic has at least one partition")
        self._count = count

    @property
    def known(self) -> bool:
        return self._count > 0

    @property
    def owned(self) -> Mapping[int, int]:
        """partition -> epoch."""
        return dict(self._epochs)

    def partition_of(self, tenant_id: str) -> int:
        if not self._count:
            raise NotOwner("the partition count is not known yet")
        return partition_for_tenant(tenant_id, self._count)

    def owns(self, tenant_id: str) -> bool:
        return bool(self._count) and self.partition_of(tenant_id) in self._epochs

    def epoch_of(self, partition: int) -> int | None:
        return self._epochs.get(partition)

    def add(self, partition: int, epoch: int) -> None:
        self._epochs[partition] = epoch

    def remove(self, partition: int) -> int | None:
        return self._epochs.pop(partition, None)
