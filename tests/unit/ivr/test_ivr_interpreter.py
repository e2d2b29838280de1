"""The interpreter, node kind by node kind, driven by hand the way an adapter drives it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard_common.errors import PreconditionFailed, ValidationFailed
from switchboard_common.events.ivr import (
    CallbackRequested,
    IvrCompleted,
    IvrNodeEntered,
    IvrStarted,
    SurveyCompleted,
    VoicemailLeft,
)
from switchboard_ivr.domain import (
    DEFAULT_PROMPT,
    SIGNATURE_HEADER,
    AgentCallEnded,
    Answer,
    CallContext,
    CallerHungUp,
    DigitsCollected,
    Enqueue,
    Flow,
    Hangup,
    HttpFailed,
    HttpRequest,
    HttpResponse,
    Interpreter,
    Play,
    PlayAndGetDigits,
    RecordingDone,
    RecordVoicemail,
    SetVariables,
    Step,
    Timeout,
    Transfer,
    file_string,
    parse_flow,
    verify,
)

FlowFactory = Callable[..., Flow]

HANGUP = {"id": "bye", "kind": "hangup"}
OTHER = {"id": "other", "kind": "hangup", "cause": "USER_BUSY"}


def effects_of(step: Step, kind: type) -> list[Any]:
    return [effect for effect in step.effects if isinstance(effect, kind)]


def only(step: Step, kind: type) -> Any:
    found = effects_of(step, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, got {step.effects}"
    return found[0]


def labels(items: tuple[Any, ...]) -> list[str]:
    return [item.label for item in items]


def ended_at(step: Step) -> str | None:
    assert step.finished or step.state.status == "handed_over"
    assert step.outcome is not None
    return step.outcome.last_node


# ---------------------------------------------------------------- answer, play, hangup


def test_answer_then_hangup_with_events_in_order(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow({"id": "a", "kind": "answer", "next": "bye"}, HANGUP)
    step = interpreter.start(flow, context, now)
    assert step.finished
    assert [type(e).__name__ for e in step.effects] == [
        "EmitEvent",
        "EmitEvent",
        "Answer",
        "EmitEvent",
        "Hangup",
        "EmitEvent",
    ]
    started, entered_a, entered_bye, completed = step.events
    assert isinstance(started, IvrStarted) and started.caller_number == "+33142685300"
    assert isinstance(entered_a, IvrNodeEntered) and entered_a.node_kind == "answer"
    assert isinstance(entered_bye, IvrNodeEntered) and entered_bye.node_id == "bye"
    assert isinstance(completed, IvrCompleted)
    assert (completed.exit_reason, completed.last_node, completed.hangup_cause) == (
        "hangup",
        "bye",
        "NORMAL_CLEARING",
    )
    assert completed.nodes_visited == 2
    assert step.state.path == ("a", "bye")
    assert step.waiting_for == "nothing"


def test_hangup_cause_is_passed_on(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(OTHER), context, now)
    assert only(step, Hangup) == Hangup("USER_BUSY")
    assert step.outcome is not None and step.outcome.hangup_cause == "USER_BUSY"


def test_play_answers_once_and_builds_playback_items(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    play = {
        "id": "p",
        "kind": "play",
        "items": [
            {"type": "prompt", "prompt": "welcome"},
            {"type": "tone", "tone": "beep"},
            {"type": "silence", "duration_ms": 500},
            {"type": "say", "say": "number", "value": "${crm.vip_level}"},
            {"type": "say", "say": "money", "value": "12.50", "currency": "EUR"},
        ],
        "next": "bye",
    }
    flow = make_flow({"id": "a", "kind": "answer", "next": "p"}, play, HANGUP)
    step = interpreter.start(flow, context, now)
    assert len(effects_of(step, Answer)) == 1
    played = only(step, Play)
    assert played.language == "en"
    assert labels(played.items) == [
        "prompt:welcome",
        "tone:beep",
        "silence:500",
        "say:number:3",
        "say:money:12.50",
    ]
    assert played.items[0].files == ("/prompts/t1/en/welcome.wav",)
    assert played.items[3].files == ("digits/3.wav",)
    assert played.items[4].files[-1] == "currency/cents.wav"
    assert file_string(played.items).startswith("file_string:///prompts/t1/en/welcome.wav!")
    assert not step.warnings


def test_play_without_answer_node_answers_first(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(
        {
            "id": "p",
            "kind": "play",
            "items": [{"type": "prompt", "prompt": "welcome"}],
            "next": "bye",
        },
        HANGUP,
    )
    step = interpreter.start(flow, context, now)
    kinds = [type(e) for e in step.effects if type(e).__name__ != "EmitEvent"]
    assert kinds[:2] == [Answer, Play]


def test_missing_prompt_file_plays_the_default_and_warns(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(
        {"id": "p", "kind": "play", "items": [{"type": "prompt", "prompt": "gone"}], "next": "bye"},
        HANGUP,
    )
    step = interpreter.start(flow, context, now)
    assert only(step, Play).items[0].files == (DEFAULT_PROMPT,)
    (warning,) = step.warnings
    assert (warning.code, warning.node) == ("prompt-missing", "p")
    assert "gone" in warning.detail


def test_say_uses_the_flow_language(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(
        {
            "id": "p",
            "kind": "play",
            "items": [{"type": "say", "say": "number", "value": 71}],
            "next": "bye",
        },
        HANGUP,
        language="fr",
    )
    played = only(interpreter.start(flow, context, now), Play)
    assert played.language == "fr"
    assert played.items[0].files == ("digits/60.wav", "digits/et.wav", "digits/11.wav")


def test_unusable_say_value_is_skipped_with_a_warning(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(
        {
            "id": "p",
            "kind": "play",
            "items": [
                {"type": "say", "say": "number", "value": "${unset}"},
                {"type": "say", "say": "date", "value": "not-a-date"},
            ],
            "next": "bye",
        },
        HANGUP,
    )
    step = interpreter.start(flow, context, now)
    assert not effects_of(step, Play)
    assert [w.code for w in step.warnings] == ["say-value-unusable", "say-value-unusable"]


# ---------------------------------------------------------------- menu

MENU = {
    "id": "m",
    "kind": "menu",
    "prompt": "menu",
    "options": {"1": "bye", "2": "other"},
    "retries": 1,
    "timeout_ms": 4000,
    "invalid_prompt": "invalid",
    "no_input_prompt": "silence",
}


def test_menu_asks_for_one_key_and_follows_the_option(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(MENU, HANGUP, OTHER)
    step = interpreter.start(flow, context, now)
    assert step.waiting_for == "digits"
    ask = only(step, PlayAndGetDigits)
    assert (ask.min_digits, ask.max_digits, ask.tries, ask.timeout_ms) == (1, 1, 1, 4000)
    assert ask.regex == "^[12]$"
    assert labels(ask.prompt) == ["prompt:menu"]
    assert labels(ask.invalid_prompt) == ["prompt:invalid"]
    assert ask.accepts("2") and not ask.accepts("3") and not ask.accepts("12")
    done = interpreter.resume(step.state, DigitsCollected("2"))
    assert done.state.path == ("m", "other")
    assert only(done, Hangup) == Hangup("USER_BUSY")


def test_menu_invalid_key_asks_again_without_playing_invalid_twice(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(MENU, HANGUP, OTHER), context, now)
    again = interpreter.resume(step.state, DigitsCollected("7"))
    assert again.waiting_for == "digits"
    assert labels(only(again, PlayAndGetDigits).prompt) == ["prompt:menu"]
    assert not effects_of(again, IvrNodeEntered)


def test_menu_silence_plays_the_no_input_prompt_before_asking_again(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(MENU, HANGUP, OTHER), context, now)
    again = interpreter.resume(step.state, Timeout())
    assert labels(only(again, PlayAndGetDigits).prompt) == ["prompt:silence", "prompt:menu"]


def test_menu_exhausted_by_invalid_input_goes_to_default(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    menu = MENU | {"default": "other", "no_input": "bye"}
    step = interpreter.start(make_flow(menu, HANGUP, OTHER), context, now)
    step = interpreter.resume(step.state, DigitsCollected("7"))
    step = interpreter.resume(step.state, DigitsCollected("8"))
    assert step.state.path == ("m", "other")


def test_menu_exhausted_by_silence_goes_to_no_input(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    menu = MENU | {"default": "other", "no_input": "bye"}
    step = interpreter.start(make_flow(menu, HANGUP, OTHER), context, now)
    step = interpreter.resume(step.state, DigitsCollected("7"))
    step = interpreter.resume(step.state, Timeout())
    assert step.state.path == ("m", "bye")


def test_menu_exhausted_without_default_hangs_up(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(MENU | {"retries": 0}, HANGUP, OTHER), context, now)
    step = interpreter.resume(step.state, Timeout())
    assert step.finished
    assert only(step, Hangup) == Hangup("NORMAL_CLEARING")
    assert step.outcome is not None
    assert (step.outcome.exit_reason, step.outcome.last_node) == ("hangup", "m")


def test_caller_hanging_up_mid_menu_ends_cleanly_at_that_node(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(MENU, HANGUP, OTHER), context, now)
    gone = interpreter.resume(step.state, CallerHungUp())
    assert gone.finished
    assert not effects_of(gone, Hangup)
    (completed,) = gone.events
    assert isinstance(completed, IvrCompleted)
    assert (completed.exit_reason, completed.last_node) == ("caller_hung_up", "m")


def test_resume_leaves_the_given_state_untouched(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(MENU, HANGUP, OTHER), context, now)
    before = replace(step.state, variables=dict(step.state.variables))
    interpreter.resume(step.state, DigitsCollected("1"))
    interpreter.resume(step.state, Timeout())
    assert step.state == before
    assert interpreter.resume(step.state, DigitsCollected("2")).state.path == ("m", "other")


def test_wrong_input_and_finished_runs_are_refused(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(MENU, HANGUP, OTHER), context, now)
    with pytest.raises(ValidationFailed) as caught:
        interpreter.resume(step.state, RecordingDone("/tmp/x.wav", 1000))
    assert caught.value.error_id == "unexpected-ivr-input"
    done = interpreter.resume(step.state, DigitsCollected("1"))
    with pytest.raises(PreconditionFailed):
        interpreter.resume(done.state, CallerHungUp())


def test_naive_time_is_refused(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory
) -> None:
    with pytest.raises(ValidationFailed):
        interpreter.start(make_flow(HANGUP), context, datetime(2024, 1, 1))


# ---------------------------------------------------------------- collect

COLLECT = {
    "id": "c",
    "kind": "collect",
    "prompt": "ask",
    "variable": "account",
    "min_length": 4,
    "max_length": 6,
    "pattern": "[0-9]+",
    "retries": 1,
    "invalid_prompt": "invalid",
    "next": "bye",
    "failure": "other",
}


def test_collect_stores_the_entry_without_terminator(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(COLLECT, HANGUP, OTHER), context, now)
    ask = only(step, PlayAndGetDigits)
    assert (ask.min_digits, ask.max_digits, ask.terminators) == (4, 6, "#")
    assert ask.regex == "^(?:[0-9]+)$"
    done = interpreter.resume(step.state, DigitsCollected("12345#"))
    assert done.state.variables["account"] == "12345"
    assert only(done, SetVariables).values == {"account": "12345"}
    assert done.state.path == ("c", "bye")


@pytest.mark.parametrize("entry", ["12", "1234567", "12*4"])
def test_collect_refuses_entries_outside_length_or_pattern(
    entry: str,
    interpreter: Interpreter,
    context: CallContext,
    make_flow: FlowFactory,
    now: datetime,
) -> None:
    step = interpreter.start(make_flow(COLLECT, HANGUP, OTHER), context, now)
    again = interpreter.resume(step.state, DigitsCollected(entry))
    assert again.waiting_for == "digits"
    assert "account" not in again.state.variables
    failed = interpreter.resume(again.state, Timeout())
    assert failed.state.path == ("c", "other")


# ---------------------------------------------------------------- http lookup

HTTP = {
    "id": "h",
    "kind": "http",
    "send": ["account"],
    "map": {"vip": "customer.vip", "first_order": "orders.0.id"},
    "timeout_ms": 2000,
    "next": "bye",
    "fallback": "other",
}


def http_flow(make_flow: FlowFactory, node: dict[str, Any] = HTTP) -> Any:
    return make_flow(node, HANGUP, OTHER, variables={"account": "991", "secret_note": "x"})


def test_http_request_is_signed_over_the_body(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(http_flow(make_flow), context, now)
    assert step.waiting_for == "http_response"
    request = only(step, HttpRequest)
    assert (request.method, request.url, request.timeout_ms) == (
        "POST",
        "https://hooks.example.com/ivr",
        2000,
    )
    headers = dict(request.headers)
    assert verify(request.body, "s3cret", headers[SIGNATURE_HEADER])
    assert not verify(request.body + b" ", "s3cret", headers[SIGNATURE_HEADER])
    body = json.loads(request.body)
    assert body["caller_number"] == "+33142685300"
    assert body["variables"] == {"account": "991"}
    assert body["node_id"] == "h"


def test_http_answer_is_mapped_to_variables(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(http_flow(make_flow), context, now)
    answer = {"customer": {"vip": True}, "orders": [{"id": "A-7"}]}
    done = interpreter.resume(step.state, HttpResponse(200, json.dumps(answer).encode()))
    assert done.state.path == ("h", "bye")
    assert done.state.variables["vip"] is True
    assert done.state.variables["first_order"] == "A-7"


@pytest.mark.parametrize(
    "answer",
    [
        HttpResponse(500, b'{"customer": {"vip": true}, "orders": [{"id": 1}]}'),
        HttpResponse(200, b"<html>oops</html>"),
        HttpResponse(200, b'{"customer": {}, "orders": [{"id": 1}]}'),
        HttpResponse(200, b'{"customer": {"vip": {"nested": 1}}, "orders": [{"id": 1}]}'),
        HttpFailed("connection refused"),
        Timeout(),
    ],
)
def test_http_failures_and_garbage_take_the_fallback(
    answer: Any,
    interpreter: Interpreter,
    context: CallContext,
    make_flow: FlowFactory,
    now: datetime,
) -> None:
    step = interpreter.start(http_flow(make_flow), context, now)
    done = interpreter.resume(step.state, answer)
    assert done.state.path == ("h", "other")
    assert "vip" not in done.state.variables
    assert done.warnings and done.warnings[0].code.startswith("webhook-")


def test_http_without_any_webhook_url_falls_back_at_once(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    no_hook = replace(context, webhook_url=None)
    step = interpreter.start(http_flow(make_flow), no_hook, now)
    assert step.state.path == ("h", "other")
    assert step.warnings[0].code == "webhook-missing"


# ---------------------------------------------------------------- branch


def branch_to(condition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "b",
        "kind": "branch",
        "cases": [{"when": [condition], "target": "bye"}],
        "default": "other",
        **extra,
    }


@pytest.mark.parametrize(
    ("condition", "matched"),
    [
        ({"var": "crm.vip_level", "op": "==", "value": 3}, True),
        ({"var": "crm.vip_level", "op": ">", "value": 3}, False),
        ({"var": "crm.vip_level", "op": ">=", "value": "3"}, True),
        ({"var": "crm.vip_level", "op": "<", "value": 10}, True),
        ({"var": "crm.vip_level", "op": "!=", "value": 3}, False),
        ({"var": "crm.customer.name", "op": "in", "value": ["Ada", "Grace"]}, True),
        ({"var": "crm.missing", "op": "exists"}, False),
        ({"var": "crm.customer", "op": "exists"}, True),
        ({"var": "caller_number", "op": "matches", "value": r"^\+331"}, True),
        ({"var": "caller_number", "op": "starts_with", "value": "+44"}, False),
        ({"var": "time.weekday", "op": "in", "value": ["sat", "sun"]}, False),
        ({"var": "time.hhmm", "op": ">=", "value": "11:00"}, True),
        ({"var": "time.hour", "op": "==", "value": 11}, True),
        ({"var": "level", "op": ">", "value": 9}, True),
        ({"var": "level", "op": "==", "value": "10"}, True),
        ({"var": "unset", "op": "!=", "value": "x"}, True),
        ({"var": "unset", "op": "<", "value": 1}, False),
    ],
)
def test_branch_conditions(
    condition: dict[str, Any],
    matched: bool,
    interpreter: Interpreter,
    context: CallContext,
    make_flow: FlowFactory,
    now: datetime,
) -> None:
    flow = make_flow(branch_to(condition), HANGUP, OTHER, variables={"level": "10"})
    step = interpreter.start(flow, context, now)
    assert step.state.path[-1] == ("bye" if matched else "other")


def test_branch_takes_the_first_case_whose_conditions_all_hold(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    third = {"id": "third", "kind": "hangup", "cause": "NO_ANSWER"}
    branch = {
        "id": "b",
        "kind": "branch",
        "cases": [
            {
                "when": [
                    {"var": "crm.vip_level", "op": ">", "value": 1},
                    {"var": "caller_number", "op": "starts_with", "value": "+44"},
                ],
                "target": "bye",
            },
            {"when": [{"var": "crm.vip_level", "op": ">", "value": 1}], "target": "other"},
            {"when": [{"var": "crm.vip_level", "op": ">", "value": 0}], "target": "third"},
        ],
        "default": "bye",
    }
    step = interpreter.start(make_flow(branch, HANGUP, OTHER, third), context, now)
    assert step.state.path == ("b", "other")


# ---------------------------------------------------------------- schedule

SCHEDULE = {
    "id": "s",
    "kind": "schedule",
    "calendar": "office",
    "open": "bye",
    "closed": "other",
    "holiday": "hol",
}
HOLIDAY = {"id": "hol", "kind": "hangup", "cause": "NO_ANSWER"}


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2024, 3, 5, 16, 59, tzinfo=UTC), "bye"),  # Tuesday 17:59 in Paris
        (datetime(2024, 3, 5, 17, 0, tzinfo=UTC), "other"),  # Tuesday 18:00 in Paris
        (datetime(2024, 3, 5, 7, 30, tzinfo=UTC), "other"),  # 08:30 in Paris
        (datetime(2024, 3, 6, 10, 0, tzinfo=UTC), "other"),  # Wednesday
        (datetime(2024, 12, 24, 23, 30, tzinfo=UTC), "hol"),  # already the 25th in Paris
    ],
)
def test_schedule_asks_the_calendar_in_the_tenant_time_zone(
    at: datetime,
    expected: str,
    interpreter: Interpreter,
    context: CallContext,
    make_flow: FlowFactory,
) -> None:
    step = interpreter.start(make_flow(SCHEDULE, HANGUP, OTHER, HOLIDAY), context, at)
    assert step.state.path == ("s", expected)


def test_schedule_holiday_defaults_to_closed(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory
) -> None:
    schedule = {k: v for k, v in SCHEDULE.items() if k != "holiday"}
    christmas = datetime(2024, 12, 25, 10, 0, tzinfo=UTC)
    step = interpreter.start(make_flow(schedule, HANGUP, OTHER), context, christmas)
    assert step.state.path == ("s", "other")


# ---------------------------------------------------------------- set


def test_set_renders_templates_and_keeps_raw_values(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    node = {
        "id": "v",
        "kind": "set",
        "values": {
            "greeting": "Hello ${crm.customer.name} (${caller_number})",
            "level": "${crm.vip_level}",
            "flag": True,
        },
        "next": "bye",
    }
    step = interpreter.start(make_flow(node, HANGUP), context, now)
    assert step.state.variables == {
        "greeting": "Hello Ada (+33142685300)",
        "level": 3,
        "flag": True,
    }
    assert only(step, SetVariables).values == step.state.variables


# ---------------------------------------------------------------- queue and post-call

QUEUE = {
    "id": "q",
    "kind": "queue",
    "queue": "sales",
    "priority": 7,
    "skills": ["sales", "fr"],
    "post_call": "bye",
}


def test_queue_hands_over_to_routing(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(QUEUE | {"post_call": None}, variables={"account": "42"})
    step = interpreter.start(flow, context, now)
    assert step.finished
    enqueue = only(step, Enqueue)
    assert (enqueue.queue_id, enqueue.priority, enqueue.skills) == ("sales", 7, ("sales", "fr"))
    assert enqueue.variables == {"account": "42"}
    assert not effects_of(step, Hangup)
    completed = step.events[-1]
    assert isinstance(completed, IvrCompleted)
    assert (completed.exit_reason, completed.queue_id) == ("queued", "sales")


def test_post_call_target_continues_after_the_agent_hangs_up(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(QUEUE, HANGUP), context, now)
    assert not step.finished
    assert step.state.status == "handed_over"
    assert step.waiting_for == "call_ended"
    with pytest.raises(ValidationFailed):
        interpreter.resume(step.state, DigitsCollected("1"))
    after = interpreter.resume(step.state, AgentCallEnded("agent-9"))
    assert after.finished
    entered = [e for e in after.events if isinstance(e, IvrNodeEntered)]
    assert [(e.node_id, e.phase) for e in entered] == [("bye", "post_call")]
    completed = after.events[-1]
    assert isinstance(completed, IvrCompleted)
    assert (completed.phase, completed.exit_reason) == ("post_call", "hangup")


def test_caller_leaving_while_queued_ends_the_run_silently(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(QUEUE, HANGUP), context, now)
    gone = interpreter.resume(step.state, CallerHungUp())
    assert gone.finished
    assert gone.effects == ()
    assert gone.outcome is not None and gone.outcome.exit_reason == "queued"


# ---------------------------------------------------------------- voicemail

VOICEMAIL = {
    "id": "vm",
    "kind": "voicemail",
    "mailbox": "sales-box",
    "greeting": "welcome",
    "max_length_s": 60,
    "open_ticket": True,
    "notify": ["boss@example.com"],
}


def test_voicemail_records_then_announces_the_message(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(VOICEMAIL), context, now)
    assert step.waiting_for == "record_result"
    record = only(step, RecordVoicemail)
    assert (record.mailbox, record.max_length_s, record.beep) == ("sales-box", 60, True)
    assert labels(record.greeting) == ["prompt:welcome"]
    done = interpreter.resume(step.state, RecordingDone("/rec/vm-1.wav", 12_000))
    left = next(e for e in done.events if isinstance(e, VoicemailLeft))
    assert (left.mailbox, left.recording_path, left.duration_ms) == (
        "sales-box",
        "/rec/vm-1.wav",
        12_000,
    )
    assert left.open_ticket and left.notify == ["boss@example.com"]
    assert only(done, Hangup) == Hangup("NORMAL_CLEARING")
    assert done.outcome is not None and done.outcome.exit_reason == "voicemail"


def test_empty_recording_leaves_no_voicemail(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(VOICEMAIL | {"next": "bye"}, HANGUP), context, now)
    done = interpreter.resume(step.state, RecordingDone("", 0))
    assert not any(isinstance(e, VoicemailLeft) for e in done.events)
    assert done.warnings[0].code == "voicemail-empty"
    assert done.state.path == ("vm", "bye")


# ---------------------------------------------------------------- callback

CALLBACK = {
    "id": "cb",
    "kind": "callback",
    "prompt": "ask",
    "readback_prompt": "you_entered",
    "confirm_prompt": "confirm",
    "invalid_prompt": "invalid",
    "country": "FR",
    "queue": "sales",
    "retries": 2,
    "next": "bye",
    "failure": "other",
}


def test_callback_captures_confirms_and_requests(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(CALLBACK, HANGUP, OTHER), context, now)
    entry = only(step, PlayAndGetDigits)
    assert (entry.terminators, entry.min_digits) == ("#", 6)
    confirm = interpreter.resume(step.state, DigitsCollected("0612345678#"))
    ask = only(confirm, PlayAndGetDigits)
    assert ask.regex == "^[12]$"
    assert labels(ask.prompt) == ["prompt:you_entered", "say:digits:0612345678", "prompt:confirm"]
    assert ask.prompt[1].files[0] == "digits/0.wav"
    done = interpreter.resume(confirm.state, DigitsCollected("1"))
    request = next(e for e in done.events if isinstance(e, CallbackRequested))
    assert (request.callback_number, request.queue_id) == ("+33612345678", "sales")
    assert done.state.variables["callback_number"] == "+33612345678"
    assert done.state.path == ("cb", "bye")


def test_callback_invalid_number_plays_invalid_prompt_then_reenter(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(CALLBACK, HANGUP, OTHER), context, now)
    again = interpreter.resume(step.state, DigitsCollected("0000000"))
    assert labels(only(again, PlayAndGetDigits).prompt) == ["prompt:invalid", "prompt:ask"]
    confirm = interpreter.resume(again.state, DigitsCollected("00442079460000"))
    assert "say:digits:442079460000" in labels(only(confirm, PlayAndGetDigits).prompt)
    reenter = interpreter.resume(confirm.state, DigitsCollected("2"))
    assert labels(only(reenter, PlayAndGetDigits).prompt) == ["prompt:ask"]
    failed = interpreter.resume(reenter.state, Timeout())
    assert failed.state.path == ("cb", "other")


def test_callback_can_offer_the_caller_number(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    flow = make_flow(CALLBACK | {"offer_caller_number": True}, HANGUP, OTHER)
    step = interpreter.start(flow, context, now)
    assert only(step, PlayAndGetDigits).regex == "^[12]$"
    done = interpreter.resume(step.state, DigitsCollected("1"))
    request = next(e for e in done.events if isinstance(e, CallbackRequested))
    assert request.callback_number == "+33142685300"


# ---------------------------------------------------------------- survey

SURVEY = {
    "id": "sv",
    "kind": "survey",
    "intro": "welcome",
    "questions": [
        {"id": "score", "prompt": "q1", "kind": "scale"},
        {"id": "solved", "prompt": "q2", "kind": "yes_no"},
    ],
    "invalid_prompt": "invalid",
    "thanks": "bye",
    "retries": 1,
}


def test_survey_collects_answers_then_completes(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(SURVEY), context, now)
    first = only(step, PlayAndGetDigits)
    assert labels(first.prompt) == ["prompt:welcome", "prompt:q1"]
    assert first.regex == "^[1-5]$"
    step = interpreter.resume(step.state, DigitsCollected("9"))
    assert labels(only(step, PlayAndGetDigits).prompt) == ["prompt:q1"]
    step = interpreter.resume(step.state, DigitsCollected("4"))
    assert only(step, PlayAndGetDigits).regex == "^[12]$"
    step = interpreter.resume(step.state, DigitsCollected("2"))
    survey = next(e for e in step.events if isinstance(e, SurveyCompleted))
    assert [(a.question_id, a.value) for a in survey.answers] == [("score", 4), ("solved", False)]
    assert survey.complete
    assert labels(only(step, Play).items) == ["prompt:bye"]
    assert step.finished


def test_survey_question_without_answer_is_recorded_as_none(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(SURVEY), context, now)
    step = interpreter.resume(step.state, Timeout())
    step = interpreter.resume(step.state, Timeout())
    step = interpreter.resume(step.state, DigitsCollected("1"))
    survey = next(e for e in step.events if isinstance(e, SurveyCompleted))
    assert [a.value for a in survey.answers] == [None, True]


def test_caller_leaving_mid_survey_sends_the_partial_answers(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(SURVEY), context, now)
    step = interpreter.resume(step.state, DigitsCollected("5"))
    gone = interpreter.resume(step.state, CallerHungUp())
    survey, completed = gone.events
    assert isinstance(survey, SurveyCompleted) and not survey.complete
    assert [a.value for a in survey.answers] == [5]
    assert isinstance(completed, IvrCompleted) and completed.exit_reason == "caller_hung_up"


# ---------------------------------------------------------------- transfer, blacklist


def test_transfer_hands_the_call_to_an_external_number(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(
        make_flow({"id": "t", "kind": "transfer", "number": "+442079460000"}), context, now
    )
    assert only(step, Transfer) == Transfer("+442079460000", None)
    assert not effects_of(step, Hangup)
    assert step.outcome is not None
    assert (step.outcome.exit_reason, step.outcome.transferred_to) == (
        "transferred",
        "+442079460000",
    )


BLACKLIST = {"id": "bl", "kind": "blacklist", "prompt": "bye", "next": "other"}


def test_blacklist_lets_other_callers_through(
    interpreter: Interpreter, context: CallContext, make_flow: FlowFactory, now: datetime
) -> None:
    step = interpreter.start(make_flow(BLACKLIST, OTHER), context, now)
    assert step.state.path == ("bl", "other")


def test_blacklist_rejects_a_blocked_caller(
    interpreter: Interpreter,
    context: CallContext,
    make_flow: FlowFactory,
    now: datetime,
    blocked_caller: str,
) -> None:
    blocked = replace(context, caller_number=blocked_caller)
    step = interpreter.start(make_flow(BLACKLIST, OTHER), blocked, now)
    assert labels(only(step, Play).items) == ["prompt:bye"]
    assert only(step, Hangup) == Hangup("CALL_REJECTED")
    assert step.outcome is not None
    assert (step.outcome.exit_reason, step.outcome.last_node) == ("rejected", "bl")


def test_blacklist_can_route_a_blocked_caller(
    interpreter: Interpreter,
    context: CallContext,
    make_flow: FlowFactory,
    now: datetime,
    blocked_caller: str,
) -> None:
    node = BLACKLIST | {"action": "route", "route_to": "bye"}
    blocked = replace(context, caller_number=blocked_caller)
    step = interpreter.start(make_flow(node, HANGUP, OTHER), blocked, now)
    assert step.state.path == ("bl", "bye")


# ---------------------------------------------------------------- run-time guards


def test_max_steps_guard_stops_a_runaway_loop(
    interpreter: Interpreter, context: CallContext, now: datetime
) -> None:
    flow = parse_flow(
        {
            "id": "runaway",
            "start": "a",
            "max_steps": 20,
            "nodes": [
                {"id": "a", "kind": "set", "values": {"x": 1}, "next": "b"},
                {"id": "b", "kind": "set", "values": {"x": 2}, "next": "a"},
            ],
        }
    )
    step = interpreter.start(flow, context, now)
    assert step.finished
    assert len(step.state.path) == 20
    assert only(step, Hangup) == Hangup("NORMAL_TEMPORARY_FAILURE")
    assert step.outcome is not None and step.outcome.exit_reason == "error"
    assert step.warnings[-1].code == "max-steps-exceeded"


def test_a_target_missing_at_run_time_ends_with_an_error(
    interpreter: Interpreter, context: CallContext, now: datetime
) -> None:
    flow = parse_flow(
        {"id": "broken", "start": "a", "nodes": [{"id": "a", "kind": "answer", "next": "zz"}]}
    )
    step = interpreter.start(flow, context, now)
    assert step.outcome is not None
    assert (step.outcome.exit_reason, step.outcome.last_node) == ("error", "a")
    assert step.warnings[0].code == "missing-node"
