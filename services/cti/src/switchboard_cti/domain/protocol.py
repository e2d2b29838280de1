"""The desktop WebSocket protocol: JSON commands in, typed models out.

A command is one JSON object: `{"id": "<request id>", "cmd": "<name>", ...arguments}`.
Every command gets exactly one reply `{"type": "reply", "id": ..., "ok": true, "result": {}}`
or `{"type": "reply", "id": ..., "ok": false, "error": {"error", "message", "details"}}`.
Anything that is not a well-formed command gets a reply with `malformed-message` naming the
field at fault (and the request id, when one could be read). Pushes from the server carry a
`type` (hello, state, pop, card, call, call_ended, takeover, agent, snapshot...).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from switchboard_common.errors import ValidationFailed
from switchboard_common.events.agents import AgentState

MAX_MESSAGE_BYTES = 16_384
C = TypeVar("C")
RequestId = Annotated[str, Field(min_length=1, max_length=64)]
CallIdArg = Annotated[str | None, Field(default=None, min_length=1, max_length=128)]
Target = Annotated[str, Field(min_length=1, max_length=128)]
TargetKindArg = Literal["agent", "queue", "number"]


class MalformedMessage(ValidationFailed):
    error_id = "malformed-message"


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RequestId


class Ping(_Command):
    cmd: Literal["ping"]


class SetState(_Command):
    cmd: Literal["set_state"]
    state: Literal[AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.LOGGED_OUT]
    reason: str = Field(default="", max_length=40)


class Answer(_Command):
    cmd: Literal["answer"]
    call_id: CallIdArg


class Hangup(_Command):
    cmd: Literal["hangup"]
    call_id: CallIdArg


class Hold(_Command):
    cmd: Literal["hold", "unhold"]
    call_id: CallIdArg


class Mute(_Command):
    cmd: Literal["mute", "unmute"]
    call_id: CallIdArg


class Transfer(_Command):
    """Blind transfer of the customer to an agent, a queue or a number."""

    cmd: Literal["transfer"]
    call_id: CallIdArg
    target_kind: TargetKindArg
    target: Target


class Consult(_Command):
    """Put the customer on hold and call the target (consult transfer, first step)."""

    cmd: Literal["consult"]
    call_id: CallIdArg
    target_kind: TargetKindArg
    target: Target


class ConsultStep(_Command):
    cmd: Literal["consult_complete", "consult_swap", "consult_cancel"]
    call_id: CallIdArg


class Conference(_Command):
    """Three-way call: merge the consulted party, or call `target` and merge it."""

    cmd: Literal["conference"]
    call_id: CallIdArg
    target_kind: TargetKindArg | None = None
    target: Target | None = None


class Dtmf(_Command):
    cmd: Literal["dtmf"]
    call_id: CallIdArg
    digits: str = Field(min_length=1, max_length=32)


class Record(_Command):
    cmd: Literal["record"]
    call_id: CallIdArg
    action: Literal["start", "stop", "pause", "resume"]


class WrapUp(_Command):
    cmd: Literal["wrap_up"]
    disposition: str = Field(default="", max_length=40)
    notes: str = Field(default="", max_length=4000)
    next_state: Literal[AgentState.AVAILABLE, AgentState.NOT_READY] = AgentState.AVAILABLE
    reason: str = Field(default="", max_length=40)


class CreateTicket(_Command):
    cmd: Literal["create_ticket"]
    call_id: CallIdArg
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    category: str = Field(default="general", max_length=64)
    urgency: Literal["high", "medium", "low"] = "medium"
    impact: Literal["high", "medium", "low"] = "medium"


class ForceState(_Command):
    cmd: Literal["force_state"]
    agent_id: Target
    state: Literal[AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.LOGGED_OUT]
    reason: str = Field(default="", max_length=40)


class Eavesdrop(_Command):
    cmd: Literal["eavesdrop"]
    agent_id: Target
    mode: Literal["listen", "whisper", "barge"]
    endpoint: str = Field(min_length=1, max_length=256, description="supervisor's phone")


AgentCommand = Annotated[
    Ping
    | SetState
    | Answer
    | Hangup
    | Hold
    | Mute
    | Transfer
    | Consult
    | ConsultStep
    | Conference
    | Dtmf
    | Record
    | WrapUp
    | CreateTicket,
    Field(discriminator="cmd"),
]
SupervisorCommand = Annotated[Ping | ForceState | Eavesdrop, Field(discriminator="cmd")]

AGENT_COMMANDS: TypeAdapter[AgentCommand] = TypeAdapter(AgentCommand)
SUPERVISOR_COMMANDS: TypeAdapter[SupervisorCommand] = TypeAdapter(SupervisorCommand)


def _field(loc: tuple[int | str, ...]) -> str:
    # Discriminated unions put the tag first (`hold.call_id`); the tag is not a field.
    parts = [str(part) for part in loc]
    if len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "cmd"


def parse_message(raw: str | bytes, adapter: TypeAdapter[C]) -> tuple[str | None, C]:
    """(request id, command); MalformedMessage (with the id in details, if any) otherwise."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(
            f"message larger than {MAX_MESSAGE_BYTES} bytes",
            field="message",
            details={"max_bytes": MAX_MESSAGE_BYTES},
        )
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedMessage("message is not JSON", field="message") from None
    if not isinstance(data, dict):
        raise MalformedMessage("message is not a JSON object", field="message")
    raw_id = data.get("id")
    request_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 64 else None
    if "cmd" not in data:
        raise MalformedMessage("missing cmd", field="cmd", details={"id": request_id})
    try:
        return request_id, adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = _field(tuple(first.get("loc", ())))
        if first.get("type") == "union_tag_invalid":
            field = "cmd"
        raise MalformedMessage(
            f"{field}: {first.get('msg', 'invalid')}",
            field=field,
            details={"id": request_id},
        ) from None
