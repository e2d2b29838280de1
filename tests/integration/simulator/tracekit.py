"""A minimal, independent reader of recorded ESL traces and a small asyncio ESL client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch"


@dataclass
class Frame:
    headers: dict[str, str]
    body: bytes


@dataclass
class TraceEvent:
    name: str
    headers: list[tuple[str, str]]
    body: str | None

    def get(self, key: str) -> str | None:
        return next((value for name, value in self.headers if name == key), None)

    @property
    def uuid(self) -> str | None:
        return self.get("Unique-ID")

    def names(self, variables: bool) -> set[str]:
        return {name for name, _ in self.headers if name.startswith("variable_") == variables}


def split_frames(data: bytes) -> tuple[list[Frame], bytes]:
    frames: list[Frame] = []
    index = 0
    while True:
        end = data.find(b"\n\n", index)
        if end < 0:
            break
        headers: dict[str, str] = {}
        for line in data[index:end].decode().split("\n"):
            key, _, value = line.partition(": ")
            headers[key] = value
        length = int(headers.get("Content-Length", "0"))
        if end + 2 + length > len(data):
            break
        frames.append(Frame(headers, data[end + 2 : end + 2 + length]))
        index = end + 2 + length
    return frames, data[index:]


def parse_event(frame: Frame) -> TraceEvent | None:
    kind = frame.headers.get("Content-Type")
    if kind == "text/event-plain":
        text = frame.body.decode()
        head, _, rest = text.partition("\n\n")
        pairs = []
        for line in head.split("\n"):
            if line:
                key, _, value = line.partition(": ")
                pairs.append((key, unquote(value)))
        body = rest if any(k == "Content-Length" for k, _ in pairs) else None
        pairs = [(k, v) for k, v in pairs if k != "Content-Length"]
        return TraceEvent(dict(pairs)["Event-Name"], pairs, body)
    if kind == "text/event-json":
        pairs = json.loads(frame.body, object_pairs_hook=list)
        body = next((v for k, v in pairs if k == "_body"), None)
        pairs = [(k, v) for k, v in pairs if k not in ("_body", "Content-Length")]
        return TraceEvent(dict(pairs)["Event-Name"], pairs, body)
    return None


def load_trace(name: str) -> tuple[list[Frame], list[TraceEvent]]:
    frames, _ = split_frames((FIXTURES / name).read_bytes())
    events = [event for event in map(parse_event, frames) if event is not None]
    return frames, events


def per_leg(events: list[TraceEvent]) -> list[list[TraceEvent]]:
    """Events grouped by channel, legs in order of first appearance."""
    legs: dict[str, list[TraceEvent]] = {}
    for event in events:
        if event.uuid is not None:
            legs.setdefault(event.uuid, []).append(event)
    return list(legs.values())


def global_events(events: list[TraceEvent]) -> list[str]:
    out = []
    for event in events:
        if event.uuid is None:
            out.append(f"{event.name}:{event.get('API-Command') or event.get('Job-Command')}")
    return out


class Client:
    """Reads every frame an ESL server sends and lets a test wait for some of them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.frames: list[Frame] = []
        self.events: list[TraceEvent] = []
        self._task = asyncio.create_task(self._pump())
        self._changed = asyncio.Event()

    @classmethod
    async def connect(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _pump(self) -> None:
        rest = b""
        while True:
            chunk = await self.reader.read(65536)
            if not chunk:
                break
            frames, rest = split_frames(rest + chunk)
            for frame in frames:
                self.frames.append(frame)
                event = parse_event(frame)
                if event is not None:
                    self.events.append(event)
            self._changed.set()
        self._changed.set()

    async def wait(self, predicate: Callable[[], bool], limit_s: float = 10.0) -> None:
        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                if self._task.done():
                    raise AssertionError("connection closed while waiting")
                await self._changed.wait()

        await asyncio.wait_for(loop(), limit_s)

    async def wait_event(self, name: str, limit_s: float = 10.0, **headers: str) -> TraceEvent:
        """The first event named `name` whose headers (`Unique_ID="..."`: dashes as
        underscores) match, waiting for it."""
        wanted = {key.replace("_", "-"): value for key, value in headers.items()}

        def find() -> TraceEvent | None:
            return next(
                (
                    e
                    for e in self.events
                    if e.name == name and all(e.get(k) == v for k, v in wanted.items())
                ),
                None,
            )

        await self.wait(lambda: find() is not None, limit_s)
        found = find()
        assert found is not None
        return found

    def matching(self, name: str, **headers: str) -> list[TraceEvent]:
        wanted = {key.replace("_", "-"): value for key, value in headers.items()}
        return [
            e
            for e in self.events
            if e.name == name and all(e.get(k) == v for k, v in wanted.items())
        ]

    async def api(self, command: str) -> str:
        reply = await self.send(f"api {command}")
        return reply.body.decode()

    def count(self, name: str, uuid: str | None = None) -> int:
        return sum(1 for e in self.events if e.name == name and (uuid is None or e.uuid == uuid))

    async def send(self, text: str, expect_reply: bool = True) -> Frame:
        before = len([f for f in self.frames if _is_reply(f)])
        self.writer.write(text.encode() + b"\n\n")
        await self.writer.drain()
        await self.wait(lambda: len([f for f in self.frames if _is_reply(f)]) > before)
        return [f for f in self.frames if _is_reply(f)][before]

    async def close(self) -> None:
        self.writer.close()
        await asyncio.wait_for(self._task, 5)


async def open_client(port: int, fmt: str = "plain", password: str = "ClueCon") -> Client:
    """Connect, authenticate, subscribe to everything but HEARTBEAT and RE_SCHEDULE."""
    client = await Client.connect(port)
    await client.wait(lambda: len(client.frames) >= 1)
    assert (await client.send(f"auth {password}")).headers["Reply-Text"] == "+OK accepted"
    await client.send(f"event {fmt} ALL")
    await client.send("nixevent HEARTBEAT RE_SCHEDULE")
    return client


def _is_reply(frame: Frame) -> bool:
    return frame.headers.get("Content-Type") in ("command/reply", "api/response")
