"""Routing service benchmark: the real consume -> engine -> CallControl path.

    .venv/bin/python scripts/bench/bench_routing_service.py

An embedded Kafka-protocol broker, the routing service (SQLite, as `switchboard up` runs it)
owning every partition, and in two other processes the "world": a fake switch serving
CallControl over gRPC that answers every Bridge and records when it arrived; ivr publishing
`queue.call_enqueued` and cti publishing `agent.state_changed` (agents available at the
start, back to available after a short handle time). 8 tenants x 150 agents. The fake switch
has a process of its own, so that the load it does not share does not delay its clock.

- routing_enqueue_to_bridge_p99: 99th percentile from a `queue.call_enqueued` taken off the
  bus by routing to its Bridge command arriving at the switch, at 100 calls/s (Poisson) for
  20 s; every call finds an agent at once (1.5 s handle time: about 13 % occupancy).
- routing_service_decisions_per_s: a burst of 1,000 calls published at once: decisions
  (Bridge commands received) per second from the first call consumed to the last Bridge.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

TENANTS = 8
AGENTS_PER_TENANT = 150
RATE_PER_S = 100.0
STEADY_S = 20.0
HANDLE_S = 1.5
BURST_CALLS = 1000
PARTITIONS = 4


def _tenant(index: int) -> str:
    return f"bench-{index}"


# ---------------------------------------------------------------------------- the world


def _switch_main(pipe: Connection, answered: Any) -> None:
    """The fake switch, alone in its process: answers every Bridge at once, records when it
    arrived, and tells the load process which agent took a call. gRPC's threaded server
    runs the handler straight from its completion queue."""
    from concurrent import futures

    import grpc

    from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
    from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc

    arrivals: dict[str, float] = {}

    class Switch(pb_grpc.CallControlServicer):  # type: ignore[misc]
        def Bridge(self, request: Any, context: Any) -> Any:
            arrivals[request.call.call_id] = time.monotonic()
            answered.put((request.call.tenant_id, request.variables["sb_agent"]))
            return pb.BridgeResult(
                call_id=request.call.call_id,
                outcome=pb.BRIDGE_OUTCOME_ANSWERED,
                agent_call_id="leg-" + request.call.call_id,
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_CallControlServicer_to_server(Switch(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    pipe.send(("port", port))
    while pipe.recv()[0] == "arrivals":
        pipe.send(("arrivals", dict(arrivals)))
    server.stop(0.5).wait()


class _Load:
    """ivr and cti: calls enqueued, agents available (again after a handle time)."""

    def __init__(self, bootstrap: str, pipe: Connection, answered: Any) -> None:
        self.bootstrap = bootstrap
        self.pipe = pipe
        self.answered = answered
        self.publisher: Any = None
        self.recycle = True
        self.returns: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        from switchboard_common.bus import EventPublisher, ProducerSettings

        self.publisher = EventPublisher(
            ProducerSettings(
                bootstrap_servers=self.bootstrap, enable_idempotence=False, linger_ms=0
            )
        )
        await self.publisher.start()
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._watch_answers, args=(loop,), daemon=True).start()
        self.pipe.send(("ready", None))
        while True:
            command, argument = await loop.run_in_executor(None, self.pipe.recv)
            if command == "agents":
                await self.agents_available()
            elif command == "steady":
                await self.steady(float(argument))
            elif command == "burst":
                self.recycle = False
                await self.burst(int(argument))
            else:
                break
            self.pipe.send(("done", None))
        await self.publisher.stop()

    def _watch_answers(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            tenant, agent = self.answered.get()
            loop.call_soon_threadsafe(self._agent_back_later, tenant, agent)

    def _agent_back_later(self, tenant: str, agent: str) -> None:
        if not self.recycle:
            return
        task = asyncio.create_task(self.agent_back(tenant, agent))
        self.returns.add(task)
        task.add_done_callback(self.returns.discard)

    async def agents_available(self) -> None:
        for tenant_index in range(TENANTS):
            tenant = _tenant(tenant_index)
            for agent in range(AGENTS_PER_TENANT):
                await self.publish_agent(tenant, f"agent-{agent}", "available", None)

    async def publish_agent(
        self, tenant: str, agent_id: str, state: str, previous: str | None
    ) -> None:
        from switchboard_common.events import Envelope
        from switchboard_common.events.agents import AgentState, AgentStateChanged

        payload = AgentStateChanged(
            agent_id=agent_id,
            state=AgentState(state),
            previous_state=AgentState(previous) if previous else None,
            queues=["q"],
            changed_at=datetime.now(UTC),
        )
        await self.publisher.publish(
            Envelope.wrap(payload, source="bench/cti", tenant=tenant, subject=agent_id)
        )

    async def agent_back(self, tenant: str, agent_id: str) -> None:
        await asyncio.sleep(HANDLE_S)
        await self.publish_agent(tenant, agent_id, "available", "on_call")

    async def enqueue(self, call_id: str, tenant: str) -> None:
        from switchboard_common.events import Envelope
        from switchboard_common.events.queues import CallEnqueued

        payload = CallEnqueued(
            call_id=call_id, queue_id="q", node_id="fs1", enqueued_at=datetime.now(UTC)
        )
        await self.publisher.publish(
            Envelope.wrap(payload, source="bench/ivr", tenant=tenant, subject=call_id)
        )

    async def steady(self, seconds: float) -> None:
        rng = random.Random(7)
        started = time.monotonic()
        due = started
        sends: set[asyncio.Task[None]] = set()
        index = 0
        while due - started < seconds:
            due += rng.expovariate(RATE_PER_S)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            task = asyncio.create_task(
                self.enqueue(f"steady-{index}", _tenant(rng.randrange(TENANTS)))
            )
            sends.add(task)
            task.add_done_callback(sends.discard)
            index += 1
        await asyncio.gather(*sends)
        await asyncio.sleep(HANDLE_S + 1.0)

    async def burst(self, calls: int) -> None:
        await asyncio.gather(
            *(self.enqueue(f"burst-{i}", _tenant(i % TENANTS)) for i in range(calls))
        )


def _load_main(bootstrap: str, pipe: Connection, answered: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_Load(bootstrap, pipe, answered).run())


# ---------------------------------------------------------------------------- routing


async def _ask(pipe: Connection, command: str, argument: Any = None) -> Any:
    pipe.send((command, argument))
    loop = asyncio.get_running_loop()
    _, answer = await loop.run_in_executor(None, pipe.recv)
    return answer


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main() -> None:
    from switchboard_common import db
    from switchboard_common.auth import Authenticator
    from switchboard_common.bus import EmbeddedBroker
    from switchboard_common.events import Envelope
    from switchboard_routing.domain import AgentState
    from switchboard_routing.main import HeapFreeze, assemble
    from switchboard_routing.services import RoutingOptions
    from switchboard_routing.settings import RoutingSettings

    logging.basicConfig(level=logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    url = f"sqlite+aiosqlite:///{workdir / 'routing.db'}"
    await db.upgrade("routing", "switchboard_routing", url)
    engine = db.create_engine(url)
    async with EmbeddedBroker(partitions=PARTITIONS) as broker:
        spawn = multiprocessing.get_context("spawn")
        answered = spawn.Queue()
        switch_pipe, switch_end = spawn.Pipe()
        load_pipe, load_end = spawn.Pipe()
        switch = spawn.Process(target=_switch_main, args=(switch_end, answered), daemon=True)
        load = spawn.Process(
            target=_load_main, args=(broker.bootstrap_servers, load_end, answered), daemon=True
        )
        switch.start()
        load.start()
        loop = asyncio.get_running_loop()
        _, port = await loop.run_in_executor(None, switch_pipe.recv)
        await loop.run_in_executor(None, load_pipe.recv)
        settings = RoutingSettings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            switch_grpc=f"127.0.0.1:{port}",
            database_url=url,
            follow_history_from_start=True,
        )
        app = assemble(
            settings,
            engine,
            authenticator=Authenticator(jwt_secret="bench-secret-0123456789abcdefghijkl"),
            producer_settings=broker.producer_settings(),
            consumer_settings=broker.consumer_settings(
                f"routing-bench-{uuid.uuid4().hex[:6]}",
                auto_offset_reset="latest",
                fetch_max_wait_ms=50,
            ),
            options=RoutingOptions(instance_id="bench", address="127.0.0.1:0"),
        )
        consumed: dict[str, float] = {}

        def observe(envelope: Envelope, _consumed_at: float) -> None:
            consumed[str(envelope.subject)] = time.monotonic()

        assert app.consumers is not None
        app.consumers.queue_handler.observer = observe
        for component in [*app.components, HeapFreeze()]:
            await component.start()
        await app.consumers.consumer.wait_for_assignment(30, lambda owned: len(owned) == PARTITIONS)
        for index in range(TENANTS):
            await app.queues.create(_tenant(index), {"id": "q", "strategy": "longest-idle"})
        await _ask(load_pipe, "agents")

        def staffed() -> bool:
            for index in range(TENANTS):
                state = app.routing.tenant(_tenant(index))
                if state is None or any(
                    state.engine.agent_state(f"agent-{a}") is not AgentState.AVAILABLE
                    for a in range(AGENTS_PER_TENANT)
                ):
                    return False
            return True

        for _ in range(1500):
            if staffed():
                break
            await asyncio.sleep(0.02)

        await _ask(load_pipe, "steady", STEADY_S)
        offered_before = app.routing.stats.calls_offered
        await _ask(load_pipe, "burst", BURST_CALLS)
        for _ in range(1500):
            if app.routing.stats.calls_offered - offered_before >= BURST_CALLS:
                break
            await asyncio.sleep(0.02)
        await app.routing.wait_for_offers(10.0)
        arrivals: dict[str, float] = await _ask(switch_pipe, "arrivals")
        for pipe, process in ((switch_pipe, switch), (load_pipe, load)):
            pipe.send(("stop", None))
            process.join(10)

        steady = [
            arrivals[call] - consumed[call]
            for call in consumed
            if call.startswith("steady-") and call in arrivals
        ]
        burst_consumed = [at for call, at in consumed.items() if call.startswith("burst-")]
        burst_arrived = [at for call, at in arrivals.items() if call.startswith("burst-")]
        for component in reversed(app.components):
            await component.stop()
    await engine.dispose()

    if len(steady) < STEADY_S * RATE_PER_S * 0.9:
        raise SystemExit(f"only {len(steady)} calls of the steady phase were bridged")
    elapsed = max(burst_arrived) - min(burst_consumed)
    print(f"BENCH routing_enqueue_to_bridge_p99 {_percentile(steady, 0.99) * 1000:.2f} ms")
    print(f"BENCH routing_service_decisions_per_s {len(burst_arrived) / elapsed:.0f} decisions/s")


if __name__ == "__main__":
    asyncio.run(main())
