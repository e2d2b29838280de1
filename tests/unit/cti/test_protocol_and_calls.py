"""Desktop messages, call control rules, the pop and the supervisor's view."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard_common.errors import AppError
from switchboard_cti.domain import calls, protocol
from switchboard_cti.domain.calls import AgentCall, ConsultLeg, TransferTarget
from switchboard_cti.domain.context import CallContexts, IvrStep, build_pop
from switchboard_cti.domain.policy import TenantPolicy
from switchboard_cti.domain.supervision import queue_summaries


def parse(raw: str | bytes) -> object:
    return protocol.parse_message(raw, protocol.AGENT_COMMANDS)[1]


def test_commands_parse_into_models() -> None:
    command = parse('{"id": "r1", "cmd": "transfer", "target_kind": "queue", "target": "sales"}')
    assert isinstance(command, protocol.Transfer)
    assert (command.target_kind, command.target) == ("queue", "sales")
    hold = parse('{"id": "r2", "cmd": "unhold"}')
    assert isinstance(hold, protocol.Hold) and hold.cmd == "unhold"


@pytest.mark.parametrize(
    ("raw", "field", "request_id"),
    [
        ("not json", "message", None),
        ("[1, 2]", "message", None),
        ('{"id": "r3"}', "cmd", "r3"),
        ('{"id": "r4", "cmd": "fly"}', "cmd", "r4"),
        (
            '{"id": "r5", "cmd": "transfer", "target_kind": "moon", "target": "x"}',
            "target_kind",
            "r5",
        ),
        ('{"id": "r6", "cmd": "hold", "extra": 1}', "extra", "r6"),
        ('{"cmd": "hold"}', "id", None),
    ],
)
def test_malformed_messages_name_the_field(raw: str, field: str, request_id: str | None) -> None:
    with pytest.raises(protocol.MalformedMessage) as caught:
        parse(raw)
    assert caught.value.error_id == "malformed-message"
    assert caught.value.details["field"] == field
    assert caught.value.details.get("id") == request_id


def test_oversized_message_is_refused() -> None:
    with pytest.raises(protocol.MalformedMessage):
        parse(b"{" + b" " * protocol.MAX_MESSAGE_BYTES + b"}")


def test_supervisor_commands_are_a_separate_set() -> None:
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse_message('{"id": "1", "cmd": "hold"}', protocol.SUPERVISOR_COMMANDS)
    _, command = protocol.parse_message(
        '{"id": "1", "cmd": "eavesdrop", "agent_id": "a", "mode": "whisper", "endpoint": "user/9"}',
        protocol.SUPERVISOR_COMMANDS,
    )
    assert isinstance(command, protocol.Eavesdrop)


def test_require_call_refuses_calls_the_agent_does_not_hold() -> None:
    call = AgentCall("c1", "n1", agent_leg_id="b1")
    assert calls.require_call(call, None) is call
    assert calls.require_call(call, "b1") is call
    with pytest.raises(calls.CallNotHeld) as caught:
        calls.require_call(call, "other")
    assert caught.value.error_id == "no-such-call"
    with pytest.raises(calls.CallNotHeld):
        calls.require_call(None, None)


def test_hold_rules() -> None:
    call = AgentCall("c1", "n1")
    with pytest.raises(calls.CallStateConflict):
        calls.check_hold(call, True)  # still ringing
    call.answered_at = 5.0
    calls.check_hold(call, True)
    call.held = True
    with pytest.raises(calls.CallStateConflict):
        calls.check_hold(call, True)
    call.consult = ConsultLeg("c2", TransferTarget("agent", "a2"), "room")
    with pytest.raises(calls.CallStateConflict):
        calls.check_hold(call, False)


def test_recording_transitions() -> None:
    assert calls.next_recording_state("off", "start") == "on"
    assert calls.next_recording_state("on", "pause") == "paused"
    assert calls.next_recording_state("paused", "resume") == "on"
    assert calls.next_recording_state("paused", "stop") == "off"
    with pytest.raises(calls.CallStateConflict):
        calls.next_recording_state("off", "pause")


def test_numbers_and_digits() -> None:
    assert calls.normalise_number("+33 1 42 68 53 00") == "+33142685300"
    assert calls.normalise_number("(202) 555-0147") == "+12025550147"
    with pytest.raises(AppError) as caught:
        calls.normalise_number("not a number")
    assert caught.value.error_id == "invalid-transfer-target"
    assert calls.check_dtmf("12#a") == "12#A"
    with pytest.raises(AppError):
        calls.check_dtmf("12x")
    assert calls.conference_room("sb", "a-b_c.d") == "sb-abcd"


def test_call_roundtrips_through_json() -> None:
    call = AgentCall("c1", "n1", queue_id="q", answered_at=3.0, held=True)
    call.consult = ConsultLeg("c2", TransferTarget("number", "+15550100"), "room", False)
    call.conference_legs.append("c3")
    again = AgentCall.from_json(call.to_json())
    assert again == call
    assert again.legs() == {"c1", "c2", "c3"}


def test_pop_carries_queue_wait_ivr_path_and_card() -> None:
    contexts = CallContexts(capacity=2)
    context = contexts.ensure("t", "c1")
    context.caller_number = "+15550100"
    context.enqueued_at = 100.0
    context.add_step(IvrStep("menu", "menu", 90.0))
    context.add_digit("2")
    context.customer = {"name": "Ada"}
    context.card_status = "found"
    pop = build_pop(
        context, queue_id="q1", queue_name="Sales", offered_at=130.0, ring_timeout_s=20, now=130.0
    )
    assert pop["wait_s"] == 30.0
    assert pop["queue"] == {"id": "q1", "name": "Sales"}
    assert pop["ivr"]["path"] == [{"node_id": "menu", "node_kind": "menu"}]
    assert pop["ivr"]["digits"] == "2"
    assert pop["customer"] == {"name": "Ada"}
    contexts.ensure("t", "c2")
    contexts.ensure("t", "c3")
    assert contexts.get("t", "c1") is None, "the least recently used context is dropped"


def test_policy_validation_and_recording_rights() -> None:
    with pytest.raises(ValueError, match="system reason"):
        TenantPolicy(not_ready_reasons=("missed",))
    with pytest.raises(ValueError, match="listed twice"):
        TenantPolicy(dispositions=("a", "a"))
    assert TenantPolicy(recording_control="pause_resume").recording_allowed("pause")
    assert not TenantPolicy(recording_control="pause_resume").recording_allowed("start")
    assert not TenantPolicy(recording_control="none").recording_allowed("resume")


def test_queue_summaries_count_agents_and_calls() -> None:
    agents: list[dict[str, Any]] = [
        {"agent_id": "a1", "state": "available", "queues": ["q1"], "call": None},
        {
            "agent_id": "a2",
            "state": "on_call",
            "queues": ["q1", "q2"],
            "call": {"call_id": "c", "queue_id": "q1", "answered_at": 10.0, "held": False},
        },
        {"agent_id": "a3", "state": "logged_out", "queues": ["q1"], "call": None},
    ]
    summaries = {s["queue_id"]: s for s in queue_summaries(agents, {"q1": "Sales"}, now=40.0)}
    assert summaries["q1"]["by_state"] == {"available": 1, "on_call": 1}
    assert summaries["q1"]["calls"][0]["talk_s"] == 30.0
    assert summaries["q2"]["agents"] == ["a2"]
