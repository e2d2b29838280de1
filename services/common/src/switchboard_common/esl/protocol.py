"""The FreeSWITCH Event Socket wire protocol, without any I/O.

A frame is a block of `Name: value` lines ended by a blank line, then exactly `Content-Length`
bytes of body (no terminator). `FrameParser` cuts a byte stream into `Frame`s; `Event` reads an
event frame (`text/event-plain` or `text/event-json`) lazily: nothing is split or URL-decoded
until a header is asked for, and then only what is needed. The `encode_*` functions build the
commands a client sends.
"""

from __future__ import annotations

from binascii import a2b_qp
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import unquote

import orjson

from switchboard_common.errors import ValidationFailed
from switchboard_common.esl.errors import EslProtocolError

AUTH_REQUEST: Final = "auth/request"
COMMAND_REPLY: Final = "command/reply"
API_RESPONSE: Final = "api/response"
EVENT_PLAIN: Final = "text/event-plain"
EVENT_JSON: Final = "text/event-json"
EVENT_XML: Final = "text/event-xml"
DISCONNECT_NOTICE: Final = "text/disconnect-notice"
RUDE_REJECTION: Final = "text/rude-rejection"
LOG_DATA: Final = "log/data"

EVENT_CONTENT_TYPES: Final = frozenset({EVENT_PLAIN, EVENT_JSON, EVENT_XML})

EventFormat = Literal["plain", "json"]

DEFAULT_MAX_HEADER_BYTES: Final = 1 << 20
DEFAULT_MAX_BODY_BYTES: Final = 64 << 20

# Longer `execute-app-arg` values travel as a body, as mod_event_socket allows.
_MAX_INLINE_APP_ARG: Final = 2048


class Frame:
    """One protocol frame: socket-level headers (never URL-decoded) and the raw body.

    A frame cut from a stream refers to the received chunk rather than copying its body;
    `body` makes the copy the first time it is read.
    """

    __slots__ = ("_body", "_buf", "_start", "_stop", "headers")

    def __init__(self, headers: dict[str, str], body: bytes = b"") -> None:
        self.headers = headers
        self._body: bytes | None = body
        self._buf = body
        self._start = 0
        self._stop = len(body)

    @classmethod
    def _view(cls, headers: dict[str, str], buf: bytes, start: int, stop: int) -> Frame:
        frame = cls.__new__(cls)
        frame.headers = headers
        frame._body = None
        frame._buf = buf
        frame._start = start
        frame._stop = stop
        return frame

    @property
    def body(self) -> bytes:
        body = self._body
        if body is None:
            body = self._body = self._buf[self._start : self._stop]
        return body

    @property
    def body_length(self) -> int:
        return self._stop - self._start

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def text(self) -> str:
        """The body as text (FreeSWITCH sends UTF-8)."""
        return self.body.decode("utf-8", "replace")

    @property
    def reply_text(self) -> str:
        """`Reply-Text` of a command/reply; the outbound `connect` reply sends it URL-encoded."""
        text = self.headers.get("Reply-Text", "")
        if "Event-Name" in self.headers and "%" in text:
            text = unquote(text)
        return text.strip()

    @property
    def is_event(self) -> bool:
        return self.headers.get("Content-Type") in EVENT_CONTENT_TYPES

    def __repr__(self) -> str:
        kind = self.content_type or "?"
        return f"Frame({kind}, headers={len(self.headers)}, body={self.body_length}B)"


def _colon_split(line: str) -> tuple[str, str]:
    """Split a header line that lacks the usual `": "` (e.g. `Name:` with an empty value)."""
    name, sep, value = line.partition(":")
    if not sep or not name:
        raise EslProtocolError("ESL header line has no colon", details={"line": line[:120]})
    return name, value.lstrip(" ")


def _content_length(headers: Mapping[str, str], limit: int) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    if not (raw.isascii() and raw.isdigit()):
        raise EslProtocolError("ESL Content-Length is not a number", details={"value": raw[:40]})
    length = int(raw)
    if length > limit:
        raise EslProtocolError(
            "ESL Content-Length exceeds the limit", details={"value": length, "limit": limit}
        )
    return length


class FrameParser:
    """Incremental frame splitter: `feed(bytes)` returns the frames completed by those bytes.

    Lengths are counted in bytes, so multibyte UTF-8 bodies and bodies that end without a
    newline are cut exactly. A partly received frame waits in the buffer; `finish()` at end of
    stream raises `EslProtocolError` if one is left.
    """

    __slots__ = ("_buffer", "_consumed", "_head", "_max_body", "_max_header", "_scan")

    def __init__(
        self,
        *,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._buffer = bytearray()
        self._head: tuple[dict[str, str], int, int] | None = None
        self._scan = 0
        self._consumed = 0
        self._max_header = max_header_bytes
        self._max_body = max_body_bytes

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet part of a complete frame."""
        return len(self._buffer)

    @property
    def consumed(self) -> int:
        """Bytes turned into frames (blank lines between frames included) so far."""
        return self._consumed

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        buf: bytes | bytearray
        if self._buffer:
            self._buffer += data
            buf = self._buffer
        elif isinstance(data, bytes):
            buf = data
        else:
            buf = bytes(data)
        # Frames keep a reference to an immutable chunk: the received bytes themselves, or one
        # copy of the buffer when bytes had to wait for the rest of a frame.
        chunk: bytes | None = buf if isinstance(buf, bytes) else None
        frames: list[Frame] = []
        append = frames.append
        view = Frame._view
        find = buf.find
        max_body = self._max_body
        scan = self._scan
        size = len(buf)
        pos = 0
        head = self._head
        while True:
            if head is None:
                if pos >= size:
                    break
                if buf[pos] == 10:  # a stray blank line between frames
                    pos += 1
                    continue
                end = find(b"\n\n", pos if pos > scan else scan)
                if end < 0:
                    if size - pos > self._max_header:
                        raise EslProtocolError(
                            "ESL header block exceeds the limit",
                            details={"limit": self._max_header},
                        )
                    scan = size - 1 if size - 1 > pos else pos
                    break
                headers = {}
                for line in buf[pos:end].decode("utf-8", "replace").split("\n"):
                    name, sep, value = line.partition(": ")
                    if not sep:
                        name, value = _colon_split(line)
                    headers[name] = value
                start = end + 2
                length = headers.get("Content-Length")
                if length is None:
                    stop = start
                elif length.isdigit() and length.isascii():
                    stop = start + int(length)
                    if stop - start > max_body:
                        _content_length(headers, max_body)  # raises the precise error
                else:
                    stop = start + _content_length(headers, max_body)  # raises
            else:
                headers, start, stop = head
            if stop > size:
                head = (headers, start, stop)
                break
            head = None
            if chunk is None:
                chunk = bytes(buf)
            append(view(headers, chunk, start, stop))
            pos = stop
        self._consumed += pos
        if head is not None:
            head = (head[0], head[1] - pos, head[2] - pos)
        self._head = head
        self._scan = scan - pos if scan > pos else 0
        if buf is self._buffer:
            if pos:
                del self._buffer[:pos]
        elif pos < size:
            self._buffer = bytearray(memoryview(buf)[pos:])
        return frames

    def finish(self) -> None:
        """Declare end of stream; a partly received frame is a protocol error."""
        if self._buffer.strip(b"\n"):
            pending = len(self._buffer)
            expected = None if self._head is None else self._head[2]
            self._buffer.clear()
            self._head = None
            self._scan = 0
            raise EslProtocolError(
                "ESL stream ended inside a frame",
                details={"buffered_bytes": pending, "expected_bytes": expected},
            )
        self._buffer.clear()


# FreeSWITCH's switch_url_encode escapes control bytes, non-ASCII bytes and these characters.
_URL_UNSAFE: Final = ' "#%&+:;<=>?@[\\]^`{|}'
_URL_ENCODE_TABLE: Final = {
    code: f"%{code:02X}"
    for code in range(256)
    if code < 0x20 or code > 0x7E or chr(code) in _URL_UNSAFE
}
_NUL: Final = b"\x00"


def url_encode(value: str) -> str:
    """Encode a header value the way FreeSWITCH does in plain events (space → `%20`)."""
    raw = value.encode("utf-8")
    if not any(byte in _URL_ENCODE_TABLE for byte in raw):
        return value
    return "".join(_URL_ENCODE_TABLE.get(byte) or chr(byte) for byte in raw)


def url_decode(value: str) -> str:
    """Decode one URL-encoded value (`+` stays `+`: FreeSWITCH never encodes space so)."""
    return unquote(value) if "%" in value else value


def _decode_values(values: list[bytes]) -> list[str]:
    """URL-decode many values at once, exactly as decoding each on its own would.

    The values are joined with NUL (FreeSWITCH escapes NUL, so it never appears raw) and
    decoded in one C call: `binascii.a2b_qp` decodes `=XX`, and FreeSWITCH escapes `=` too,
    so `%` can stand in for it. When every escape decoded cleanly the output is exactly two
    bytes shorter per escape; otherwise (a malformed escape, a raw `=`, `%00`) the values
    are decoded one by one.
    """
    joined = _NUL.join(values)
    if b"%" not in joined:
        return joined.decode("utf-8", "replace").split("\x00")
    if b"=" not in joined and b"%00" not in joined:
        escaped = joined.replace(b"%", b"=")
        decoded = a2b_qp(escaped)
        if len(decoded) == len(escaped) - 2 * joined.count(b"%"):
            return decoded.decode("utf-8", "replace").split("\x00")
    return [url_decode(value.decode("utf-8", "replace")) for value in values]


def _decode_plain_headers(head: bytes) -> dict[str, str]:
    """Decode the header lines of a plain event body; each value is decoded on its own."""
    if not head:
        return {}
    if head.count(b": ") == head.count(b"\n") + 1 and _NUL not in head:
        # Names and encoded values never hold ": " or a newline, so one split gives
        # name, value, name, value, ...
        parts = head.replace(b": ", b"\n").split(b"\n")
        names = b"\n".join(parts[0::2]).decode("utf-8", "replace").split("\n")
        values = _decode_values(parts[1::2])
        headers = dict(zip(names, values, strict=True))
        if len(headers) == len(names):
            return headers
        # A repeated header: keep the first value, as FreeSWITCH's lookup does.
        headers = {}
        for name, value in zip(names, values, strict=True):
            headers.setdefault(name, value)
        return headers
    headers = {}
    for line in head.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition(": ")
        if not sep:
            name, value = _colon_split(line)
        headers.setdefault(name, url_decode(value))
    return headers


def _json_value(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # FreeSWITCH array headers; the plain format writes them as ARRAY::a|:b
        return "ARRAY::" + "|:".join(_json_value(item) for item in value)
    return str(value)


_LOOKUP_KEYS: dict[str, tuple[bytes, bytes]] = {}


def _lookup_keys(name: str) -> tuple[bytes, bytes]:
    """`Name: ` and `\\nName: ` as bytes, remembered for the usual few hundred names."""
    key = name.encode("utf-8") + b": "
    keys = (key, b"\n" + key)
    if len(_LOOKUP_KEYS) < 4096:
        _LOOKUP_KEYS[name] = keys
    return keys


_PLAIN: Final = 0
_JSON: Final = 1
_DECODED: Final = 2
_JSON_NAME_PREFIX: Final = b'{"Event-Name":"'


class Event:
    """A FreeSWITCH event. Header values are returned decoded; parsing happens on first use.

    On a plain event `get`, `name` and friends find the one header in the raw bytes and decode
    only its value; `headers` decodes everything once and caches the dict. A JSON event is
    parsed (orjson) on the first header read other than `name`.
    """

    __slots__ = ("_body", "_buf", "_end", "_format", "_head_end", "_headers", "_name", "_start")

    def __init__(self, headers: Mapping[str, str], body: str | None = None) -> None:
        self._format = _DECODED
        self._buf = b""
        self._start = 0
        self._end = 0
        self._head_end = 0
        self._headers: dict[str, str] | None = dict(headers)
        self._body: str | None = body
        self._name: str | None = None

    @classmethod
    def _lazy(cls, buf: bytes, start: int, end: int, fmt: int) -> Event:
        event = cls.__new__(cls)
        event._format = fmt
        event._buf = buf
        event._start = start
        event._end = end
        event._head_end = -1
        event._headers = None
        event._body = None
        event._name = None
        return event

    @classmethod
    def from_plain(cls, body: bytes) -> Event:
        """An event from the body of a `text/event-plain` frame."""
        return cls._lazy(body, 0, len(body), _PLAIN)

    @classmethod
    def from_json(cls, body: bytes) -> Event:
        """An event from the body of a `text/event-json` frame."""
        return cls._lazy(body, 0, len(body), _JSON)

    @classmethod
    def from_encoded_headers(cls, headers: Mapping[str, str], body: str | None = None) -> Event:
        """An event whose header values are URL-encoded (the outbound `connect` reply)."""
        return cls({name: url_decode(value) for name, value in headers.items()}, body)

    @classmethod
    def from_frame(cls, frame: Frame) -> Event:
        content_type = frame.headers.get("Content-Type")
        if content_type == EVENT_PLAIN:
            return cls._lazy(frame._buf, frame._start, frame._stop, _PLAIN)
        if content_type == EVENT_JSON:
            return cls._lazy(frame._buf, frame._start, frame._stop, _JSON)
        if content_type == COMMAND_REPLY and "Event-Name" in frame.headers:
            return cls.from_encoded_headers(frame.headers)
        raise EslProtocolError(
            "frame is not an event this client reads", details={"content_type": content_type}
        )

    # -- lazy machinery -------------------------------------------------------------------

    def _plain_head_end(self) -> int:
        """Where the header lines of a plain event end (the blank line after them)."""
        buf, start, end = self._buf, self._start, self._end
        # FreeSWITCH writes a body only after a final `Content-Length` header; without one the
        # event is header lines and a blank line. Looking for that header is far cheaper than
        # looking for the blank line, as newlines are everywhere.
        at = buf.find(b"\nContent-Length: ", start, end)
        if at < 0:
            if buf.startswith(b"\n\n", end - 2, end) and end - 2 >= start:
                head_end = end - 2
            else:
                head_end = self._find_blank_line()
        else:
            head_end = buf.find(b"\n", at + 17, end)
            if head_end < 0 or not buf.startswith(b"\n", head_end + 1, end):
                head_end = self._find_blank_line()
        self._head_end = head_end
        return head_end

    def _find_blank_line(self) -> int:
        buf, start, end = self._buf, self._start, self._end
        at = buf.find(b"\n\n", start, end)
        if at >= 0:
            return at
        while end > start and buf[end - 1] == 10:
            end -= 1
        return end

    def _decode_all(self) -> dict[str, str]:
        buf, start, end = self._buf, self._start, self._end
        if self._format == _PLAIN:
            head_end = self._head_end if self._head_end >= 0 else self._plain_head_end()
            headers = _decode_plain_headers(buf[start:head_end])
            length = headers.get("Content-Length")
            if length is not None or head_end + 2 < end:
                stop = end
                if length is not None and length.isdigit():
                    stop = min(end, head_end + 2 + int(length))
                self._body = buf[head_end + 2 : stop].decode("utf-8", "replace")
        elif self._format == _JSON:
            try:
                loaded = orjson.loads(memoryview(buf)[start:end])
            except orjson.JSONDecodeError as exc:
                raise EslProtocolError(
                    "ESL JSON event is not valid JSON", details={"reason": str(exc)}
                ) from exc
            if not isinstance(loaded, dict):
                raise EslProtocolError("ESL JSON event is not an object")
            body = loaded.pop("_body", None)
            self._body = None if body is None else _json_value(body)
            headers = loaded
            for name, value in headers.items():
                if type(value) is not str:
                    headers[name] = _json_value(value)
        else:
            headers = self._headers or {}
        self._headers = headers
        self._format = _DECODED
        self._buf = b""
        return headers

    # -- public reading API ---------------------------------------------------------------

    @property
    def headers(self) -> dict[str, str]:
        """Every header, decoded (the cached dict: treat it as read-only)."""
        headers = self._headers
        return headers if headers is not None else self._decode_all()

    def get(self, name: str, default: str | None = None) -> str | None:
        headers = self._headers
        if headers is not None:
            return headers.get(name, default)
        if self._format != _PLAIN:
            return self._decode_all().get(name, default)
        buf, start, end = self._buf, self._start, self._end
        keys = _LOOKUP_KEYS.get(name)
        if keys is None:
            keys = _lookup_keys(name)
        # The first occurrence wins, as in FreeSWITCH's own switch_event_get_header.
        if buf.startswith(keys[0], start, end):
            value_start = start + len(keys[0])
        else:
            at = buf.find(keys[1], start, end)
            if at < 0:
                return default
            # A body follows a final Content-Length header; a line before any Content-Length
            # header is therefore a header line, otherwise look again within the header lines.
            if buf.find(b"\nContent-Length: ", start, at) >= 0:
                head_end = self._head_end if self._head_end >= 0 else self._plain_head_end()
                if at >= head_end:
                    return default
            value_start = at + len(keys[1])
        value_end = buf.find(b"\n", value_start, end)
        value = buf[value_start : value_end if value_end >= 0 else end]
        if b"%" in value:
            return unquote(value.decode("utf-8", "replace"))
        return value.decode("utf-8", "replace")

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.headers)

    def variable(self, name: str, default: str | None = None) -> str | None:
        """A channel variable (`variable_<name>` header)."""
        return self.get("variable_" + name, default)

    @property
    def name(self) -> str:
        """`Event-Name` (`CUSTOM` for custom events: see `subclass`); empty if absent."""
        name = self._name
        if name is None:
            name = self._leading_name()
            if name is None:
                name = self.get("Event-Name") or ""
            self._name = name
        return name

    def _leading_name(self) -> str | None:
        """Event-Name read straight from the first line, where FreeSWITCH always puts it."""
        buf, start, end = self._buf, self._start, self._end
        fmt = self._format
        if fmt == _PLAIN and buf.startswith(b"Event-Name: ", start, end):
            stop = buf.find(b"\n", start + 12, end)
            value = buf[start + 12 : stop if stop >= 0 else end]
        elif fmt == _JSON and buf.startswith(_JSON_NAME_PREFIX, start, end):
            stop = buf.find(b'"', start + 15, end)
            if stop < 0:
                return None
            value = buf[start + 15 : stop]
            if b"\\" in value:
                return None
            return value.decode("utf-8", "replace")
        else:
            return None
        if b"%" in value:
            return unquote(value.decode("utf-8", "replace"))
        return value.decode("utf-8", "replace")

    @property
    def subclass(self) -> str | None:
        """`Event-Subclass` of a CUSTOM event, e.g. `callcenter::info`."""
        return self.get("Event-Subclass")

    @property
    def unique_id(self) -> str | None:
        """The channel UUID (`Unique-ID`) of a channel event."""
        return self.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.get("Job-UUID")

    @property
    def body(self) -> str | None:
        """The event body (a BACKGROUND_JOB result, a message text); None when there is none."""
        if self._headers is None:
            self._decode_all()
        return self._body

    def __repr__(self) -> str:
        label = self.name
        if label == "CUSTOM":
            label = f"CUSTOM {self.subclass}"
        return f"Event({label}, unique_id={self.unique_id})"


@dataclass(frozen=True, slots=True)
class ApiResult:
    """The text FreeSWITCH answered an `api` command (or a BACKGROUND_JOB) with."""

    command: str
    text: str

    @property
    def ok(self) -> bool:
        return not (self.text.startswith("-ERR") or self.text.startswith("-USAGE"))

    @property
    def error(self) -> str | None:
        """FreeSWITCH's error text (`-ERR ...`) when the command failed."""
        return None if self.ok else self.text.strip()

    @property
    def value(self) -> str:
        """The text without the trailing newline most replies end with."""
        return self.text.rstrip("\n")


@dataclass(frozen=True, slots=True)
class CommandReply:
    """A `command/reply` frame: `Reply-Text` is `+OK ...` or `-ERR ...`."""

    command: str
    reply_text: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")

    @classmethod
    def from_frame(cls, command: str, frame: Frame) -> CommandReply:
        return cls(command, frame.reply_text, frame.headers)


# -- encoders --------------------------------------------------------------------------------


def _single_line(value: str, field_name: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValidationFailed(
            f"ESL {field_name} must not contain a line break",
            field=field_name,
            error_id="esl-command-invalid",
        )
    return value


def _word(value: str, field_name: str) -> str:
    if not value or any(char.isspace() for char in value):
        raise ValidationFailed(
            f"ESL {field_name} must be one non-empty word",
            field=field_name,
            error_id="esl-command-invalid",
        )
    return value


def encode_command(
    line: str,
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
) -> bytes:
    """One command: its line, optional header lines, then a blank line (and a body)."""
    parts = [_single_line(line, "command")]
    if headers:
        for name, value in headers.items():
            parts.append(f"{_word(name, 'header name')}: {_single_line(value, name)}")
    payload = body.encode("utf-8") if isinstance(body, str) else body
    if payload:
        parts.append(f"Content-Length: {len(payload)}")
    encoded = ("\n".join(parts) + "\n\n").encode("utf-8")
    return encoded + payload if payload else encoded


def command_name(payload: bytes) -> str:
    """The first line of an encoded command, for messages and logs (passwords hidden)."""
    line = payload.split(b"\n", 1)[0].decode("utf-8", "replace")
    if line.startswith(("auth ", "userauth ")):
        return line.split(" ", 1)[0] + " ***"
    return line


def encode_auth(password: str) -> bytes:
    return encode_command(f"auth {_single_line(password, 'password')}")


def encode_userauth(user: str, password: str) -> bytes:
    """`userauth user@domain:password` (ESL users from the directory)."""
    return encode_command(f"userauth {_word(user, 'user')}:{_single_line(password, 'password')}")


def _event_names(events: Iterable[str]) -> str:
    names = [_word(name, "event name") for name in events]
    if not names:
        raise ValidationFailed(
            "at least one event name is needed", field="events", error_id="esl-command-invalid"
        )
    return " ".join(names)


def encode_event(events: Iterable[str], fmt: EventFormat = "json") -> bytes:
    """`event <fmt> NAME ...`: subscribe (`ALL`, event names, CUSTOM subclasses)."""
    return encode_command(f"event {fmt} {_event_names(events)}")


def encode_nixevent(events: Iterable[str]) -> bytes:
    return encode_command(f"nixevent {_event_names(events)}")


def encode_noevents() -> bytes:
    return encode_command("noevents")


def encode_myevents(uuid: str | None = None, fmt: EventFormat = "plain") -> bytes:
    """`myevents [fmt] [uuid]`: every event of one channel (outbound: the socket's own)."""
    line = "myevents" if fmt == "plain" else f"myevents {fmt}"
    if uuid is not None:
        line += " " + _word(uuid, "uuid")
    return encode_command(line)


def encode_divert_events(enabled: bool) -> bytes:
    return encode_command("divert_events " + ("on" if enabled else "off"))


def encode_filter(header: str, value: str) -> bytes:
    return encode_command(f"filter {_word(header, 'filter header')} {_single_line(value, 'value')}")


def encode_filter_delete(header: str | None = None, value: str | None = None) -> bytes:
    """`filter delete [header [value]]`; with no header every filter goes."""
    line = "filter delete"
    if header is not None:
        line += " " + _word(header, "filter header")
        if value is not None:
            line += " " + _single_line(value, "value")
    return encode_command(line)


def encode_api(command: str) -> bytes:
    return encode_command("api " + _single_line(command, "api command").strip())


def encode_bgapi(command: str, job_uuid: str | None = None) -> bytes:
    line = "bgapi " + _single_line(command, "api command").strip()
    headers = None if job_uuid is None else {"Job-UUID": _word(job_uuid, "Job-UUID")}
    return encode_command(line, headers)


def encode_sendmsg(
    headers: Mapping[str, str], *, uuid: str | None = None, body: str | None = None
) -> bytes:
    """`sendmsg [uuid]` with call-command headers (outbound sockets omit the uuid)."""
    line = "sendmsg" if uuid is None else "sendmsg " + _word(uuid, "uuid")
    return encode_command(line, headers, body)


def encode_execute(
    app: str,
    arg: str | None = None,
    *,
    uuid: str | None = None,
    event_lock: bool = False,
    event_uuid: str | None = None,
    loops: int | None = None,
) -> bytes:
    """Run a dialplan application on a channel (`call-command: execute`)."""
    headers = {"call-command": "execute", "execute-app-name": _word(app, "app")}
    body = None
    if arg is not None:
        if "\n" in arg or len(arg) > _MAX_INLINE_APP_ARG:
            headers["content-type"] = "text/plain"
            body = arg
        else:
            headers["execute-app-arg"] = arg
    if loops is not None:
        headers["loops"] = str(loops)
    if event_lock:
        headers["event-lock"] = "true"
    if event_uuid is not None:
        headers["event-uuid"] = _word(event_uuid, "event-uuid")
    return encode_sendmsg(headers, uuid=uuid, body=body)


def encode_hangup(cause: str = "NORMAL_CLEARING", *, uuid: str | None = None) -> bytes:
    return encode_sendmsg(
        {"call-command": "hangup", "hangup-cause": _word(cause, "hangup cause")}, uuid=uuid
    )


def encode_unicast(
    *,
    local_ip: str,
    local_port: int,
    remote_ip: str,
    remote_port: int,
    transport: Literal["tcp", "udp"] = "tcp",
    flags: str | None = None,
    uuid: str | None = None,
) -> bytes:
    """Stream the channel's audio to a socket (`call-command: unicast`)."""
    headers = {
        "call-command": "unicast",
        "local-ip": _word(local_ip, "local-ip"),
        "local-port": str(local_port),
        "remote-ip": _word(remote_ip, "remote-ip"),
        "remote-port": str(remote_port),
        "transport": transport,
    }
    if flags is not None:
        headers["flags"] = _word(flags, "flags")
    return encode_sendmsg(headers, uuid=uuid)


def encode_sendevent(
    name: str, headers: Mapping[str, str] | None = None, body: str | None = None
) -> bytes:
    return encode_command(f"sendevent {_word(name, 'event name')}", headers, body)


def encode_linger(seconds: int | None = None) -> bytes:
    """`linger [seconds]`: keep the outbound socket after hang-up (until `exit` if no time)."""
    return encode_command("linger" if seconds is None else f"linger {int(seconds)}")


def encode_nolinger() -> bytes:
    return encode_command("nolinger")


def encode_log(level: str | int = "info") -> bytes:
    return encode_command(f"log {_word(str(level), 'log level')}")


def encode_nolog() -> bytes:
    return encode_command("nolog")


def encode_connect() -> bytes:
    return encode_command("connect")


def encode_resume() -> bytes:
    return encode_command("resume")


def encode_exit() -> bytes:
    return encode_command("exit")


# -- encoding events (for simulators and tests) -----------------------------------------------


def encode_event_frame(
    headers: Mapping[str, str], body: str | None = None, fmt: EventFormat = "plain"
) -> bytes:
    """A complete event frame as FreeSWITCH writes it (`Content-Length` first)."""
    payload_body = body.encode("utf-8") if body is not None else b""
    if fmt == "json":
        document = dict(headers)
        if body is not None:
            document["Content-Length"] = str(len(payload_body))
            document["_body"] = body
        payload = orjson.dumps(document)
        content_type = EVENT_JSON
    else:
        lines = [f"{name}: {url_encode(value)}\n" for name, value in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(payload_body)}\n")
        payload = ("".join(lines) + "\n").encode("utf-8") + payload_body
        content_type = EVENT_PLAIN
    head = f"Content-Length: {len(payload)}\nContent-Type: {content_type}\n\n".encode()
    return head + payload
