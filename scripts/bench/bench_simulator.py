"""Benchmarks of the FreeSWITCH simulator.

- simulator_events_per_s: events delivered to one `event plain ALL` subscriber while a burst
  of calls arrives and ends (each call about 25 events), wall clock from the first call to
  the last event read.
- simulator_max_realtime_call_rate: the largest caller arrival rate (doubling from 10/s)
  the simulator runs at speed 1 while the subscriber keeps up: every event delivered within
  1 s of the window and the virtual clock's tasks running less than 50 ms late (p99).

Run: .venv/bin/python scripts/bench/bench_simulator.py
"""

from __future__ import annotations

import asyncio
import time

from switchboard_simulator.config import CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

FRAME_MARK = b"Content-Type: text/event-plain\n"


class Subscriber:
    """Reads an ESL connection and counts event frames (cheaply, by their marker)."""

    def __init__(self) -> None:
        self.events = 0
        self.last_read = 0.0
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        await reader.readuntil(b"\n\n")
        for command in (b"auth ClueCon\n\n", b"event plain ALL\n\n"):
            writer.write(command)
            await writer.drain()
            await reader.readuntil(b"\n\n")
        self._task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        tail = b""
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                return
            data = tail + chunk
            self.events += data.count(FRAME_MARK)
            tail = data[-(len(FRAME_MARK) - 1) :]
            self.last_read = time.perf_counter()

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _world(rate_per_s: float, patience_s: float) -> WorldConfig:
    return WorldConfig(
        seed=1,
        numbers=[
            TenantNumber("+15550100", "acme", calls_per_minute=rate_per_s * 30),
            TenantNumber("+15550200", "globex", calls_per_minute=rate_per_s * 30),
        ],
        callers=CallerBehaviour(patience_mean_s=patience_s, dtmf_choices={}),
        heartbeat_interval_s=0,
    )


async def _wait_for(subscriber: Subscriber, emitted: list[int], limit_s: float) -> bool:
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        if subscriber.events >= emitted[0]:
            return True
        await asyncio.sleep(0.01)
    return subscriber.events >= emitted[0]


async def events_per_second(calls: int = 2000) -> float:
    sim = Simulator(SimulatorConfig(world=_world(0, 0), esl_port=0, speed=1.0, start_traffic=False))
    await sim.start()
    emitted = [0]
    sim.world.add_sink(lambda _event: emitted.__setitem__(0, emitted[0] + 1))
    subscriber = Subscriber()
    await subscriber.start(sim.esl_port)
    started = time.perf_counter()
    for batch in range(0, calls, 100):
        uuids = [sim.place_call("+15550100") for _ in range(min(100, calls - batch))]
        for uuid in uuids:
            sim.hangup(uuid)
        await asyncio.sleep(0)
    await _wait_for(subscriber, emitted, 60)
    elapsed = subscriber.last_read - started
    received = subscriber.events
    await subscriber.stop()
    await sim.stop()
    return received / elapsed


async def sustains(rate_per_s: float, window_s: float = 2.5) -> bool:
    sim = Simulator(
        SimulatorConfig(world=_world(rate_per_s, 1.5), esl_port=0, speed=1.0, start_traffic=False)
    )
    await sim.start()
    emitted = [0]
    sim.world.add_sink(lambda _event: emitted.__setitem__(0, emitted[0] + 1))
    subscriber = Subscriber()
    await subscriber.start(sim.esl_port)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    scheduler = sim.world.scheduler

    def probe(expected: float) -> None:
        lags.append(loop.time() - expected)
        if len(lags) < window_s / 0.05:
            scheduler.call_later(0.05, lambda: probe(loop.time() + 0.05))

    scheduler.call_later(0.05, lambda: probe(loop.time() + 0.05))
    sim.world.start_traffic(window_s)
    await asyncio.sleep(window_s)
    caught_up = await _wait_for(subscriber, emitted, 1.0)
    await subscriber.stop()
    await sim.stop()
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("inf")
    return caught_up and p99 < 0.05


async def main() -> None:
    print(f"BENCH simulator_events_per_s {await events_per_second():.0f} events/s")
    best = 0.0
    rate = 10.0
    while rate <= 5120:
        if not await sustains(rate):
            break
        best = rate
        rate *= 2
    print(f"BENCH simulator_max_realtime_call_rate {best:.0f} calls/s")


if __name__ == "__main__":
    asyncio.run(main())
