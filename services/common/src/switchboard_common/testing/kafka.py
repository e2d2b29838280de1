"""Pytest plugin: one Kafka-protocol broker per test session.

`kafka_broker` is the embedded Tansu broker started once per session, or the broker named by
`KAFKA_BOOTSTRAP_SERVERS` when that is set (Apache Kafka in CI, for instance). Either way the
domain topics and their dead-letter topics exist (`KAFKA_TOPIC_PARTITIONS`, default 4).
Use `kafka_broker.producer_settings()` / `.consumer_settings(group_id)` for client settings
that suit the broker, and `kafka_bootstrap` for the bare address.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
import pytest_asyncio

from switchboard_common.bus.broker import (
    BrokerEndpoint,
    EmbeddedBroker,
    ExternalBroker,
    default_topics,
    ensure_topics,
    wait_for_broker,
)
from switchboard_common.events import Envelope

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
PARTITIONS_ENV = "KAFKA_TOPIC_PARTITIONS"


def _partitions() -> int:
    return int(os.environ.get(PARTITIONS_ENV, "4"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_broker() -> AsyncIterator[BrokerEndpoint]:
    """The session's broker: external if KAFKA_BOOTSTRAP_SERVERS is set, else embedded."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        await wait_for_broker(external, timeout_s=30.0)
        await ensure_topics(external, default_topics(), partitions=_partitions())
        yield ExternalBroker(external)
        return
    broker = EmbeddedBroker(partitions=_partitions())
    await broker.start()
    try:
        yield broker
    finally:
        await broker.aclose()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: BrokerEndpoint) -> str:
    """`host:port` of the session's broker."""
    return kafka_broker.bootstrap_servers


class EventCollector:
    """A consumer handler that records every envelope it gets and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self._changed = asyncio.Condition()

    async def __call__(self, envelope: Envelope) -> None:
        async with self._changed:
            self.events.append(envelope)
            self._changed.notify_all()

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]

    async def wait_for(
        self, predicate: Callable[[list[Envelope]], bool], timeout_s: float = 30.0
    ) -> None:
        """Wait until `predicate(events)` holds; TimeoutError after `timeout_s`."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self.events))

    async def wait_for_ids(self, ids: Sequence[str], timeout_s: float = 30.0) -> None:
        wanted = set(ids)
        await self.wait_for(lambda events: wanted <= {event.id for event in events}, timeout_s)
