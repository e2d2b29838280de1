"""IVR service benchmark: concurrent calls one process holds, and CPU and memory per call.

    .venv/bin/python scripts/bench/bench_ivr_service.py

Calls arrive through `CallsService.call_arrived` and run the demo flow in their own tasks
(runner, interpreter, notifier building and encoding every event) against an in-process
CallControl: menu key 1, queue, the agent hangs up, two survey answers.

- ivr_cpu_per_call: process CPU time per whole call (IVR, hand-over, post-call survey), over
  2,000 calls with instant media.
- ivr_concurrent_calls: the most calls in progress at once while the event loop stayed
  responsive (lag under 100 ms). Media take realistic time (2 ms per command, 1 s per prompt
  file, callers take 1 s to press a key) and agents talk longer than the test lasts, so calls
  pile up; arrivals speed up while the loop keeps up, for at most 25 s. The figure is bounded
  by how fast one core admits calls within that time, not by a ceiling of held calls.
- ivr_memory_per_call: growth of the resident set per call in progress at that peak.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from switchboard_common.bus.records import Delivery, OutgoingRecord
from switchboard_common.events import EventPayload
from switchboard_common.events.calls import CallArrived
from switchboard_common.events.queues import CallEnqueued
from switchboard_ivr.domain import DEMO_PROMPTS, StaticBlacklist, demo_calendar, demo_flow
from switchboard_ivr.notifier import IvrStats, RunNotifier
from switchboard_ivr.services import (
    CallsOptions,
    CallsService,
    Route,
    TenantConfig,
    TenantPrompts,
)
from switchboard_ivr.testing import CannedWebhooks, MediaTimes, ScriptedCallControl

TENANTS = 20
NUMBER = "+33142685300"
SCRIPT = ("1", "4", "1")
CPU_CALLS = 2_000
LAG_LIMIT_S = 0.100
TICK_S = 0.02
START_RATE = 200.0
RATE_STEP = 50.0
RAMP_BUDGET_S = 25.0
MAX_CALLS = 100_000


class DiscardingPublisher:
    """Kafka stand-in: acknowledges every record (the envelopes are still built and encoded)."""

    def __init__(self) -> None:
        self.count = 0

    async def publish_record(self, record: OutgoingRecord) -> Delivery:
        self.count += 1
        return Delivery(record.topic, 0, self.count)

    async def publish_batch(self, records: Sequence[OutgoingRecord]) -> list[Delivery | Exception]:
        self.count += len(records)
        return [Delivery(record.topic, 0, self.count) for record in records]


class Directory:
    def __init__(self) -> None:
        prompts = TenantPrompts({p: {"*": f"/sounds/{p}.wav"} for p in DEMO_PROMPTS})
        self.configs = {
            f"tenant-{t}": TenantConfig(
                f"tenant-{t}",
                prompts=prompts,
                calendars=demo_calendar(),
                blacklist=StaticBlacklist(),
            )
            for t in range(TENANTS)
        }
        self.route_ = Route(demo_flow(), 1)

    async def config(self, tenant_id: str) -> TenantConfig:
        return self.configs[tenant_id]

    async def route(self, tenant_id: str, number: str) -> Route | None:
        return self.route_


class AgentsHangUp:
    """Announcer wrapper: the agent of every enqueued call hangs up after `talk_s`."""

    def __init__(self, inner: RunNotifier, talk_s: float) -> None:
        self.inner = inner
        self.talk_s = talk_s
        self.calls: CallsService | None = None

    def announce(self, tenant_id: str, payload: EventPayload, *, subject: str) -> None:
        self.inner.announce(tenant_id, payload, subject=subject)
        if isinstance(payload, CallEnqueued) and self.calls is not None:
            run = self.calls.run(payload.call_id)
            if run is not None:
                asyncio.get_running_loop().call_later(self.talk_s, run.agent_call_ended, "a1")


class LagMonitor:
    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s
        self.recent: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period_s)
            self.recent.append(loop.time() - before - self.period_s)
            del self.recent[:-100]

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    def lag(self) -> float:
        """The 90th percentile of the last second: sustained lag, not one GC pause."""
        if not self.recent:
            return 0.0
        ordered = sorted(self.recent)
        return ordered[int(len(ordered) * 0.9)]


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def service(
    times: MediaTimes, talk_s: float
) -> tuple[CallsService, RunNotifier, ScriptedCallControl]:
    control = ScriptedCallControl(times=times, record_commands=False)
    notifier = RunNotifier(DiscardingPublisher(), stats=IvrStats(), max_pending=1_000_000)
    announcer = AgentsHangUp(notifier, talk_s)
    calls = CallsService(
        Directory(),
        control=control,
        announcer=announcer,
        webhooks=CannedWebhooks(),
        stats=notifier.stats,
        options=CallsOptions(stale_arrival_s=3600.0),
    )
    announcer.calls = calls
    return calls, notifier, control


async def arrive(
    calls: CallsService, control: ScriptedCallControl, index: int, now: datetime
) -> None:
    call_id = f"call-{index:07d}"
    control.add_caller(call_id, SCRIPT)
    event = CallArrived(
        call_id=call_id,
        node_id="fs1",
        caller_number=f"+336{index % 10**8:08d}",
        destination_number=NUMBER,
        tenant_number=NUMBER,
        arrived_at=now,
    )
    await calls.call_arrived(f"tenant-{index % TENANTS}", event)


async def cpu_per_call() -> float:
    calls, notifier, control = service(MediaTimes(), 0.0)
    await notifier.start()
    gc.collect()
    started = time.process_time()
    now = datetime.now(UTC)
    for index in range(CPU_CALLS):
        await arrive(calls, control, index, now)
        if index % 100 == 99:
            await asyncio.sleep(0)
    while calls.active_runs:  # noqa: ASYNC110 - the runs signal nothing to wait on
        await asyncio.sleep(0.01)
    await notifier.flush()
    spent = time.process_time() - started
    await notifier.stop()
    return spent * 1000 / CPU_CALLS


async def held_calls() -> tuple[int, float]:
    calls, notifier, control = service(
        MediaTimes(command_s=0.002, per_file_s=1.0, caller_thinks_s=1.0), RAMP_BUDGET_S * 10
    )
    await notifier.start()
    gc.collect()
    monitor = LagMonitor()
    monitor.start()
    await asyncio.sleep(0.2)
    monitor.recent.clear()
    base_rss = rss_bytes()
    peak_calls, peak_rss = 0, base_rss
    rate, owed, arrived = START_RATE, 0.0, 0
    started = time.monotonic()
    while time.monotonic() - started < RAMP_BUDGET_S and arrived < MAX_CALLS:
        lag = monitor.lag()
        if lag > LAG_LIMIT_S:
            break
        rate = rate + RATE_STEP * TICK_S if lag < LAG_LIMIT_S / 2 else rate
        owed += rate * TICK_S
        now = datetime.now(UTC)
        while owed >= 1:
            await arrive(calls, control, arrived, now)
            arrived += 1
            owed -= 1
        await asyncio.sleep(TICK_S)
        if calls.active_runs > peak_calls:
            peak_calls = calls.active_runs
            peak_rss = max(peak_rss, rss_bytes())
    if monitor.task is not None:
        monitor.task.cancel()
    await calls.stop()
    await notifier.stop()
    return peak_calls, (peak_rss - base_rss) / max(1, peak_calls)


async def main() -> None:
    logging.getLogger("switchboard_ivr").setLevel(logging.CRITICAL)
    concurrent, memory = await held_calls()
    cpu_ms = await cpu_per_call()
    print(f"BENCH ivr_concurrent_calls {concurrent} calls")
    print(f"BENCH ivr_memory_per_call {memory / 1024:.1f} KiB")
    print(f"BENCH ivr_cpu_per_call {cpu_ms:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
