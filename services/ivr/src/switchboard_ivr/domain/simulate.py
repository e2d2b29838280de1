"""The flow tester: run a flow with scripted caller input through the real interpreter.

`simulate` plays the adapter's part with canned answers: DTMF entries in order, stubbed
webhook answers per node, a recording for voicemail, and the agent hanging up after a queue.
It backs `POST /v1/flows/{id}/simulate` and the CLI, so what it shows is what a call does.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from switchboard_common.events.envelope import EventPayload
from switchboard_ivr.domain.interpreter import Interpreter
from switchboard_ivr.domain.model import Flow
from switchboard_ivr.domain.ports import (
    BlacklistPort,
    CalendarPort,
    PromptCatalog,
    StaticBlacklist,
    TemplatePromptCatalog,
)
from switchboard_ivr.domain.runtime import (
    AgentCallEnded,
    CallContext,
    CallerHungUp,
    DigitsCollected,
    Effect,
    EmitEvent,
    HttpFailed,
    HttpResponse,
    Input,
    Play,
    PlayAndGetDigits,
    RecordingDone,
    RecordVoicemail,
    RunOutcome,
    Step,
    StepWarning,
    Timeout,
)

HANG_UP: Final = "hangup"
"""A DTMF script entry meaning: the caller hangs up here. `None` means: the caller is silent."""

HttpStub = HttpResponse | HttpFailed | Mapping[str, Any]
"""A canned webhook answer; a mapping is a 200 answer with that JSON body."""


@dataclass(frozen=True, slots=True)
class SimulationResult:
    path: list[str]
    prompts: list[str]
    events: list[EventPayload]
    outcome: RunOutcome | None
    effects: list[Effect] = field(default_factory=list)
    warnings: list[StepWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (events as `{"type", "data"}`)."""
        outcome = self.outcome
        return {
            "path": list(self.path),
            "prompts": list(self.prompts),
            "events": [
                {"type": event.EVENT_TYPE, "data": event.model_dump(mode="json")}
                for event in self.events
            ],
            "outcome": None
            if outcome is None
            else {
                "exit_reason": outcome.exit_reason,
                "last_node": outcome.last_node,
                "phase": outcome.phase,
                "hangup_cause": outcome.hangup_cause,
                "queue_id": outcome.queue_id,
                "transferred_to": outcome.transferred_to,
            },
            "warnings": [
                {"code": w.code, "node": w.node, "detail": w.detail} for w in self.warnings
            ],
        }


class _Recorder:
    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.events: list[EventPayload] = []
        self.effects: list[Effect] = []
        self.warnings: list[StepWarning] = []

    def record(self, step: Step) -> None:
        self.effects += step.effects
        self.warnings += step.warnings
        for effect in step.effects:
            if isinstance(effect, Play | PlayAndGetDigits):
                items = effect.items if isinstance(effect, Play) else effect.prompt
                self.prompts += [item.label for item in items]
            elif isinstance(effect, RecordVoicemail):
                self.prompts += [item.label for item in effect.greeting]
            elif isinstance(effect, EmitEvent):
                self.events.append(effect.payload)


def _digits_input(step: Step, script: deque[str | None], recorder: _Recorder) -> Input:
    if not script:
        return CallerHungUp()
    entry = script.popleft()
    if entry == HANG_UP:
        return CallerHungUp()
    if not entry:
        return Timeout()
    request = next(e for e in reversed(step.effects) if isinstance(e, PlayAndGetDigits))
    digits = entry
    for terminator in request.terminators:
        digits = digits.removesuffix(terminator)
    if not request.accepts(digits):
        recorder.prompts += [item.label for item in request.invalid_prompt]
    return DigitsCollected(digits)


def _http_input(node_id: str, stubs: Mapping[str, HttpStub]) -> Input:
    stub = stubs.get(node_id)
    if stub is None:
        return HttpFailed("no stubbed answer for this node")
    if isinstance(stub, HttpResponse | HttpFailed):
        return stub
    return HttpResponse(200, json.dumps(dict(stub)))


def simulate(
    flow: Flow,
    caller_number: str,
    at_time: datetime,
    dtmf_inputs: Sequence[str | None],
    http_stub_answers: Mapping[str, HttpStub],
    calendar: CalendarPort,
    crm: Mapping[str, Any],
    *,
    prompts: PromptCatalog | None = None,
    blacklist: BlacklistPort | None = None,
    tenant_id: str = "simulation",
    called_number: str = "",
    language: str = "en",
    timezone: str = "UTC",
    webhook_url: str | None = "https://webhook.invalid/ivr",
    webhook_secret: str = "simulation",
    recording_ms: int = 15_000,
    agent_hangs_up_first: bool = True,
) -> SimulationResult:
    """Run `flow` for one scripted call.

    `dtmf_inputs` are the caller's entries in order (`None`: silence until the timeout,
    `HANG_UP`: hang up); when they run out the caller hangs up at the next question.
    `http_stub_answers` are keyed by http node id (a missing stub is a failed request).
    After a queue node with a post-call target the agent hangs up first when
    `agent_hangs_up_first`, so the post-call part runs; otherwise the caller does.
    """
    interpreter = Interpreter(
        calendar=calendar,
        blacklist=blacklist or StaticBlacklist(),
        prompts=prompts or TemplatePromptCatalog(),
    )
    context = CallContext(
        tenant_id=tenant_id,
        call_id="simulation",
        caller_number=caller_number,
        called_number=called_number,
        language=language,
        timezone=timezone,
        crm=crm,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    )
    recorder = _Recorder()
    script: deque[str | None] = deque(dtmf_inputs)
    step = interpreter.start(flow, context, at_time)
    recorder.record(step)
    while not step.finished:
        waiting = step.waiting_for
        event: Input
        if waiting == "digits":
            event = _digits_input(step, script, recorder)
        elif waiting == "http_response":
            event = _http_input(step.state.node_id, http_stub_answers)
        elif waiting == "record_result":
            event = RecordingDone(f"simulation/{step.state.node_id}.wav", recording_ms)
        elif waiting == "call_ended" and agent_hangs_up_first:
            event = AgentCallEnded("simulated-agent")
        else:
            event = CallerHungUp()
        step = interpreter.resume(step.state, event)
        recorder.record(step)
    return SimulationResult(
        path=list(step.state.path),
        prompts=recorder.prompts,
        events=recorder.events,
        outcome=step.outcome,
        effects=recorder.effects,
        warnings=recorder.warnings,
    )
