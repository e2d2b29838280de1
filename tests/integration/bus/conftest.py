"""Fixtures for the bus integration tests: fresh topics per test, a publisher, consumers
that are stopped at teardown, an event collector, and SQLite/PostgreSQL engines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.bus import (
    BrokerEndpoint,
    EventConsumer,
    EventPublisher,
    dead_letter_topic,
    ensure_topics,
)
from switchboard_common.db import create_engine
from switchboard_common.events import Envelope
from switchboard_common.testing import kafka as kafka_plugin
from switchboard_common.testing.kafka import EventCollector

# The plugin's fixtures, until tests/conftest.py lists "switchboard_common.testing.kafka".
kafka_broker = kafka_plugin.kafka_broker
kafka_bootstrap = kafka_plugin.kafka_bootstrap

PARTITIONS = 4


@pytest.fixture()
def collector() -> EventCollector:
    return EventCollector()


@pytest.fixture()
def make_topic(kafka_broker: BrokerEndpoint) -> Callable[..., Awaitable[str]]:
    """Creates a fresh topic (and its dead-letter topic) so tests never see each other."""

    async def make(partitions: int = PARTITIONS) -> str:
        name = f"test.bus.{uuid.uuid4().hex[:12]}"
        await ensure_topics(
            kafka_broker.bootstrap_servers, [name, dead_letter_topic(name)], partitions=partitions
        )
        return name

    return make


@pytest.fixture()
async def publisher(kafka_broker: BrokerEndpoint) -> AsyncIterator[EventPublisher]:
    async with EventPublisher(kafka_broker.producer_settings()) as started:
        yield started


@pytest.fixture()
async def consumers(kafka_broker: BrokerEndpoint) -> AsyncIterator[Callable[..., EventConsumer]]:
    """`consumers(topics, handler, group_id=None, **kwargs)` builds a consumer (not started)
    that is stopped at teardown."""
    made: list[EventConsumer] = []

    def build(
        topics: Sequence[str],
        handler: Callable[[Envelope], Awaitable[None]],
        *,
        group_id: str | None = None,
        settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> EventConsumer:
        group = group_id or f"test-{uuid.uuid4().hex[:8]}"
        consumer = EventConsumer(
            kafka_broker.consumer_settings(group, **(settings or {})), topics, handler, **kwargs
        )
        made.append(consumer)
        return consumer

    yield build
    for consumer in made:
        await consumer.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite (a file) and on PostgreSQL (the session's database)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture()
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


def unique_service() -> str:
    return f"t{uuid.uuid4().hex[:10]}"
