"""Outbound mode: a fake FreeSWITCH `socket` app connects to our server and replays a call."""

from __future__ import annotations

import asyncio

from esl_replay import ReplayLog, SentCommand, load_trace, read_command, replay

from switchboard_common.esl import (
    ApiResult,
    CommandReply,
    EslError,
    Event,
    OutboundServer,
    OutboundSession,
    encode_event_frame,
)


async def run_fake_freeswitch(
    server: OutboundServer, data: bytes, commands: list[SentCommand]
) -> ReplayLog:
    log = ReplayLog()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await replay(reader, writer, data, commands, log)
    return log


async def test_outbound_session_replays_the_recorded_call() -> None:
    data, commands = load_trace("outbound-plain")
    seen: dict[str, object] = {}
    events: list[Event] = []
    handler_done = asyncio.Event()

    async def handle(session: OutboundSession) -> None:
        seen["channel"] = session.channel
        seen["myevents"] = await session.myevents()
        seen["linger"] = await session.linger()
        seen["answer"] = await session.execute("answer")
        seen["playback"] = await session.execute(
            "playback", "tone_stream://%(1000,0,350,440)", event_uuid="my-playback-0001"
        )
        seen["status"] = await session.api("status")
        async with asyncio.timeout(10):
            async for event in session:
                events.append(event)
                if event.name == "CHANNEL_HANGUP_COMPLETE":
                    break
            await session.hung_up.wait()
        seen["lingering"] = session.lingering
        seen["exit"] = await session.exit()
        handler_done.set()

    async with OutboundServer(handle, "127.0.0.1", 0) as server:
        log = await run_fake_freeswitch(server, data, commands)
        async with asyncio.timeout(10):
            await handler_done.wait()

    assert log.mismatches == []
    assert log.finished
    assert log.received == [command.text for command in commands]  # byte for byte
    channel = seen["channel"]
    assert isinstance(channel, Event)
    assert channel.name == "CHANNEL_DATA"
    assert channel.unique_id == "1723ebec-d219-4c73-b3aa-3a4bbd5d1b9c"
    assert channel["Caller-Caller-ID-Number"] == "sipp"
    assert channel["Caller-Destination-Number"] == "9300"
    assert channel.variable("sip_subject") == "Performance Test"
    assert isinstance(seen["myevents"], CommandReply)
    assert seen["myevents"].reply_text == "+OK Events Enabled"
    assert isinstance(seen["linger"], CommandReply)
    assert seen["linger"].reply_text == "+OK will linger"
    assert isinstance(seen["status"], ApiResult)
    assert seen["status"].text.startswith("UP 0 years")
    names = [event.name for event in events]
    assert names[0] == "CHANNEL_PARK"
    assert "CHANNEL_ANSWER" in names
    assert names[-1] == "CHANNEL_HANGUP_COMPLETE"
    complete = [
        e
        for e in events
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application-UUID") == "my-playback-0001"
    ]
    assert complete[0]["Application-Response"] == "FILE PLAYED"
    assert seen["lingering"] is True
    assert isinstance(seen["exit"], CommandReply)
    assert seen["exit"].reply_text == "+OK bye"


async def _connect_reply() -> bytes:
    data, commands = load_trace("outbound-plain")
    return data[: commands[1].rx_offset]


async def test_execute_and_wait_matches_its_completion() -> None:
    connect_reply = await _connect_reply()
    results: dict[str, object] = {}

    async def handle(session: OutboundSession) -> None:
        results["complete"] = await session.execute_and_wait("playback", "hello.wav", timeout=10)

    async with OutboundServer(handle, "127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        assert await read_command(reader) == "connect"
        writer.write(connect_reply)
        execute = await read_command(reader)
        headers = dict(line.split(": ", 1) for line in execute.split("\n")[1:])
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
        for application_uuid in ("someone-else", headers["event-uuid"]):
            writer.write(
                encode_event_frame(
                    {
                        "Event-Name": "CHANNEL_EXECUTE_COMPLETE",
                        "Application": "playback",
                        "Application-UUID": application_uuid,
                        "Application-Response": f"FILE PLAYED by {application_uuid}",
                    }
                )
            )
        assert await read_command(reader) == "exit"  # the handler returned: session says exit
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK bye\n\n")
        await writer.drain()
        writer.close()

    assert execute.startswith("sendmsg\ncall-command: execute\nexecute-app-name: playback\n")
    assert "event-lock: true" in execute
    complete = results["complete"]
    assert isinstance(complete, Event)
    assert complete["Application-UUID"] == headers["event-uuid"]
    assert complete["Application-Response"] == f"FILE PLAYED by {headers['event-uuid']}"


async def test_waiting_on_a_channel_that_goes_away_fails_cleanly() -> None:
    connect_reply = await _connect_reply()
    outcome: dict[str, BaseException] = {}
    done = asyncio.Event()

    async def handle(session: OutboundSession) -> None:
        try:
            await session.execute_and_wait("playback", "hello.wav", timeout=10)
        except EslError as exc:
            outcome["error"] = exc
        finally:
            done.set()

    async with OutboundServer(handle, "127.0.0.1", 0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        await read_command(reader)
        writer.write(connect_reply)
        await read_command(reader)
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK\n\n")
        await writer.drain()
        writer.close()  # the call is gone before the playback completes
        async with asyncio.timeout(10):
            await done.wait()

    assert outcome["error"].error_id == "esl-session-gone"  # type: ignore[attr-defined]


async def test_handler_errors_do_not_stop_the_server() -> None:
    connect_reply = await _connect_reply()
    calls: list[str | None] = []

    async def handle(session: OutboundSession) -> None:
        calls.append(session.uuid)
        raise RuntimeError("bug in a call handler")

    async with OutboundServer(handle, "127.0.0.1", 0) as server:
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await read_command(reader) == "connect"
            writer.write(connect_reply)
            assert await read_command(reader) == "exit"
            writer.write(b"Content-Type: command/reply\nReply-Text: +OK bye\n\n")
            await writer.drain()
            writer.close()
    assert calls == ["1723ebec-d219-4c73-b3aa-3a4bbd5d1b9c"] * 2


async def test_sessions_beyond_the_limit_are_refused() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def handle(session: OutboundSession) -> None:
        started.set()
        await release.wait()

    async with OutboundServer(handle, "127.0.0.1", 0, max_sessions=1, auto_connect=False) as server:
        _, first_writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(5):
            await started.wait()
        assert server.active_sessions == 1
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # closed at once
        writer.close()
        release.set()
        first_writer.close()
