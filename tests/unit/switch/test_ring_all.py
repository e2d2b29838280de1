"""Simultaneous ring (`a,b,c`) in the switch: dial-string rules and the winning leg."""

import asyncio

import pytest

from switchboard_common.errors import ValidationFailed
from switchboard_switch.domain.channels import TenantEvent
from switchboard_switch.domain.commands import (
    MAX_SIMULTANEOUS_ENDPOINTS,
    check_dial_string,
    dial_string,
    originate_command,
    split_endpoints,
)
from switchboard_switch.services import SwitchService

RING_ALL = "user/1001@acme.example,user/1002@acme.example,user/1003@acme.example"


def test_a_comma_separated_list_is_split_into_its_endpoints() -> None:
    assert split_endpoints(RING_ALL) == (
        "user/1001@acme.example",
        "user/1002@acme.example",
        "user/1003@acme.example",
    )
    assert split_endpoints("sofia/internal/1001@10.0.0.1:5060") == (
        "sofia/internal/1001@10.0.0.1:5060",
    )
    assert check_dial_string(RING_ALL) == RING_ALL


@pytest.mark.parametrize(
    "endpoint",
    [
        "",
        ",",
        "user/1001@d,",
        ",user/1001@d",
        "user/1001@d,,user/1002@d",
        "user/1001@d, user/1002@d",
        "user/1001@d,user/1002@d &park()",
        "user/1001@d,{origination_uuid=x}user/1002@d",
        "user/1001@d,[sb_agent=x]user/1002@d",
        "user/1001@d,user/'1002'@d",
        "user/1001@d,user/1002@d\nuuid_kill all",
        "user/1001@d|user/1002@d",
        "user/1001@d,<x=y>user/1002@d",
    ],
)
def test_each_element_must_be_a_plain_endpoint(endpoint: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_dial_string(endpoint)
    assert caught.value.error_id == "invalid-endpoint"


def test_too_many_simultaneous_endpoints_are_refused() -> None:
    many = ",".join(f"user/{n}@d" for n in range(MAX_SIMULTANEOUS_ENDPOINTS + 1))
    with pytest.raises(ValidationFailed):
        split_endpoints(many)
    assert len(split_endpoints(many.rsplit(",", 1)[0])) == MAX_SIMULTANEOUS_ENDPOINTS


def test_each_leg_of_a_simultaneous_ring_is_tagged_with_its_endpoint() -> None:
    assert dial_string("user/1001@d") == "user/1001@d"
    assert dial_string("user/1001@d,user/1002@d") == (
        "[sb_endpoint=user/1001@d]user/1001@d,[sb_endpoint=user/1002@d]user/1002@d"
    )
    command = originate_command("user/1001@d,user/1002@d", "&park()", {"sb_tenant": "acme"})
    assert command == (
        "originate {sb_tenant=acme}"
        "[sb_endpoint=user/1001@d]user/1001@d,[sb_endpoint=user/1002@d]user/1002@d &park()"
    )


class RacingFreeSwitch:
    """Answers a simultaneous originate with the leg of `winner` (or fails with `error`)."""

    def __init__(self, winner: str = "", error: str = "") -> None:
        self.winner = winner
        self.error = error
        self.commands: list[str] = []
        self.legs: dict[str, str] = {}

    async def api(self, command: str) -> str:
        self.commands.append(command)
        if command.startswith("uuid_getvar "):
            _, leg, variable = command.split(" ")
            return self.legs.get(leg, "_undef_") if variable == "sb_endpoint" else "_undef_"
        return "+OK"

    async def bgapi(self, command: str, timeout_s: float) -> str:
        self.commands.append(command)
        await asyncio.sleep(0)
        if self.error:
            return f"-ERR {self.error}\n"
        leg = "leg-of-" + self.winner.split("/")[1].split("@")[0]
        self.legs[leg] = self.winner
        return f"+OK {leg}\n"

    async def execute(self, call_id: str, application: str, argument: str, event_uuid: str) -> str:
        return "+OK"


class Discard:
    def submit(self, event: TenantEvent) -> None:
        del event


def service_with_caller(freeswitch: RacingFreeSwitch) -> SwitchService:
    service = SwitchService("fs1", freeswitch, Discard())
    service.on_esl_event("CHANNEL_CREATE", {"Unique-ID": "A", "variable_sb_tenant": "acme"})
    service.on_esl_event("CHANNEL_PARK", {"Unique-ID": "A"})
    return service


async def test_ring_all_bridge_connects_the_winning_leg_and_names_its_endpoint() -> None:
    freeswitch = RacingFreeSwitch(winner="user/1002@acme.example")
    service = service_with_caller(freeswitch)
    result = await service.bridge("acme", "A", RING_ALL, 20, {"sb_queue": "q1"})
    assert result.outcome == "answered"
    assert result.agent_call_id == "leg-of-1002"
    assert result.answered_endpoint == "user/1002@acme.example"
    assert "uuid_bridge A leg-of-1002" in freeswitch.commands
    originate = freeswitch.commands[0]
    # one origination_uuid cannot name several legs: the answered leg's id comes from +OK
    assert "origination_uuid" not in originate
    assert "[sb_endpoint=user/1003@acme.example]user/1003@acme.example &park()" in originate


async def test_single_endpoint_bridge_names_it_without_asking_freeswitch() -> None:
    freeswitch = RacingFreeSwitch(winner="user/1001@acme.example")
    service = service_with_caller(freeswitch)
    freeswitch.winner = "user/1001@acme.example"
    result = await service.bridge("acme", "A", "user/1001@acme.example", 20, {})
    assert result.answered_endpoint == "user/1001@acme.example"
    assert "origination_uuid=" in freeswitch.commands[0]
    assert not any(c.startswith("uuid_getvar") for c in freeswitch.commands)


@pytest.mark.parametrize(
    ("cause", "outcome"),
    [("USER_BUSY", "busy"), ("NO_ANSWER", "no_answer"), ("USER_NOT_REGISTERED", "failed")],
)
async def test_ring_all_nobody_answering_maps_the_cause(cause: str, outcome: str) -> None:
    freeswitch = RacingFreeSwitch(error=cause)
    service = service_with_caller(freeswitch)
    result = await service.bridge("acme", "A", RING_ALL, 20, {})
    assert (result.outcome, result.cause, result.agent_call_id) == (outcome, cause, "")
    assert result.answered_endpoint == ""
    assert not any(c.startswith("uuid_bridge") for c in freeswitch.commands)
