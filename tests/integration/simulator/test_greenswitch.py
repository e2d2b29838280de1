"""A third-party ESL client, greenswitch (gevent), against the simulator.

greenswitch runs in a subprocess (greenswitch_probe.py) so gevent never meets this test's
asyncio loop. One frame where greenswitch and the recorded traces disagree: greenswitch
reads a `text/disconnect-notice` without consuming its `Content-Length` body, while real
FreeSWITCH (trace-basic-plain, trace-authfail, trace-outbound-plain) sends the 67-byte
"Disconnected, goodbye." body; the simulator follows the traces.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from switchboard_simulator.config import CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

PROBE = Path(__file__).resolve().parent / "greenswitch_probe.py"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    world = WorldConfig(
        seed=11,
        numbers=[TenantNumber("+15550100", "acme")],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        heartbeat_interval_s=0,
    )
    sim = Simulator(SimulatorConfig(world=world, esl_port=0, start_traffic=False))
    await sim.start()
    yield sim
    await sim.stop()


async def _line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), 30)
    assert raw, "greenswitch probe ended early"
    document: dict[str, Any] = json.loads(raw)
    return document


async def test_greenswitch_subscribes_and_follows_a_call(simulator: Simulator) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE),
        str(simulator.esl_port),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = await _line(process)
        assert ready["status_type"] == "api/response"
        assert ready["status"].startswith("UP 0 years, 0 days, 0 hours")
        assert "FreeSWITCH (Version" in ready["status"]
        assert "session(s) max" in ready["status"]
        assert ready["subscribed"] == "+OK event listener enabled plain"
        assert ready["bgapi"] == f"+OK Job-UUID: {ready['bgapi_job']}"

        parked = asyncio.Event()
        simulator.world.add_sink(
            lambda event: parked.set() if event.name == "CHANNEL_PARK" else None
        )
        uuid = simulator.place_call("+15550100", "+15557654321")
        await asyncio.wait_for(parked.wait(), 10)
        assert simulator.hangup(uuid, "NORMAL_CLEARING")
        result = await _line(process)
        await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    events = result["events"]
    assert [e["Event-Name"] for e in events] == [
        "CHANNEL_CREATE",
        "CHANNEL_PARK",
        "CHANNEL_HANGUP_COMPLETE",
    ]
    assert {e["Unique-ID"] for e in events} == {uuid}
    assert events[1]["variable_sb_tenant"] == "acme"
    assert events[2]["Hangup-Cause"] == "NORMAL_CLEARING"
    assert events[2]["Channel-State"] == "CS_REPORTING"
    jobs = [e for e in result["others"] if e["name"] == "BACKGROUND_JOB"]
    assert jobs == [{"name": "BACKGROUND_JOB", "job": ready["bgapi_job"], "command": "version"}]
