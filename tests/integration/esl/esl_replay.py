"""A fake FreeSWITCH that replays a recorded ESL trace over a real loopback socket.

The `.sent.txt` next to each trace says what the recording client sent and how many bytes it
had received at that moment. Replaying: send the bytes received before the first command,
then for each command read what our client sends, check it is the recorded command, and send
the bytes FreeSWITCH sent until the next command. Every segment holds exactly one reply.

A client-generated `Job-UUID` is swapped into the rest of the trace in place of the one
FreeSWITCH chose (both are 36-character UUIDs, so every Content-Length still holds).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

TRACE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch"
_SENT = re.compile(r"=== t=[\d.]+ rx_offset=(\d+)\n(.*?)\n\n", re.S)
_JOB_REPLY = re.compile(rb"Reply-Text: \+OK Job-UUID: ([^\n]+)\n")


@dataclass(frozen=True)
class SentCommand:
    rx_offset: int
    text: str

    @property
    def line(self) -> str:
        return self.text.split("\n", 1)[0]

    @property
    def headers(self) -> dict[str, str]:
        lines = self.text.split("\n")[1:]
        return dict(line.split(": ", 1) for line in lines if line)


def load_trace(name: str) -> tuple[bytes, list[SentCommand]]:
    data = (TRACE_DIR / f"trace-{name}.txt").read_bytes()
    sent_path = TRACE_DIR / f"trace-{name}.sent.txt"
    commands = [
        SentCommand(int(match.group(1)), match.group(2))
        for match in _SENT.finditer(sent_path.read_text())
    ]
    return data, commands


async def read_command(reader: asyncio.StreamReader) -> str:
    """One command as a client writes it: lines up to a blank line, then any body."""
    head = await reader.readuntil(b"\n\n")
    text = head[:-2].decode()
    for line in text.split("\n")[1:]:
        name, _, value = line.partition(": ")
        if name.lower() == "content-length":
            text += "\n\n" + (await reader.readexactly(int(value))).decode()
    return text


@dataclass
class ReplayLog:
    received: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    job_uuids: dict[str, str] = field(default_factory=dict)  # recorded -> client's
    finished: bool = False


def _matches(expected: SentCommand, got: str) -> bool:
    got_lines = got.split("\n")
    if got_lines[0] != expected.line:
        return False
    got_headers = dict(line.split(": ", 1) for line in got_lines[1:] if ": " in line)
    extra = set(got_headers) - set(expected.headers)
    if not extra <= {"Job-UUID"}:
        return False
    return all(got_headers.get(name) == value for name, value in expected.headers.items())


async def replay(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    data: bytes,
    commands: list[SentCommand],
    log: ReplayLog,
    *,
    command_timeout: float = 10.0,
) -> None:
    """Play FreeSWITCH's side of the recording on one connection."""
    try:
        writer.write(data[: commands[0].rx_offset])
        await writer.drain()
        for index, expected in enumerate(commands):
            async with asyncio.timeout(command_timeout):
                got = await read_command(reader)
            log.received.append(got)
            if not _matches(expected, got):
                log.mismatches.append(f"expected {expected.text!r}, got {got!r}")
                return
            end = commands[index + 1].rx_offset if index + 1 < len(commands) else len(data)
            data = _adopt_job_uuid(data, expected, got, end, log)
            writer.write(data[expected.rx_offset : end])
            await writer.drain()
        log.finished = True
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
        log.mismatches.append(f"replay stopped: {exc!r}")
    finally:
        writer.close()


def _adopt_job_uuid(
    data: bytes, expected: SentCommand, got: str, end: int, log: ReplayLog
) -> bytes:
    if "Job-UUID" in expected.headers:
        return data
    client_uuid = next(
        (line[len("Job-UUID: ") :] for line in got.split("\n") if line.startswith("Job-UUID: ")),
        None,
    )
    if client_uuid is None:
        return data
    match = _JOB_REPLY.search(data, expected.rx_offset, end)
    assert match is not None, "a bgapi segment without its Job-UUID reply"
    recorded = match.group(1)
    assert len(recorded) == len(client_uuid.encode()), "Job-UUIDs must keep their length"
    log.job_uuids[recorded.decode()] = client_uuid
    head, tail = data[: expected.rx_offset], data[expected.rx_offset :]
    return head + tail.replace(recorded, client_uuid.encode())


class ReplayServer:
    """Inbound mode: our client connects to this fake FreeSWITCH (one connection)."""

    def __init__(self, data: bytes, commands: list[SentCommand]) -> None:
        self.data = data
        self.commands = commands
        self.log = ReplayLog()
        self._server: asyncio.Server | None = None
        self._done = asyncio.Event()

    async def __aenter__(self) -> ReplayServer:
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

    async def wait_done(self) -> None:
        async with asyncio.timeout(10):
            await self._done.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await replay(reader, writer, self.data, self.commands, self.log)
        finally:
            self._done.set()


# -- what the trace says the answers are (read without the client's parser) ------------------


def frames_in(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Naive frame splitter: header lines, blank line, Content-Length bytes."""
    frames: list[tuple[dict[str, str], bytes]] = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n\n", pos)
        headers = dict(line.split(": ", 1) for line in data[pos:end].decode().split("\n") if line)
        start = end + 2
        stop = start + int(headers.get("Content-Length", "0"))
        frames.append((headers, data[start:stop]))
        pos = stop
    return frames


def reply_in_segment(data: bytes, commands: list[SentCommand], index: int) -> tuple[str, str]:
    """(content type, text) of the one reply in the segment that follows command `index`."""
    end = commands[index + 1].rx_offset if index + 1 < len(commands) else len(data)
    for headers, body in frames_in(data[commands[index].rx_offset : end]):
        if headers["Content-Type"] == "api/response":
            return "api/response", body.decode()
        if headers["Content-Type"] == "command/reply":
            return "command/reply", headers["Reply-Text"]
    raise AssertionError(f"no reply after {commands[index].text!r}")


def event_names_in(data: bytes) -> list[str]:
    names = []
    for headers, body in frames_in(data):
        if headers["Content-Type"] == "text/event-json":
            names.append(json.loads(body)["Event-Name"])
        elif headers["Content-Type"] == "text/event-plain":
            head = body.split(b"\n\n", 1)[0].decode()
            names.append(
                next(line[12:] for line in head.split("\n") if line.startswith("Event-Name: "))
            )
    return names


def background_job_bodies(data: bytes) -> dict[str, str]:
    """Job-UUID -> result text of every BACKGROUND_JOB in the trace."""
    bodies = {}
    for headers, body in frames_in(data):
        if headers["Content-Type"] == "text/event-json":
            document = json.loads(body)
            if document["Event-Name"] == "BACKGROUND_JOB":
                bodies[document["Job-UUID"]] = document.get("_body", "")
        elif headers["Content-Type"] == "text/event-plain" and (
            b"\nEvent-Name: BACKGROUND_JOB\n" in b"\n" + body.split(b"\n\n", 1)[0] + b"\n"
        ):
            head, _, rest = body.partition(b"\n\n")
            fields = dict(line.split(": ", 1) for line in head.decode().split("\n"))
            bodies[fields["Job-UUID"]] = rest[: int(fields["Content-Length"])].decode()
    return bodies
