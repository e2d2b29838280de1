"""greenswitch (the gevent ESL library) reading the same trace bytes, through its own code.

greenswitch's reader wants a socket file; a BytesIO stands in for it and its
`receive_events` loop runs to the end of the trace without any network or greenlet.
Where greenswitch and the trace disagree the test says so explicitly:

- JSON events: greenswitch parses their body as header lines and crashes on the first one.
- Multi-line values (`%0D%0A` in SDP variables): greenswitch URL-decodes the whole block
  before splitting lines, so it folds them back with `\\n` and loses the `\\r`s.
- Values are stripped (the `connect` reply's `Reply-Text: %2BOK%0A` is `+OK\\n`).
- BACKGROUND_JOB results: greenswitch has no notion of the inner body; the result text is
  appended to the last header (Content-Length).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import greenswitch.esl as gs
import pytest
from esl_trace_reference import TRACE_DIR, TRACES, load

from switchboard_common.esl import Event, FrameParser

PLAIN_TRACES = [path for path in TRACES if not path.name.endswith("-json.txt")]
JSON_TRACES = [path for path in TRACES if path.name.endswith("-json.txt")]
MULTILINE_VALUES = {"variable_switch_r_sdp", "variable_rtp_local_sdp_str", "variable_switch_m_sdp"}


class _IgnoredReply:
    def set(self, value: object) -> None:
        """greenswitch hands each reply to the command that waits for it: nobody here."""


class _NoCommands(list[Any]):
    def pop(self, index: Any = -1) -> _IgnoredReply:
        return _IgnoredReply()


class _Socket:
    def close(self) -> None:
        """Nothing to close."""


class RecordingReader(gs.ESLProtocol):  # type: ignore[misc]
    """greenswitch's ESLProtocol reading from bytes, keeping every parsed frame."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.sock_file = io.BytesIO(data)
        self.sock = _Socket()
        self.connected = True
        self._commands_sent = _NoCommands()
        self.frames: list[Any] = []

    def handle_event(self, event: Any) -> None:
        super().handle_event(event)
        self.frames.append(event)


def read_with_greenswitch(data: bytes) -> list[Any]:
    reader = RecordingReader(data)
    reader.receive_events()
    return reader.frames


@pytest.mark.parametrize("path", PLAIN_TRACES, ids=[p.name for p in PLAIN_TRACES])
def test_greenswitch_reads_the_same_plain_frames(path: Path) -> None:
    data = load(path)
    theirs = read_with_greenswitch(data)
    ours = FrameParser().feed(data)
    assert len(theirs) == len(ours)
    for their, our in zip(theirs, ours, strict=True):
        assert their.headers["Content-Type"] == our.content_type
        if our.is_event or "Event-Name" in our.headers:
            event = Event.from_frame(our)
            for name, value in event.headers.items():
                their_value = their.headers.get(name)
                if name in MULTILINE_VALUES or name == "Reply-Text":
                    # greenswitch strips values; `Reply-Text` of `connect` decodes to "+OK\n"
                    assert their_value == value.replace("\r\n", "\n").strip()
                elif name == "Content-Length" and event.body is not None:
                    assert their_value is not None
                    assert their_value.startswith(value)  # the body got glued on
                    assert event.body.strip() in their_value
                else:
                    assert their_value == value, name
        elif our.content_type in ("command/reply", "api/response"):
            assert their.headers.get("Reply-Text") == our.headers.get("Reply-Text")
            if our.content_type == "api/response":
                assert their.data == our.text


def test_greenswitch_sees_the_outbound_connect_reply_decoded() -> None:
    theirs = read_with_greenswitch(load(TRACE_DIR / "trace-outbound-plain.txt"))
    ours = Event.from_frame(FrameParser().feed(load(TRACE_DIR / "trace-outbound-plain.txt"))[0])
    assert theirs[0].headers["Reply-Text"] == "+OK"
    assert theirs[0].headers["Unique-ID"] == ours.unique_id
    assert theirs[0].headers["Caller-Caller-ID-Number"] == ours["Caller-Caller-ID-Number"]


@pytest.mark.parametrize("path", JSON_TRACES, ids=[p.name for p in JSON_TRACES])
def test_greenswitch_cannot_read_json_events(path: Path) -> None:
    """greenswitch only speaks `event plain`: its parser fails on the first JSON body."""
    with pytest.raises(AttributeError):
        read_with_greenswitch(load(path))
    ours = FrameParser().feed(load(path))
    assert all(Event.from_frame(frame).name for frame in ours if frame.is_event)
