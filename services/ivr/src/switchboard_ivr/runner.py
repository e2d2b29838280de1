"""One asyncio task per call: performs the interpreter's effects and feeds back what happened.

A `CallRun` starts the flow, performs each step's effects in order through CallControl (and
the webhook client, and the notifier for events), then resumes the interpreter with the
caller's digits, the webhook answer, the recording, or the end of the agent's call.

Whatever happens, the call ends cleanly:
- the caller hanging up (`call.ended`, a NOT_FOUND from the switch, a playback cut short)
  interrupts the effect in progress; the run is resumed with `CallerHungUp` from the node
  the caller was actually in (effects of later nodes in the same step were never performed),
  so `ivr.completed` names the node where the caller left;
- any unexpected error plays an apology and hangs up (or transfers to the tenant's error
  number) and announces `ivr.completed` with exit reason `error`;
- stopping the service does the same for calls still in the IVR.

A run handed over to routing ends quietly when routing overflows the call out of its queue
(`leave_queue`); the service then starts a continuation run for the overflow target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol, TypeVar

from switchboard_common.events import EventPayload
from switchboard_common.events.ivr import IvrCompleted, IvrNodeEntered, IvrStarted
from switchboard_common.events.queues import CallEnqueued, SkillRequirement
from switchboard_ivr.callcontrol import CallControl, CallGone, CallRef, DigitsRequest
from switchboard_ivr.domain import (
    AgentCallEnded,
    Answer,
    CallContext,
    CallerHungUp,
    DigitsCollected,
    Effect,
    EmitEvent,
    Enqueue,
    Flow,
    Hangup,
    HttpFailed,
    HttpRequest,
    HttpResponse,
    Input,
    Interpreter,
    Play,
    PlayAndGetDigits,
    PlaybackItem,
    RecordingDone,
    RecordVoicemail,
    RunState,
    SetVariables,
    Step,
    Timeout,
    Transfer,
    file_string,
)
from switchboard_ivr.domain.say import TONES
from switchboard_ivr.notifier import Announcer

log = logging.getLogger(__name__)

ERROR_CAUSE: Final = "NORMAL_TEMPORARY_FAILURE"
UNROUTED_CAUSE: Final = "UNALLOCATED_NUMBER"
TRANSFER_DIALPLAN: Final = "inline"
RETURN_AFTER_AGENT: Final = {"park_after_bridge": "true"}
"""Set on a caller before a queue with post-call nodes: when the agent hangs up, FreeSWITCH
parks the caller instead of hanging up, and the run resumes on `call.unbridged`."""

T = TypeVar("T")
Clock = Callable[[], datetime]
RunStatus = Literal["starting", "running", "handed_over", "finished"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Webhooks(Protocol):
    """What a run needs to call a tenant webhook (see `webhooks.WebhookClient`)."""

    async def send(self, request: HttpRequest) -> HttpResponse | HttpFailed: ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How effects become commands (paths, dial strings) and what to play on failure."""

    voicemail_path_template: str = "/var/lib/switchboard/voicemail/{tenant}/{mailbox}/{call_id}.wav"
    transfer_dial_template: str = "sofia/gateway/pstn/{number}"
    apology_files: tuple[str, ...] = ("ivr/ivr-call_cannot_be_completed_as_dialed.wav",)
    error_transfer_to: str | None = None
    liveness_interval_s: float = 30.0
    shutdown_grace_s: float = 3.0
    transcript_limit: int = 500


@dataclass(frozen=True, slots=True)
class CallSetup:
    """Everything a run starts from."""

    call: CallRef
    flow: Flow
    context: CallContext
    interpreter: Interpreter
    caller_number: str = ""
    continuation: bool = False
    """The call's IVR part started earlier (an overflow leg): no second `ivr.started`."""
    overflow_kind: Literal["voicemail", "callback", "external"] | None = None
    """Set on an overflow leg: its `ivr.completed` says which overflow target ended the call."""


@dataclass(frozen=True, slots=True)
class RunView:
    """A live run as the API lists it."""

    call_id: str
    tenant_id: str
    flow_id: str
    flow_version: int | None
    caller_number: str
    node_id: str | None
    status: RunStatus
    started_at: datetime


class _Gone(Exception):
    """The caller left while an effect was being performed."""


class _LeftQueue:
    """Routing overflowed the call away while the run waited for its agent."""


@dataclass(slots=True)
class _Performed:
    """The outcome of performing one step's effects."""

    answer: Input | None = None
    interrupted_at: int | None = None
    """Index of the effect the caller's hang-up interrupted (None: all performed)."""


class CallRun:
    """The run of one call; `start()` launches its task."""

    def __init__(
        self,
        setup: CallSetup,
        *,
        control: CallControl,
        announcer: Announcer,
        webhooks: Webhooks,
        options: RunOptions | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.setup = setup
        self.call = setup.call
        self._control = control
        self._announcer = announcer
        self._webhooks = webhooks
        self._options = options or RunOptions()
        self._clock = clock
        self._interpreter = setup.interpreter
        self.started_at = clock()
        self.status: RunStatus = "starting"
        self.state: RunState | None = None
        self.node_id: str | None = None
        """The node whose effects are being performed (what the caller hears now)."""
        self.agent_id: str | None = None
        self.transcript: list[str] = []
        self.hung_up = False
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        self._gone: asyncio.Future[None] | None = None
        self._operation: asyncio.Future[Any] | None = None
        self._agent_done: asyncio.Future[str | None] | None = None
        self._left_queue: asyncio.Future[None] | None = None
        self._stop_recording: asyncio.Event | None = None
        self._completed_phases: set[str] = set()
        self._nodes_entered = 0
        self._aborting = False

    # ------------------------------------------------------------------ signals from outside

    @property
    def call_id(self) -> str:
        return self.call.call_id

    @property
    def tenant_id(self) -> str:
        return self.call.tenant_id

    @property
    def in_progress(self) -> bool:
        return self.status != "finished"

    def caller_hung_up(self) -> None:
        """The call ended (`call.ended`): interrupt whatever the run is doing."""
        self.hung_up = True
        gone = self._gone_future()
        if not gone.done():
            gone.set_result(None)
        if self._operation is not None:
            self._operation.cancel()

    def agent_call_ended(self, agent_id: str | None = None) -> None:
        """The agent's side of the call ended: a run handed over resumes with post-call."""
        done = self._agent_future()
        if not done.done():
            done.set_result(agent_id or self.agent_id)

    def leave_queue(self) -> None:
        """Routing sent the call to an overflow target: a run waiting for the agent ends
        without a word (the continuation run speaks to the caller)."""
        if self._left_queue is None:
            self._left_queue = asyncio.get_running_loop().create_future()
        if not self._left_queue.done():
            self._left_queue.set_result(None)

    def dtmf(self, digit: str) -> None:
        """A key pressed outside digit collection: `#` ends a voicemail recording."""
        if digit == "#" and self._stop_recording is not None:
            self._stop_recording.set()

    def view(self) -> RunView:
        return RunView(
            call_id=self.call_id,
            tenant_id=self.tenant_id,
            flow_id=self.setup.flow.id,
            flow_version=self.setup.context.flow_version,
            caller_number=self.setup.context.caller_number,
            node_id=self.node_id,
            status=self.status,
            started_at=self.started_at,
        )

    def _gone_future(self) -> asyncio.Future[None]:
        if self._gone is None:
            self._gone = asyncio.get_running_loop().create_future()
        return self._gone

    def _agent_future(self) -> asyncio.Future[str | None]:
        if self._agent_done is None:
            self._agent_done = asyncio.get_running_loop().create_future()
        return self._agent_done

    # ------------------------------------------------------------------ lifecycle

    def start(self, on_done: Callable[[CallRun], None] | None = None) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self.run(), name=f"ivr-call-{self.call_id}")
        if on_done is not None:
            self.task.add_done_callback(lambda _task: on_done(self))
        return self.task

    async def stop(self) -> None:
        """Service shutdown: a call still in the IVR hears the apology and is hung up."""
        task = self.task
        if task is None or task.done():
            return
        self._aborting = True
        task.cancel()
        await asyncio.wait({task}, timeout=self._options.shutdown_grace_s + 1)

    async def run(self) -> None:
        """Run the flow to its end; never raises except when cancelled."""
        try:
            step = self._interpreter.start(self.setup.flow, self.setup.context, self._clock())
            if self.setup.continuation:
                step = _without_start(step)
            await self._drive(step)
        except asyncio.CancelledError:
            if self._aborting:
                await asyncio.shield(self._fail(RuntimeError("the ivr service is stopping")))
            raise
        except Exception as exc:
            await self._fail(exc)
        finally:
            self.status = "finished"

    async def _drive(self, step: Step) -> None:
        while True:
            self._took(step, handing_over=True)
            performed = await self._perform(step)
            if performed.interrupted_at is not None:
                self._caller_left(step, performed.interrupted_at)
                return
            if step.state.status == "handed_over":
                self.status = "handed_over"
            if step.finished:
                return
            answer = performed.answer
            if step.state.status == "handed_over":
                after_queue = await self._wait_for_agent()
                if isinstance(after_queue, _LeftQueue):
                    return
                if after_queue is None:
                    self._took(self._interpreter.resume(step.state, CallerHungUp(), self._clock()))
                    return
                answer = after_queue
            if answer is None:
                raise RuntimeError(f"nothing answers a run waiting for {step.waiting_for}")
            step = self._interpreter.resume(step.state, answer, self._clock())

    def _took(self, step: Step, *, handing_over: bool = False) -> None:
        """Adopt the interpreter's step. A step that hands the call over is only
        `handed_over` once its effects (setting the caller's variables, enqueueing) are done
        (`handing_over`), so nothing treats the call as queued before it is."""
        self.state = step.state
        handed_over = step.state.status == "handed_over" and not handing_over
        self.status = "handed_over" if handed_over else "running"
        for warning in step.warnings:
            log.warning(
                "ivr call %s, flow %s, node %s: %s: %s",
                self.call_id,
                self.setup.flow.id,
                warning.node,
                warning.code,
                warning.detail,
                extra={"call_id": self.call_id, "tenant_id": self.tenant_id},
            )

    def _caller_left(self, step: Step, performed: int) -> None:
        """Resume with CallerHungUp from the node the caller was in when the hang-up came."""
        state = _rewound(step.state, step.effects, performed)
        final = self._interpreter.resume(state, CallerHungUp(), self._clock())
        self._took(final)
        for effect in final.effects:
            if isinstance(effect, EmitEvent):
                self._announce(effect.payload)

    # ------------------------------------------------------------------ effects

    async def _perform(self, step: Step) -> _Performed:
        performed = _Performed()
        for index, effect in enumerate(step.effects):
            try:
                answer = await self._effect(effect)
            except _Gone:
                performed.interrupted_at = index
                return performed
            if answer is not None:
                performed.answer = answer
        return performed

    async def _effect(self, effect: Effect) -> Input | None:
        if isinstance(effect, EmitEvent):
            if self.hung_up and isinstance(effect.payload, IvrNodeEntered):
                raise _Gone
            self._announce(effect.payload)
        elif isinstance(effect, Answer):
            await self._guarded(self._control.answer(self.call))
        elif isinstance(effect, Play):
            await self._play(effect.items)
        elif isinstance(effect, PlayAndGetDigits):
            return await self._collect(effect)
        elif isinstance(effect, HttpRequest):
            return await self._guarded(self._webhooks.send(effect))
        elif isinstance(effect, RecordVoicemail):
            return await self._record(effect)
        elif isinstance(effect, Enqueue):
            if effect.returns_after_agent:
                await self._guarded(self._control.set_variables(self.call, RETURN_AFTER_AGENT))
            self._enqueue(effect)
        elif isinstance(effect, Transfer):
            await self._transfer(effect.destination)
        elif isinstance(effect, Hangup):
            await self._hangup(effect.cause)
        elif isinstance(effect, SetVariables):
            log.debug("ivr call %s variables %s", self.call_id, dict(effect.values))
        return None

    def _announce(self, payload: EventPayload) -> None:
        if isinstance(payload, IvrNodeEntered):
            self.node_id = payload.node_id
            self._nodes_entered += 1
        elif isinstance(payload, IvrCompleted):
            self._completed_phases.add(payload.phase)
            kind = self.setup.overflow_kind
            if kind is not None and payload.exit_reason not in ("caller_hung_up", "error"):
                payload = payload.model_copy(update={"exit_reason": f"overflow_{kind}"})
        self._announcer.announce(self.tenant_id, payload, subject=self.call_id)

    def _heard(self, items: Sequence[PlaybackItem]) -> None:
        room = self._options.transcript_limit - len(self.transcript)
        if room > 0:
            self.transcript += [item.label for item in items[:room]]

    async def _guarded(self, operation: Awaitable[T]) -> T:
        """Await `operation` unless the caller hangs up first (then _Gone): the hang-up
        cancels the operation in progress (see `caller_hung_up`)."""
        if self.hung_up:
            if asyncio.iscoroutine(operation):
                operation.close()
            raise _Gone
        task = asyncio.ensure_future(operation)
        self._operation = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.hung_up and task.cancelled() and not (current and current.cancelling()):
                raise _Gone from None
            task.cancel()
            raise
        except CallGone:
            self.caller_hung_up()
            raise _Gone from None
        finally:
            self._operation = None

    async def _play(self, items: Sequence[PlaybackItem]) -> None:
        files = [file for item in items for file in item.files]
        if not files:
            return
        self._heard(items)
        await self._guarded(self._control.play(self.call, files))

    async def _collect(self, effect: PlayAndGetDigits) -> Input:
        self._heard(effect.prompt)
        request = DigitsRequest(
            min_digits=effect.min_digits,
            max_digits=effect.max_digits,
            timeout_ms=effect.timeout_ms,
            digit_timeout_ms=effect.digit_timeout_ms,
            terminators=effect.terminators,
            prompt=file_string(effect.prompt) if effect.prompt else "",
            invalid_prompt=file_string(effect.invalid_prompt) if effect.invalid_prompt else "",
            regex=effect.regex,
        )
        digits = await self._guarded(self._control.collect_digits(self.call, request))
        if digits:
            entry = digits
            for terminator in effect.terminators:
                entry = entry.removesuffix(terminator)
            if not effect.accepts(entry):
                self._heard(effect.invalid_prompt)
            return DigitsCollected(digits)
        if not await self._guarded(self._control.exists(self.call)):
            self.caller_hung_up()
            raise _Gone
        return Timeout()

    async def _record(self, effect: RecordVoicemail) -> Input:
        path = self._options.voicemail_path_template.format(
            tenant=self.tenant_id, mailbox=effect.mailbox, call_id=self.call_id
        )
        self._heard(effect.greeting)
        greeting = [file for item in effect.greeting for file in item.files]
        if effect.beep:
            greeting.append(TONES["beep"])
        if greeting:
            await self._guarded(self._control.play(self.call, greeting))
        loop = asyncio.get_running_loop()
        limit = float(effect.max_length_s)
        stop = self._stop_recording = asyncio.Event()
        try:
            await self._guarded(self._control.record_start(self.call, path))
            started = loop.time()
            await self._wait_until(stop, started + limit)
        finally:
            self._stop_recording = None
        duration_ms = int(min(loop.time() - started, limit) * 1000)
        if not self.hung_up:
            with contextlib.suppress(_Gone):
                await self._guarded(self._control.record_stop(self.call, path))
        return RecordingDone(path, duration_ms)

    async def _wait_until(self, stop: asyncio.Event, deadline: float) -> None:
        """Until `stop` is set, the caller leaves, or `deadline` (loop time) passes."""
        loop = asyncio.get_running_loop()
        stopped = asyncio.ensure_future(stop.wait())
        waiters: set[asyncio.Future[Any]] = {stopped, self._gone_future()}
        try:
            while not self.hung_up and not stop.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                wait_s = min(remaining, self._options.liveness_interval_s)
                await asyncio.wait(waiters, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
                if not (stopped.done() or self.hung_up or loop.time() >= deadline):
                    await self._check_alive()
        finally:
            stopped.cancel()

    async def _check_alive(self) -> None:
        with contextlib.suppress(_Gone):
            if not await self._guarded(self._control.exists(self.call)):
                self.caller_hung_up()

    async def _wait_for_agent(self) -> AgentCallEnded | _LeftQueue | None:
        """While routing has the call: the agent's call ends (post-call), routing overflows
        the call elsewhere, or the caller leaves (None)."""
        done = self._agent_future()
        gone = self._gone_future()
        if self._left_queue is None:
            self._left_queue = asyncio.get_running_loop().create_future()
        left = self._left_queue
        waiters: set[asyncio.Future[Any]] = {done, gone, left}
        while True:
            await asyncio.wait(
                waiters,
                timeout=self._options.liveness_interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if gone.done():
                return None
            if left.done():
                return _LeftQueue()
            if done.done():
                return AgentCallEnded(done.result())
            await self._check_alive()

    def _enqueue(self, effect: Enqueue) -> None:
        self._announce(
            CallEnqueued(
                call_id=self.call_id,
                queue_id=effect.queue_id,
                node_id=self.call.node_id,
                priority=effect.priority,
                vip_level=_vip_level(effect.variables.get("vip_level"))
                or _vip_level(self.setup.context.crm.get("vip_level")),
                required_skills=[SkillRequirement(skill=skill) for skill in effect.skills],
                caller_number=self.setup.context.caller_number,
                enqueued_at=self._clock(),
            )
        )

    def _dial(self, number: str) -> str:
        return "bridge:" + self._options.transfer_dial_template.format(number=number)

    async def _transfer(self, number: str) -> None:
        await self._guarded(
            self._control.transfer(self.call, self._dial(number), TRANSFER_DIALPLAN)
        )

    async def _hangup(self, cause: str) -> None:
        """Hang up; a call that is already gone is the same outcome."""
        if self.hung_up:
            return
        try:
            await self._control.hangup(self.call, cause)
        except CallGone:
            self.caller_hung_up()

    # ------------------------------------------------------------------ failure

    async def _fail(self, error: BaseException) -> None:
        """Apologise and hang up (or transfer), announce the error; never raises."""
        self.error = error
        state = self.state
        log.error(
            "ivr call %s, flow %s failed at node %s: %s",
            self.call_id,
            self.setup.flow.id,
            self.node_id,
            error,
            exc_info=error if not self._aborting else None,
            extra={"call_id": self.call_id, "tenant_id": self.tenant_id},
        )
        in_our_hands = not self.hung_up and not (
            state is not None and state.status == "handed_over"
        )
        cause: str | None = None
        transferred_to: str | None = None
        if in_our_hands:
            cause, transferred_to = await self._apologise()
        phase = state.phase if state is not None else "ivr"
        if phase in self._completed_phases:
            return
        self._announce(
            IvrCompleted(
                call_id=self.call_id,
                flow_id=self.setup.flow.id,
                flow_version=self.setup.context.flow_version,
                exit_reason="error",
                last_node=self.node_id,
                phase=phase,
                hangup_cause=cause,
                transferred_to=transferred_to,
                nodes_visited=self._nodes_entered,
                completed_at=self._clock(),
            )
        )

    async def _apologise(self) -> tuple[str | None, str | None]:
        """Play the apology, then transfer to the error number or hang up."""
        target = self._options.error_transfer_to
        try:
            async with asyncio.timeout(self._options.shutdown_grace_s):
                with contextlib.suppress(CallGone):
                    await self._control.play(self.call, self._options.apology_files)
                if target:
                    await self._control.transfer(self.call, self._dial(target), TRANSFER_DIALPLAN)
                    return None, target
                await self._control.hangup(self.call, ERROR_CAUSE)
                return ERROR_CAUSE, None
        except CallGone:
            return None, None
        except Exception as exc:
            log.error("ivr call %s: apology failed too: %s", self.call_id, exc)
            if target:
                with contextlib.suppress(Exception):
                    await self._control.hangup(self.call, ERROR_CAUSE)
            return ERROR_CAUSE, None


def _vip_level(value: object) -> int:
    """A positive whole VIP level from a flow variable or the CRM record, else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int | float) and value > 0 and float(value).is_integer():
        return int(value)
    return 0


def _without_start(step: Step) -> Step:
    """The step without its `ivr.started` announcement."""
    effects = tuple(
        effect
        for effect in step.effects
        if not (isinstance(effect, EmitEvent) and isinstance(effect.payload, IvrStarted))
    )
    return replace(step, effects=effects)


def _rewound(state: RunState, effects: Sequence[Effect], performed: int) -> RunState:
    """The state as the caller lived it: nodes entered by effects not yet performed are
    dropped, and a run that ended or was handed over in those effects runs again, so that
    CallerHungUp ends it at the node where the caller was."""
    entered = [
        index
        for index, effect in enumerate(effects)
        if isinstance(effect, EmitEvent) and isinstance(effect.payload, IvrNodeEntered)
    ]
    dropped = sum(1 for index in entered if index >= performed)
    if dropped == 0 and state.status == "running":
        return state
    path = state.path[: len(state.path) - dropped] if dropped else state.path
    return replace(
        state,
        variables=dict(state.variables),
        node_id=path[-1] if path else state.flow.start,
        path=path,
        steps=max(0, state.steps - dropped),
        status="running",
        waiting_for="nothing",
        outcome=None,
    )


async def turn_away(
    call: CallRef,
    effects: Sequence[Effect],
    *,
    control: CallControl,
    announcer: Announcer,
) -> None:
    """Perform the effects that refuse a call (busy message and hang-up, over quota; or the
    apology for a number that leads nowhere); never raises."""
    for effect in effects:
        try:
            if isinstance(effect, Play):
                files = [file for item in effect.items for file in item.files]
                if files:
                    await control.play(call, files)
            elif isinstance(effect, Hangup):
                await control.hangup(call, effect.cause)
            elif isinstance(effect, EmitEvent):
                announcer.announce(call.tenant_id, effect.payload, subject=call.call_id)
        except CallGone:
            continue
        except Exception as exc:
            log.error("refusing call %s: %s failed: %s", call.call_id, type(effect).__name__, exc)


def apology(files: Sequence[str], language: str = "en") -> Play:
    """The Play effect of the apology sound."""
    return Play((PlaybackItem("sound:apology", tuple(files)),), language)
