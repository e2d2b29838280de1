"""SwitchService against a scripted FreeSWITCH port (no sockets)."""

import asyncio
import re

import pytest

from switchboard_common.errors import NotFound, PreconditionFailed, ValidationFailed
from switchboard_switch.domain.channels import TenantEvent
from switchboard_switch.services import SwitchService


class ScriptedFreeSwitch:
    def __init__(self) -> None:
        self.commands: list[str] = []
        self.api_replies: dict[str, str] = {}
        self.originate_result = "+OK"
        self.originate_delay = 0.0
        self.service: SwitchService | None = None
        self.executions: list[tuple[str, str, str, str]] = []

    async def api(self, command: str) -> str:
        self.commands.append(command)
        for prefix, reply in self.api_replies.items():
            if command.startswith(prefix):
                return reply
        return "+OK"

    async def bgapi(self, command: str, timeout_s: float) -> str:
        self.commands.append(command)
        await asyncio.sleep(self.originate_delay)
        if self.originate_result == "+OK":
            leg = re.search(r"origination_uuid=([^,}]+)", command).group(1)  # type: ignore[union-attr]
            return f"+OK {leg}\n"
        return self.originate_result

    async def execute(self, call_id: str, application: str, argument: str, event_uuid: str) -> str:
        self.executions.append((call_id, application, argument, event_uuid))
        return "+OK"


class Collect:
    def __init__(self) -> None:
        self.events: list[TenantEvent] = []

    def submit(self, event: TenantEvent) -> None:
        self.events.append(event)


def make() -> tuple[SwitchService, ScriptedFreeSwitch, Collect]:
    freeswitch, sink = ScriptedFreeSwitch(), Collect()
    service = SwitchService("fs1", freeswitch, sink)
    service.on_esl_event(
        "CHANNEL_CREATE",
        {"Unique-ID": "A", "variable_sb_tenant": "acme", "Caller-Caller-ID-Number": "+15551230000"},
    )
    service.on_esl_event("CHANNEL_PARK", {"Unique-ID": "A"})
    return service, freeswitch, sink


async def test_another_tenants_call_is_not_found() -> None:
    service, freeswitch, _ = make()
    with pytest.raises(NotFound):
        await service.hold("globex", "A", True)
    assert freeswitch.commands == []
    await service.hold("acme", "A", True)
    assert freeswitch.commands == ["uuid_hold A"]


async def test_freeswitch_err_becomes_a_clear_error_with_its_text() -> None:
    service, freeswitch, _ = make()
    freeswitch.api_replies["uuid_record"] = "-ERR Cannot open file\n"
    with pytest.raises(PreconditionFailed, match="-ERR Cannot open file"):
        await service.record("acme", "A", "start", "/tmp/x.wav")
    freeswitch.api_replies["uuid_hold"] = "-ERR No such channel!\n"
    with pytest.raises(NotFound):
        await service.hold("acme", "A", False)


async def test_bridge_answered_then_bridged() -> None:
    service, freeswitch, _ = make()
    result = await service.bridge("acme", "A", "user/1001@acme.example", 20, {"sb_agent": "a1"})
    assert result.outcome == "answered"
    assert freeswitch.commands[-1] == f"uuid_bridge A {result.agent_call_id}"
    originate = freeswitch.commands[0]
    assert "originate_timeout=20" in originate and "sb_tenant=acme" in originate
    assert "sb_agent=a1" in originate


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("-ERR NO_ANSWER\n", "no_answer"),
        ("-ERR USER_BUSY\n", "busy"),
        ("-ERR USER_NOT_REGISTERED\n", "failed"),
        ("-ERR NORMAL_TEMPORARY_FAILURE\n", "failed"),
    ],
)
async def test_bridge_failure_outcomes(reply: str, outcome: str) -> None:
    service, freeswitch, _ = make()
    freeswitch.originate_result = reply
    result = await service.bridge("acme", "A", "user/1001@acme.example", 20, {})
    assert result.outcome == outcome
    assert result.cause == reply[5:].strip()
    assert not any(c.startswith("uuid_bridge") for c in freeswitch.commands)


async def test_caller_hanging_up_while_agent_rings_cancels_the_agent_leg() -> None:
    service, freeswitch, _ = make()
    freeswitch.originate_delay = 0.05
    task = asyncio.create_task(service.bridge("acme", "A", "user/1001@acme.example", 20, {}))
    await asyncio.sleep(0.01)
    service.on_esl_event(
        "CHANNEL_HANGUP_COMPLETE", {"Unique-ID": "A", "Hangup-Cause": "ORIGINATOR_CANCEL"}
    )
    result = await task
    assert result.outcome == "caller_gone"
    assert freeswitch.commands[-1] == f"uuid_kill {result.agent_call_id} ORIGINATOR_CANCEL"


async def test_play_and_get_digits_returns_the_collected_digits() -> None:
    service, freeswitch, _ = make()
    task = asyncio.create_task(
        service.play_and_get_digits(
            "acme",
            "A",
            min_digits=1,
            max_digits=4,
            tries=3,
            timeout_ms=5000,
            terminators="#",
            prompt="ivr/menu.wav",
            invalid_prompt="",
            regex="",
            digit_timeout_ms=0,
        )
    )
    await asyncio.sleep(0.01)
    call_id, app, argument, event_uuid = freeswitch.executions[0]
    assert (call_id, app) == ("A", "play_and_get_digits")
    assert argument.split()[:5] == ["1", "4", "3", "5000", "#"]
    service.on_esl_event(
        "CHANNEL_EXECUTE_COMPLETE",
        {"Unique-ID": "A", "Application-UUID": event_uuid, "variable_sb_digits": "12"},
    )
    result = await task
    assert (result.digits, result.timed_out) == ("12", False)


async def test_playback_wait_ends_with_hangup() -> None:
    service, _freeswitch, _ = make()
    task = asyncio.create_task(service.playback("acme", "A", ["ivr/hello.wav"], wait=True))
    await asyncio.sleep(0.01)
    service.on_esl_event("CHANNEL_HANGUP_COMPLETE", {"Unique-ID": "A"})
    assert await task == "hangup"


async def test_bad_input_is_refused_before_reaching_freeswitch() -> None:
    service, freeswitch, _ = make()
    with pytest.raises(ValidationFailed):
        await service.send_dtmf("acme", "A", "12; uuid_kill all")
    with pytest.raises(ValidationFailed):
        await service.bridge("acme", "A", "user/1001 &bad", 20, {})
    with pytest.raises(ValidationFailed):
        await service.hangup("acme", "A", "not a cause")
    assert freeswitch.commands == []


async def test_resync_ends_calls_that_vanished_and_looks_up_new_tenants() -> None:
    service, freeswitch, sink = make()
    freeswitch.api_replies["show channels as json"] = (
        '{"row_count": 1, "rows": [{"uuid": "B", "direction": "inbound", "callstate": "ACTIVE"}]}'
    )
    freeswitch.api_replies["uuid_getvar B sb_tenant"] = "globex"
    ended = await service.resync()
    assert ended == 1
    assert sink.events[-1].payload.lost is True  # type: ignore[attr-defined]
    assert service.tracker.channels["B"].tenant == "globex"


async def test_refused_digits_are_reported_not_taken_for_silence() -> None:
    service, freeswitch, _ = make()
    task = asyncio.create_task(
        service.play_and_get_digits(
            "acme",
            "A",
            min_digits=1,
            max_digits=1,
            tries=1,
            timeout_ms=3000,
            terminators="#",
            prompt="ivr/menu.wav",
            invalid_prompt="",
            regex="[12]",
            digit_timeout_ms=0,
        )
    )
    await asyncio.sleep(0.01)
    event_uuid = freeswitch.executions[0][3]
    service.on_esl_event(
        "CHANNEL_EXECUTE_COMPLETE",
        {
            "Unique-ID": "A",
            "Application-UUID": event_uuid,
            "variable_sb_digits": "",
            "variable_sb_digits_invalid": "7",
        },
    )
    result = await task
    assert (result.digits, result.timed_out) == ("7", False)


async def test_variables_and_mute_become_one_api_command_each() -> None:
    service, freeswitch, _ = make()
    await service.set_variables("acme", "A", {"park_after_bridge": "true", "sb_x": "1"})
    await service.mute("acme", "A", True)
    await service.mute("acme", "A", False)
    assert freeswitch.commands == [
        "uuid_setvar_multi A park_after_bridge=true;sb_x=1",
        "uuid_audio A start read mute 1",
        "uuid_audio A stop",
    ]
    with pytest.raises(ValidationFailed):
        await service.set_variables("acme", "A", {"x": "1;uuid_kill A"})
    with pytest.raises(ValidationFailed):
        await service.set_variables("acme", "A", {})
    with pytest.raises(NotFound):
        await service.mute("globex", "A", True)
    assert len(freeswitch.commands) == 3


async def test_conference_ends_with_the_customer_and_never_leaves_one_alone() -> None:
    service, freeswitch, _ = make()
    service.on_esl_event("CHANNEL_CREATE", {"Unique-ID": "B", "variable_sb_tenant": "acme"})
    room = await service.conference("acme", ["A", "B"], "room-1")
    assert room == "room-1"
    assert freeswitch.commands == [
        "uuid_setvar A hangup_after_bridge false",
        "uuid_setvar B hangup_after_bridge false",
        "uuid_transfer A conference:room-1@default+flags{endconf|mintwo} inline",
        "uuid_transfer B conference:room-1@default+flags{mintwo} inline",
    ]
    with pytest.raises(ValidationFailed):
        await service.conference("acme", ["A"], "room-2")
    with pytest.raises(NotFound):
        await service.conference("globex", ["A", "B"], "room-3")
