"""The IVR interpreter: a pure state machine over a flow.

`start(flow, context, now)` and `resume(state, input, now)` return a `Step`: the new state,
the effects the adapter must perform in order, and what input the run now waits for. Node
handlers run until a node needs something from outside (digits, a webhook answer, a
recording, the end of the agent's call) or the run ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from switchboard_common.errors import PreconditionFailed, ValidationFailed
from switchboard_common.events.envelope import EventPayload
from switchboard_common.events.ivr import (
    CallbackRequested,
    IvrCompleted,
    IvrExitReason,
    IvrNodeEntered,
    IvrStarted,
    SurveyAnswer,
    SurveyCompleted,
    VoicemailLeft,
)
from switchboard_ivr.domain.conditions import holds, render
from switchboard_ivr.domain.model import (
    BUILTIN_VARIABLES,
    AnswerNode,
    BlacklistNode,
    BranchNode,
    CallbackNode,
    CollectNode,
    Flow,
    HangupNode,
    HttpNode,
    MenuNode,
    PlayItem,
    PlayNode,
    PromptItem,
    QueueNode,
    SayItem,
    ScheduleNode,
    SetNode,
    SilenceItem,
    SurveyNode,
    SurveyQuestion,
    TransferNode,
    VoicemailNode,
    is_e164,
)
from switchboard_ivr.domain.ports import WEEKDAYS, BlacklistPort, CalendarPort, PromptCatalog
from switchboard_ivr.domain.runtime import (
    ACCEPTED_INPUTS,
    AgentCallEnded,
    Answer,
    CallContext,
    CallerHungUp,
    DigitsCollected,
    Effect,
    EmitEvent,
    Enqueue,
    Hangup,
    HttpFailed,
    HttpRequest,
    HttpResponse,
    Input,
    Play,
    PlayAndGetDigits,
    PlaybackItem,
    RecordingDone,
    RecordVoicemail,
    RunOutcome,
    RunState,
    SetVariables,
    Step,
    StepWarning,
    Transfer,
    WaitFor,
    digits_accepted,
)
from switchboard_ivr.domain.say import SAY_LANGUAGES, TONES, SayKind, say_files, silence
from switchboard_ivr.domain.webhook import MISSING, SIGNATURE_HEADER, dotted_get, encode_body, sign

DEFAULT_PROMPT: Final = "ivr/ivr-one_moment_please.wav"
"""Stock FreeSWITCH sound played in place of a tenant prompt that has no file."""

ERROR_CAUSE: Final = "NORMAL_TEMPORARY_FAILURE"
CALLBACK_NUMBER_VARIABLE: Final = "callback_number"


class Interpreter:
    """Runs flows against the tenant's calendar, blacklist and prompt catalog (all in memory)."""

    def __init__(
        self,
        *,
        calendar: CalendarPort,
        blacklist: BlacklistPort,
        prompts: PromptCatalog,
        default_prompt: str = DEFAULT_PROMPT,
    ) -> None:
        self.calendar = calendar
        self.blacklist = blacklist
        self.prompts = prompts
        self.default_prompt = default_prompt

    def start(self, flow: Flow, context: CallContext, now: datetime) -> Step:
        """Begin a run at the flow's start node."""
        _require_aware(now)
        state = RunState(
            flow=flow,
            context=context,
            node_id=flow.start,
            variables=dict(flow.variables),
            now=now,
        )
        run = _Run(self, state)
        run.emit(
            IvrStarted(
                call_id=context.call_id,
                flow_id=flow.id,
                flow_version=context.flow_version,
                caller_number=context.caller_number,
                called_number=context.called_number,
                started_at=now,
            )
        )
        run.go(flow.start)
        return run.drive()

    def resume(self, state: RunState, event: Input, now: datetime | None = None) -> Step:
        """Feed the input the run waits for (or CallerHungUp at any time)."""
        if state.status == "finished":
            raise PreconditionFailed(
                "the IVR run has already finished",
                error_id="ivr-run-finished",
                details={"node": state.node_id},
            )
        if now is not None:
            _require_aware(now)
        work = state.copy()
        work.now = now or state.now
        run = _Run(self, work)
        if isinstance(event, CallerHungUp):
            run.caller_left()
            return run.step()
        if not isinstance(event, ACCEPTED_INPUTS[state.waiting_for]):
            raise ValidationFailed(
                f"{type(event).__name__} does not answer a run waiting for {state.waiting_for}",
                error_id="unexpected-ivr-input",
                field="input",
                details={"waiting_for": state.waiting_for, "node": state.node_id},
            )
        run.handle(event)
        return run.drive()


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValidationFailed("time must carry a time zone", error_id="naive-time", field="now")


class _Run:
    """One call into the interpreter: mutates its private copy of the state, gathers effects."""

    def __init__(self, interpreter: Interpreter, state: RunState) -> None:
        self.interpreter = interpreter
        self.state = state
        self.flow = state.flow
        self.effects: list[Effect] = []
        self.warnings: list[StepWarning] = []
        self.next_node: str | None = None
        self.language = state.flow.language or state.context.language

    # ------------------------------------------------------------ driving

    def step(self) -> Step:
        return Step(self.state, tuple(self.effects), tuple(self.warnings))

    def drive(self) -> Step:
        while self.next_node is not None:
            target, self.next_node = self.next_node, None
            self.enter(target)
        return self.step()

    def go(self, target: str | None) -> None:
        """Continue at `target`; an unset optional target ends the call."""
        if target is None:
            self.finish("hangup", cause="NORMAL_CLEARING")
        else:
            self.next_node = target

    def enter(self, node_id: str) -> None:
        state = self.state
        node = self.flow.node(node_id)
        if node is None:
            self.warn("missing-node", f"target {node_id} does not exist")
            self.finish("error", cause=ERROR_CAUSE)
            return
        if state.steps >= self.flow.max_steps:
            self.warn("max-steps-exceeded", f"stopped after {state.steps} nodes")
            self.finish("error", cause=ERROR_CAUSE)
            return
        state.steps += 1
        state.node_id = node_id
        state.path += (node_id,)
        state.attempt = 0
        state.stage = 0
        state.pending_number = None
        state.answers = ()
        state.waiting_for = "nothing"
        self.emit(
            IvrNodeEntered(
                call_id=state.context.call_id,
                flow_id=self.flow.id,
                flow_version=state.context.flow_version,
                node_id=node_id,
                node_kind=node.kind,
                phase=state.phase,
                entered_at=state.now,
            )
        )
        _ENTER[node.kind](self, node)

    def handle(self, event: Input) -> None:
        state = self.state
        if isinstance(event, AgentCallEnded):
            state.status = "running"
            state.phase = "post_call"
            state.outcome = None
            state.agent_id = event.agent_id
            node = self.flow.node(state.node_id)
            target = node.post_call if isinstance(node, QueueNode) else None
            state.waiting_for = "nothing"
            self.go(target)
            return
        node = self.flow.node(state.node_id)
        if node is None:
            self.finish("error", cause=ERROR_CAUSE)
            return
        state.waiting_for = "nothing"
        _RESUME[node.kind](self, node, event)

    def caller_left(self) -> None:
        state = self.state
        if state.status == "handed_over":
            state.status = "finished"
            state.waiting_for = "nothing"
            return
        node = self.flow.node(state.node_id)
        if isinstance(node, SurveyNode) and state.answers:
            self.emit_survey(node, complete=False)
        self.finish("caller_hung_up", hang_up=False)

    def finish(
        self,
        reason: IvrExitReason,
        *,
        cause: str | None = None,
        hang_up: bool = True,
        queue_id: str | None = None,
        transferred_to: str | None = None,
        hand_over: bool = False,
    ) -> None:
        state = self.state
        self.next_node = None
        if hang_up and cause is not None:
            self.effects.append(Hangup(cause))
        last_node = state.node_id if state.path else None
        self.emit(
            IvrCompleted(
                call_id=state.context.call_id,
                flow_id=self.flow.id,
                flow_version=state.context.flow_version,
                exit_reason=reason,
                last_node=last_node,
                phase=state.phase,
                hangup_cause=cause if hang_up else None,
                queue_id=queue_id,
                transferred_to=transferred_to,
                nodes_visited=state.steps,
                completed_at=state.now,
            )
        )
        state.outcome = RunOutcome(
            exit_reason=reason,
            last_node=last_node,
            phase=state.phase,
            hangup_cause=cause if hang_up else None,
            queue_id=queue_id,
            transferred_to=transferred_to,
        )
        state.status = "handed_over" if hand_over else "finished"
        state.waiting_for = "call_ended" if hand_over else "nothing"

    # ------------------------------------------------------------ helpers

    def emit(self, payload: EventPayload) -> None:
        self.effects.append(EmitEvent(payload))

    def warn(self, code: str, detail: str) -> None:
        node = self.state.node_id if self.state.path else None
        self.warnings.append(StepWarning(code, node, detail))

    def wait(self, what: WaitFor) -> None:
        self.state.waiting_for = what

    def answer(self) -> None:
        if not self.state.answered:
            self.state.answered = True
            self.effects.append(Answer())

    def set_variables(self, values: dict[str, Any]) -> None:
        self.state.variables.update(values)
        self.effects.append(SetVariables(values))

    def lookup(self, name: str) -> Any:
        state = self.state
        if name == "flow_id":
            return self.flow.id
        if name in BUILTIN_VARIABLES:
            return getattr(state.context, name)
        if name.startswith("crm."):
            return dotted_get(state.context.crm, name[4:])
        if name.startswith("time."):
            return self.time_part(name[5:])
        return state.variables.get(name, MISSING)

    def local_now(self) -> datetime:
        try:
            zone = ZoneInfo(self.state.context.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.warn("unknown-timezone", f"{self.state.context.timezone!r}; using UTC")
            zone = ZoneInfo("UTC")
        return self.state.now.astimezone(zone)

    def time_part(self, part: str) -> Any:
        local = self.local_now()
        parts: dict[str, Any] = {
            "hour": local.hour,
            "minute": local.minute,
            "hhmm": local.strftime("%H:%M"),
            "weekday": WEEKDAYS[local.weekday()],
            "date": local.date().isoformat(),
            "day": local.day,
            "month": local.month,
        }
        return parts.get(part, MISSING)

    def prompt(self, prompt_id: str | None) -> tuple[PlaybackItem, ...]:
        if prompt_id is None:
            return ()
        path = self.interpreter.prompts.path_for(prompt_id, self.language)
        if path is None:
            self.warn(
                "prompt-missing",
                f"prompt {prompt_id} has no file for {self.language}; played the default",
            )
            path = self.interpreter.default_prompt
        return (PlaybackItem(f"prompt:{prompt_id}", (path,)),)

    def say_language(self) -> str:
        if self.language in SAY_LANGUAGES:
            return self.language
        self.warn("say-language-unsupported", f"{self.language!r}; said in English")
        return "en"

    def say(self, kind: SayKind, value: Any, currency: str = "USD") -> tuple[PlaybackItem, ...]:
        if value is None or value is MISSING or isinstance(value, bool):
            self.warn("say-value-unusable", f"nothing to say as {kind}")
            return ()
        try:
            files = say_files(kind, value, self.say_language(), currency)
        except ValueError as exc:
            self.warn("say-value-unusable", str(exc))
            return ()
        return (PlaybackItem(f"say:{kind}:{value}", tuple(files)),)

    def playback(self, item: PlayItem) -> tuple[PlaybackItem, ...]:
        if isinstance(item, PromptItem):
            return self.prompt(item.prompt)
        if isinstance(item, SayItem):
            return self.say(item.say, render(item.value, self.lookup), item.currency)
        if isinstance(item, SilenceItem):
            return (PlaybackItem(f"silence:{item.duration_ms}", (silence(item.duration_ms),)),)
        return (PlaybackItem(f"tone:{item.tone}", (TONES[item.tone],)),)

    def ask(
        self,
        spec: _DigitSpec,
        prompt: tuple[PlaybackItem, ...],
        invalid_prompt: str | None,
    ) -> None:
        self.answer()
        self.effects.append(
            PlayAndGetDigits(
                min_digits=spec.min_digits,
                max_digits=spec.max_digits,
                tries=1,
                timeout_ms=spec.timeout_ms,
                digit_timeout_ms=spec.digit_timeout_ms,
                terminators=spec.terminators,
                prompt=prompt,
                invalid_prompt=self.prompt(invalid_prompt),
                regex=spec.regex,
                language=self.language,
            )
        )
        self.wait("digits")

    def retry(
        self,
        *,
        retries: int,
        invalid: bool,
        refused_by_media: bool,
        invalid_prompt: str | None,
        no_input_prompt: str | None = None,
    ) -> tuple[PlaybackItem, ...] | None:
        """Count a failed attempt. None when no attempt is left, else what to play before
        asking again: the invalid prompt (unless the media layer already played it on
        refusing the entry) or the no-input prompt."""
        self.state.attempt += 1
        if self.state.attempt > retries:
            return None
        if invalid:
            return () if refused_by_media else self.prompt(invalid_prompt)
        return self.prompt(no_input_prompt)

    def emit_survey(self, node: SurveyNode, *, complete: bool) -> None:
        state = self.state
        self.emit(
            SurveyCompleted(
                call_id=state.context.call_id,
                flow_id=self.flow.id,
                flow_version=state.context.flow_version,
                survey_id=node.id,
                answers=list(state.answers),
                complete=complete,
                queue_id=state.queue_id,
                agent_id=state.agent_id,
                completed_at=state.now,
            )
        )


@dataclass(frozen=True, slots=True)
class _DigitSpec:
    """What one digits request accepts, independent of the prompts it plays."""

    regex: str
    timeout_ms: int
    min_digits: int = 1
    max_digits: int = 1
    terminators: str = ""
    digit_timeout_ms: int = 3000

    def entry(self, event: DigitsCollected) -> str:
        digits = event.digits
        for terminator in self.terminators:
            digits = digits.removesuffix(terminator)
        return digits

    def accepts(self, entry: str) -> bool:
        return digits_accepted(entry, self.min_digits, self.max_digits, self.regex)


def _entry(spec: _DigitSpec, event: Input) -> str:
    """The caller's entry without terminator; "" for silence."""
    return spec.entry(event) if isinstance(event, DigitsCollected) else ""


# ---------------------------------------------------------------- node kinds


def _enter_answer(run: _Run, node: AnswerNode) -> None:
    run.answer()
    run.go(node.next)


def _enter_play(run: _Run, node: PlayNode) -> None:
    run.answer()
    items = tuple(played for item in node.items for played in run.playback(item))
    if items:
        run.effects.append(Play(items, run.language))
    run.go(node.next)


def _menu_spec(node: MenuNode) -> _DigitSpec:
    keys = "".join(re.escape(key) for key in sorted(node.options))
    return _DigitSpec(regex=f"^[{keys}]$", timeout_ms=node.timeout_ms)


def _ask_menu(run: _Run, node: MenuNode, prefix: tuple[PlaybackItem, ...] = ()) -> None:
    run.ask(_menu_spec(node), prefix + run.prompt(node.prompt), node.invalid_prompt)


def _enter_menu(run: _Run, node: MenuNode) -> None:
    _ask_menu(run, node)


def _resume_menu(run: _Run, node: MenuNode, event: Input) -> None:
    spec = _menu_spec(node)
    entry = _entry(spec, event)
    if entry in node.options:
        run.go(node.options[entry])
        return
    prefix = run.retry(
        retries=node.retries,
        invalid=entry != "",
        refused_by_media=not spec.accepts(entry),
        invalid_prompt=node.invalid_prompt,
        no_input_prompt=node.no_input_prompt,
    )
    if prefix is None:
        run.go(node.default if entry else node.no_input or node.default)
    else:
        _ask_menu(run, node, prefix)


def _collect_spec(node: CollectNode) -> _DigitSpec:
    return _DigitSpec(
        regex=f"^(?:{node.pattern})$" if node.pattern else r"^[0-9*#]+$",
        timeout_ms=node.timeout_ms,
        min_digits=node.min_length,
        max_digits=node.max_length,
        terminators=node.terminator,
        digit_timeout_ms=node.digit_timeout_ms,
    )


def _enter_collect(run: _Run, node: CollectNode, prefix: tuple[PlaybackItem, ...] = ()) -> None:
    run.ask(_collect_spec(node), prefix + run.prompt(node.prompt), node.invalid_prompt)


def _resume_collect(run: _Run, node: CollectNode, event: Input) -> None:
    spec = _collect_spec(node)
    entry = _entry(spec, event)
    if entry and spec.accepts(entry):
        run.set_variables({node.variable: entry})
        run.go(node.next)
        return
    prefix = run.retry(
        retries=node.retries,
        invalid=entry != "",
        refused_by_media=True,
        invalid_prompt=node.invalid_prompt,
    )
    if prefix is None:
        run.go(node.failure)
    else:
        _enter_collect(run, node, prefix)


def _enter_http(run: _Run, node: HttpNode) -> None:
    state = run.state
    context = state.context
    url = node.url or context.webhook_url
    if not url:
        run.warn("webhook-missing", "no URL on the node and no tenant webhook")
        run.go(node.fallback)
        return
    names = node.send if node.send is not None else sorted(state.variables)
    body = encode_body(
        {
            "call_id": context.call_id,
            "tenant_id": context.tenant_id,
            "flow_id": run.flow.id,
            "node_id": node.id,
            "caller_number": context.caller_number,
            "called_number": context.called_number,
            "variables": {name: state.variables.get(name) for name in names},
            "sent_at": state.now.isoformat(),
        }
    )
    headers = [("Content-Type", "application/json"), ("X-Switchboard-Call", context.call_id)]
    if context.webhook_secret:
        headers.append((SIGNATURE_HEADER, sign(body, context.webhook_secret)))
    else:
        run.warn("webhook-unsigned", "the tenant has no webhook secret")
    run.effects.append(HttpRequest("POST", url, tuple(headers), body, node.timeout_ms))
    run.wait("http_response")


def _answer_values(node: HttpNode, event: HttpResponse) -> dict[str, Any] | str:
    """The mapped variables, or why the answer cannot be used."""
    if not 200 <= event.status < 300:
        return f"status {event.status}"
    if not node.map:
        return {}
    try:
        data = json.loads(event.body)
    except ValueError:
        return "the answer is not JSON"
    values: dict[str, Any] = {}
    for variable, path in node.map.items():
        value = dotted_get(data, path)
        if value is MISSING:
            return f"the answer has no {path}"
        if isinstance(value, dict | list):
            return f"{path} is not a single value"
        values[variable] = value
    return values


def _resume_http(run: _Run, node: HttpNode, event: Input) -> None:
    if isinstance(event, HttpResponse):
        values = _answer_values(node, event)
        if isinstance(values, dict):
            if values:
                run.set_variables(values)
            run.go(node.next)
            return
        run.warn("webhook-answer-unusable", values)
    elif isinstance(event, HttpFailed):
        run.warn("webhook-failed", event.reason)
    else:
        run.warn("webhook-failed", "timeout")
    run.go(node.fallback)


def _enter_branch(run: _Run, node: BranchNode) -> None:
    for case in node.cases:
        if holds(case.when, run.lookup):
            run.go(case.target)
            return
    run.go(node.default)


def _enter_schedule(run: _Run, node: ScheduleNode) -> None:
    state = run.interpreter.calendar.is_open(node.calendar, run.local_now())
    if state == "open":
        run.go(node.open)
    elif state == "holiday":
        run.go(node.holiday or node.closed)
    else:
        run.go(node.closed)


def _enter_set(run: _Run, node: SetNode) -> None:
    run.set_variables({name: render(value, run.lookup) for name, value in node.values.items()})
    run.go(node.next)


def _enter_queue(run: _Run, node: QueueNode) -> None:
    run.answer()
    state = run.state
    state.queue_id = node.queue
    run.effects.append(
        Enqueue(
            node.queue,
            node.priority,
            tuple(node.skills),
            dict(state.variables),
            returns_after_agent=node.post_call is not None,
        )
    )
    run.finish("queued", queue_id=node.queue, hand_over=node.post_call is not None)


def _enter_voicemail(run: _Run, node: VoicemailNode) -> None:
    run.answer()
    run.effects.append(
        RecordVoicemail(
            node.mailbox, node.max_length_s, run.prompt(node.greeting), node.beep, run.language
        )
    )
    run.wait("record_result")


def _resume_voicemail(run: _Run, node: VoicemailNode, event: Input) -> None:
    state = run.state
    if isinstance(event, RecordingDone) and event.path and event.duration_ms > 0:
        run.emit(
            VoicemailLeft(
                call_id=state.context.call_id,
                flow_id=run.flow.id,
                flow_version=state.context.flow_version,
                mailbox=node.mailbox,
                caller_number=state.context.caller_number,
                recording_path=event.path,
                duration_ms=event.duration_ms,
                open_ticket=node.open_ticket,
                notify=list(node.notify),
                left_at=state.now,
            )
        )
    else:
        run.warn("voicemail-empty", "the caller left no message")
    if node.next is None:
        run.finish("voicemail", cause="NORMAL_CLEARING")
    else:
        run.go(node.next)


_CALLBACK_ENTRY = _DigitSpec(
    regex=r"^\d{6,16}$", timeout_ms=8000, min_digits=6, max_digits=16, terminators="#"
)


def _callback_entry_spec(node: CallbackNode) -> _DigitSpec:
    return replace(_CALLBACK_ENTRY, timeout_ms=node.timeout_ms)


def _callback_confirm_spec(node: CallbackNode) -> _DigitSpec:
    return _DigitSpec(regex="^[12]$", timeout_ms=node.timeout_ms)


def callback_number(entry: str, country: str) -> str | None:
    """The E.164 form of a number typed on the keypad (national, or 00 + international)."""
    text = "+" + entry[2:] if entry.startswith("00") else entry
    try:
        parsed = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _readback_digits(number: str, country: str) -> str:
    parsed = phonenumbers.parse(number, None)
    if phonenumbers.region_code_for_number(parsed) == country:
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        return "".join(char for char in national if char.isdigit())
    return number.lstrip("+")


def _ask_callback(run: _Run, node: CallbackNode, prefix: tuple[PlaybackItem, ...] = ()) -> None:
    state = run.state
    if state.stage == 0:
        run.ask(_callback_entry_spec(node), prefix + run.prompt(node.prompt), node.invalid_prompt)
        return
    number = state.pending_number or ""
    readback = (
        run.prompt(node.readback_prompt)
        + run.say("digits", _readback_digits(number, node.country))
        + run.prompt(node.confirm_prompt)
    )
    run.ask(_callback_confirm_spec(node), prefix + readback, node.invalid_prompt)


def _enter_callback(run: _Run, node: CallbackNode) -> None:
    caller = run.state.context.caller_number
    if node.offer_caller_number and is_e164(caller):
        run.state.stage = 1
        run.state.pending_number = caller
    _ask_callback(run, node)


def _resume_callback(run: _Run, node: CallbackNode, event: Input) -> None:
    state = run.state
    entering = state.stage == 0
    spec = _callback_entry_spec(node) if entering else _callback_confirm_spec(node)
    entry = _entry(spec, event)
    accepted = entry != "" and spec.accepts(entry)
    if accepted and entering:
        number = callback_number(entry, node.country)
        if number is not None:
            state.stage, state.pending_number = 1, number
            _ask_callback(run, node)
            return
    elif accepted and entry == "1":
        number = state.pending_number or ""
        run.emit(
            CallbackRequested(
                call_id=state.context.call_id,
                flow_id=run.flow.id,
                flow_version=state.context.flow_version,
                callback_number=number,
                caller_number=state.context.caller_number,
                queue_id=node.queue,
                requested_at=state.now,
            )
        )
        run.set_variables({CALLBACK_NUMBER_VARIABLE: number})
        run.go(node.next)
        return
    elif accepted:
        state.stage, state.pending_number = 0, None
    prefix = run.retry(
        retries=node.retries,
        invalid=entry != "" and not (accepted and entry == "2"),
        refused_by_media=not accepted,
        invalid_prompt=node.invalid_prompt,
    )
    if prefix is None:
        run.go(node.failure)
    else:
        _ask_callback(run, node, prefix)


def _question_spec(node: SurveyNode, question: SurveyQuestion) -> _DigitSpec:
    return _DigitSpec(
        regex="^[1-5]$" if question.kind == "scale" else "^[12]$", timeout_ms=node.timeout_ms
    )


def _ask_question(run: _Run, node: SurveyNode, prefix: tuple[PlaybackItem, ...] = ()) -> None:
    state = run.state
    question = node.questions[state.stage]
    intro = run.prompt(node.intro) if state.stage == 0 and state.attempt == 0 else ()
    run.ask(
        _question_spec(node, question),
        prefix + intro + run.prompt(question.prompt),
        node.invalid_prompt,
    )


def _enter_survey(run: _Run, node: SurveyNode) -> None:
    _ask_question(run, node)


def _resume_survey(run: _Run, node: SurveyNode, event: Input) -> None:
    state = run.state
    question = node.questions[state.stage]
    spec = _question_spec(node, question)
    entry = _entry(spec, event)
    value: int | bool | None
    if entry and spec.accepts(entry):
        value = int(entry) if question.kind == "scale" else entry == "1"
    else:
        prefix = run.retry(
            retries=node.retries,
            invalid=entry != "",
            refused_by_media=True,
            invalid_prompt=node.invalid_prompt,
        )
        if prefix is not None:
            _ask_question(run, node, prefix)
            return
        value = None
    state.answers += (SurveyAnswer(question_id=question.id, kind=question.kind, value=value),)
    state.stage += 1
    state.attempt = 0
    if state.stage < len(node.questions):
        _ask_question(run, node)
        return
    run.emit_survey(node, complete=True)
    thanks = run.prompt(node.thanks)
    if thanks:
        run.effects.append(Play(thanks, run.language))
    run.go(node.next)


def _enter_transfer(run: _Run, node: TransferNode) -> None:
    run.effects.append(Transfer(node.number, node.caller_id))
    run.finish("transferred", transferred_to=node.number)


def _enter_blacklist(run: _Run, node: BlacklistNode) -> None:
    context = run.state.context
    if not run.interpreter.blacklist.is_blocked(context.tenant_id, context.caller_number):
        run.go(node.next)
        return
    if node.action == "route" and node.route_to is not None:
        run.go(node.route_to)
        return
    message = run.prompt(node.prompt)
    if message:
        run.effects.append(Play(message, run.language))
    run.finish("rejected", cause=node.cause)


def _enter_hangup(run: _Run, node: HangupNode) -> None:
    run.finish("hangup", cause=node.cause)


_ENTER: dict[str, Callable[[_Run, Any], None]] = {
    "answer": _enter_answer,
    "play": _enter_play,
    "menu": _enter_menu,
    "collect": _enter_collect,
    "http": _enter_http,
    "branch": _enter_branch,
    "schedule": _enter_schedule,
    "set": _enter_set,
    "queue": _enter_queue,
    "voicemail": _enter_voicemail,
    "callback": _enter_callback,
    "survey": _enter_survey,
    "transfer": _enter_transfer,
    "blacklist": _enter_blacklist,
    "hangup": _enter_hangup,
}

_RESUME: dict[str, Callable[[_Run, Any, Input], None]] = {
    "menu": _resume_menu,
    "collect": _resume_collect,
    "http": _resume_http,
    "voicemail": _resume_voicemail,
    "callback": _resume_callback,
    "survey": _resume_survey,
}
