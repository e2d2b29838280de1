"""CallRun against the scripted media layer: effects become commands, answers flow back, and
every way a call can end leaves no silence and names the node where it ended."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchboard_common.events.ivr import (
    IvrCompleted,
    IvrNodeEntered,
    IvrStarted,
    SurveyCompleted,
    VoicemailLeft,
)
from switchboard_common.events.queues import CallEnqueued
from switchboard_ivr.callcontrol import CallControlFailed
from switchboard_ivr.domain import (
    HANG_UP,
    SIGNATURE_HEADER,
    HttpFailed,
    HttpResponse,
    demo_flow,
    parse_flow,
    verify,
)
from switchboard_ivr.domain.say import TONES
from switchboard_ivr.testing import MediaTimes


def completions(harness: Any) -> list[IvrCompleted]:
    found: list[IvrCompleted] = harness.announcer.payloads(IvrCompleted)
    return found


def entered(harness: Any) -> list[str]:
    return [event.node_id for event in harness.announcer.payloads(IvrNodeEntered)]


def names(harness: Any, call_id: str = "call-1") -> list[str]:
    return [command.name for command in harness.control.of(call_id)]


async def test_demo_call_goes_to_the_queue_then_runs_the_survey_after_the_agent(
    harness: Any,
) -> None:
    run = harness.run(demo_flow(), ["1", "5", "1"])
    run.start()
    await harness.until(lambda: run.status == "handed_over")

    enqueued = harness.announcer.payloads(CallEnqueued)
    assert [(e.queue_id, e.priority, [s.skill for s in e.required_skills]) for e in enqueued] == [
        ("sales", 5, ["sales"])
    ]
    assert enqueued[0].node_id == "fs1"
    assert enqueued[0].caller_number == harness.caller
    assert [(c.exit_reason, c.phase, c.queue_id) for c in completions(harness)] == [
        ("queued", "ivr", "sales")
    ]
    assert names(harness) == ["answer", "play", "collect_digits"]

    run.agent_id = "agent-7"
    run.agent_call_ended()
    await harness.finished(run)

    survey = harness.announcer.payloads(SurveyCompleted)
    assert [(a.question_id, a.value) for a in survey[0].answers] == [
        ("satisfaction", 5),
        ("resolved", True),
    ]
    assert survey[0].agent_id == "agent-7" and survey[0].queue_id == "sales"
    assert names(harness)[3:] == ["collect_digits", "collect_digits", "play", "hangup"]
    assert harness.control.of("call-1", "hangup")[0].args == ("NORMAL_CLEARING",)
    last = completions(harness)[-1]
    assert (last.exit_reason, last.phase, last.last_node) == ("hangup", "post_call", "goodbye")
    assert run.status == "finished"
    assert harness.announcer.payloads(IvrStarted)[0].flow_version == 3
    assert {subject for _, _, subject in harness.announcer.announced} == {"call-1"}


async def test_effects_become_switch_commands_with_the_flow_s_files_and_rules(
    harness: Any,
) -> None:
    run = harness.run(demo_flow(), [HANG_UP])
    run.start()
    await harness.finished(run)

    play = harness.control.of("call-1", "play")[0]
    assert play.args == ((harness.prompt_file("welcome"),),)
    request = harness.control.of("call-1", "collect_digits")[0].args[0]
    assert (request.min_digits, request.max_digits, request.timeout_ms) == (1, 1, 5000)
    assert request.regex == "^[129]$"
    assert request.prompt == harness.prompt_file("main_menu")
    assert request.invalid_prompt == harness.prompt_file("invalid_choice")


async def test_an_invalid_key_plays_the_invalid_prompt_and_asks_again(harness: Any) -> None:
    run = harness.run(demo_flow(), ["7", "2"])
    run.start()
    await harness.until(lambda: run.status == "handed_over")

    assert len(harness.control.of("call-1", "collect_digits")) == 2
    assert run.transcript == [
        "prompt:welcome",
        "prompt:main_menu",
        "prompt:invalid_choice",
        "prompt:main_menu",
    ]
    assert harness.announcer.payloads(CallEnqueued)[0].queue_id == "support"
    run.caller_hung_up()
    await harness.finished(run)
    assert len(completions(harness)) == 1


async def test_silence_is_told_apart_from_a_hang_up_by_asking_the_switch(harness: Any) -> None:
    run = harness.run(demo_flow(), [None, "9"])
    harness.control.on_record_start = lambda call_id: asyncio.get_running_loop().call_later(
        0.02, run.dtmf, "#"
    )
    run.start()
    await harness.finished(run)

    assert "prompt:no_input" in run.transcript
    assert entered(harness)[-1] == "voicemail"
    assert completions(harness)[-1].exit_reason == "voicemail"


@pytest.mark.parametrize("script", [["1", "12345#"], ["2"], ["1", "12"], ["7", "7"]])
async def test_a_hang_up_at_any_command_ends_the_run_at_the_node_the_caller_was_in(
    harness: Any, script: list[str]
) -> None:
    harness.webhooks.answers = {harness.webhook: {"account": {"balance": 42}}}
    full = harness.run(harness.lookup_flow(), list(script), call_id="full")
    full.start()
    await harness.finished(full)
    total = len(harness.control.of("full"))
    assert total >= 3

    for at in range(total - 1):
        call_id = f"cut-{at}"
        harness.announcer.announced.clear()
        run = harness.run(harness.lookup_flow(), list(script), call_id=call_id, hang_up_at=at)
        run.start()
        await harness.finished(run)

        ends = completions(harness)
        assert len(ends) == 1, at
        assert ends[0].exit_reason == "caller_hung_up", at
        assert ends[0].last_node == entered(harness)[-1], at
        assert run.state is not None and run.state.path[-1] == ends[0].last_node
        assert ends[0].nodes_visited == len(entered(harness))
        assert len(harness.control.of(call_id)) == at + 1
        assert run.status == "finished"


async def test_the_caller_hanging_up_during_a_prompt_stops_it_and_names_that_node(
    harness: Any,
) -> None:
    gate = harness.control.playback_gate = asyncio.Event()
    run = harness.run(harness.lookup_flow(), ["1"])
    run.start()
    await harness.until(lambda: bool(harness.control.of("call-1", "play")))

    run.caller_hung_up()
    await harness.finished(run)
    gate.set()

    assert entered(harness) == ["answer", "greeting"]
    end = completions(harness)[0]
    assert (end.exit_reason, end.last_node, end.nodes_visited) == ("caller_hung_up", "greeting", 2)
    assert names(harness) == ["answer", "play"]


async def test_a_caller_who_leaves_while_routing_has_the_call_ends_the_run_quietly(
    harness: Any,
) -> None:
    run = harness.run(demo_flow(), ["2"])
    run.start()
    await harness.until(lambda: run.status == "handed_over")
    commands = len(harness.control.commands)

    run.caller_hung_up()
    await harness.finished(run)

    assert [c.exit_reason for c in completions(harness)] == ["queued"]
    assert len(harness.control.commands) == commands


async def test_a_handed_over_call_that_vanished_without_its_event_is_noticed(
    harness: Any,
) -> None:
    run = harness.run(demo_flow(), ["2"])
    run.start()
    await harness.until(lambda: run.status == "handed_over")

    harness.control.hang_up("call-1")
    await harness.finished(run)

    assert run.status == "finished" and run.hung_up


async def test_an_unexpected_error_plays_the_apology_and_hangs_up(harness: Any) -> None:
    harness.control.failures["collect_digits"] = RuntimeError("media server on fire")
    run = harness.run(demo_flow(), ["1"], apology_files=("sorry.wav",))
    run.start()
    await harness.finished(run)

    assert names(harness)[-2:] == ["play", "hangup"]
    assert harness.control.of("call-1", "play")[-1].args == (("sorry.wav",),)
    assert harness.control.of("call-1", "hangup")[0].args == ("NORMAL_TEMPORARY_FAILURE",)
    end = completions(harness)[-1]
    assert (end.exit_reason, end.last_node, end.hangup_cause) == (
        "error",
        "main_menu",
        "NORMAL_TEMPORARY_FAILURE",
    )
    assert isinstance(run.error, RuntimeError)


async def test_a_failing_run_transfers_to_the_tenant_s_error_number_when_it_has_one(
    harness: Any,
) -> None:
    harness.control.failures["answer"] = CallControlFailed("switch says no")
    run = harness.run(demo_flow(), ["1"], error_transfer_to="+33142685399")
    run.start()
    await harness.finished(run)

    transfer = harness.control.of("call-1", "transfer")[0]
    assert transfer.args == ("bridge:sofia/gateway/pstn/+33142685399", "inline")
    end = completions(harness)[-1]
    assert (end.exit_reason, end.transferred_to, end.hangup_cause) == (
        "error",
        "+33142685399",
        None,
    )
    assert end.last_node == "answer"


async def test_an_error_after_the_apology_failed_still_announces_the_end(harness: Any) -> None:
    harness.control.failures["answer"] = RuntimeError("boom")
    harness.control.failures["play"] = RuntimeError("boom again")
    run = harness.run(demo_flow(), ["1"])
    run.start()
    await harness.finished(run)

    assert [c.exit_reason for c in completions(harness)] == ["error"]


async def test_the_webhook_answer_is_signed_and_its_values_are_said(harness: Any) -> None:
    harness.webhooks.answers = {harness.webhook: {"account": {"balance": 42}}}
    run = harness.run(harness.lookup_flow(), ["1", "1234#"])
    run.start()
    await harness.finished(run)

    request = harness.webhooks.requests[0]
    headers = dict(request.headers)
    assert verify(request.body, harness.secret, headers[SIGNATURE_HEADER])
    assert b'"account":"1234"' in request.body
    assert entered(harness)[-3:] == ["tell", "bye", "end"]
    said = harness.control.of("call-1", "play")[1].args[0]
    assert said[0] == harness.prompt_file("balance_is")
    assert "digits/40.wav" in said and "digits/2.wav" in said


@pytest.mark.parametrize(
    "answer",
    [HttpFailed("timeout"), HttpResponse(500, b"{}"), HttpResponse(200, b"<html>garbage")],
)
async def test_a_failed_or_garbled_webhook_takes_the_fallback(harness: Any, answer: Any) -> None:
    harness.webhooks.answers = {harness.webhook: answer}
    run = harness.run(harness.lookup_flow(), ["1", "1234#"])
    run.start()
    await harness.finished(run)

    assert "sorry" in entered(harness) and "tell" not in entered(harness)
    assert completions(harness)[-1].exit_reason == "hangup"


def voicemail_flow(*, then: str | None = None) -> Any:
    nodes: list[dict[str, Any]] = [
        {"id": "answer", "kind": "answer", "next": "box"},
        {
            "id": "box",
            "kind": "voicemail",
            "mailbox": "sales",
            "greeting": "voicemail_greeting",
            "max_length_s": 60,
            **({"next": then} if then else {}),
        },
    ]
    if then:
        nodes += [
            {
                "id": then,
                "kind": "play",
                "items": [{"type": "prompt", "prompt": "bye"}],
                "next": "end",
            },
            {"id": "end", "kind": "hangup"},
        ]
    return parse_flow({"id": "vm", "start": "answer", "nodes": nodes})


async def test_a_voicemail_ends_with_the_hash_key(harness: Any) -> None:
    run = harness.run(voicemail_flow())
    harness.control.on_record_start = lambda _call: asyncio.get_running_loop().call_later(
        0.02, run.dtmf, "#"
    )
    run.start()
    await harness.finished(run)

    path = "/var/lib/switchboard/voicemail/acme/sales/call-1.wav"
    assert names(harness) == ["answer", "play", "record_start", "record_stop", "hangup"]
    assert harness.control.of("call-1", "play")[0].args[0] == (
        harness.prompt_file("voicemail_greeting"),
        TONES["beep"],
    )
    left = harness.announcer.payloads(VoicemailLeft)[0]
    assert (left.mailbox, left.recording_path) == ("sales", path)
    assert 0 < left.duration_ms <= 60_000
    assert completions(harness)[-1].exit_reason == "voicemail"


async def test_a_caller_hanging_up_to_end_the_message_leaves_the_voicemail(
    harness: Any,
) -> None:
    run = harness.run(voicemail_flow(then="thanks"))
    harness.control.on_record_start = lambda _call: asyncio.get_running_loop().call_later(
        0.02, run.caller_hung_up
    )
    run.start()
    await harness.finished(run)

    assert len(harness.announcer.payloads(VoicemailLeft)) == 1
    assert names(harness) == ["answer", "play", "record_start"]
    end = completions(harness)[-1]
    assert (end.exit_reason, end.last_node) == ("caller_hung_up", "box")


async def test_stopping_the_service_apologises_to_a_caller_still_in_the_ivr(
    harness: Any,
) -> None:
    harness.control.times = MediaTimes(caller_thinks_s=30.0)
    run = harness.run(harness.lookup_flow(), ["1"], apology_files=("sorry.wav",))
    run.start()
    await harness.until(lambda: bool(harness.control.of("call-1", "collect_digits")))

    await run.stop()

    assert names(harness)[-2:] == ["play", "hangup"]
    assert harness.control.of("call-1", "play")[-1].args == (("sorry.wav",),)
    end = completions(harness)[-1]
    assert (end.exit_reason, end.last_node) == ("error", "menu")
    assert run.status == "finished"


async def test_the_live_view_shows_where_the_call_is(harness: Any) -> None:
    harness.control.playback_gate = asyncio.Event()
    run = harness.run(harness.lookup_flow(), ["1"])
    run.start()
    await harness.until(lambda: bool(harness.control.of("call-1", "play")))

    view = run.view()
    assert (view.flow_id, view.node_id, view.status, view.flow_version) == (
        "lookup",
        "greeting",
        "running",
        3,
    )
    run.caller_hung_up()
    harness.control.playback_gate.set()
    await harness.finished(run)
