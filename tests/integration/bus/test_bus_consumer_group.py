"""Two members of one consumer group share the partitions; when one leaves, the other takes
them all over (its rebalance hooks fire) and nothing is lost or handled twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from switchboard_common.bus import (
    EventConsumer,
    EventPublisher,
    TopicPartition,
    partition_for_tenant,
)
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.testing.kafka import EventCollector

PARTITIONS = 4


def _tenants_covering_every_partition() -> list[str]:
    tenants: dict[int, str] = {}
    index = 0
    while len(tenants) < PARTITIONS:
        tenants.setdefault(partition_for_tenant(f"tenant-{index}", PARTITIONS), f"tenant-{index}")
        index += 1
    return [tenants[partition] for partition in range(PARTITIONS)]


def _envelopes(tenants: list[str], per_tenant: int) -> list[Envelope]:
    return [
        Envelope.wrap(CallDtmf(call_id="c", node_id="fs", digit="1"), source="t", tenant=tenant)
        for _ in range(per_tenant)
        for tenant in tenants
    ]


async def test_members_share_partitions_and_take_over_when_one_leaves(
    make_topic: Callable[..., Awaitable[str]],
    publisher: EventPublisher,
    consumers: Callable[..., EventConsumer],
) -> None:
    topic = await make_topic(PARTITIONS)
    everything = frozenset(TopicPartition(topic, p) for p in range(PARTITIONS))
    hooks: list[tuple[str, frozenset[TopicPartition]]] = []

    async def assigned(partitions: frozenset[TopicPartition]) -> None:
        hooks.append(("assigned", partitions))

    async def revoked(partitions: frozenset[TopicPartition]) -> None:
        hooks.append(("revoked", partitions))

    seen = EventCollector()
    by_member: dict[str, list[Envelope]] = {"a": [], "b": []}

    def handler_of(member: str) -> Callable[[Envelope], Awaitable[None]]:
        async def handle(envelope: Envelope) -> None:
            by_member[member].append(envelope)
            await seen(envelope)

        return handle

    member_a = consumers(
        [topic],
        handler_of("a"),
        group_id=f"{topic}-group",
        on_partitions_assigned=assigned,
        on_partitions_revoked=revoked,
    )
    member_b = consumers([topic], handler_of("b"), group_id=f"{topic}-group")
    await member_a.start()
    assert await member_a.wait_for_assignment(30) == everything
    await member_b.start()
    await member_b.wait_for_assignment(30)
    await member_a.wait_for_assignment(30, lambda owned: len(owned) == PARTITIONS // 2)
    assert member_a.assignment | member_b.assignment == everything
    assert not member_a.assignment & member_b.assignment
    assert ("revoked", everything) in hooks
    assert hooks[-1] == ("assigned", member_a.assignment)

    tenants = _tenants_covering_every_partition()
    first = _envelopes(tenants, 5)
    for envelope in first:
        await publisher.publish(envelope, topic=topic)
    await seen.wait_for_ids([envelope.id for envelope in first])
    for name, member in (("a", member_a), ("b", member_b)):
        owned = {tp.partition for tp in member.assignment}
        assert by_member[name]
        assert all(partition_for_tenant(e.tenant, PARTITIONS) in owned for e in by_member[name])

    hooks.clear()
    await member_b.stop()
    await member_a.wait_for_assignment(30, lambda owned: owned == everything)
    assert hooks[-1] == ("assigned", everything)

    second = _envelopes(tenants, 5)
    for envelope in second:
        await publisher.publish(envelope, topic=topic)
    await seen.wait_for_ids([envelope.id for envelope in second])
    assert {envelope.id for envelope in by_member["a"]} >= {envelope.id for envelope in second}
    assert sorted(seen.ids) == sorted(envelope.id for envelope in first + second)
