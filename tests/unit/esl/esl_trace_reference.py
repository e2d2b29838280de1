"""A deliberately naive, independent reading of the recorded ESL traces.

It reads line by line from a file object (the way greenswitch and the ESL docs describe the
protocol) and shares no code with `switchboard_common.esl.protocol`, so the tests can check
the fast parser against it.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

TRACE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch"
TRACES = sorted(path for path in TRACE_DIR.glob("trace-*.txt") if ".sent." not in path.name)
FLOWS_WITH_BOTH_FORMATS = ("basic", "a", "b", "c", "cc", "d")


@dataclass
class RefFrame:
    headers: dict[str, str]
    body: bytes


def split_frames(data: bytes) -> list[RefFrame]:
    """Header lines up to a blank line, then exactly Content-Length bytes."""
    stream = io.BytesIO(data)
    frames: list[RefFrame] = []
    while True:
        lines: list[str] = []
        while True:
            line = stream.readline()
            if not line:
                assert not lines, "trace ends inside a header block"
                return frames
            if line == b"\n":
                if lines:
                    break
                continue
            lines.append(line.decode().rstrip("\n"))
        headers = dict(line.split(": ", 1) for line in lines)
        length = int(headers.get("Content-Length", "0"))
        body = stream.read(length)
        assert len(body) == length, "trace ends inside a body"
        frames.append(RefFrame(headers, body))


_FRAME_TYPE = re.compile(
    rb"Content-Type: (?:auth/request|command/reply|api/response|text/event-plain"
    rb"|text/event-json|text/disconnect-notice|text/rude-rejection|log/data)\n"
)


def count_header_blocks(data: bytes) -> int:
    """Count the frame-level `Content-Type` headers by pattern alone.

    Every frame of these traces has exactly one; no body holds one of these lines (plain event
    bodies name no such header, JSON bodies spell it `"Content-Type":`).
    """
    return len(_FRAME_TYPE.findall(data))


def decode_event(frame: RefFrame) -> tuple[dict[str, str], str | None]:
    """Headers (first occurrence wins) and body of an event frame, decoded the slow way."""
    if frame.headers["Content-Type"] == "text/event-json":
        document = json.loads(frame.body)
        body = document.pop("_body", None)
        return {key: str(value) for key, value in document.items()}, body
    text = frame.body.decode()
    head, _, rest = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        if line:
            name, value = line.split(": ", 1)
            headers.setdefault(name, unquote(value))
    body = None
    if "Content-Length" in headers:
        body = rest.encode()[: int(headers["Content-Length"])].decode()
    return headers, body


def load(path: Path) -> bytes:
    return path.read_bytes()
