"""cti benchmarks: screen-pop latency with 1,000 connected desktops, and what a WebSocket
connection costs the cti process.

    .venv/bin/python scripts/bench/bench_cti.py

A cti process (child of this script) runs with the embedded Kafka-protocol broker, SQLite
and a CallControl that does nothing. This script connects 1,000 desktops (each logs in with
its own JWT and goes available), then routing's offers are published, one per agent, at
250 offers/s:

- cti_offer_to_pop_p99: 99th percentile time from the offer being consumed (the pop is
  built as the handler receives the event; the pop carries that time) to the pop received
  on the desktop's WebSocket (same host clock);
- cti_publish_to_pop_p99: the same, measured from the publish (adds the broker's delivery);
- cti_ws_connections: desktops the process held at once during the run;
- cti_memory_per_connection: growth of the cti process' resident memory divided by the
  desktops connected (socket, send queue, agent record, session state).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets

AGENTS = 1000
OFFER_RATE = 250.0
SECRET = "bench-secret-0123456789abcdef0123"
TENANT = "bench"


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class IdleCallControl:
    """A switch that accepts every command (the benchmark never controls calls)."""

    async def answer(self, call: Any) -> None: ...

    async def hangup(self, call: Any, cause: str = "") -> None: ...

    async def hold(self, call: Any, on: bool) -> None: ...

    async def park(self, call: Any) -> None: ...

    async def transfer(self, call: Any, destination: str, dialplan: str = "inline") -> None: ...

    async def originate(
        self,
        tenant_id: str,
        node_id: str,
        endpoint: str,
        *,
        timeout_s: int,
        variables: Mapping[str, str],
    ) -> str:
        return "leg"

    async def conference(
        self, tenant_id: str, node_id: str, call_ids: Sequence[str], room: str
    ) -> None: ...

    async def send_dtmf(self, call: Any, digits: str) -> None: ...

    async def record(self, call: Any, action: Any, path: str) -> None: ...

    async def eavesdrop(self, call: Any, endpoint: str, mode: Any, timeout_s: int) -> str:
        return "leg"


async def serve(bootstrap: str, port: int, workdir: str) -> None:
    """The cti process under test."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    from switchboard_common import db
    from switchboard_common.auth import Authenticator
    from switchboard_common.bus.settings import (
        EMBEDDED_CONSUMER_DEFAULTS,
        EMBEDDED_PRODUCER_DEFAULTS,
        ConsumerSettings,
        ProducerSettings,
    )
    from switchboard_common.runtime import ServiceRuntime
    from switchboard_cti.main import assemble
    from switchboard_cti.settings import CtiSettings

    url = f"sqlite+aiosqlite:///{workdir}/cti.db"
    await db.upgrade("cti", "switchboard_cti", url)
    engine = db.create_engine(url)
    group = f"cti-bench-{uuid.uuid4().hex[:8]}"
    settings = CtiSettings(
        http_port=port,
        jwt_secret=SECRET,
        kafka_bootstrap_servers=bootstrap,
        consumer_group=group,
        live_offset_reset="latest",
        log_level="WARNING",
    )
    service = assemble(
        settings,
        engine,
        authenticator=Authenticator(jwt_secret=SECRET),
        callcontrol=IdleCallControl(),
        producer_settings=ProducerSettings(
            bootstrap_servers=bootstrap, **EMBEDDED_PRODUCER_DEFAULTS
        ),
        consumer_settings=ConsumerSettings(
            bootstrap_servers=bootstrap,
            group_id=group,
            **{**EMBEDDED_CONSUMER_DEFAULTS, "fetch_max_wait_ms": 20},
        ),
    )
    await ServiceRuntime(settings, service.app, None, service.components).run()


class Desk:
    def __init__(self, agent_id: str, socket: Any) -> None:
        self.agent_id = agent_id
        self.socket = socket
        self.pops: dict[str, float] = {}
        self.consumed_to_pop: list[float] = []
        self.available = asyncio.Event()
        self.popped = asyncio.Event()

    async def read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.socket:
                received = time.time()
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "pop":
                    self.pops[message["call_id"]] = received
                    self.consumed_to_pop.append(received - message["popped_at"])
                    self.popped.set()
                elif kind == "agent" and message["agent"]["state"] == "available":
                    self.available.set()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(bootstrap: str, port: int, server_pid: int) -> None:
    from switchboard_common.auth import issue_access_token
    from switchboard_common.bus import EventPublisher
    from switchboard_common.bus.settings import EMBEDDED_PRODUCER_DEFAULTS, ProducerSettings
    from switchboard_common.events import Envelope
    from switchboard_common.events.queues import CallOffered

    base = f"http://127.0.0.1:{port}"
    async with asyncio.timeout(30), httpx.AsyncClient() as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base}/health")).is_success:
                    break
            await asyncio.sleep(0.1)
    rss_before = _rss_kib(server_pid)

    async def connect(agent_id: str) -> Desk:
        token = issue_access_token(
            SECRET, kind="user", subject=agent_id, tenant_id=TENANT, permissions=["calls:control"]
        ).token
        socket = await websockets.connect(
            f"ws://127.0.0.1:{port}/v1/agents/ws?token={token}", max_queue=64
        )
        desk = Desk(agent_id, socket)
        asyncio.get_running_loop().create_task(desk.read())
        await socket.send(orjson.dumps({"id": "1", "cmd": "set_state", "state": "available"}))
        return desk

    desks: list[Desk] = []
    for start in range(0, AGENTS, 100):
        desks += await asyncio.gather(*(connect(f"a{i}") for i in range(start, start + 100)))
    async with asyncio.timeout(60):
        await asyncio.gather(*(desk.available.wait() for desk in desks))
    await asyncio.sleep(1.0)
    rss_after = _rss_kib(server_pid)
    warm = await connect("warm")
    await warm.available.wait()

    settings = ProducerSettings(bootstrap_servers=bootstrap, **EMBEDDED_PRODUCER_DEFAULTS)
    async with EventPublisher(settings) as publisher:

        async def offer(agent_id: str, call_id: str) -> float:
            now = datetime.now(UTC)
            payload = CallOffered(
                call_id=call_id,
                queue_id="q1",
                node_id="n1",
                agent_id=agent_id,
                agent_ids=[agent_id],
                decision_id=call_id,
                reservation_id=call_id,
                epoch=0,
                ring_timeout_s=20,
                offered_at=now,
            )
            sent = time.time()
            await publisher.publish(Envelope.wrap(payload, source="bench", tenant=TENANT))
            return sent

        async with asyncio.timeout(30):
            while not warm.pops:
                await offer("warm", f"warm-{uuid.uuid4().hex[:6]}")
                await asyncio.sleep(0.5)

        sent_at: dict[str, float] = {}
        started = time.perf_counter()
        for index, desk in enumerate(desks):
            call_id = f"c{index}"
            sent_at[call_id] = await offer(desk.agent_id, call_id)
            delay = started + (index + 1) / OFFER_RATE - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        async with asyncio.timeout(30):
            await asyncio.gather(*(desk.popped.wait() for desk in desks))

    consumed = [value for desk in desks for value in desk.consumed_to_pop]
    published = [desk.pops[call] - sent_at[call] for desk in desks for call in desk.pops]
    connections = len(desks) + 1
    print(f"BENCH cti_offer_to_pop_p99 {_percentile(consumed, 0.99) * 1000:.2f} ms")
    print(f"BENCH cti_publish_to_pop_p99 {_percentile(published, 0.99) * 1000:.2f} ms")
    print(f"BENCH cti_ws_connections {connections} connections")
    per_connection = (rss_after - rss_before) / len(desks)
    print(f"BENCH cti_memory_per_connection {per_connection:.1f} KiB")
    for desk in desks:
        await desk.socket.close()


async def main() -> None:
    from switchboard_common.bus import EmbeddedBroker, free_port

    _raise_fd_limit()
    broker = EmbeddedBroker(partitions=2)
    await broker.start()
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            broker.bootstrap_servers,
            str(port),
            workdir,
            env={**os.environ, "LOG_LEVEL": "ERROR"},
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await measure(broker.bootstrap_servers, port, server.pid)
        finally:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 10)
            except TimeoutError:
                server.kill()
                await server.wait()
            await broker.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", nargs=3, metavar=("BOOTSTRAP", "PORT", "WORKDIR"))
    arguments = parser.parse_args()
    if arguments.serve:
        _raise_fd_limit()
        bootstrap, port, workdir = arguments.serve
        asyncio.run(serve(bootstrap, int(port), workdir))
    else:
        asyncio.run(main())
