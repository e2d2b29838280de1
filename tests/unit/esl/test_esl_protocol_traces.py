"""The frame parser and event decoder against every byte-exact FreeSWITCH trace."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from esl_trace_reference import (
    FLOWS_WITH_BOTH_FORMATS,
    TRACE_DIR,
    TRACES,
    RefFrame,
    count_header_blocks,
    decode_event,
    load,
    split_frames,
)

from switchboard_common.esl import Event, Frame, FrameParser

TRACE_IDS = [path.name for path in TRACES]


def parse_in_chunks(data: bytes, sizes: list[int] | None) -> tuple[list[Frame], FrameParser]:
    parser = FrameParser()
    frames: list[Frame] = []
    if sizes is None:
        frames += parser.feed(data)
    else:
        pos = 0
        index = 0
        while pos < len(data):
            size = sizes[index % len(sizes)]
            frames += parser.feed(data[pos : pos + size])
            pos += size
            index += 1
    parser.finish()
    return frames, parser


def as_tuples(frames: list[Frame]) -> list[tuple[dict[str, str], bytes]]:
    return [(frame.headers, frame.body) for frame in frames]


def events_of(path: Path) -> list[Event]:
    return [Event.from_frame(frame) for frame in FrameParser().feed(load(path)) if frame.is_event]


def test_every_trace_is_here() -> None:
    names = {path.name for path in TRACES}
    assert "trace-authfail.txt" in names
    assert "trace-outbound-plain.txt" in names
    for flow in FLOWS_WITH_BOTH_FORMATS:
        assert {f"trace-{flow}-plain.txt", f"trace-{flow}-json.txt"} <= names


@pytest.mark.parametrize("path", TRACES, ids=TRACE_IDS)
def test_one_chunk_matches_the_independent_splitter(path: Path) -> None:
    data = load(path)
    frames, parser = parse_in_chunks(data, None)
    reference = split_frames(data)

    assert len(frames) == len(reference) == count_header_blocks(data)
    assert parser.consumed == len(data)
    assert parser.buffered == 0
    assert as_tuples(frames) == [(ref.headers, ref.body) for ref in reference]


@pytest.mark.parametrize("path", TRACES, ids=TRACE_IDS)
def test_byte_by_byte_gives_the_same_frames(path: Path) -> None:
    data = load(path)
    whole, _ = parse_in_chunks(data, None)
    parser = FrameParser()
    frames: list[Frame] = []
    for index in range(len(data)):
        frames += parser.feed(data[index : index + 1])
    parser.finish()
    assert parser.consumed == len(data)
    assert as_tuples(frames) == as_tuples(whole)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("path", TRACES, ids=TRACE_IDS)
def test_random_chunks_give_the_same_frames(path: Path, seed: int) -> None:
    data = load(path)
    rng = random.Random(seed)
    sizes = [rng.choice([1, 2, 3, 7, 64, 333, 1500, 4096, 65536]) for _ in range(500)]
    whole, _ = parse_in_chunks(data, None)
    frames, parser = parse_in_chunks(data, sizes)
    assert parser.consumed == len(data)
    assert as_tuples(frames) == as_tuples(whole)


@pytest.mark.parametrize("path", TRACES, ids=TRACE_IDS)
def test_events_decode_like_the_slow_reference(path: Path) -> None:
    data = load(path)
    reference = [
        ref for ref in split_frames(data) if ref.headers["Content-Type"].startswith("text/event")
    ]
    events = events_of(path)
    assert len(events) == len(reference)
    for event, ref in zip(events, reference, strict=True):
        expected_headers, expected_body = decode_event(ref)
        assert event.name
        assert event.name == expected_headers["Event-Name"]
        # Lazy single-header look-ups (before anything is decoded) agree with the reference.
        fresh = next(Event.from_frame(frame) for frame in FrameParser().feed(ref_bytes(ref)))
        for name, value in expected_headers.items():
            assert fresh.get(name) == value, name
        assert fresh.get("No-Such-Header") is None
        assert event.headers == expected_headers
        assert event.body == expected_body


def ref_bytes(ref: RefFrame) -> bytes:
    head = "".join(f"{name}: {value}\n" for name, value in ref.headers.items())
    return head.encode() + b"\n" + ref.body


def per_channel(events: list[Event]) -> dict[int, list[Event]]:
    """Events grouped by channel (in order of first appearance), CHANNEL_STATE left out.

    Between the plain and the JSON recording only the CHANNEL_STATE events (emitted by the
    state thread) move relative to the others, and channels interleave differently.
    """
    order: dict[str, int] = {}
    groups: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        if event.name == "CHANNEL_STATE":
            continue
        key = order.setdefault(event.unique_id or "-", len(order))
        groups[key].append(event)
    return groups


# Known, timing-dependent differences between the two recordings of a flow.
ALLOWED_HEADER_DIFFERENCES = {"variable_bridge_hangup_cause"}
STABLE_HEADERS = (
    "Event-Name",
    "Event-Subclass",
    "CC-Action",
    "Caller-Caller-ID-Name",
    "Caller-Caller-ID-Number",
    "Caller-Destination-Number",
    "Answer-State",
    "Call-Direction",
    "Channel-Call-State",
    "FreeSWITCH-IPv6",
    "Core-UUID",
    "Application",
    "Hangup-Cause",
    "API-Command",
    "Job-Command",
)


@pytest.mark.parametrize("flow", FLOWS_WITH_BOTH_FORMATS)
def test_plain_and_json_recordings_agree(flow: str) -> None:
    plain = events_of(TRACE_DIR / f"trace-{flow}-plain.txt")
    json_ = events_of(TRACE_DIR / f"trace-{flow}-json.txt")

    def names(events: list[Event]) -> Counter[str]:
        return Counter(event.name for event in events if event.name != "CHANNEL_STATE")

    assert names(plain) == names(json_)
    plain_groups, json_groups = per_channel(plain), per_channel(json_)
    assert plain_groups.keys() == json_groups.keys()
    for key, plain_events in plain_groups.items():
        json_events = json_groups[key]
        assert [e.name for e in plain_events] == [e.name for e in json_events]
        for left, right in zip(plain_events, json_events, strict=True):
            difference = set(left.headers) ^ set(right.headers)
            assert difference <= ALLOWED_HEADER_DIFFERENCES, (left.name, difference)
            for header in STABLE_HEADERS:
                assert left.get(header) == right.get(header), (left.name, header)
            assert (left.body is None) == (right.body is None)


def test_basic_flow_event_names_and_values() -> None:
    for fmt in ("plain", "json"):
        events = events_of(TRACE_DIR / f"trace-basic-{fmt}.txt")
        assert [e.name for e in events] == ["API", "API", "HEARTBEAT", "RE_SCHEDULE"]
        heartbeat = events[2]
        assert heartbeat["FreeSWITCH-IPv6"] == "fd00::2"
        assert heartbeat["Event-Info"] == "System Ready"
        assert heartbeat["FreeSWITCH-Version"] == "1.11.3-dev+git~20260821T141014Z~cc93a683ca~64bit"
        assert heartbeat["Up-Time"].startswith("0 years, 0 days, 0 hours")
        assert heartbeat.body is None
        assert events[3]["Task-Desc"] == "heartbeat"


def test_api_responses_keep_exact_bodies() -> None:
    frames = FrameParser().feed(load(TRACE_DIR / "trace-d-plain.txt"))
    api = [frame for frame in frames if frame.content_type == "api/response"]
    # Content-Type comes first in api/response, Content-Length first in events.
    assert list(api[0].headers) == ["Content-Type", "Content-Length"]
    assert api[0].text.startswith("UP 0 years")
    assert api[2].body == b"vm"  # no trailing newline; the next frame follows directly
    assert api[3].body == b"\n0 total.\n"
    assert api[4].text == '{"row_count": 0}\n'
    assert api[5].text == "-ERR No such channel!\n"
    assert api[6].text == "-ERR no_such_command Command not found!\n"
    replies = [frame.reply_text for frame in frames if frame.content_type == "command/reply"]
    assert "-ERR command not found" in replies
    assert "-ERR no keywords supplied" in replies
    assert "+OK filter added. [Event-Name]=[CHANNEL_CREATE]" in replies
    assert replies[-1] == "+OK bye"


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_background_job_bodies(fmt: str) -> None:
    jobs = {
        e["Job-Command"] + " " + (e.get("Job-Command-Arg") or ""): e
        for e in events_of(TRACE_DIR / f"trace-c-{fmt}.txt")
        if e.name == "BACKGROUND_JOB"
    }
    bodies = {
        key.split("/")[0] + "/" + key.split("/")[1].split()[0]: e.body for key, e in jobs.items()
    }
    assert bodies["originate loopback/9202"] == "-ERR USER_BUSY\n"
    assert bodies["originate user/9999"] == "-ERR SUBSCRIBER_ABSENT\n"
    failing_sip = [e for e in jobs.values() if "5099" in (e.get("Job-Command-Arg") or "")]
    assert failing_sip[0].body == "-ERR NORMAL_TEMPORARY_FAILURE\n"
    assert failing_sip[0]["Job-Command-Arg"].startswith("{originate_timeout=6}sofia/internal/")

    d_jobs = {
        e.job_uuid: e
        for e in events_of(TRACE_DIR / f"trace-d-{fmt}.txt")
        if e.name == "BACKGROUND_JOB"
    }
    own = d_jobs["my-own-job-uuid-0001"]
    assert own["Job-Command"] == "version"
    assert own.body is not None and own.body.startswith("FreeSWITCH Version 1.11.3-dev")
    assert own["Content-Length"] == str(len(own.body.encode()))


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_callcenter_custom_events(fmt: str) -> None:
    events = events_of(TRACE_DIR / f"trace-cc-{fmt}.txt")
    custom = [e for e in events if e.name == "CUSTOM"]
    assert custom
    assert {e.subclass for e in custom} == {"callcenter::info"}
    actions = {e["CC-Action"] for e in custom}
    assert {
        "agent-status-change",
        "member-queue-start",
        "agent-offering",
        "bridge-agent-start",
    } <= actions
    assert {"bridge-agent-end", "member-queue-end"} <= actions
    offering = next(e for e in custom if e["CC-Action"] == "agent-offering")
    assert offering["CC-Queue"] == "support@default"
    assert offering["CC-Agent"] == "agent1"


def test_caller_id_name_with_spaces_is_decoded() -> None:
    names = {e.get("Caller-Caller-ID-Name") for e in events_of(TRACE_DIR / "trace-b-plain.txt")}
    assert "Outbound Call" in names
    assert not any(name and "%" in name for name in names)


def test_multiline_values_stay_in_one_header() -> None:
    events = events_of(TRACE_DIR / "trace-outbound-plain.txt")
    sdp = next(e.variable("switch_r_sdp") for e in events if e.variable("switch_r_sdp"))
    assert sdp is not None
    assert sdp.startswith("v=0\r\no=user1 ")
    assert "m=audio 6004 RTP/AVP 0\r\n" in sdp


def test_outbound_connect_reply_and_linger_notice() -> None:
    frames = FrameParser().feed(load(TRACE_DIR / "trace-outbound-plain.txt"))
    connect = frames[0]
    assert connect.content_type == "command/reply"
    assert "Content-Length" not in connect.headers
    assert connect.headers["Reply-Text"] == "%2BOK%0A"  # socket level: left as received
    assert connect.reply_text == "+OK"
    channel = Event.from_frame(connect)
    assert channel.name == "CHANNEL_DATA"
    assert channel["Socket-Mode"] == "async"
    assert channel["Control"] == "full"
    assert channel.unique_id == "1723ebec-d219-4c73-b3aa-3a4bbd5d1b9c"
    assert channel["Channel-Name"] == "sofia/internal/sipp@127.0.0.1:5090"
    assert channel.variable("current_application_data") == "127.0.0.1:8084 async full"
    assert len(channel.headers) > 100

    notices = [frame for frame in frames if frame.content_type == "text/disconnect-notice"]
    assert [n.headers["Content-Disposition"] for n in notices] == ["linger", "disconnect"]
    assert notices[0].headers["Controlled-Session-UUID"] == channel.unique_id
    assert notices[0].body == b""
    assert notices[1].text.startswith("Disconnected, goodbye.")

    events = [Event.from_frame(frame) for frame in frames if frame.is_event]
    playback = [
        e
        for e in events
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application-UUID") == "my-playback-0001"
    ]
    assert len(playback) == 1
    assert playback[0]["Application-Data"] == "tone_stream://%(1000,0,350,440)"
    assert playback[0]["Application-Response"] == "FILE PLAYED"
    assert "CHANNEL_DESTROY" not in {e.name for e in events}


def test_authfail_trace() -> None:
    frames = FrameParser().feed(load(TRACE_DIR / "trace-authfail.txt"))
    assert [f.content_type for f in frames] == [
        "auth/request",
        "command/reply",
        "text/disconnect-notice",
    ]
    assert frames[1].reply_text == "-ERR invalid"
