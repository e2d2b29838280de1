"""The IVR end to end: real calls placed in the FreeSWITCH simulator run their tenant's
published flow in the ivr service, which drives them through the switch's CallControl
(gRPC); simulated callers press keys at the prompts they hear; queued calls reach simulated
agents through routing; after-hours callers leave voicemail; a post-call survey runs once
the agent hangs up (`park_after_bridge`); the flow tester predicts the path a call takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ivr_harness import IvrHarness

from switchboard_common.events.calls import (
    CallBridged,
    CallEnded,
    CallRecordingStarted,
    CallUnbridged,
)
from switchboard_common.events.ivr import (
    IvrCompleted,
    IvrNodeEntered,
    IvrStarted,
    SurveyAnswer,
    SurveyCompleted,
    VoicemailLeft,
)
from switchboard_common.events.queues import CallEnqueued, QueueCallAnswered

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALL_DAY = ["00:00-00:00"]
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def nodes_entered(stack: IvrHarness, call_id: str) -> list[IvrNodeEntered]:
    return [e.payload_as(IvrNodeEntered) for e in stack.events(call_id, IvrNodeEntered.EVENT_TYPE)]


def completions(stack: IvrHarness, call_id: str) -> list[IvrCompleted]:
    return [e.payload_as(IvrCompleted) for e in stack.events(call_id, IvrCompleted.EVENT_TYPE)]


def prompt(prompt_id: str) -> dict[str, str]:
    return {"type": "prompt", "prompt": prompt_id}


def closed_now() -> list[str]:
    """A one-hour opening twelve hours away from now (UTC), whatever the time of day."""
    start = (datetime.now(UTC) + timedelta(hours=12)).hour
    return [f"{start:02d}:00-{(start + 1) % 24:02d}:00"]


async def test_keys_pressed_in_a_menu_lead_to_a_queue_and_an_agent(stack: IvrHarness) -> None:
    tenant = await stack.new_tenant(["ann"])
    await stack.put_prompts(tenant, "welcome", "main-menu")
    version = await stack.publish_flow(
        tenant,
        {
            "id": "front-desk",
            "start": "welcome",
            "nodes": [
                {"id": "welcome", "kind": "play", "items": [prompt("welcome")], "next": "main"},
                {
                    "id": "main",
                    "kind": "menu",
                    "prompt": "main-menu",
                    "options": {"1": "sales", "2": "support"},
                },
                {"id": "sales", "kind": "queue", "queue": "sales"},
                {"id": "support", "kind": "queue", "queue": "support", "priority": 7},
            ],
        },
    )
    await stack.create_queue(tenant, {"id": "support", "strategy": "longest-idle"})
    await stack.agent_available(tenant, "ann", ["support"])
    await stack.assign_number(tenant, "front-desk")

    caller = "+14445550101"
    call_id = stack.place_call(tenant, caller, {tenant.prompt_file("main-menu"): "2"})

    answered = (await stack.wait_event(call_id, QueueCallAnswered.EVENT_TYPE))[0]
    assert answered.tenant == tenant.tenant_id
    assert answered.payload_as(QueueCallAnswered).agent_id == "ann"
    assert answered.payload_as(QueueCallAnswered).queue_id == "support"
    bridged = (await stack.wait_event(call_id, CallBridged.EVENT_TYPE))[0].payload_as(CallBridged)
    assert tenant.endpoint_key("ann") in stack.leg_endpoint(bridged.other_call_id)

    started = (await stack.wait_event(call_id, IvrStarted.EVENT_TYPE))[0].payload_as(IvrStarted)
    assert (started.flow_id, started.flow_version) == ("front-desk", version)
    assert (started.caller_number, started.called_number) == (caller, tenant.number)
    await stack.wait_event(call_id, IvrNodeEntered.EVENT_TYPE, count=3)
    assert [(n.node_id, n.node_kind, n.phase) for n in nodes_entered(stack, call_id)] == [
        ("welcome", "play", "ivr"),
        ("main", "menu", "ivr"),
        ("support", "queue", "ivr"),
    ]
    completed = (await stack.wait_event(call_id, IvrCompleted.EVENT_TYPE))[0]
    ivr_completed = completed.payload_as(IvrCompleted)
    assert ivr_completed.exit_reason == "queued"
    assert (ivr_completed.queue_id, ivr_completed.last_node) == ("support", "support")
    assert ivr_completed.nodes_visited == 3
    enqueued = stack.events(call_id, CallEnqueued.EVENT_TYPE)[0].payload_as(CallEnqueued)
    assert (enqueued.queue_id, enqueued.priority, enqueued.caller_number) == (
        "support",
        7,
        caller,
    )
    assert stack.callers.heard[call_id] == [
        tenant.prompt_file("welcome"),
        tenant.prompt_file("main-menu"),
    ]

    # No post-call part: when the agent hangs up, the caller's call ends with the bridge.
    ended = (await stack.wait_event(call_id, CallEnded.EVENT_TYPE))[0].payload_as(CallEnded)
    assert ended.billable_s > 0
    assert len(completions(stack, call_id)) == 1


async def test_after_hours_the_caller_leaves_a_voicemail(stack: IvrHarness) -> None:
    tenant = await stack.new_tenant()
    await stack.set_calendar(tenant, "office", dict.fromkeys(WEEK, closed_now()))
    await stack.put_prompts(tenant, "closed-greeting")
    await stack.publish_flow(
        tenant,
        {
            "id": "after-hours",
            "start": "hours",
            "nodes": [
                {
                    "id": "hours",
                    "kind": "schedule",
                    "calendar": "office",
                    "open": "desk",
                    "closed": "mailbox",
                },
                {"id": "desk", "kind": "queue", "queue": "desk"},
                {
                    "id": "mailbox",
                    "kind": "voicemail",
                    "mailbox": "general",
                    "greeting": "closed-greeting",
                    "max_length_s": 30,
                },
            ],
        },
    )
    await stack.assign_number(tenant, "after-hours")

    caller = "+14445550102"
    call_id = stack.place_call(tenant, caller, {})

    left = (await stack.wait_event(call_id, VoicemailLeft.EVENT_TYPE))[0]
    voicemail = left.payload_as(VoicemailLeft)
    expected_path = stack.voicemail_template.format(
        tenant=tenant.tenant_id, mailbox="general", call_id=call_id
    )
    assert voicemail.recording_path == expected_path
    assert voicemail.duration_ms > 0
    assert (voicemail.mailbox, voicemail.caller_number, voicemail.flow_id) == (
        "general",
        caller,
        "after-hours",
    )
    recording = (await stack.wait_event(call_id, CallRecordingStarted.EVENT_TYPE))[0]
    assert recording.payload_as(CallRecordingStarted).path == expected_path

    await stack.wait_event(call_id, CallEnded.EVENT_TYPE)
    completed = (await stack.wait_event(call_id, IvrCompleted.EVENT_TYPE))[0]
    assert completed.payload_as(IvrCompleted).exit_reason == "voicemail"
    assert completed.payload_as(IvrCompleted).last_node == "mailbox"
    assert [n.node_id for n in nodes_entered(stack, call_id)] == ["hours", "mailbox"]
    assert stack.events(call_id, CallEnqueued.EVENT_TYPE) == []
    greeting, beep = stack.callers.heard[call_id]
    assert greeting == tenant.prompt_file("closed-greeting")
    assert beep.startswith("tone_stream://")


async def test_the_survey_runs_after_the_agent_hangs_up(stack: IvrHarness) -> None:
    tenant = await stack.new_tenant(["bob"])
    await stack.put_prompts(tenant, "main-menu", "survey-rating", "survey-again", "survey-thanks")
    await stack.publish_flow(
        tenant,
        {
            "id": "survey-line",
            "start": "main",
            "nodes": [
                {"id": "main", "kind": "menu", "prompt": "main-menu", "options": {"1": "care"}},
                {"id": "care", "kind": "queue", "queue": "care", "post_call": "survey"},
                {
                    "id": "survey",
                    "kind": "survey",
                    "questions": [
                        {"id": "rating", "prompt": "survey-rating", "kind": "scale"},
                        {"id": "again", "prompt": "survey-again", "kind": "yes_no"},
                    ],
                    "thanks": "survey-thanks",
                },
            ],
        },
    )
    await stack.create_queue(tenant, {"id": "care", "strategy": "longest-idle"})
    await stack.agent_available(tenant, "bob", ["care"])
    await stack.assign_number(tenant, "survey-line")

    answers = {
        tenant.prompt_file("main-menu"): "1",
        tenant.prompt_file("survey-rating"): "4",
        tenant.prompt_file("survey-again"): "1",
    }
    call_id = stack.place_call(tenant, "+14445550103", answers)

    answered = (await stack.wait_event(call_id, QueueCallAnswered.EVENT_TYPE))[0]
    assert answered.payload_as(QueueCallAnswered).agent_id == "bob"
    bridged = (await stack.wait_event(call_id, CallBridged.EVENT_TYPE))[0].payload_as(CallBridged)
    agent_leg = bridged.other_call_id
    assert tenant.endpoint_key("bob") in stack.leg_endpoint(agent_leg)

    unbridged_event = (await stack.wait_event(call_id, CallUnbridged.EVENT_TYPE))[0]
    unbridged = unbridged_event.payload_as(CallUnbridged)
    assert unbridged.other_call_id == agent_leg
    survey_event = (await stack.wait_event(call_id, SurveyCompleted.EVENT_TYPE))[0]
    survey = survey_event.payload_as(SurveyCompleted)
    assert survey.answers == [
        SurveyAnswer(question_id="rating", kind="scale", value=4),
        SurveyAnswer(question_id="again", kind="yes_no", value=True),
    ]
    assert survey.complete is True
    assert (survey.survey_id, survey.queue_id, survey.agent_id) == ("survey", "care", "bob")

    ended = (await stack.wait_event(call_id, CallEnded.EVENT_TYPE))[0].payload_as(CallEnded)
    # The caller stayed on the line (parked) after the agent left, answered the survey,
    # heard the thanks, and only then was hung up by the ivr.
    assert unbridged.unbridged_at < survey.completed_at < ended.ended_at
    assert ended.hangup_cause == "NORMAL_CLEARING"
    await stack.wait_event(call_id, IvrCompleted.EVENT_TYPE, count=2)
    phases = [(c.phase, c.exit_reason, c.last_node) for c in completions(stack, call_id)]
    assert phases == [("ivr", "queued", "care"), ("post_call", "hangup", "survey")]
    assert [(n.node_id, n.phase) for n in nodes_entered(stack, call_id)] == [
        ("main", "ivr"),
        ("care", "ivr"),
        ("survey", "post_call"),
    ]
    assert stack.callers.heard[call_id] == [
        tenant.prompt_file("main-menu"),
        tenant.prompt_file("survey-rating"),
        tenant.prompt_file("survey-again"),
        tenant.prompt_file("survey-thanks"),
    ]


TESTER_FLOW: dict[str, Any] = {
    "id": "tester-line",
    "start": "hours",
    "nodes": [
        {
            "id": "hours",
            "kind": "schedule",
            "calendar": "always",
            "open": "welcome",
            "closed": "bye",
        },
        {"id": "welcome", "kind": "play", "items": [prompt("welcome")], "next": "main"},
        {
            "id": "main",
            "kind": "menu",
            "prompt": "main-menu",
            "options": {"1": "billing", "2": "tech"},
        },
        {
            "id": "billing",
            "kind": "menu",
            "prompt": "billing-menu",
            "options": {"3": "known", "4": "tech"},
        },
        {
            "id": "known",
            "kind": "branch",
            "cases": [
                {
                    "when": [{"var": "caller_number", "op": "starts_with", "value": "+1444"}],
                    "target": "goodbye",
                }
            ],
            "default": "tech",
        },
        {"id": "goodbye", "kind": "play", "items": [prompt("goodbye")], "next": "bye"},
        {"id": "tech", "kind": "queue", "queue": "tech"},
        {"id": "bye", "kind": "hangup"},
    ],
}


async def test_the_flow_tester_predicts_the_path_of_a_real_call(stack: IvrHarness) -> None:
    tenant = await stack.new_tenant()
    await stack.set_calendar(tenant, "always", dict.fromkeys(WEEK, ALL_DAY))
    await stack.put_prompts(tenant, "welcome", "main-menu", "billing-menu", "goodbye")
    version = await stack.publish_flow(tenant, TESTER_FLOW)
    await stack.assign_number(tenant, "tester-line")

    caller = "+14445550104"
    keys = {tenant.prompt_file("main-menu"): "1", tenant.prompt_file("billing-menu"): "3"}
    call_id = stack.place_call(tenant, caller, keys)
    completed = (await stack.wait_event(call_id, IvrCompleted.EVENT_TYPE))[0]
    real_outcome = completed.payload_as(IvrCompleted)
    await stack.wait_event(call_id, CallEnded.EVENT_TYPE)
    real_path = [(n.node_id, n.node_kind) for n in nodes_entered(stack, call_id)]

    predicted = await stack.simulate(
        tenant,
        "tester-line",
        {
            "caller_number": caller,
            "called_number": tenant.number,
            "dtmf": ["1", "3"],
            "version": version,
        },
    )
    assert predicted["version"] == version
    predicted_entered = [
        (event["data"]["node_id"], event["data"]["node_kind"])
        for event in predicted["events"]
        if event["type"] == IvrNodeEntered.EVENT_TYPE
    ]
    assert [node_id for node_id, _ in real_path] == predicted["path"]
    assert real_path == predicted_entered
    assert real_path == [
        ("hours", "schedule"),
        ("welcome", "play"),
        ("main", "menu"),
        ("billing", "menu"),
        ("known", "branch"),
        ("goodbye", "play"),
        ("bye", "hangup"),
    ]
    outcome = predicted["outcome"]
    assert (outcome["exit_reason"], outcome["last_node"]) == (
        real_outcome.exit_reason,
        real_outcome.last_node,
    )
    heard = [path.rsplit("/", 1)[-1].removesuffix(".wav") for path in stack.callers.heard[call_id]]
    assert [f"prompt:{name}" for name in heard] == predicted["prompts"]

    # Not vacuous: another caller with the same keys takes another way.
    stranger = await stack.simulate(
        tenant,
        "tester-line",
        {"caller_number": "+12025550199", "dtmf": ["1", "3"], "version": version},
    )
    assert stranger["path"][-2:] == ["known", "tech"]
