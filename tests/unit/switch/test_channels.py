from collections.abc import Callable
from datetime import UTC, datetime

from switchboard_common.events.calls import (
    CallAnswered,
    CallArrived,
    CallBridged,
    CallDtmf,
    CallEnded,
    CallRecordingStarted,
    CallRecordingStopped,
)
from switchboard_switch.domain.channels import (
    LOST_CAUSE,
    ChannelTracker,
    LiveChannel,
    TenantEvent,
    parse_show_channels,
)

TraceReader = Callable[[str], list[dict[str, str]]]


def replay(
    events: list[dict[str, str]], tenant_for_all: str | None = "acme"
) -> tuple[ChannelTracker, list[TenantEvent]]:
    tracker = ChannelTracker("fs1")
    published = []
    for raw in events:
        event = raw
        if tenant_for_all is not None and "Unique-ID" in raw:
            event = {**raw, "variable_sb_tenant": tenant_for_all, "variable_sb_number": "+15550100"}
        published += tracker.apply(event["Event-Name"], event)
    return tracker, published


def test_trace_b_park_answer_bridge_kill_gives_the_call_story_in_order(
    trace_events: TraceReader,
) -> None:
    tracker, published = replay(trace_events("b"))
    a_leg = next(e for e in published if isinstance(e.payload, CallArrived)).call_id
    story = [type(e.payload).__name__ for e in published if e.call_id == a_leg]
    assert story == ["CallArrived", "CallAnswered", "CallBridged", "CallUnbridged", "CallEnded"]
    b_leg = next(e.payload.other_call_id for e in published if isinstance(e.payload, CallBridged))
    b_story = [type(e.payload).__name__ for e in published if e.call_id == b_leg]
    assert b_story == ["CallAnswered", "CallEnded"]
    ended = next(
        e.payload for e in published if e.call_id == a_leg and isinstance(e.payload, CallEnded)
    )
    assert ended.hangup_cause == "NORMAL_CLEARING"
    assert ended.duration_s >= ended.billable_s >= 0
    assert len(tracker) == 0
    assert all(e.tenant == "acme" for e in published)


def test_trace_a_dtmf_and_recording(trace_events: TraceReader) -> None:
    _tracker, published = replay(trace_events("a"))
    digits = [e.payload.digit for e in published if isinstance(e.payload, CallDtmf)]
    assert digits == ["1", "2", "#"]
    assert all(e.payload.duration_ms == 250 for e in published if isinstance(e.payload, CallDtmf))
    started = [e.payload for e in published if isinstance(e.payload, CallRecordingStarted)]
    stopped = [e.payload for e in published if isinstance(e.payload, CallRecordingStopped)]
    assert [s.path for s in started] == ["/srv/fs/recs/rec-a-json.wav"]
    assert stopped[0].duration_ms == 2000
    arrived = next(e.payload for e in published if isinstance(e.payload, CallArrived))
    assert arrived.caller_number == "sipp"
    assert arrived.destination_number == "9100"
    assert arrived.tenant_number == "+15550100"


def test_channels_without_tenant_publish_nothing_but_are_tracked(trace_events: TraceReader) -> None:
    tracker = ChannelTracker("fs1")
    events = trace_events("b")
    published = []
    for event in events[: len(events) // 2]:
        published += tracker.apply(event["Event-Name"], event)
    assert published == []
    assert len(tracker) > 0
    assert tracker.calls_in_progress() == 0


def test_answer_before_park_is_published_after_arrival(trace_events: TraceReader) -> None:
    _tracker, published = replay(trace_events("b"))
    kinds = [type(e.payload) for e in published]
    assert kinds.index(CallArrived) < kinds.index(CallAnswered)


def test_reconcile_ends_vanished_calls_and_adopts_new_ones(trace_events: TraceReader) -> None:
    tracker, _ = replay(trace_events("b"))
    tracker.apply(
        "CHANNEL_CREATE",
        {"Unique-ID": "u1", "variable_sb_tenant": "acme", "Caller-Caller-ID-Number": "+15551234"},
    )
    tracker.apply("CHANNEL_CREATE", {"Unique-ID": "u2", "variable_sb_tenant": "globex"})
    now = datetime(2030, 1, 1, tzinfo=UTC)
    live = parse_show_channels(
        [
            {
                "uuid": "u2",
                "direction": "inbound",
                "callstate": "ACTIVE",
                "created_epoch": "1800000000",
            },
            {"uuid": "u3", "direction": "inbound", "callstate": "HELD"},
        ]
    )
    events = tracker.reconcile(live, now)
    assert [(e.call_id, e.payload.hangup_cause, e.payload.lost) for e in events] == [
        ("u1", LOST_CAUSE, True)
    ]
    assert set(tracker.channels) == {"u2", "u3"}
    assert tracker.channels["u3"].held
    again = tracker.reconcile([LiveChannel("u2", "inbound", "", "", "", 0, "ACTIVE")], now)
    assert [e.call_id for e in again] == []
    assert set(tracker.channels) == {"u2"}


def test_reconcile_reports_every_vanished_call_once() -> None:
    tracker = ChannelTracker("fs1")
    for uuid in ("a", "b", "c"):
        tracker.apply("CHANNEL_CREATE", {"Unique-ID": uuid, "variable_sb_tenant": "t"})
    now = datetime(2030, 1, 1, tzinfo=UTC)
    first = tracker.reconcile([], now)
    assert sorted(e.call_id for e in first) == ["a", "b", "c"]
    assert tracker.reconcile([], now) == []


def test_events_without_unique_id_or_unknown_names_are_ignored() -> None:
    tracker = ChannelTracker("fs1")
    assert tracker.apply("HEARTBEAT", {"Event-Name": "HEARTBEAT"}) == []
    assert tracker.apply("CODEC", {"Unique-ID": "x"}) == []
    assert tracker.apply("CHANNEL_UNBRIDGE", {"Unique-ID": "x"}) == []


def test_a_channel_is_parked_from_park_until_unpark_or_bridge() -> None:
    tracker = ChannelTracker("fs1")
    base = {"variable_sb_tenant": "acme", "Caller-Direction": "inbound"}
    tracker.apply("CHANNEL_CREATE", {**base, "Unique-ID": "A"})
    tracker.apply("CHANNEL_PARK", {**base, "Unique-ID": "A"})
    parked_first = tracker.channels["A"].parked
    tracker.apply("CHANNEL_UNPARK", {**base, "Unique-ID": "A"})
    unparked = tracker.channels["A"].parked
    tracker.apply("CHANNEL_PARK", {**base, "Unique-ID": "A"})
    tracker.apply("CHANNEL_BRIDGE", {**base, "Unique-ID": "A", "Other-Leg-Unique-ID": "B"})
    assert (parked_first, unparked, tracker.channels["A"].parked) == (True, False, False)
