"""In-process doubles of the outside world of a run, for tests and benchmarks.

`ScriptedCallControl` plays FreeSWITCH and the callers: each caller has a script of DTMF
entries (as the flow tester takes them: digits, `None` for silence, `HANG_UP`), and may hang
up at a chosen command. Like the switch, it answers an unknown or ended call with
`CallGone`, and a caller hanging up during digit collection with an empty entry.
`RecordingAnnouncer` keeps announced events; `CannedWebhooks` answers webhooks by URL;
`MemoryPublisher` keeps what a notifier publishes.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchboard_common.bus.records import Delivery, OutgoingRecord
from switchboard_common.events import EventPayload, decode
from switchboard_ivr.callcontrol import CallGone, CallRef, DigitsRequest
from switchboard_ivr.domain import HANG_UP, HttpFailed, HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class Command:
    call_id: str
    name: str
    args: tuple[Any, ...] = ()


@dataclass
class ScriptedCaller:
    entries: deque[str | None]
    hang_up_at: int | None = None
    """Hang up when this command (0-based, counting this caller's commands) arrives."""
    gone: bool = False
    commands: int = 0


@dataclass(frozen=True, slots=True)
class MediaTimes:
    """How long media operations take (seconds); zero by default."""

    command_s: float = 0.0
    per_file_s: float = 0.0
    caller_thinks_s: float = 0.0


@dataclass
class ScriptedCallControl:
    """CallControl double driven by caller scripts."""

    times: MediaTimes = field(default_factory=MediaTimes)
    callers: dict[str, ScriptedCaller] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    failures: dict[str, BaseException] = field(default_factory=dict)
    """Command name -> exception raised when that command arrives."""
    on_record_start: Callable[[str], None] | None = None
    playback_gate: asyncio.Event | None = None
    """When set, playback waits for this event (a caller listening to a long prompt)."""
    record_commands: bool = True
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)

    def add_caller(
        self, call_id: str, entries: Iterable[str | None] = (), *, hang_up_at: int | None = None
    ) -> ScriptedCaller:
        caller = ScriptedCaller(deque(entries), hang_up_at)
        self.callers[call_id] = caller
        return caller

    def hang_up(self, call_id: str) -> None:
        self.callers[call_id].gone = True

    def of(self, call_id: str, name: str | None = None) -> list[Command]:
        return [c for c in self.commands if c.call_id == call_id and name in (None, c.name)]

    def played(self, call_id: str) -> list[str]:
        """Files played to the caller, prompts of digit requests included."""
        files: list[str] = []
        for command in self.of(call_id):
            if command.name == "play":
                files += list(command.args[0])
            elif command.name == "collect_digits":
                files.append(command.args[0].prompt)
        return files

    async def _arrive(self, call: CallRef, name: str, *args: Any) -> ScriptedCaller:
        caller = self.callers.get(call.call_id)
        if caller is None or caller.gone:
            raise CallGone(call.call_id)
        if self.record_commands:
            self.commands.append(Command(call.call_id, name, args))
        if caller.hang_up_at is not None and caller.commands >= caller.hang_up_at:
            caller.gone = True
            raise CallGone(call.call_id)
        caller.commands += 1
        failure = self.failures.get(name)
        if failure is not None:
            raise failure
        if self.times.command_s:
            await asyncio.sleep(self.times.command_s)
        return caller

    async def answer(self, call: CallRef) -> None:
        await self._arrive(call, "answer")

    async def hangup(self, call: CallRef, cause: str) -> None:
        caller = await self._arrive(call, "hangup", cause)
        caller.gone = True

    async def play(self, call: CallRef, files: Sequence[str]) -> None:
        caller = await self._arrive(call, "play", tuple(files))
        if self.playback_gate is not None:
            await self.playback_gate.wait()
        if self.times.per_file_s:
            await asyncio.sleep(self.times.per_file_s * len(files))
        if caller.gone:
            raise CallGone(call.call_id)

    async def collect_digits(self, call: CallRef, request: DigitsRequest) -> str:
        caller = await self._arrive(call, "collect_digits", request)
        if self.times.per_file_s or self.times.caller_thinks_s:
            await asyncio.sleep(self.times.per_file_s + self.times.caller_thinks_s)
        if not caller.entries:
            caller.gone = True
            return ""
        entry = caller.entries.popleft()
        if entry == HANG_UP:
            caller.gone = True
            return ""
        if not entry:
            return ""
        for terminator in request.terminators:
            entry = entry.removesuffix(terminator)
        return entry

    async def call_state(self, call: CallRef) -> str | None:
        """`states` of the call ("parked" unless a test says otherwise); None once gone."""
        caller = self.callers.get(call.call_id)
        if caller is None or caller.gone:
            return None
        return self.states.get(call.call_id, "parked")

    async def set_variables(self, call: CallRef, variables: Mapping[str, str]) -> None:
        """Kept in `variables`, not in `commands`: it is not something the caller hears."""
        caller = self.callers.get(call.call_id)
        if caller is None or caller.gone:
            raise CallGone(call.call_id)
        self.variables.setdefault(call.call_id, {}).update(variables)

    async def transfer(self, call: CallRef, destination: str, dialplan: str) -> None:
        caller = await self._arrive(call, "transfer", destination, dialplan)
        caller.gone = True

    async def record_start(self, call: CallRef, path: str) -> None:
        await self._arrive(call, "record_start", path)
        if self.on_record_start is not None:
            self.on_record_start(call.call_id)

    async def record_stop(self, call: CallRef, path: str) -> None:
        await self._arrive(call, "record_stop", path)

    async def exists(self, call: CallRef) -> bool:
        caller = self.callers.get(call.call_id)
        return caller is not None and not caller.gone


@dataclass
class RecordingAnnouncer:
    """Announcer that keeps (tenant, payload, subject) in order."""

    announced: list[tuple[str, EventPayload, str]] = field(default_factory=list)

    def announce(self, tenant_id: str, payload: EventPayload, *, subject: str) -> None:
        self.announced.append((tenant_id, payload, subject))

    def payloads(self, kind: type[EventPayload] | None = None) -> list[Any]:
        return [p for _, p, _ in self.announced if kind is None or isinstance(p, kind)]


@dataclass
class CannedWebhooks:
    """Webhooks answered by URL (a JSON-ready mapping is a 200 answer); others fail."""

    answers: Mapping[str, HttpResponse | HttpFailed | Mapping[str, Any]] = field(
        default_factory=dict
    )
    requests: list[HttpRequest] = field(default_factory=list)

    async def send(self, request: HttpRequest) -> HttpResponse | HttpFailed:
        self.requests.append(request)
        answer = self.answers.get(request.url)
        if answer is None:
            return HttpFailed("connection refused")
        if isinstance(answer, HttpResponse | HttpFailed):
            return answer
        return HttpResponse(200, json.dumps(dict(answer)))


@dataclass
class MemoryPublisher:
    """RecordPublisher that keeps the records it is given (every send succeeds)."""

    records: list[OutgoingRecord] = field(default_factory=list)

    async def publish_record(self, record: OutgoingRecord) -> Delivery:
        self.records.append(record)
        return Delivery(record.topic, 0, len(self.records) - 1)

    async def publish_batch(self, records: Sequence[OutgoingRecord]) -> list[Delivery | Exception]:
        return [await self.publish_record(record) for record in records]

    def payloads(self, kind: type[EventPayload] | None = None) -> list[Any]:
        decoded = [decode(record.value).payload() for record in self.records]
        return [p for p in decoded if kind is None or isinstance(p, kind)]
