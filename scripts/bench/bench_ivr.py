"""IVR interpreter benchmarks: throughput on the demo flow, and state memory per call.

    .venv/bin/python scripts/bench/bench_ivr.py

- ivr_flow_steps_per_s: interpreter steps (start/resume calls, each returning a Step) per
  second, driving whole demo calls: menu key 1, queue, agent hangs up, two survey answers.
- ivr_flow_nodes_per_s: node visits per second in the same run.
- ivr_memory_per_call_domain: bytes of interpreter state per call in progress, measured with
  tracemalloc over 10,000 runs waiting at the demo menu (the flow itself is shared).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from datetime import UTC, datetime

from switchboard_ivr.domain import (
    AgentCallEnded,
    CallContext,
    DigitsCollected,
    Input,
    Interpreter,
    RunState,
    StaticBlacklist,
    TemplatePromptCatalog,
    demo_calendar,
    demo_flow,
)

OPEN = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
CALL_SCRIPT: tuple[Input, ...] = (
    DigitsCollected("1"),
    AgentCallEnded("agent-1"),
    DigitsCollected("4"),
    DigitsCollected("1"),
)
THROUGHPUT_SECONDS = 3.0
CONCURRENT_CALLS = 10_000


def context(index: int) -> CallContext:
    return CallContext(
        tenant_id="bench",
        call_id=f"call-{index:08d}",
        caller_number=f"+3314268{index % 100_000:05d}",
        called_number="+33170000000",
        timezone="Europe/Paris",
    )


def throughput(interpreter: Interpreter) -> tuple[float, float]:
    flow = demo_flow()
    steps = nodes = 0
    index = 0
    started = time.perf_counter()
    deadline = started + THROUGHPUT_SECONDS
    while time.perf_counter() < deadline:
        step = interpreter.start(flow, context(index), OPEN)
        steps += 1
        for event in CALL_SCRIPT:
            step = interpreter.resume(step.state, event)
            steps += 1
        if not step.finished:
            raise RuntimeError(f"call did not finish: {step.state.path}")
        nodes += step.state.steps
        index += 1
    elapsed = time.perf_counter() - started
    return steps / elapsed, nodes / elapsed


def memory_per_call(interpreter: Interpreter) -> float:
    flow = demo_flow()
    for index in range(100):
        interpreter.start(flow, context(index), OPEN)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states: list[RunState] = [
        interpreter.start(flow, context(index), OPEN).state for index in range(CONCURRENT_CALLS)
    ]
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    if any(state.waiting_for != "digits" for state in states):
        raise RuntimeError("runs should all be waiting at the menu")
    return (after - before) / len(states)


def main() -> None:
    interpreter = Interpreter(
        calendar=demo_calendar(), blacklist=StaticBlacklist(), prompts=TemplatePromptCatalog()
    )
    steps_per_s, nodes_per_s = throughput(interpreter)
    print(f"BENCH ivr_flow_steps_per_s {steps_per_s:.0f} steps/s")
    print(f"BENCH ivr_flow_nodes_per_s {nodes_per_s:.0f} nodes/s")
    print(f"BENCH ivr_memory_per_call_domain {memory_per_call(interpreter):.0f} bytes")


if __name__ == "__main__":
    main()
