"""Outbound `socket` mode against trace-outbound-plain: the simulator dials a server the test
runs, which sends what the recorded client sent (connect, myevents, linger, sendmsg answer,
sendmsg playback with event-uuid, api status) while the caller hangs up at the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tracekit import FIXTURES, Client, Frame, TraceEvent, load_trace

from switchboard_simulator.config import CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

TONE = "tone_stream://%(1000,0,350,440)"
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


class OutboundApp:
    """The application FreeSWITCH's `socket` app connects to."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[Client] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.connections.put(Client(reader, writer))

    async def next_session(self) -> Client:
        return await asyncio.wait_for(self.connections.get(), 10)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def outbound() -> AsyncIterator[tuple[Simulator, OutboundApp]]:
    app = OutboundApp()
    port = await app.start()
    world = WorldConfig(
        seed=3,
        numbers=[
            TenantNumber("9300", "acme", actions=[("socket", f"127.0.0.1:{port} async full")]),
            TenantNumber("9301", "acme", actions=[("socket", f"127.0.0.1:{port} async full")]),
        ],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        heartbeat_interval_s=0,
        playback_seconds=0.2,
    )
    sim = Simulator(SimulatorConfig(world=world, esl_port=0, start_traffic=False))
    await sim.start()
    yield sim, app
    await sim.stop()
    await app.stop()


def _kinds(frames: list[Frame]) -> list[str]:
    return [
        frame.headers.get("Content-Type", "")
        for frame in frames
        if not frame.headers.get("Content-Type", "").startswith("text/event")
    ]


def _names(events: list[TraceEvent]) -> list[str]:
    return [event.name for event in events]


async def _replies(client: Client, count: int) -> None:
    await client.wait(
        lambda: (
            sum(
                1
                for f in client.frames
                if f.headers.get("Content-Type") in ("command/reply", "api/response")
            )
            >= count
        )
    )


async def test_outbound_session_matches_the_recorded_one(
    outbound: tuple[Simulator, OutboundApp],
) -> None:
    sim, app = outbound
    real_frames, real_events = load_trace("trace-outbound-plain.txt")
    raw_trace = (FIXTURES / "trace-outbound-plain.txt").read_bytes()
    uuid = sim.place_call("9300", "sipp")
    client = await app.next_session()
    await asyncio.sleep(0.1)
    assert not sim.world.channels[uuid].parked, "the socket app waits for `connect`"
    client.writer.write(b"connect\n\nmyevents\n\nlinger\n\n")
    await client.writer.drain()
    await _replies(client, 3)
    await client.wait(lambda: client.count("CHANNEL_PARK") == 1)
    await client.send("sendmsg\ncall-command: execute\nexecute-app-name: answer")
    await client.send(
        "sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
        f"execute-app-arg: {TONE}\nevent-uuid: my-playback-0001"
    )
    status = await client.send("api status")
    assert status.body.startswith(b"UP 0 years, 0 days")
    await client.wait(
        lambda: any(
            e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application-UUID") == "my-playback-0001"
            for e in client.events
        )
    )
    assert sim.hangup(uuid)
    await client.wait(lambda: client.frames[-1].headers.get("Content-Disposition") == "linger")
    await client.send("exit")
    await asyncio.wait_for(client._task, 5)

    connect_raw = raw_trace[: raw_trace.index(b"\n\n") + 2]
    mine = client.frames[0]
    assert "Content-Length" not in mine.headers
    assert next(iter(mine.headers)) == "Event-Name" and mine.headers["Event-Name"] == "CHANNEL_DATA"
    assert list(mine.headers.items())[-4:] == [
        ("Content-Type", "command/reply"),
        ("Reply-Text", "%2BOK%0A"),
        ("Socket-Mode", "async"),
        ("Control", "full"),
    ]
    real_names = {line.split(": ", 1)[0] for line in connect_raw.decode().split("\n") if line}
    assert {k for k in mine.headers if not k.startswith("variable_")} == {
        k for k in real_names if not k.startswith("variable_")
    }

    assert _kinds(client.frames) == _kinds(real_frames)
    assert [f.headers.get("Reply-Text") for f in client.frames[1:3]] == [
        "+OK Events Enabled",
        "+OK will linger",
    ]
    assert client.frames[3].headers["Content-Type"] == "text/event-plain", "park after linger"
    assert _names(client.events) == _names(real_events)
    assert "CHANNEL_DESTROY" not in _names(client.events)
    for index, (got, want) in enumerate(zip(client.events, real_events, strict=True)):
        extra = got.names(False) - want.names(False)
        missing = want.names(False) - got.names(False)
        assert not extra and not missing, (index, got.name, extra, missing)
        assert bool(got.names(True)) == bool(want.names(True))
    done = [e for e in client.events if e.name == "CHANNEL_EXECUTE_COMPLETE"]
    assert [(e.get("Application"), e.get("Application-UUID")) for e in done][1] == (
        "playback",
        "my-playback-0001",
    )
    assert done[1].get("Application-Response") == "FILE PLAYED"

    linger, bye, goodbye = client.frames[-3:]
    real_linger = real_frames[-3]
    assert list(linger.headers) == list(real_linger.headers)
    assert linger.headers["Controlled-Session-UUID"] == uuid
    assert linger.headers["Linger-Time"] == "-1"
    assert bye.headers["Reply-Text"] == "+OK bye"
    assert list(goodbye.headers) == list(real_frames[-1].headers)
    assert goodbye.headers["Content-Disposition"] == "disconnect"
    assert goodbye.body == real_frames[-1].body == GOODBYE


async def test_linger_with_a_time_closes_after_it_and_nolinger_closes_at_once(
    outbound: tuple[Simulator, OutboundApp],
) -> None:
    sim, app = outbound
    first = sim.place_call("9300")
    client = await app.next_session()
    client.writer.write(b"connect\n\nmyevents\n\nlinger 1\n\n")
    await client.writer.drain()
    await _replies(client, 3)
    assert client.frames[2].headers["Reply-Text"] == "+OK will linger 1 seconds"
    assert sim.hangup(first)
    await asyncio.wait_for(client._task, 5)
    notices = [
        f for f in client.frames if f.headers.get("Content-Type") == "text/disconnect-notice"
    ]
    assert [n.headers.get("Content-Disposition") for n in notices] == ["linger", "disconnect"]
    assert notices[0].headers["Linger-Time"] == "1"
    assert client.count("CHANNEL_HANGUP_COMPLETE") == 1

    second = sim.place_call("9301")
    plain = await app.next_session()
    await plain.send("connect")
    assert sim.hangup(second)
    await asyncio.wait_for(plain._task, 5)
    notices = [f for f in plain.frames if f.headers.get("Content-Type") == "text/disconnect-notice"]
    assert [n.headers.get("Content-Disposition") for n in notices] == ["disconnect"]
    assert plain.events == [], "no events without myevents/event"


async def test_socket_commands_drive_the_call_and_messages_wait_for_the_park(
    outbound: tuple[Simulator, OutboundApp],
) -> None:
    sim, app = outbound
    uuid = sim.place_call("9300")
    client = await app.next_session()
    client.writer.write(
        b"connect\n\nmyevents\n\nsendmsg\ncall-command: execute\nexecute-app-name: answer\n\n"
    )
    await client.writer.drain()
    await _replies(client, 3)
    await client.wait(lambda: client.count("CHANNEL_EXECUTE_COMPLETE") == 1)
    names = _names(client.events)
    assert names.index("CHANNEL_PARK") < names.index("CHANNEL_EXECUTE")
    getvar = await client.send("getvar sb_tenant")
    assert getvar.headers["Reply-Text"] == ""
    await client.send("sendmsg\ncall-command: hangup\nhangup-cause: CALL_REJECTED")
    await client.wait(lambda: client.count("CHANNEL_HANGUP_COMPLETE") == 1)
    hangup = next(e for e in client.events if e.name == "CHANNEL_HANGUP")
    assert hangup.get("Hangup-Cause") == "CALL_REJECTED"
    await asyncio.wait_for(client._task, 5)
    assert uuid not in sim.world.channels
