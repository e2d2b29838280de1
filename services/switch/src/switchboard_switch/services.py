"""Use cases of the switch service: follow one FreeSWITCH node and control its calls.

`SwitchService` is fed every subscribed ESL event by the ESL adapter, keeps the channel cache,
hands call events to the notifier, and serves call control for the gRPC adapter. It talks to
FreeSWITCH only through the `FreeSwitch` port and to Kafka only through the `CallEventSink`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from switchboard_common.errors import NotFound, PreconditionFailed, UpstreamError, ValidationFailed
from switchboard_switch.domain.channels import (
    Channel,
    ChannelTracker,
    TenantEvent,
    parse_show_channels,
)
from switchboard_switch.domain.commands import (
    ENDPOINT_VARIABLE,
    BridgeOutcomeName,
    channel_variables,
    check_cause,
    check_dtmf,
    originate_command,
    outcome_for_cause,
    parse_job_result,
    split_endpoints,
)

log = logging.getLogger(__name__)


class FreeSwitch(Protocol):
    """What the service needs from an ESL connection."""

    async def api(self, command: str) -> str:
        """Run an api command and return FreeSWITCH's reply body (which may be `-ERR ...`)."""
        ...

    async def bgapi(self, command: str, timeout_s: float) -> str:
        """Run a bgapi command and return the BACKGROUND_JOB body."""
        ...

    async def execute(self, call_id: str, application: str, argument: str, event_uuid: str) -> str:
        """sendmsg execute on a channel; returns the command/reply text."""
        ...


class CallEventSink(Protocol):
    def submit(self, event: TenantEvent) -> None: ...


@dataclass(frozen=True)
class BridgeResult:
    outcome: BridgeOutcomeName
    agent_call_id: str
    cause: str
    answered_endpoint: str = ""
    """The endpoint that answered; for a simultaneous ring, the winning one of the list."""


@dataclass(frozen=True)
class DigitsResult:
    digits: str
    timed_out: bool


class SwitchService:
    def __init__(
        self,
        node_id: str,
        freeswitch: FreeSwitch,
        sink: CallEventSink,
        command_timeout_s: float = 5.0,
    ) -> None:
        self.node_id = node_id
        self.freeswitch = freeswitch
        self.sink = sink
        self.tracker = ChannelTracker(node_id)
        self.command_timeout_s = command_timeout_s
        self._executions: dict[str, asyncio.Future[Mapping[str, str]]] = {}
        self._hangups: dict[str, list[asyncio.Future[str]]] = {}
        self.events_in = 0
        self.events_out = 0

    # ---- events from FreeSWITCH -----------------------------------------------------------
    def on_esl_event(self, name: str, headers: Mapping[str, str]) -> None:
        self.events_in += 1
        for event in self.tracker.apply(name, headers):
            self.events_out += 1
            self.sink.submit(event)
        if name == "CHANNEL_EXECUTE_COMPLETE":
            waiter = self._executions.pop(headers.get("Application-UUID", ""), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(headers)
        elif name in ("CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"):
            for future in self._hangups.pop(headers.get("Unique-ID", ""), []):
                if not future.done():
                    future.set_result(headers.get("Hangup-Cause", "NORMAL_CLEARING"))

    async def resync(self) -> int:
        """Compare the cache with FreeSWITCH after (re)connecting; publish what changed."""
        reply = await self.freeswitch.api("show channels as json")
        try:
            rows = orjson.loads(reply).get("rows") or []
        except (orjson.JSONDecodeError, AttributeError):
            raise UpstreamError(
                f"unreadable `show channels as json` reply: {reply[:80]!r}",
                error_id="freeswitch-error",
            ) from None
        live = parse_show_channels(rows)
        resolved = []
        for row in live:
            known = self.tracker.channels.get(row.uuid)
            tenant = known.tenant if known else await self._channel_tenant(row.uuid)
            resolved.append(row.__class__(**{**row.__dict__, "tenant": tenant}))
        events = self.tracker.reconcile(resolved, datetime.now(UTC))
        for event in events:
            self.events_out += 1
            self.sink.submit(event)
        for call_id in list(self._hangups):
            if call_id not in self.tracker.channels:
                for future in self._hangups.pop(call_id):
                    if not future.done():
                        future.set_result("SWITCH_LINK_LOST")
        return len(events)

    async def _channel_tenant(self, call_id: str) -> str | None:
        reply = (await self.freeswitch.api(f"uuid_getvar {call_id} sb_tenant")).strip()
        if not reply or reply.startswith("-ERR") or reply == "_undef_":
            return None
        return reply

    # ---- lookups --------------------------------------------------------------------------
    def call(self, tenant_id: str, call_id: str) -> Channel:
        """The tenant's live call; another tenant's call is as unknown as a missing one."""
        channel = self.tracker.channels.get(call_id)
        if channel is None or channel.tenant != tenant_id:
            raise NotFound(
                f"no call {call_id}", error_id="no-such-call", details={"call_id": call_id}
            )
        return channel

    def calls(self, tenant_id: str) -> list[Channel]:
        return [c for c in self.tracker.channels.values() if c.tenant == tenant_id]

    # ---- commands -------------------------------------------------------------------------
    async def _api_ok(self, command: str) -> str:
        reply = (await self.freeswitch.api(command)).strip()
        ok, text = parse_job_result(reply)
        if not ok and reply.startswith("-ERR"):
            if "No such channel" in text:
                raise NotFound(f"FreeSWITCH: {reply}", error_id="no-such-call")
            raise PreconditionFailed(
                f"FreeSWITCH: {reply}",
                error_id="freeswitch-error",
                details={"command": command.split(" ", 1)[0]},
            )
        return reply

    async def answer(self, tenant_id: str, call_id: str) -> str:
        self.call(tenant_id, call_id)
        return await self._api_ok(f"uuid_answer {call_id}")

    async def hangup(self, tenant_id: str, call_id: str, cause: str = "") -> str:
        self.call(tenant_id, call_id)
        return await self._api_ok(f"uuid_kill {call_id} {check_cause(cause)}")

    async def park(self, tenant_id: str, call_id: str) -> str:
        self.call(tenant_id, call_id)
        return await self._api_ok(f"uuid_park {call_id}")

    async def hold(self, tenant_id: str, call_id: str, on: bool) -> str:
        self.call(tenant_id, call_id)
        return await self._api_ok(f"uuid_hold {call_id}" if on else f"uuid_hold off {call_id}")

    async def record(self, tenant_id: str, call_id: str, action: str, path: str) -> str:
        self.call(tenant_id, call_id)
        verbs = {"start": "start", "stop": "stop", "pause": "mask", "resume": "unmask"}
        if not path or any(ch in path for ch in " \n\r{}"):
            raise ValidationFailed(
                "recording path must be a plain file path", field="path", error_id="invalid-path"
            )
        return await self._api_ok(f"uuid_record {call_id} {verbs[action]} {path}")

    async def send_dtmf(self, tenant_id: str, call_id: str, digits: str) -> str:
        self.call(tenant_id, call_id)
        return await self._api_ok(f"uuid_send_dtmf {call_id} {check_dtmf(digits)}")

    async def set_variables(self, tenant_id: str, call_id: str, variables: dict[str, str]) -> str:
        self.call(tenant_id, call_id)
        if not variables:
            raise ValidationFailed(
                "no variables to set", field="variables", error_id="invalid-variable"
            )
        channel_variables(variables)
        pairs = ";".join(f"{name}={value}" for name, value in sorted(variables.items()))
        return await self._api_ok(f"uuid_setvar_multi {call_id} {pairs}")

    async def mute(self, tenant_id: str, call_id: str, muted: bool) -> str:
        """Silence what the leg sends (its microphone); the leg still hears the other side."""
        self.call(tenant_id, call_id)
        action = "start read mute 1" if muted else "stop"
        return await self._api_ok(f"uuid_audio {call_id} {action}")

    async def transfer(
        self,
        tenant_id: str,
        call_id: str,
        destination: str,
        *,
        bleg: bool,
        dialplan: str = "",
        context: str = "",
    ) -> str:
        self.call(tenant_id, call_id)
        if not destination or any(ch in destination for ch in "\n\r{}"):
            raise ValidationFailed(
                "destination is empty or malformed",
                field="destination",
                error_id="invalid-destination",
            )
        parts = ["uuid_transfer", call_id, *(["-bleg"] if bleg else []), destination]
        if dialplan:
            parts += [dialplan, *([context] if context else [])]
        return await self._api_ok(" ".join(parts))

    async def conference(self, tenant_id: str, call_ids: list[str], name: str) -> str:
        """Move the calls into one room. The first is the customer's: when it leaves, the
        room ends and every other leg is hung up; a room down to one member ends too."""
        if len(call_ids) < 2:
            raise ValidationFailed(
                "a conference needs at least two calls",
                field="call_ids",
                error_id="invalid-conference",
            )
        for call_id in call_ids:
            self.call(tenant_id, call_id)
        room = name or f"sb-{tenant_id}-{uuidlib.uuid4().hex[:8]}"
        if not room.replace("-", "").replace("_", "").isalnum():
            raise ValidationFailed(
                "conference name may hold letters, digits, - and _",
                field="conference_name",
                error_id="invalid-conference",
            )
        for call_id in call_ids:
            await self._api_ok(f"uuid_setvar {call_id} hangup_after_bridge false")
        for index, call_id in enumerate(call_ids):
            flags = "endconf|mintwo" if index == 0 else "mintwo"
            await self._api_ok(
                f"uuid_transfer {call_id} conference:{room}@default+flags{{{flags}}} inline"
            )
        return room

    def _watch_hangup(self, call_id: str) -> asyncio.Future[str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._hangups.setdefault(call_id, []).append(future)
        return future

    def _unwatch(self, call_id: str, future: asyncio.Future[str]) -> None:
        watchers = self._hangups.get(call_id)
        if watchers and future in watchers:
            watchers.remove(future)
            if not watchers:
                del self._hangups[call_id]

    async def execute_and_wait(
        self, tenant_id: str, call_id: str, application: str, argument: str, timeout_s: float
    ) -> Mapping[str, str] | None:
        """Run an application on the call and wait for it to complete; None if the caller
        hung up first."""
        self.call(tenant_id, call_id)
        event_uuid = str(uuidlib.uuid4())
        done: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()
        self._executions[event_uuid] = done
        hangup = self._watch_hangup(call_id)
        try:
            reply = await self.freeswitch.execute(call_id, application, argument, event_uuid)
            if reply.startswith("-ERR"):
                raise PreconditionFailed(f"FreeSWITCH: {reply}", error_id="freeswitch-error")
            waiters: set[asyncio.Future[Any]] = {done, hangup}
            finished, _ = await asyncio.wait(
                waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if done in finished:
                return done.result()
            if hangup in finished:
                return None
            raise UpstreamError(
                f"{application} did not complete in {timeout_s:.0f}s", error_id="freeswitch-timeout"
            )
        finally:
            self._executions.pop(event_uuid, None)
            self._unwatch(call_id, hangup)

    async def playback(self, tenant_id: str, call_id: str, items: list[str], wait: bool) -> str:
        if not items:
            raise ValidationFailed("nothing to play", field="items", error_id="invalid-playback")
        for item in items:
            if not item or "\n" in item or "!" in item:
                raise ValidationFailed(
                    f"bad playback item {item!r}", field="items", error_id="invalid-playback"
                )
        target = "file_string://" + "!".join(items) if len(items) > 1 else items[0]
        if not wait:
            self.call(tenant_id, call_id)
            await self._api_ok(f"uuid_broadcast {call_id} {target} aleg")
            return "queued"
        result = await self.execute_and_wait(tenant_id, call_id, "playback", target, timeout_s=600)
        if result is None:
            return "hangup"
        return (
            "done"
            if result.get("Application-Response", "") in ("FILE PLAYED", "")
            else "interrupted"
        )

    async def play_and_get_digits(
        self,
        tenant_id: str,
        call_id: str,
        *,
        min_digits: int,
        max_digits: int,
        tries: int,
        timeout_ms: int,
        terminators: str,
        prompt: str,
        invalid_prompt: str,
        regex: str,
        digit_timeout_ms: int,
    ) -> DigitsResult:
        if not 1 <= min_digits <= max_digits <= 128:
            raise ValidationFailed(
                "need 1 <= min_digits <= max_digits <= 128",
                field="min_digits",
                error_id="invalid-digits-request",
            )
        if not prompt or " " in prompt:
            raise ValidationFailed(
                "prompt must be one file or tone", field="prompt", error_id="invalid-digits-request"
            )
        variable = "sb_digits"
        argument = " ".join(
            [
                str(min_digits),
                str(max_digits),
                str(max(1, tries)),
                str(max(100, timeout_ms)),
                terminators or "#",
                prompt,
                invalid_prompt or "silence_stream://250",
                variable,
                regex or "\\d+",
                str(digit_timeout_ms or timeout_ms or 3000),
            ]
        )
        budget = max(1, tries) * (max(100, timeout_ms) / 1000 + 30)
        result = await self.execute_and_wait(
            tenant_id, call_id, "play_and_get_digits", argument, timeout_s=budget
        )
        if result is None:
            return DigitsResult("", timed_out=True)
        digits = result.get(f"variable_{variable}", "")
        if digits:
            return DigitsResult(digits, timed_out=False)
        # FreeSWITCH keeps refused input in `<var>_invalid`: a wrong key is not silence.
        refused = result.get(f"variable_{variable}_invalid", "")
        return DigitsResult(refused, timed_out=not refused)

    async def originate(
        self,
        tenant_id: str,
        endpoint: str,
        application: str,
        timeout_s: int,
        variables: dict[str, str],
        caller_id_name: str = "",
        caller_id_number: str = "",
    ) -> tuple[str, bool, str]:
        """Place a new call leg; returns (call id, answered, cause).

        A comma-separated endpoint rings every endpoint at once: the call id is then the leg
        that answered (from FreeSWITCH's `+OK <uuid>`), or empty when none did, since
        `origination_uuid` can name one leg only."""
        simultaneous = len(split_endpoints(endpoint)) > 1
        leg = "" if simultaneous else str(uuidlib.uuid4())
        merged = {
            **variables,
            "sb_tenant": tenant_id,
            "originate_timeout": str(max(1, timeout_s)),
        }
        if leg:
            merged["origination_uuid"] = leg
        if caller_id_name:
            merged["origination_caller_id_name"] = caller_id_name
        if caller_id_number:
            merged["origination_caller_id_number"] = caller_id_number
        if application not in ("&park()",) and not application.startswith("&"):
            raise ValidationFailed(
                "application must be an inline `&app(arg)`",
                field="application",
                error_id="invalid-application",
            )
        body = await self.freeswitch.bgapi(
            originate_command(endpoint, application, merged),
            timeout_s=timeout_s + self.command_timeout_s,
        )
        ok, text = parse_job_result(body)
        if ok:
            return text or leg, True, ""
        return leg, False, text or "NORMAL_TEMPORARY_FAILURE"

    async def bridge(
        self,
        tenant_id: str,
        call_id: str,
        endpoint: str,
        ring_timeout_s: int,
        variables: dict[str, str],
        caller_id_name: str = "",
        caller_id_number: str = "",
    ) -> BridgeResult:
        """Ring an agent and connect the caller: the outcome routing needs for its offer."""
        caller = self.call(tenant_id, call_id)
        channel_variables(variables)
        caller_gone = self._watch_hangup(call_id)
        try:
            ringing = asyncio.ensure_future(
                self.originate(
                    tenant_id,
                    endpoint,
                    "&park()",
                    ring_timeout_s,
                    variables,
                    caller_id_name or caller.caller_name,
                    caller_id_number or caller.caller_number,
                )
            )
            waiters: set[asyncio.Future[Any]] = {ringing, caller_gone}
            finished, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if caller_gone in finished and ringing not in finished:
                leg_id, answered, _cause = await ringing
                if answered:
                    await self.freeswitch.api(f"uuid_kill {leg_id} ORIGINATOR_CANCEL")
                return BridgeResult("caller_gone", leg_id, "ORIGINATOR_CANCEL")
            leg_id, answered, cause = ringing.result()
            if not answered:
                return BridgeResult(outcome_for_cause(cause), leg_id, cause)
            if caller_gone.done() or call_id not in self.tracker.channels:
                await self.freeswitch.api(f"uuid_kill {leg_id} ORIGINATOR_CANCEL")
                return BridgeResult("caller_gone", leg_id, "ORIGINATOR_CANCEL")
            reply = (await self.freeswitch.api(f"uuid_bridge {call_id} {leg_id}")).strip()
            if reply.startswith("-ERR"):
                await self.freeswitch.api(f"uuid_kill {leg_id} NORMAL_CLEARING")
                gone = call_id not in self.tracker.channels
                return BridgeResult("caller_gone" if gone else "failed", leg_id, reply[4:].strip())
            return BridgeResult(
                "answered", leg_id, "", await self._answered_endpoint(leg_id, endpoint)
            )
        finally:
            self._unwatch(call_id, caller_gone)

    async def _answered_endpoint(self, leg_id: str, endpoint: str) -> str:
        """Which endpoint the answered leg dialled: the only one, or its `sb_endpoint`."""
        endpoints = split_endpoints(endpoint)
        if len(endpoints) == 1:
            return endpoint
        reply = (await self.freeswitch.api(f"uuid_getvar {leg_id} {ENDPOINT_VARIABLE}")).strip()
        return reply if reply in endpoints else ""

    async def eavesdrop(
        self, tenant_id: str, call_id: str, supervisor_endpoint: str, mode: str, timeout_s: int
    ) -> tuple[str, bool, str]:
        """Call a supervisor and let them listen, whisper to the agent, or barge in."""
        self.call(tenant_id, call_id)
        variables = {"sb_supervising": call_id}
        if mode == "whisper":
            variables["eavesdrop_whisper_aleg"] = "true"
        application = f"&three_way({call_id})" if mode == "barge" else f"&eavesdrop({call_id})"
        return await self.originate(
            tenant_id, supervisor_endpoint, application, timeout_s, variables
        )
