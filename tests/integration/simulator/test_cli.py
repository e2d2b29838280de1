"""`python -m switchboard_simulator` as `switchboard up` launches it: demo tenants, traffic,
GET /stats and /health, a dialplan URL that does not answer, the truth report at the end."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys

import httpx
from tracekit import open_client


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_help_explains_the_options() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard_simulator", "--help", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    text = out.decode()
    assert process.returncode == 0
    for option in ("--esl-port", "--agents", "--call-rate", "--dialplan-url", "--dialplan-secret"):
        assert option in text
    assert "CALLS_PER_S" in text
    assert "acme" in text and "+12025550100" in text


async def test_supervisor_command_line_runs_demo_traffic_and_reports_the_truth() -> None:
    dead_url = f"http://127.0.0.1:{_closed_port()}/v1/freeswitch/dialplan"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard_simulator",
        "--esl-port",
        "0",
        "--stats-port",
        "0",
        "--seed",
        "1",
        "--call-rate",
        "3",
        "--agents",
        "5",
        "--dialplan-url",
        dead_url,
        "--duration",
        "8",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        match = re.fullmatch(r"simulator: ESL on 127\.0\.0\.1:(\d+)\n", first)
        assert match, first
        esl_port = int(match.group(1))
        second = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        stats_match = re.fullmatch(r"simulator: stats on (http://127\.0\.0\.1:\d+)/stats\n", second)
        assert stats_match, second
        base = stats_match.group(1)
        third = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert third == "simulator: 2 numbers (acme, globex), 10 agents\n"

        client = await open_client(esl_port)
        status = await client.api("status")
        assert status.startswith("UP 0 years")
        await client.wait(lambda: client.count("CHANNEL_PARK") >= 1, 10)
        park = next(e for e in client.events if e.name == "CHANNEL_PARK")
        assert park.get("variable_sb_tenant") in ("acme", "globex")
        assert park.get("Caller-Destination-Number") in ("+12025550100", "+12025550200")
        offered = await client.api(
            "originate {originate_timeout=10}user/1003@globex.example &park()"
        )
        assert offered.startswith("+OK "), offered

        async with httpx.AsyncClient() as http:
            health = await http.get(f"{base}/health")
            assert health.status_code == 200
            live = (await http.get(f"{base}/stats")).json()
            missing = await http.get(f"{base}/nope")
        assert missing.status_code == 404
        assert live["calls_placed"] >= 1
        assert live["dialplan_fallbacks"] >= 1
        assert set(live["tenants"]) <= {"acme", "globex"}
        await client.close()

        rest, errors = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    truth = json.loads(rest.decode().strip().splitlines()[-1])
    tenants = truth["tenants"]
    assert set(tenants) <= {"acme", "globex"}
    assert (
        truth["calls_placed"] == sum(t["placed"] for t in tenants.values()) >= live["calls_placed"]
    )
    assert truth["calls_placed"] == truth["totals"]["placed"]
    assert truth["calls_ended"] + truth["active_calls"] == truth["calls_placed"]
    assert truth["agents"]["1003@globex.example"]["answered"] == 1
    assert "using the static map" in errors.decode()
