"""The vocabulary between the interpreter and its adapter: call context, effects, inputs, steps.

An adapter performs a step's effects in order, then feeds the input the step waits for back
into `Interpreter.resume`. Everything here is a plain value; nothing performs I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from switchboard_common.events.envelope import EventPayload
from switchboard_common.events.ivr import IvrExitReason, IvrPhase, SurveyAnswer
from switchboard_ivr.domain.model import Flow, Scalar

WaitFor = Literal["digits", "http_response", "record_result", "call_ended", "nothing"]
RunStatus = Literal["running", "handed_over", "finished"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the adapter knows about the call when the run starts."""

    tenant_id: str
    call_id: str
    caller_number: str
    called_number: str = ""
    caller_name: str = ""
    language: str = "en"
    timezone: str = "UTC"
    crm: Mapping[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    webhook_secret: str = ""
    flow_version: int | None = None


# ---------------------------------------------------------------- playback


@dataclass(frozen=True, slots=True)
class PlaybackItem:
    """One logical thing to play (`prompt:welcome`, `say:number:42`) and its files."""

    label: str
    files: tuple[str, ...]


def file_string(items: tuple[PlaybackItem, ...]) -> str:
    """All files of the items as one FreeSWITCH playback argument."""
    files = [file for item in items for file in item.files]
    if len(files) == 1:
        return files[0]
    return "file_string://" + "!".join(files)


# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Answer:
    pass


@dataclass(frozen=True, slots=True)
class Play:
    items: tuple[PlaybackItem, ...]
    language: str


@dataclass(frozen=True, slots=True)
class PlayAndGetDigits:
    """One attempt of FreeSWITCH play_and_get_digits (the interpreter counts retries itself).

    The media layer plays `invalid_prompt` when the entry is refused by `accepts` (length or
    regex) and reports what was typed as DigitsCollected; silence is reported as Timeout.
    """

    min_digits: int
    max_digits: int
    tries: int
    timeout_ms: int
    digit_timeout_ms: int
    terminators: str
    prompt: tuple[PlaybackItem, ...]
    invalid_prompt: tuple[PlaybackItem, ...]
    regex: str
    language: str

    def accepts(self, digits: str) -> bool:
        return digits_accepted(digits, self.min_digits, self.max_digits, self.regex)


def digits_accepted(digits: str, min_digits: int, max_digits: int, regex: str) -> bool:
    """The media layer's own check of an entry: its length, then the regex on all of it."""
    return min_digits <= len(digits) <= max_digits and re.fullmatch(regex, digits) is not None


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: Literal["POST"]
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Hand the call to routing; `returns_after_agent` keeps the caller on the line when
    the agent hangs up, for the flow's post-call nodes (a survey)."""

    queue_id: str
    priority: int
    skills: tuple[str, ...]
    variables: Mapping[str, Scalar]
    returns_after_agent: bool = False


@dataclass(frozen=True, slots=True)
class RecordVoicemail:
    mailbox: str
    max_length_s: int
    greeting: tuple[PlaybackItem, ...]
    beep: bool
    language: str


@dataclass(frozen=True, slots=True)
class Transfer:
    destination: str
    caller_id: str | None


@dataclass(frozen=True, slots=True)
class Hangup:
    cause: str


@dataclass(frozen=True, slots=True)
class EmitEvent:
    """Publish this payload (the notifier adds the envelope; subject is the call id)."""

    payload: EventPayload


@dataclass(frozen=True, slots=True)
class SetVariables:
    """Flow variables that changed; the adapter mirrors them as channel variables."""

    values: Mapping[str, Scalar]


Effect = (
    Answer
    | Play
    | PlayAndGetDigits
    | HttpRequest
    | Enqueue
    | RecordVoicemail
    | Transfer
    | Hangup
    | EmitEvent
    | SetVariables
)


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class DigitsCollected:
    digits: str


@dataclass(frozen=True, slots=True)
class Timeout:
    pass


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes | str


@dataclass(frozen=True, slots=True)
class HttpFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingDone:
    path: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    pass


@dataclass(frozen=True, slots=True)
class AgentCallEnded:
    agent_id: str | None = None


Input = (
    DigitsCollected
    | Timeout
    | HttpResponse
    | HttpFailed
    | RecordingDone
    | CallerHungUp
    | AgentCallEnded
)

ACCEPTED_INPUTS: dict[WaitFor, tuple[type, ...]] = {
    "digits": (DigitsCollected, Timeout),
    "http_response": (HttpResponse, HttpFailed, Timeout),
    "record_result": (RecordingDone,),
    "call_ended": (AgentCallEnded,),
    "nothing": (),
}
"""Inputs each wait accepts; CallerHungUp is accepted by every unfinished run."""


# ---------------------------------------------------------------- state and steps


@dataclass(frozen=True, slots=True)
class StepWarning:
    """Something the adapter should log (a missing prompt file, an unusable webhook answer)."""

    code: str
    node: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class RunOutcome:
    exit_reason: IvrExitReason
    last_node: str | None
    phase: IvrPhase
    hangup_cause: str | None = None
    queue_id: str | None = None
    transferred_to: str | None = None


@dataclass(slots=True)
class RunState:
    """Where one call is in its flow. Treat as a value: `resume` never changes its argument."""

    flow: Flow
    context: CallContext
    node_id: str
    variables: dict[str, Scalar]
    now: datetime
    path: tuple[str, ...] = ()
    steps: int = 0
    status: RunStatus = "running"
    waiting_for: WaitFor = "nothing"
    phase: IvrPhase = "ivr"
    answered: bool = False
    attempt: int = 0
    stage: int = 0
    pending_number: str | None = None
    answers: tuple[SurveyAnswer, ...] = ()
    queue_id: str | None = None
    agent_id: str | None = None
    outcome: RunOutcome | None = None

    def copy(self) -> RunState:
        return replace(self, variables=dict(self.variables))


@dataclass(frozen=True, slots=True)
class Step:
    """The interpreter's answer: the new state, effects to perform in order, warnings."""

    state: RunState
    effects: tuple[Effect, ...]
    warnings: tuple[StepWarning, ...] = ()

    @property
    def waiting_for(self) -> WaitFor:
        return self.state.waiting_for

    @property
    def finished(self) -> bool:
        return self.state.status == "finished"

    @property
    def outcome(self) -> RunOutcome | None:
        return self.state.outcome

    @property
    def events(self) -> tuple[EventPayload, ...]:
        return tuple(effect.payload for effect in self.effects if isinstance(effect, EmitEvent))
