"""Benchmark of the event bus and the outbox relay, against its own embedded broker.

- bus_roundtrip_rate: events/s published by this process and handled by an EventConsumer in
  another process (burst of ROUNDTRIP_EVENTS concurrent publishes; first publish to last
  handled event).
- bus_roundtrip_p99: 99th percentile of publish -> handled, in ms, at a steady
  PACED_RATE events/s (CLOCK_MONOTONIC is shared by the two processes).
- outbox_relay_rate_sqlite / _postgres: outbox rows relayed to the broker per second
  (OUTBOX_EVENTS rows written first, then drained by OutboxRelay.relay_once()).

Prints `BENCH <name> <value> <unit>` lines; PostgreSQL is skipped (with a note on stderr)
when 127.0.0.1:5432 is not reachable.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from switchboard_common.bus import EmbeddedBroker, EventConsumer, EventPublisher
from switchboard_common.db import create_engine, make_sessionmaker
from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallDtmf
from switchboard_common.outbox import Outbox, OutboxRelay, RelaySettings, outbox_table

ROUNDTRIP_EVENTS = 20_000
CONCURRENT_PUBLISHES = 1_000
PACED_EVENTS = 1_000
PACED_RATE = 500
OUTBOX_EVENTS = 5_000
TENANTS = 50
TOPIC = "bench.bus"
PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _envelope(index: int) -> Envelope:
    return Envelope.wrap(
        CallDtmf(call_id=f"call-{index}", node_id="fs-1", digit=str(index % 10)),
        source="bench",
        tenant=f"tenant-{index % TENANTS}",
    )


def _consumer_process(bootstrap: str, expected: int, channel: Connection) -> None:
    """Runs in another process: consume `expected` events, send back (id, handled_at)."""
    asyncio.run(_consume(bootstrap, expected, channel))


async def _consume(bootstrap: str, expected: int, channel: Connection) -> None:
    handled: list[tuple[str, float]] = []
    done = asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        handled.append((envelope.id, time.monotonic()))
        if len(handled) >= expected:
            done.set()

    broker = EmbeddedBroker(port=int(bootstrap.rsplit(":", 1)[1]))
    settings = broker.consumer_settings("bench", max_poll_records=2_000)
    consumer = EventConsumer(settings, [TOPIC], handler)
    await consumer.start()
    await consumer.wait_for_assignment(60, lambda owned: len(owned) > 0)
    channel.send("ready")
    try:
        await asyncio.wait_for(done.wait(), 50)
    finally:
        await consumer.stop()
        channel.send(handled)


async def _bench_roundtrip(broker: EmbeddedBroker) -> None:
    parent_end, child_end = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=_consumer_process,
        args=(broker.bootstrap_servers, ROUNDTRIP_EVENTS + PACED_EVENTS, child_end),
        daemon=True,
    )
    child.start()
    try:
        if not await asyncio.to_thread(parent_end.poll, 60) or parent_end.recv() != "ready":
            raise RuntimeError("the consumer process did not join its group")
        sent: dict[str, float] = {}
        async with EventPublisher(broker.producer_settings(linger_ms=2)) as publisher:

            async def publish(envelope: Envelope) -> None:
                sent[envelope.id] = time.monotonic()
                await publisher.publish(envelope, topic=TOPIC)

            burst = [_envelope(index) for index in range(ROUNDTRIP_EVENTS)]
            for start in range(0, len(burst), CONCURRENT_PUBLISHES):
                chunk = burst[start : start + CONCURRENT_PUBLISHES]
                await asyncio.gather(*(publish(envelope) for envelope in chunk))
            paced: list[asyncio.Task[None]] = []
            began = time.monotonic()
            for index in range(PACED_EVENTS):
                await asyncio.sleep(max(0.0, began + index / PACED_RATE - time.monotonic()))
                paced.append(asyncio.create_task(publish(_envelope(index))))
            await asyncio.gather(*paced)
        if not await asyncio.to_thread(parent_end.poll, 60):
            raise RuntimeError("the consumer process did not report")
        handled: list[tuple[str, float]] = parent_end.recv()
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    handled_at = dict(handled)
    burst_ids = {envelope.id for envelope in burst}
    if not burst_ids <= handled_at.keys():
        raise RuntimeError("events were lost in the round trip")
    first_sent = min(sent[event_id] for event_id in burst_ids)
    last_handled = max(handled_at[event_id] for event_id in burst_ids)
    print(f"BENCH bus_roundtrip_rate {ROUNDTRIP_EVENTS / (last_handled - first_sent):.0f} events/s")
    latencies = [
        (handled_at[task_id] - sent[task_id]) * 1000
        for task_id in sent.keys() - burst_ids
        if task_id in handled_at
    ]
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"BENCH bus_roundtrip_p99 {p99:.2f} ms")


async def _bench_outbox(broker: EmbeddedBroker, url: str, name: str) -> None:
    engine = create_engine(url)
    try:
        metadata = sa.MetaData()
        outbox = Outbox(outbox_table(metadata, f"bench_{uuid.uuid4().hex[:8]}"))
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        sessions = make_sessionmaker(engine)
        envelopes = [_envelope(index) for index in range(OUTBOX_EVENTS)]
        for start in range(0, OUTBOX_EVENTS, 500):
            async with sessions() as session, session.begin():
                await outbox.add_all(session, envelopes[start : start + 500], topic=TOPIC)
        async with EventPublisher(broker.producer_settings()) as publisher:
            relay = OutboxRelay(outbox, engine, publisher, settings=RelaySettings(batch_size=500))
            began = time.perf_counter()
            relayed = 0
            while (batch := await relay.relay_once()).fetched:
                if batch.failed:
                    raise RuntimeError(f"relay failed to publish {batch.failed} events")
                relayed += batch.published
            elapsed = time.perf_counter() - began
        if relayed != OUTBOX_EVENTS or await relay.backlog():
            raise RuntimeError(f"relayed {relayed} of {OUTBOX_EVENTS}")
        print(f"BENCH outbox_relay_rate_{name} {OUTBOX_EVENTS / elapsed:.0f} events/s")
    finally:
        await engine.dispose()


def _admin_engine() -> AsyncEngine:
    url = PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
    return create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


async def _postgres_database() -> tuple[str, str] | None:
    """A throwaway database (URL, name), or None when PostgreSQL is not reachable."""
    database = f"sbbench_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    except (OSError, SQLAlchemyError) as exc:
        print(
            f"# PostgreSQL not reachable ({exc}); outbox_relay_rate_postgres skipped",
            file=sys.stderr,
        )
        return None
    finally:
        await admin.dispose()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}", database


async def _drop_postgres_database(database: str) -> None:
    admin = _admin_engine()
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def main() -> None:
    async with EmbeddedBroker(topics=[TOPIC], partitions=4) as broker:
        await _bench_roundtrip(broker)
        with tempfile.TemporaryDirectory() as directory:
            sqlite_url = f"sqlite+aiosqlite:///{Path(directory) / 'outbox.db'}"
            await _bench_outbox(broker, sqlite_url, "sqlite")
        postgres = await _postgres_database()
        if postgres is not None:
            url, database = postgres
            try:
                await _bench_outbox(broker, url, "postgres")
            finally:
                await _drop_postgres_database(database)


if __name__ == "__main__":
    asyncio.run(main())
