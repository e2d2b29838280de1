"""Switch service throughput: simulator ESL events in -> call events on Kafka.

Runs an embedded broker, the FreeSWITCH simulator and the switch service in one process (so
the simulator's own work counts against the figures: they are a floor).
1. Burst: places calls that park and hang up, and measures ESL events taken in and call
   events published per second until every call event has reached the broker.
2. Ramp: offers calls at increasing rates for a few seconds each; a rate is sustained when the
   simulator really placed it, the ESL queue stayed far from FreeSWITCH's 500-event limit and
   the queue and the publish backlog drained within one second after the step.
Prints `BENCH <name> <value> <unit>` lines; progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
import time

from switchboard_common.bus import EmbeddedBroker
from switchboard_common.esl import EslClient
from switchboard_common.settings import load_settings
from switchboard_simulator.config import CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig
from switchboard_switch.esl_adapter import EslLink
from switchboard_switch.main import build
from switchboard_switch.notifier import CallEventNotifier
from switchboard_switch.settings import SwitchSettings

NUMBER = "+15550100"
BURST_CALLS = 1500
RAMP_RATES = (50, 100, 200, 400, 800, 1600)
STEP_S = 3.0


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def wait_for(predicate: object, timeout_s: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    async with EmbeddedBroker(partitions=4) as broker:
        world = WorldConfig(
            seed=3,
            numbers=[TenantNumber(number=NUMBER, tenant="acme")],
            callers=CallerBehaviour(patience_mean_s=3600, dtmf_choices={}),
            heartbeat_interval_s=0,
        )
        sim = Simulator(SimulatorConfig(world=world, esl_port=0, start_traffic=False))
        await sim.start()
        with tempfile.TemporaryDirectory() as home:
            settings = load_settings(
                SwitchSettings,
                http_port=0,
                grpc_port=0,
                home=home,
                kafka_bootstrap_servers=broker.bootstrap_servers,
                kafka_enable_idempotence=False,
                freeswitch_esl=f"127.0.0.1:{sim.esl_port}",
                node_id="bench",
                log_level="ERROR",
            )
            runtime = await build(settings)
            stop = asyncio.Event()
            task = asyncio.create_task(runtime.run(stop))
            link = next(c for c in runtime.components if isinstance(c, EslLink))
            notifier = next(c for c in runtime.components if isinstance(c, CallEventNotifier))
            client: EslClient = link.client
            await wait_for(lambda: link.client.connected, 20)
            service = link.service
            try:
                await burst(sim, service, notifier)
                await ramp(sim, client, notifier)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, 20)
                await sim.stop()


async def burst(sim: Simulator, service: object, notifier: CallEventNotifier) -> None:
    events_in_before = service.events_in  # type: ignore[attr-defined]
    published_before = notifier.published
    progress(f"burst: {BURST_CALLS} calls")
    started = time.perf_counter()
    ids = [sim.place_call(NUMBER) for _ in range(BURST_CALLS)]
    await wait_for(lambda: notifier.published - published_before >= BURST_CALLS, 60)
    for call_id in ids:
        sim.hangup(call_id)
    expected = 2 * BURST_CALLS
    done = await wait_for(lambda: notifier.published - published_before >= expected, 120)
    elapsed = time.perf_counter() - started
    if not done:
        progress(f"burst: only {notifier.published - published_before}/{expected} published")
    events_in = service.events_in - events_in_before  # type: ignore[attr-defined]
    published = notifier.published - published_before
    print(f"BENCH switch_esl_events_in_per_s {events_in / elapsed:.0f} events/s")
    print(f"BENCH switch_call_events_out_per_s {published / elapsed:.0f} events/s")


async def ramp(sim: Simulator, client: EslClient, notifier: CallEventNotifier) -> None:
    sustained = 0
    for rate in RAMP_RATES:
        progress(f"ramp: {rate} calls/s for {STEP_S:.0f}s")
        placed: list[str] = []
        interval = 1.0 / rate
        started = time.perf_counter()
        next_at = started
        max_depth = 0
        while time.perf_counter() - started < STEP_S:
            now = time.perf_counter()
            while next_at <= now:
                placed.append(sim.place_call(NUMBER))
                if len(placed) > 20:
                    sim.hangup(placed[-20])
                next_at += interval
            max_depth = max(max_depth, client.queue_depth)
            await asyncio.sleep(0.005)
        achieved = len(placed) / (time.perf_counter() - started)
        for call_id in placed[-20:]:
            sim.hangup(call_id)
        behind_limit = max_depth < 400
        drained = await wait_for(
            lambda: client.queue_depth == 0 and notifier.published >= notifier.submitted, 1.0
        )
        progress(
            f"ramp: asked {rate}/s, placed {achieved:.0f}/s, max ESL queue {max_depth}, "
            f"drained={drained}"
        )
        if not (drained and behind_limit) or achieved < 0.9 * rate:
            break
        sustained = rate
        await wait_for(lambda: notifier.published >= notifier.submitted, 10)
    print(f"BENCH switch_max_sustained_call_rate {sustained} calls/s")


if __name__ == "__main__":
    asyncio.run(main())
