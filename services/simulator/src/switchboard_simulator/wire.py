"""The ESL wire format as FreeSWITCH writes it: frames, URL-encoding, plain and JSON events.

This is the simulator's own encoder; it shares nothing with the platform's client parser so
that each can be tested against the other and against the recorded traces.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

Header = tuple[str, str]


DISCONNECT_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


_NEEDS_ESCAPE = re.compile(r'[^\x21-\x7e]|[\r\n "#&+:;<=>?@\[\\\]^`{|}]|%(?![0-9A-Fa-f]{2})')


def _escape(match: re.Match[str]) -> str:
    return f"%{ord(match.group()):02X}"


@functools.lru_cache(maxsize=1 << 16)
def url_encode(value: str) -> str:
    """Encode a header value the way `switch_url_encode` does (space -> %20, never '+').

    Characters outside printable ASCII and the unsafe set are escaped byte by byte; a '%'
    that already starts a valid escape is kept, as FreeSWITCH does not double-encode.
    """
    if value.isascii() and _NEEDS_ESCAPE.search(value) is None:
        return value
    raw = value.encode("utf-8").decode("latin-1")
    return _NEEDS_ESCAPE.sub(_escape, raw)


@dataclass(slots=True)
class Event:
    """One FreeSWITCH event: ordered headers (duplicates allowed) and an optional body."""

    name: str
    headers: list[Header] = field(default_factory=list)
    body: str | None = None
    subclass: str | None = None

    def get(self, name: str) -> str | None:
        """First value of a header, compared case-insensitively as FreeSWITCH does."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def add(self, name: str, value: str) -> None:
        self.headers.append((name, value))


def _frame(headers: Sequence[Header], body: bytes = b"") -> bytes:
    head = "".join(f"{key}: {value}\n" for key, value in headers)
    return head.encode("utf-8") + b"\n" + body


def auth_request() -> bytes:
    return _frame([("Content-Type", "auth/request")])


def command_reply(text: str, extra: Sequence[Header] = ()) -> bytes:
    return _frame([("Content-Type", "command/reply"), ("Reply-Text", text), *extra])


def api_response(text: str) -> bytes:
    body = text.encode("utf-8")
    return _frame([("Content-Type", "api/response"), ("Content-Length", str(len(body)))], body)


def disconnect_notice(message: str, session_uuid: str | None = None) -> bytes:
    body = message.encode("utf-8")
    headers: list[Header] = [("Content-Type", "text/disconnect-notice")]
    if session_uuid is not None:
        headers += [
            ("Controlled-Session-UUID", session_uuid),
            ("Content-Disposition", "disconnect"),
        ]
    headers.append(("Content-Length", str(len(body))))
    return _frame(headers, body)


def linger_notice(session_uuid: str, channel_name: str, linger_seconds: int) -> bytes:
    return _frame(
        [
            ("Content-Type", "text/disconnect-notice"),
            ("Controlled-Session-UUID", session_uuid),
            ("Content-Disposition", "linger"),
            ("Channel-Name", channel_name),
            ("Linger-Time", str(linger_seconds)),
            ("Content-Length", "0"),
        ]
    )


def serialize_plain(event: Event) -> str:
    """The body of a `text/event-plain` frame (`switch_event_serialize` with encoding)."""
    lines = [f"{key}: {url_encode(value)}\n" for key, value in event.headers]
    if event.body is not None:
        body_bytes = event.body.encode("utf-8")
        lines.append(f"Content-Length: {len(body_bytes)}\n\n")
        lines.append(event.body)
    else:
        lines.append("\n")
    return "".join(lines)


def serialize_json(event: Event) -> str:
    """The body of a `text/event-json` frame: one flat object, duplicate keys kept."""
    parts = [
        f"{json.dumps(key, ensure_ascii=False)}:{json.dumps(value, ensure_ascii=False)}"
        for key, value in event.headers
    ]
    if event.body is not None:
        length = str(len(event.body.encode("utf-8")))
        parts.append(f'"Content-Length":{json.dumps(length)}')
        parts.append(f'"_body":{json.dumps(event.body, ensure_ascii=False)}')
    return "{" + ",".join(parts) + "}"


def event_frame(event: Event, fmt: str) -> bytes:
    """A complete event frame in `plain` or `json` format."""
    text = serialize_json(event) if fmt == "json" else serialize_plain(event)
    body = text.encode("utf-8")
    head = f"Content-Length: {len(body)}\nContent-Type: text/event-{fmt}\n\n"
    return head.encode("utf-8") + body


def connect_reply(channel_headers: Sequence[Header], async_mode: bool, full: bool) -> bytes:
    """The outbound `connect` reply: a serialized CHANNEL_DATA event as one header block."""
    event = Event("CHANNEL_DATA", list(channel_headers))
    event.add("Content-Type", "command/reply")
    event.add("Reply-Text", "+OK\n")
    event.add("Socket-Mode", "async" if async_mode else "static")
    event.add("Control", "full" if full else "single-channel")
    return serialize_plain(event).encode("utf-8")


@dataclass(slots=True)
class Command:
    """A command a client sent: its first line and the header lines after it."""

    line: str
    headers: list[Header] = field(default_factory=list)
    body: str | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


class CommandReader:
    """Splits the client byte stream into commands (blank-line terminated, optional body)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: Command | None = None
        self._body_left = 0

    def feed(self, data: bytes) -> list[Command]:
        self._buffer += data
        commands: list[Command] = []
        while True:
            if self._pending is not None:
                if len(self._buffer) < self._body_left:
                    break
                body = self._buffer[: self._body_left]
                self._buffer = self._buffer[self._body_left :]
                self._pending.body = body.decode("utf-8", "replace")
                commands.append(self._pending)
                self._pending = None
                continue
            self._buffer = self._buffer.lstrip(b"\r\n")
            end = self._buffer.find(b"\n\n")
            end_crlf = self._buffer.find(b"\r\n\r\n")
            if end < 0 and end_crlf < 0:
                break
            if end < 0 or (0 <= end_crlf < end):
                block, self._buffer = self._buffer[:end_crlf], self._buffer[end_crlf + 4 :]
            else:
                block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            lines = block.decode("utf-8", "replace").replace("\r", "").split("\n")
            command = Command(lines[0])
            length = 0
            for line in lines[1:]:
                if not line:
                    continue
                key, _, value = line.partition(":")
                value = value.lstrip(" ")
                command.headers.append((key, value))
                if key.lower() == "content-length" and value.isdigit():
                    length = int(value)
            if length > 0:
                self._pending = command
                self._body_left = length
            else:
                commands.append(command)
        return commands
