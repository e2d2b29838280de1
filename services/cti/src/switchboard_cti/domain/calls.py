"""An agent's call as the desktop controls it, and the rules its controls follow.

`AgentCall.call_id` is the customer's leg (what routing offered); `agent_leg_id` the leg to
the agent's phone, learnt from the bridge. A consultation adds a third leg; the agent, the
customer and the consulted party then share a conference room, and hold decides who hears
whom (swap), until the agent completes (leaves the two others together) or cancels.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

import phonenumbers

from switchboard_common.errors import NotFound, PreconditionFailed, ValidationFailed

TargetKind = Literal["agent", "queue", "number"]
RecordingState = Literal["off", "on", "paused"]
RecordAction = Literal["start", "stop", "pause", "resume"]
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,32}$")


class CallPhase(StrEnum):
    RINGING = "ringing"
    TALKING = "talking"


class CallNotHeld(NotFound):
    """A command names a call this agent does not hold."""

    error_id = "no-such-call"


class CallStateConflict(PreconditionFailed):
    error_id = "call-state-conflict"


@dataclass(frozen=True, slots=True)
class TransferTarget:
    kind: TargetKind
    value: str


@dataclass(slots=True)
class ConsultLeg:
    call_id: str
    target: TransferTarget
    room: str
    talking_to_consult: bool = True


@dataclass(slots=True)
class AgentCall:
    call_id: str
    node_id: str
    queue_id: str | None = None
    caller_number: str = ""
    offered_at: float = 0.0
    answered_at: float | None = None
    reservation_id: str = ""
    agent_leg_id: str | None = None
    held: bool = False
    muted: bool = False
    recording: RecordingState = "off"
    consult: ConsultLeg | None = None
    conference_room: str | None = None
    conference_legs: list[str] = field(default_factory=list)
    internal_from: str = ""
    """A colleague's consultation or conference leg (`call_id` is this agent's phone): the
    agent id who called; no queue, no wrap-up."""

    @property
    def phase(self) -> CallPhase:
        return CallPhase.TALKING if self.answered_at is not None else CallPhase.RINGING

    def legs(self) -> set[str]:
        """Every leg whose events concern this call."""
        found = {self.call_id}
        if self.agent_leg_id:
            found.add(self.agent_leg_id)
        if self.consult is not None:
            found.add(self.consult.call_id)
        found.update(self.conference_legs)
        return found

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentCall:
        values = {k: v for k, v in data.items() if k != "phase"}
        consult = values.pop("consult", None)
        call = cls(**values)
        if consult is not None:
            target = TransferTarget(**consult.pop("target"))
            call.consult = ConsultLeg(target=target, **consult)
        return call


def require_call(call: AgentCall | None, call_id: str | None) -> AgentCall:
    """The agent's call, if `call_id` names it (or is omitted); 404 `no-such-call` else."""
    if call is None or (call_id and call_id not in (call.call_id, call.agent_leg_id)):
        raise CallNotHeld(
            f"the agent holds no call {call_id}" if call_id else "the agent holds no call",
            details={"field": "call_id", "call_id": call_id},
        )
    return call


def require_talking(call: AgentCall, action: str) -> None:
    if call.phase is not CallPhase.TALKING:
        raise CallStateConflict(
            f"cannot {action}: the call is not answered yet",
            details={"field": "call_id", "phase": call.phase.value},
        )


def check_hold(call: AgentCall, on: bool) -> None:
    require_talking(call, "hold" if on else "unhold")
    if call.consult is not None:
        raise CallStateConflict(
            "use swap while a consultation is in progress", details={"field": "cmd"}
        )
    if call.held == on:
        raise CallStateConflict(
            "the call is already on hold" if on else "the call is not on hold",
            details={"field": "call_id", "held": call.held},
        )


def check_no_consult(call: AgentCall, action: str) -> None:
    require_talking(call, action)
    if call.consult is not None:
        raise CallStateConflict(
            f"cannot {action}: a consultation is in progress",
            details={"field": "cmd", "consult_call_id": call.consult.call_id},
        )


def require_consult(call: AgentCall, action: str) -> ConsultLeg:
    if call.consult is None:
        raise CallStateConflict(
            f"cannot {action}: no consultation in progress", details={"field": "cmd"}
        )
    return call.consult


def check_dtmf(digits: str) -> str:
    if not _DTMF.match(digits):
        raise ValidationFailed(
            "digits: 1 to 32 of 0-9, *, #, A-D", field="digits", error_id="invalid-dtmf"
        )
    return digits.upper()


def next_recording_state(current: RecordingState, action: RecordAction) -> RecordingState:
    """The recording state after `action`; 409 `call-state-conflict` when it makes no sense."""
    allowed: dict[RecordAction, tuple[tuple[RecordingState, ...], RecordingState]] = {
        "start": (("off",), "on"),
        "stop": (("on", "paused"), "off"),
        "pause": (("on",), "paused"),
        "resume": (("paused",), "on"),
    }
    sources, result = allowed[action]
    if current not in sources:
        raise CallStateConflict(
            f"cannot {action} recording: it is {current}",
            details={"field": "action", "recording": current},
        )
    return result


def normalise_number(number: str, default_region: str = "US") -> str:
    """A transfer number in E.164; 422 `invalid-transfer-target` when it is not one."""
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise ValidationFailed(
            f"{number!r} is not a phone number",
            field="target",
            error_id="invalid-transfer-target",
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def conference_room(prefix: str, call_id: str) -> str:
    """A room name the switch accepts (letters, digits, - and _)."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", call_id)[:24]
    return f"{prefix}-{cleaned}"
