"""Edge cases of the wire protocol: malformed input, encodings, commands, round trips."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_common.errors import AppError, ValidationFailed
from switchboard_common.esl import (
    ApiResult,
    CommandReply,
    EslProtocolError,
    Event,
    Frame,
    FrameParser,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_command,
    encode_connect,
    encode_divert_events,
    encode_event,
    encode_event_frame,
    encode_execute,
    encode_exit,
    encode_filter,
    encode_filter_delete,
    encode_hangup,
    encode_linger,
    encode_log,
    encode_myevents,
    encode_nixevent,
    encode_noevents,
    encode_nolinger,
    encode_nolog,
    encode_resume,
    encode_sendevent,
    encode_sendmsg,
    encode_unicast,
    encode_userauth,
    url_decode,
    url_encode,
)
from switchboard_common.esl.protocol import command_name


def plain_event(lines: list[str], body: bytes | None = None) -> bytes:
    payload = "".join(line + "\n" for line in lines).encode()
    if body is not None:
        payload += f"Content-Length: {len(body)}\n".encode()
    payload += b"\n" + (body or b"")
    return f"Content-Length: {len(payload)}\nContent-Type: text/event-plain\n\n".encode() + payload


def one_event(data: bytes) -> Event:
    frames = FrameParser().feed(data)
    assert len(frames) == 1
    return Event.from_frame(frames[0])


# -- framing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        b"Content-Type: api/response\nthis line has no colon\n\n",
        b"Content-Type: api/response\nContent-Length: abc\n\n",
        b"Content-Type: api/response\nContent-Length: -5\n\n",
        b"Content-Type: api/response\nContent-Length: +5\n\nhello",
        b"Content-Type: api/response\nContent-Length: 1_0\n\n",
        b"Content-Type: api/response\nContent-Length:  5\n\nhello",
        b"Content-Type: api/response\nContent-Length: \xd9\xa3\n\n",
    ],
)
def test_malformed_headers_raise_a_protocol_error(block: bytes) -> None:
    with pytest.raises(EslProtocolError) as caught:
        FrameParser().feed(block)
    assert isinstance(caught.value, AppError)
    assert caught.value.error_id == "esl-protocol-error"


def test_body_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(EslProtocolError, match="exceeds"):
        FrameParser(max_body_bytes=10).feed(b"Content-Type: api/response\nContent-Length: 11\n\n")


def test_endless_header_block_is_refused() -> None:
    parser = FrameParser(max_header_bytes=64)
    parser.feed(b"Content-Type: api/response\n")
    with pytest.raises(EslProtocolError, match="header block"):
        parser.feed(b"X-Padding: " + b"a" * 100)


def test_truncated_body_at_end_of_stream() -> None:
    parser = FrameParser()
    assert parser.feed(b"Content-Type: api/response\nContent-Length: 10\n\n12345") == []
    assert parser.buffered > 0
    with pytest.raises(EslProtocolError, match="inside a frame") as caught:
        parser.finish()
    assert caught.value.details["expected_bytes"] is not None
    assert parser.buffered == 0


def test_truncated_header_at_end_of_stream() -> None:
    parser = FrameParser()
    parser.feed(b"Content-Type: command/rep")
    with pytest.raises(EslProtocolError):
        parser.finish()


def test_clean_end_of_stream_and_stray_blank_lines() -> None:
    parser = FrameParser()
    frames = parser.feed(b"\n\nContent-Type: auth/request\n\n\nContent-Type: command/reply\n")
    frames += parser.feed(b"Reply-Text: +OK accepted\n\n\n")
    parser.finish()
    assert [f.content_type for f in frames] == ["auth/request", "command/reply"]
    assert frames[1].reply_text == "+OK accepted"


def test_empty_value_header_line() -> None:
    frame = FrameParser().feed(b"Content-Type: command/reply\nReply-Text:\nX: a: b\n\n")[0]
    assert frame.headers == {"Content-Type": "command/reply", "Reply-Text": "", "X": "a: b"}


def test_content_length_counts_bytes_not_characters() -> None:
    body = "José ☎ 😀".encode()
    data = b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body
    data += b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    whole = FrameParser().feed(data)
    assert whole[0].text == "José ☎ 😀"
    parser = FrameParser()
    pieces: list[Frame] = []
    for index in range(len(data)):  # cuts inside every multibyte character
        pieces += parser.feed(data[index : index + 1])
    assert [(f.headers, f.body) for f in pieces] == [(f.headers, f.body) for f in whole]


def test_json_body_followed_directly_by_the_next_frame() -> None:
    first = json.dumps({"Event-Name": "API", "API-Command": "status"}).encode()
    data = (
        b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(first)
        + first
        + b"Content-Type: api/response\nContent-Length: 2\n\nvm"
    )
    frames = FrameParser().feed(data)
    assert frames[0].body.endswith(b"}")
    assert Event.from_frame(frames[0])["API-Command"] == "status"
    assert frames[1].body == b"vm"


def test_frames_cut_from_a_stream_do_not_depend_on_later_bytes() -> None:
    parser = FrameParser()
    chunk = bytearray(b"Content-Type: api/response\nContent-Length: 3\n\nab")
    assert parser.feed(chunk) == []
    chunk[:] = b"XXXXXXXX"  # the caller reuses its buffer
    frames = parser.feed(b"cContent-Type: api/response\nContent-Length: 1\n\nd")
    frames += parser.feed(b"")
    assert [f.body for f in frames] == [b"abc", b"d"]


# -- URL decoding ----------------------------------------------------------------------------


def test_plain_values_are_decoded_one_by_one() -> None:
    event = one_event(
        plain_event(
            [
                "Event-Name: CHANNEL_CREATE",
                "Caller-Caller-ID-Name: Jos%C3%A9%20M%C3%BCller",
                "Plus: a+b%2Bc",
                "Newline: line1%0Aline2%0D%0Aline3",
                "Percent: 100%25",
                "Twice: %2520",
                "Lower: fd00%3a%3a2",
                "Broken: 50%ZZ",
                "Nul: a%00b",
                "Comma-And-Friends: a,b/c(d)~e!f*g$h'i",
            ]
        )
    )
    expected = {
        "Event-Name": "CHANNEL_CREATE",
        "Caller-Caller-ID-Name": "José Müller",
        "Plus": "a+b+c",
        "Newline": "line1\nline2\r\nline3",
        "Percent": "100%",
        "Twice": "%20",
        "Lower": "fd00::2",
        "Broken": "50%ZZ",
        "Nul": "a\x00b",
        "Comma-And-Friends": "a,b/c(d)~e!f*g$h'i",
    }
    for name, value in expected.items():  # lazy look-ups first
        assert event.get(name) == value, name
    assert event.headers == expected


@pytest.mark.parametrize(
    "lines",
    [
        ["Event-Name: X", "A: %41%42"],  # batch path
        ["Event-Name: X", "A: %41%42", "B: =raw"],  # a raw '=' forces the slow path
        ["Event-Name: X", "A: %E2%98%8E", "B: %2"],  # non-ASCII and a cut escape
    ],
)
def test_batch_and_fallback_decoding_agree_with_unquote(lines: list[str]) -> None:
    event = one_event(plain_event(lines))
    assert event.headers == {k: unquote(v) for k, v in (line.split(": ", 1) for line in lines)}


def test_first_of_repeated_headers_wins_like_freeswitch() -> None:
    event = one_event(plain_event(["Event-Name: X", "Dup: first", "Other: o", "Dup: second"]))
    assert event.get("Dup") == "first"
    assert event.headers["Dup"] == "first"
    assert list(event.headers) == ["Event-Name", "Dup", "Other"]


def test_body_lines_are_never_taken_for_headers() -> None:
    body = b"Unique-ID: forged\nJob-UUID: forged\n\nEvent-Name: FORGED\n"
    event = one_event(
        plain_event(
            ["Event-Name: BACKGROUND_JOB", "Job-UUID: real", "Job-Command: uuid_dump"], body
        )
    )
    assert event.get("Unique-ID") is None
    assert event.job_uuid == "real"
    assert event.name == "BACKGROUND_JOB"
    assert event.body == body.decode()
    assert "Unique-ID" not in event.headers
    assert event.headers["Content-Length"] == str(len(body))


def test_event_without_body_and_missing_headers() -> None:
    event = one_event(plain_event(["Event-Name: HEARTBEAT"]))
    assert event.body is None
    assert event.unique_id is None
    assert event.get("Nope", "default") == "default"
    assert "Nope" not in event
    with pytest.raises(KeyError):
        event["Nope"]


def test_custom_event_name_and_subclass() -> None:
    event = one_event(
        plain_event(["Event-Name: CUSTOM", "Event-Subclass: callcenter%3A%3Ainfo", "CC-Action: x"])
    )
    assert event.name == "CUSTOM"
    assert event.subclass == "callcenter::info"
    assert "callcenter::info" in repr(event)


def test_json_events_arrays_and_escapes() -> None:
    document = {
        "Event-Name": 'ODD"NAME',
        "Unique-ID": "u-1",
        "variable_list": ["a", "b"],
        "Content-Length": "3",
        "_body": "hé\n",
    }
    event = one_event(encode_event_frame_json(document))
    assert event.name == 'ODD"NAME'
    assert event.variable("list") == "ARRAY::a|:b"
    assert event.body == "hé\n"
    assert "_body" not in event.headers


def encode_event_frame_json(document: Mapping[str, object]) -> bytes:
    payload = json.dumps(document).encode()
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(payload) + payload


def test_invalid_json_event_is_a_protocol_error() -> None:
    event = one_event(b"Content-Length: 5\nContent-Type: text/event-json\n\n{nope")
    with pytest.raises(EslProtocolError):
        event.headers  # noqa: B018
    with pytest.raises(EslProtocolError):
        one_event(b"Content-Length: 2\nContent-Type: text/event-json\n\n[]").get("x")


def test_event_line_without_colon_is_a_protocol_error() -> None:
    event = one_event(plain_event(["Event-Name: X", "garbage"]))
    with pytest.raises(EslProtocolError):
        event.headers  # noqa: B018


def test_only_event_frames_make_events() -> None:
    with pytest.raises(EslProtocolError):
        Event.from_frame(Frame({"Content-Type": "api/response"}, b"+OK"))


def test_url_encode_matches_freeswitch_rules() -> None:
    assert url_encode("a b") == "a%20b"
    assert url_encode("fd00::2") == "fd00%3A%3A2"
    assert url_encode("1.11.3-dev+git") == "1.11.3-dev%2Bgit"
    assert url_encode("a,b/c(d)~e!f*g$h'i") == "a,b/c(d)~e!f*g$h'i"
    assert url_encode("José\n") == "Jos%C3%A9%0A"
    assert url_decode("Jos%C3%A9%0A") == "José\n"


header_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True).filter(
    lambda name: name not in ("Content-Length", "Event-Name")
)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(header_names, st.text(max_size=40), max_size=12),
    body=st.none() | st.text(max_size=60),
    fmt=st.sampled_from(["plain", "json"]),
    cut=st.integers(min_value=1, max_value=97),
)
def test_encoded_events_decode_to_what_was_sent(
    headers: dict[str, str], body: str | None, fmt: str, cut: int
) -> None:
    sent = {"Event-Name": "CUSTOM", **headers}
    data = encode_event_frame(sent, body, fmt)  # type: ignore[arg-type]
    parser = FrameParser()
    frames: list[Frame] = []
    for start in range(0, len(data), cut):
        frames += parser.feed(data[start : start + cut])
    parser.finish()
    assert len(frames) == 1
    lazy = Event.from_frame(frames[0])
    for name, value in sent.items():
        assert lazy.get(name) == value
    event = Event.from_frame(frames[0])
    expected = dict(sent)
    if body is not None:
        expected["Content-Length"] = str(len(body.encode()))
    assert event.headers == expected
    assert event.body == body


# -- commands --------------------------------------------------------------------------------


def test_command_encoding() -> None:
    assert encode_auth("ClueCon") == b"auth ClueCon\n\n"
    assert encode_event(["ALL"], "plain") == b"event plain ALL\n\n"
    assert encode_event(["CHANNEL_CREATE", "CUSTOM", "callcenter::info"]) == (
        b"event json CHANNEL_CREATE CUSTOM callcenter::info\n\n"
    )
    assert encode_nixevent(["HEARTBEAT", "RE_SCHEDULE"]) == b"nixevent HEARTBEAT RE_SCHEDULE\n\n"
    assert encode_api("status") == b"api status\n\n"
    assert encode_bgapi("version", "my-own-job-uuid-0001") == (
        b"bgapi version\nJob-UUID: my-own-job-uuid-0001\n\n"
    )
    assert encode_filter("Event-Name", "CHANNEL_CREATE") == b"filter Event-Name CHANNEL_CREATE\n\n"
    assert encode_filter_delete("Event-Name", "CHANNEL_CREATE") == (
        b"filter delete Event-Name CHANNEL_CREATE\n\n"
    )
    assert encode_filter_delete() == b"filter delete\n\n"
    assert encode_myevents() == b"myevents\n\n"
    assert encode_myevents("u-1", "json") == b"myevents json u-1\n\n"
    assert encode_linger() == b"linger\n\n"
    assert encode_linger(3) == b"linger 3\n\n"
    assert encode_hangup("USER_BUSY", uuid="u-1") == (
        b"sendmsg u-1\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n"
    )
    assert encode_execute(
        "playback", "tone_stream://%(1000,0,350,440)", event_uuid="my-playback-0001"
    ) == (
        b"sendmsg\ncall-command: execute\nexecute-app-name: playback\n"
        b"execute-app-arg: tone_stream://%(1000,0,350,440)\nevent-uuid: my-playback-0001\n\n"
    )
    assert encode_execute("answer", uuid="u-1", event_lock=True, loops=2) == (
        b"sendmsg u-1\ncall-command: execute\nexecute-app-name: answer\nloops: 2\n"
        b"event-lock: true\n\n"
    )
    assert encode_connect() == b"connect\n\n"
    assert encode_resume() == b"resume\n\n"
    assert encode_exit() == b"exit\n\n"
    assert encode_nolinger() == b"nolinger\n\n"
    assert encode_noevents() == b"noevents\n\n"
    assert encode_divert_events(True) == b"divert_events on\n\n"
    assert encode_log("debug") == b"log debug\n\n"
    assert encode_nolog() == b"nolog\n\n"
    assert encode_userauth("1000@default", "pw") == b"userauth 1000@default:pw\n\n"
    assert encode_sendevent("CUSTOM", {"Event-Subclass": "sb::x"}, "hi") == (
        b"sendevent CUSTOM\nEvent-Subclass: sb::x\nContent-Length: 2\n\nhi"
    )
    unicast = encode_unicast(
        local_ip="127.0.0.1", local_port=1, remote_ip="127.0.0.1", remote_port=2
    )
    assert b"call-command: unicast\n" in unicast
    assert b"remote-port: 2\n" in unicast


def test_long_or_multiline_app_args_travel_as_a_body() -> None:
    arg = "line one\nline two"
    payload = encode_execute("set", arg, uuid="u-1")
    head, _, body = payload.partition(b"\n\n")
    assert body == arg.encode()
    assert b"content-type: text/plain" in head
    assert f"Content-Length: {len(arg.encode())}".encode() in head
    assert b"execute-app-arg" not in head
    long_arg = "x" * 5000
    assert encode_execute("set", long_arg).endswith(long_arg.encode())


@pytest.mark.parametrize(
    "build",
    [
        lambda: encode_api("status\n\nexit"),
        lambda: encode_auth("pw\nevent plain ALL"),
        lambda: encode_bgapi("status", "bad uuid"),
        lambda: encode_filter("Event-Name", "X\r\nexit"),
        lambda: encode_sendmsg({"call-command": "execute\n\nexit"}),
        lambda: encode_command("api status", {"bad name": "x"}),
        lambda: encode_event([]),
        lambda: encode_event(["CHANNEL_CREATE ALL"]),
    ],
)
def test_command_injection_is_refused(build: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build()  # type: ignore[operator]
    assert caught.value.error_id == "esl-command-invalid"
    assert caught.value.details["field"]


def test_command_names_hide_passwords() -> None:
    assert command_name(encode_auth("secret")) == "auth ***"
    assert command_name(encode_bgapi("status", "j")) == "bgapi status"


def test_results_and_replies() -> None:
    ok = ApiResult("status", "UP 0 years\n")
    assert ok.ok
    assert ok.error is None
    assert ok.value == "UP 0 years"
    failed = ApiResult("uuid_kill x", "-ERR No such channel!\n")
    assert not failed.ok
    assert failed.error == "-ERR No such channel!"
    assert not ApiResult("x", "-USAGE: x <uuid>").ok
    frame = Frame(
        {"Content-Type": "command/reply", "Reply-Text": "+OK Job-UUID: j1", "Job-UUID": "j1"}
    )
    reply = CommandReply.from_frame("bgapi status", frame)
    assert reply.ok
    assert reply.job_uuid == "j1"
    assert not CommandReply("x", "-ERR invalid").ok
