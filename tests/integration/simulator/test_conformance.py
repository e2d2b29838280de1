"""Drive the simulator like the recorded sessions and compare with real FreeSWITCH.

For each flow the per-channel event-name sequences must be equal, every event must carry
the same non-variable header names as the recorded one, and events that carry channel
variables in FreeSWITCH must carry them here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tracekit import Client, TraceEvent, global_events, load_trace, per_leg

from switchboard_simulator.config import AgentEndpoint, CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

AGENT = "sofia/internal/agent@127.0.0.1:5070"
TONE = "tone_stream://%(1000,0,350,440)"
FORMATS = ["plain", "json"]


def world_config() -> WorldConfig:
    return WorldConfig(
        seed=7,
        numbers=[
            TenantNumber(
                "9100", "acme", actions=[("answer", ""), ("playback", TONE), ("park", "")]
            ),
            TenantNumber("9201", "acme", actions=[("answer", ""), ("park", "")]),
            TenantNumber("9202", "acme", actions=[("hangup", "USER_BUSY")]),
            TenantNumber("9300", "acme", actions=[("socket", "127.0.0.1:1 async full")]),
        ],
        agents=[
            AgentEndpoint(
                "agent", "127.0.0.1:5070", answer_delay_s=(0.5, 0.5), handle_time_mean_s=1e9
            ),
            AgentEndpoint("1000", "127.0.0.1", registered=False),
        ],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        default_domain="127.0.0.1",
        heartbeat_interval_s=0,
    )


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(
        SimulatorConfig(world=world_config(), esl_port=0, speed=20.0, start_traffic=False)
    )
    await sim.start()
    yield sim
    await sim.stop()


async def _open(sim: Simulator, fmt: str) -> Client:
    client = await Client.connect(sim.esl_port)
    await client.wait(lambda: len(client.frames) >= 1)
    assert (await client.send("auth ClueCon")).headers["Reply-Text"] == "+OK accepted"
    await client.send(f"event {fmt} ALL")
    await client.send("nixevent HEARTBEAT RE_SCHEDULE")
    return client


def _core(names: set[str], profiles: bool) -> set[str]:
    if profiles:
        return names
    return {n for n in names if not n.startswith(("Caller-", "Other-Leg-", "Other-Type"))}


def settle_signalling_race(leg: list[TraceEvent]) -> list[TraceEvent]:
    """An originated SIP leg's move to CS_CONSUME_MEDIA (its session thread) and sofia's
    180 Ringing (CHANNEL_PROGRESS, then CHANNEL_CALLSTATE RINGING, on the signalling thread)
    race in FreeSWITCH: trace-b-plain has the state change first, trace-b-json after the
    ringing. Put the state change first so both orders compare equal; an event that lost
    the race also misses what the 180 taught sofia (`Caller-Network-Addr`)."""
    names = [(e.name, e.get("Channel-State")) for e in leg]
    if any(name == "CHANNEL_PROGRESS" for name, _ in names):
        progress = next(i for i, (n, _) in enumerate(names) if n == "CHANNEL_PROGRESS")
        consume = next(
            (
                i
                for i, (n, state) in enumerate(names)
                if n == "CHANNEL_STATE" and state == "CS_CONSUME_MEDIA"
            ),
            None,
        )
        if consume is not None and progress < consume:
            late = leg[consume]
            moved = TraceEvent(
                late.name, [(k, v) for k, v in late.headers if k != "Caller-Network-Addr"], None
            )
            rest = leg[:consume] + leg[consume + 1 :]
            return [*rest[:progress], moved, *rest[progress:]]
    return leg


def _assert_same_legs(got: list[TraceEvent], want: list[TraceEvent], profiles: bool = True) -> None:
    got_legs = [settle_signalling_race(leg) for leg in per_leg(got)]
    want_legs = [settle_signalling_race(leg) for leg in per_leg(want)]
    assert len(got_legs) == len(want_legs)
    problems: list[str] = []
    for leg, (got_leg, want_leg) in enumerate(zip(got_legs, want_legs, strict=True)):
        assert [e.name for e in got_leg] == [e.name for e in want_leg]
        for index, (mine, real) in enumerate(zip(got_leg, want_leg, strict=True)):
            mine_names = _core(mine.names(variables=False), profiles)
            real_names = _core(real.names(variables=False), profiles)
            extra, missing = mine_names - real_names, real_names - mine_names
            if extra or missing:
                problems.append(
                    f"leg {leg} #{index} {mine.name}: +{sorted(extra)} -{sorted(missing)}"
                )
            if bool(mine.names(variables=True)) != bool(real.names(variables=True)):
                problems.append(f"leg {leg} #{index} {mine.name}: variables differ")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_flow_a_playback_dtmf_record_transfer(simulator: Simulator, fmt: str) -> None:
    _, want = load_trace(f"trace-a-{fmt}.txt")
    client = await _open(simulator, fmt)
    a_leg = simulator.place_call("9100", "sipp")
    await client.wait(lambda: client.count("CHANNEL_PARK", a_leg) == 1)
    reply = await client.send(f"api uuid_recv_dtmf {a_leg} 12#")
    assert reply.body.decode() == f"+OK {a_leg} received DTMF 12#.\n"
    await client.wait(lambda: client.count("DTMF") == 3)
    assert (await client.send(f"api uuid_record {a_leg} start /tmp/rec.wav")).body == (
        b"+OK Success\n"
    )
    await client.send(f"api uuid_setvar {a_leg} hangup_after_bridge true")
    await client.send(f"api uuid_transfer {a_leg} bridge:{AGENT} inline")
    await client.wait(lambda: client.count("CALL_UPDATE") == 2)
    await client.send(f"api uuid_record {a_leg} stop /tmp/rec.wav")
    await client.wait(lambda: client.count("MEDIA_BUG_STOP") == 1)
    simulator.hangup(a_leg)
    await client.wait(lambda: client.count("CHANNEL_DESTROY") == 2)
    await client.send("exit")
    _assert_same_legs(client.events, want)
    bridge = next(e for e in client.events if e.name == "CHANNEL_BRIDGE")
    assert bridge.uuid == a_leg and bridge.get("Other-Leg-Unique-ID") is not None
    complete = [e for e in client.events if e.name == "CHANNEL_HANGUP_COMPLETE"]
    for event in complete:
        assert event.get("variable_duration") is not None
        assert event.get("variable_billsec") is not None
    await client.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_flow_b_bgapi_originate_uuid_bridge_kill(simulator: Simulator, fmt: str) -> None:
    _, want = load_trace(f"trace-b-{fmt}.txt")
    client = await _open(simulator, fmt)
    a_leg = simulator.place_call("9201", "sipp")
    await client.wait(lambda: client.count("CHANNEL_PARK", a_leg) == 1)
    b_leg = "7e1b6e17-02c4-4fd8-a4ab-a4b0d968398a"
    await client.send(
        "bgapi originate {origination_uuid=" + b_leg + ",origination_caller_id_number=9201,"
        "ignore_early_media=true}" + AGENT + " &park()"
    )
    await client.wait(lambda: client.count("CHANNEL_PARK", b_leg) == 1)
    job = next(e for e in client.events if e.name == "BACKGROUND_JOB")
    assert job.body == f"+OK {b_leg}\n"
    names = [e.name for e in client.events]
    assert names.index("CHANNEL_ANSWER") < names.index("BACKGROUND_JOB")
    reply = await client.send(f"api uuid_bridge {a_leg} {b_leg}")
    assert reply.body.decode() == f"+OK {b_leg}\n"
    await client.wait(lambda: client.count("CALL_UPDATE") == 3)
    await client.send(f"api uuid_kill {b_leg} NORMAL_CLEARING")
    await client.wait(lambda: client.count("CHANNEL_DESTROY") == 2)
    assert (await client.send(f"api uuid_exists {a_leg}")).body == b"false"
    await client.send("exit")
    _assert_same_legs(client.events, want)
    assert [e.uuid for e in client.events if e.name == "CHANNEL_BRIDGE"] == [a_leg]
    assert [e.uuid for e in client.events if e.name == "CHANNEL_UNBRIDGE"] == [a_leg]
    await client.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_flow_c_failing_originates(simulator: Simulator, fmt: str) -> None:
    _frames, want = load_trace(f"trace-c-{fmt}.txt")
    client = await _open(simulator, fmt)
    first = await client.send("api originate user/9999 &park()")
    assert first.body == b"-ERR SUBSCRIBER_ABSENT\n"
    second = await client.send("api originate user/1000 &park()")
    assert second.body == b"-ERR USER_NOT_REGISTERED\n"
    await client.send("bgapi originate loopback/9202/default &park()")
    await client.wait(lambda: client.count("BACKGROUND_JOB") == 1)
    await client.send(
        "bgapi originate {originate_timeout=6}sofia/internal/nobody@127.0.0.1:5099 &park()"
    )
    await client.wait(lambda: client.count("BACKGROUND_JOB") == 2)
    await client.send("bgapi originate user/9999 &park()")
    await client.wait(lambda: client.count("BACKGROUND_JOB") == 3)
    await client.wait(lambda: client.count("CHANNEL_DESTROY") == 3)
    await client.send("exit")
    _assert_same_legs(client.events, want)
    bodies = [e.body for e in client.events if e.name == "BACKGROUND_JOB"]
    assert bodies == [e.body for e in want if e.name == "BACKGROUND_JOB"]
    assert sorted(global_events(client.events)) == sorted(global_events(want))
    await client.close()


D_COMMANDS = [
    "api status",
    "api version",
    "api global_getvar hostname",
    "api show channels",
    "api show channels as json",
    "api uuid_kill 00000000-0000-0000-0000-000000000000",
    "api no_such_command foo",
]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_flow_d_replies_and_errors(simulator: Simulator, fmt: str) -> None:
    frames, want = load_trace(f"trace-d-{fmt}.txt")
    client = await _open(simulator, fmt)
    replies = [await client.send(command) for command in D_COMMANDS]
    real = [f for f in frames if f.headers.get("Content-Type") == "api/response"]
    assert replies[3].body == real[3].body == b"\n0 total.\n"
    assert replies[4].body == real[4].body == b'{"row_count": 0}\n'
    assert replies[5].body == real[5].body == b"-ERR No such channel!\n"
    assert replies[6].body == real[6].body == b"-ERR no_such_command Command not found!\n"
    assert replies[2].body == b"sim-fs"
    await client.send("bgapi status")
    job = await client.send("bgapi version\nJob-UUID: my-own-job-uuid-0001")
    assert job.headers["Job-UUID"] == "my-own-job-uuid-0001"
    assert job.headers["Reply-Text"] == "+OK Job-UUID: my-own-job-uuid-0001"
    await client.send("bgapi no_such_command foo")
    await client.send("bgapi uuid_kill 00000000-0000-0000-0000-000000000000")
    await client.send("bgapi originate user/9999 &park()")
    await client.wait(lambda: client.count("BACKGROUND_JOB") == 5)
    socket_replies = [
        (await client.send(line)).headers["Reply-Text"]
        for line in (
            "no_such_socket_command",
            f"event {fmt} NOT_AN_EVENT",
            "filter Event-Name CHANNEL_CREATE",
            "filter delete Event-Name CHANNEL_CREATE",
        )
    ]
    real_texts = [
        f.headers.get("Reply-Text")
        for f in frames
        if f.headers.get("Content-Type") == "command/reply"
    ]
    assert socket_replies == real_texts[-5:-1]
    await client.send("exit")
    mine_jobs = [e for e in client.events if e.name == "BACKGROUND_JOB"]
    real_jobs = [e for e in want if e.name == "BACKGROUND_JOB"]
    for mine, recorded in zip(mine_jobs[2:], real_jobs[2:], strict=True):
        assert mine.body == recorded.body
        assert mine.names(False) == recorded.names(False)
    assert mine_jobs[1].get("Job-UUID") == "my-own-job-uuid-0001"
    api = [e for e in client.events if e.name == "API"]
    real_api = [
        e
        for e in want
        if e.name == "API" and e.get("API-Command") not in ("sofia", "callcenter_config")
    ]
    assert [e.get("API-Command") for e in api] == [e.get("API-Command") for e in real_api]
    for mine, recorded in zip(api, real_api, strict=True):
        assert mine.names(False) == recorded.names(False)
    await client.close()


async def test_basic_status_and_goodbye(simulator: Simulator) -> None:
    frames, _ = load_trace("trace-basic-plain.txt")
    client = await _open(simulator, "plain")
    status = await client.send("api status")
    assert status.body.decode().startswith("UP 0 years, 0 days, 0 hours, 0 minutes")
    assert "session(s) max" in status.body.decode()
    await client.send("exit")
    await client.wait(
        lambda: client.frames[-1].headers.get("Content-Type") == "text/disconnect-notice"
    )
    assert client.frames[-1].body == frames[-1].body
    await client.close()


async def test_wrong_password_gets_the_real_authfail_bytes(simulator: Simulator) -> None:
    client = await Client.connect(simulator.esl_port)
    client.writer.write(b"auth wrong\n\n")
    await client.writer.drain()
    await asyncio_wait_closed(client)
    received = b"".join(
        "".join(f"{k}: {v}\n" for k, v in f.headers.items()).encode() + b"\n" + f.body
        for f in client.frames
    )
    assert received == (FIXTURES_DIR / "trace-authfail.txt").read_bytes()


async def asyncio_wait_closed(client: Client) -> None:
    import asyncio

    await asyncio.wait_for(client._task, 5)


from tracekit import FIXTURES as FIXTURES_DIR  # noqa: E402
