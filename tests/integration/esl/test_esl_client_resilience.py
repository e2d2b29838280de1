"""Reconnects, lost commands and event floods, against small scripted fake FreeSWITCHes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest
from esl_replay import read_command
from prometheus_client import REGISTRY

from switchboard_common.esl import (
    EslClient,
    EslConnectionError,
    EslTimeoutError,
    Event,
    encode_event_frame,
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[str]], Awaitable[None]]


class ScriptedSwitch:
    """Runs the next script for each new connection and records the commands it read."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.connections: list[list[str]] = []
        self.finished = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedSwitch:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received: list[str] = []
        self.connections.append(received)
        script = self.scripts[len(self.connections) - 1]
        try:
            await script(reader, writer, received)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if len(self.connections) == len(self.scripts):
                self.finished.set()


async def expect(reader: asyncio.StreamReader, received: list[str]) -> str:
    async with asyncio.timeout(10):
        command = await read_command(reader)
    received.append(command)
    return command


def reply(writer: asyncio.StreamWriter, text: str, extra: str = "") -> None:
    writer.write(f"Content-Type: command/reply\nReply-Text: {text}\n{extra}\n".encode())


def api_response(writer: asyncio.StreamWriter, body: str) -> None:
    data = body.encode()
    writer.write(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data)


async def handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str], setup: int
) -> None:
    """auth/request, `auth`, then `setup` more commands (subscriptions, filters) answered +OK."""
    writer.write(b"Content-Type: auth/request\n\n")
    await expect(reader, received)
    reply(writer, "+OK accepted")
    for _ in range(setup):
        await expect(reader, received)
        reply(writer, "+OK")


async def serve_until_exit(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
) -> None:
    while True:
        command = await expect(reader, received)
        if command == "exit":
            reply(writer, "+OK bye")
            await writer.drain()
            return
        if command.startswith("api "):
            api_response(writer, "UP 0 years")
        else:
            reply(writer, "+OK")


def sample(name: str, link: str) -> float:
    value = REGISTRY.get_sample_value(name, {"link": link})
    return 0.0 if value is None else value


CREATE = encode_event_frame(
    {"Event-Name": "CHANNEL_CREATE", "Unique-ID": "abc", "Caller-Caller-ID-Name": "Jane Doe"}
)


async def test_reconnect_resubscribes_and_fails_what_was_pending() -> None:
    async def first(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        await handshake(reader, writer, received, setup=3)  # event, 2 filters
        bgapi = await expect(reader, received)
        job_uuid = bgapi.split("Job-UUID: ")[1]
        reply(writer, f"+OK Job-UUID: {job_uuid}", f"Job-UUID: {job_uuid}\n")
        await expect(reader, received)  # `api status`: answered only by half a frame
        writer.write(CREATE[: len(CREATE) // 2])
        await writer.drain()

    async def second(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        await handshake(reader, writer, received, setup=3)
        writer.write(CREATE)
        await serve_until_exit(reader, writer, received)

    link = "reconnect-test"
    connects: list[str] = []
    disconnects: list[str] = []
    created: asyncio.Queue[Event] = asyncio.Queue()

    async def on_connect() -> None:
        connects.append("up")

    async def on_disconnect() -> None:
        disconnects.append("down")

    async with ScriptedSwitch([first, second]) as switch:
        client = EslClient(
            "127.0.0.1",
            switch.port,
            "ClueCon",
            events=["CHANNEL_CREATE"],
            filters=[("Unique-ID", "abc")],
            backoff_initial=0.01,
            backoff_max=0.05,
            link_name=link,
            on_connect=on_connect,
        )
        client.add_disconnect_hook(on_disconnect)
        client.on("CHANNEL_CREATE", created.put_nowait)
        reconnects_before = sample("esl_reconnects_total", link)

        await client.connect()
        job = await client.bgapi("originate user/1000 &park()")
        with pytest.raises(EslConnectionError):
            await client.api("status")
        with pytest.raises(EslConnectionError):
            await job.result(timeout=5)

        async with asyncio.timeout(10):
            event = await created.get()
        assert event.unique_id == "abc"
        assert event["Caller-Caller-ID-Name"] == "Jane Doe"
        await client.wait_connected(timeout=5)
        assert (await client.api("status")).text == "UP 0 years"
        await client.close()
        async with asyncio.timeout(10):
            await switch.finished.wait()

    setup = [
        "auth ClueCon",
        "event json CHANNEL_CREATE BACKGROUND_JOB",
        "filter Event-Name BACKGROUND_JOB",
        "filter Unique-ID abc",
    ]
    assert switch.connections[0][:4] == setup
    assert switch.connections[0][5] == "api status"
    assert switch.connections[1] == [*setup, "api status", "exit"]
    assert connects == ["up", "up"]
    assert disconnects == ["down"]
    assert sample("esl_reconnects_total", link) == reconnects_before + 1
    assert sample("esl_connected", link) == 0


async def test_commands_fail_cleanly_when_not_connected_or_unanswered() -> None:
    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        await handshake(reader, writer, received, setup=1)
        await expect(reader, received)  # `api status`: never answered
        reply_to_next = await expect(reader, received)  # `api version`
        api_response(writer, "late status")  # the reply to the timed-out command...
        api_response(writer, f"answer to {reply_to_next}")  # ...then the real one
        await serve_until_exit(reader, writer, received)

    client = EslClient("127.0.0.1", 1, "ClueCon", reconnect=False, command_timeout=0.2)
    with pytest.raises(EslConnectionError):
        await client.api("status")
    async with ScriptedSwitch([silent]) as switch:
        client = EslClient(
            "127.0.0.1", switch.port, "ClueCon", reconnect=False, command_timeout=0.3
        )
        await client.connect()
        with pytest.raises(EslTimeoutError):
            await client.api("status")
        # The late reply is matched to the command that timed out, not to the next one.
        assert (await client.api("version", timeout=5)).text == "answer to api version"
        await client.close()


async def test_flood_keeps_the_reader_reading(caplog: pytest.LogCaptureFixture) -> None:
    total = 20_000
    flood_written = asyncio.Event()
    padding = {f"variable_pad_{i}": "x" * 40 for i in range(16)}  # about 1 KiB per event
    frames = b"".join(
        encode_event_frame({"Event-Name": "CHANNEL_CALLSTATE", "Unique-ID": f"u-{n}", **padding})
        for n in range(total)
    )

    async def flood(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        await handshake(reader, writer, received, setup=1)
        writer.write(frames)
        await writer.drain()
        flood_written.set()
        await serve_until_exit(reader, writer, received)

    link = "flood-test"
    handled: list[str] = []

    async def slow_handler(event: Event) -> None:
        handled.append(event.unique_id or "")
        await asyncio.sleep(0.005)

    received_before = sample("esl_events_received_total", link)
    dropped_before = sample("esl_events_dropped_total", link)
    caplog.set_level(logging.WARNING, logger="switchboard_common.esl.connection")
    async with ScriptedSwitch([flood]) as switch:
        client = EslClient(
            "127.0.0.1", switch.port, "ClueCon", events=["ALL"], queue_size=1000, link_name=link
        )
        client.on("CHANNEL_CALLSTATE", slow_handler)
        await client.connect()
        async with asyncio.timeout(30):
            await flood_written.wait()
        # The reader is free: a command still gets its reply while handlers lag behind. The
        # reply follows the 20,000 events on the wire, so by now all of them were read.
        assert (await client.api("status")).text == "UP 0 years"
        assert sample("esl_events_received_total", link) == received_before + total
        depth = client.queue_depth
        dropped = client.dropped_events
        assert sample("esl_event_queue_depth", link) == depth
        assert depth > 400
        assert dropped > 0
        assert sample("esl_events_dropped_total", link) == dropped_before + dropped
        assert len(handled) + depth + dropped == total
        await client.close()

    messages = [record.getMessage() for record in caplog.records]
    assert any("falls 500 events behind" in message for message in messages)
    assert any("event queue full" in message for message in messages)
    # Handled events kept their order.
    numbers = [int(uid.removeprefix("u-")) for uid in handled]
    assert numbers == sorted(numbers)


async def test_handlers_by_name_subclass_and_wildcard() -> None:
    custom = encode_event_frame(
        {
            "Event-Name": "CUSTOM",
            "Event-Subclass": "callcenter::info",
            "CC-Action": "agent-offering",
        },
        fmt="json",
    )

    async def push(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        await handshake(reader, writer, received, setup=1)
        writer.write(custom + CREATE)
        await serve_until_exit(reader, writer, received)

    calls: list[str] = []
    all_handled = asyncio.Event()

    def failing(event: Event) -> None:
        calls.append(f"failing:{event.name}")
        raise RuntimeError("a broken handler")

    async def by_subclass(event: Event) -> None:
        calls.append(f"subclass:{event['CC-Action']}")

    def wildcard(event: Event) -> None:
        calls.append(f"any:{event.name}")
        if event.name == "CHANNEL_CREATE":
            all_handled.set()

    async with ScriptedSwitch([push]) as switch:
        client = EslClient(
            "127.0.0.1",
            switch.port,
            "ClueCon",
            events=["CHANNEL_CREATE"],
            custom_subclasses=["callcenter::info"],
            reconnect=False,
        )
        client.on("CUSTOM", failing)
        client.on("callcenter::info", by_subclass)
        client.on("*", wildcard)
        await client.connect()
        async with asyncio.timeout(10):
            await all_handled.wait()
        await client.close()

    assert (
        switch.connections[0][1]
        == "event json CHANNEL_CREATE BACKGROUND_JOB CUSTOM callcenter::info"
    )
    assert calls == [
        "failing:CUSTOM",
        "subclass:agent-offering",
        "any:CUSTOM",
        "any:CHANNEL_CREATE",
    ]


async def test_rude_rejection_is_reported() -> None:
    async def reject(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        text = b"Access Denied, go away.\n"
        writer.write(
            b"Content-Type: text/rude-rejection\nContent-Length: %d\n\n" % len(text) + text
        )
        await writer.drain()

    async with ScriptedSwitch([reject]) as switch:
        client = EslClient("127.0.0.1", switch.port, "ClueCon", reconnect=False)
        with pytest.raises(EslConnectionError, match="Access Denied, go away"):
            await client.connect()
        await client.close()


async def test_log_lines_reach_log_handlers() -> None:
    line = b"2026-11-22 12:13:04.249 [NOTICE] switch_core.c:1 hello\n"

    async def logs(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: list[str]
    ) -> None:
        await handshake(reader, writer, received, setup=2)  # event + log
        writer.write(
            b"Content-Type: log/data\nContent-Length: %d\nLog-Level: 5\nText-Channel: 3\n\n"
            % len(line)
            + line
        )
        await serve_until_exit(reader, writer, received)

    got: asyncio.Queue[bytes] = asyncio.Queue()
    async with ScriptedSwitch([logs]) as switch:
        client = EslClient("127.0.0.1", switch.port, "ClueCon", log_level="notice", reconnect=False)
        client.on_log(lambda frame: got.put_nowait(frame.body))
        await client.connect()
        async with asyncio.timeout(10):
            assert await got.get() == line
        await client.close()
    assert switch.connections[0][2] == "log notice"
