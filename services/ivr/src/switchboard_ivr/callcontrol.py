"""The outbound CallControl adapter: what a run asks of the call, over the switch's gRPC API.

`CallControl` is the port the runner talks to; `GrpcCallControl` serves it with one channel
per switch instance (the one beside the FreeSWITCH node holding the call, from
`CallArrived.node_id`). An unknown call (NOT_FOUND) or a playback cut short by a hang-up is
`CallGone`; other failures are `CallControlFailed`. Commands that are safe to repeat are
retried briefly when the switch is UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import grpc

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.errors import UpstreamError
from switchboard_common.grpc import client_channel

log = logging.getLogger(__name__)

SILENCE: Final = "silence_stream://250"
"""What play-and-get-digits plays when a request has no prompt (the switch needs one)."""

_RETRY_DELAYS_S: tuple[float, ...] = (0.1, 0.3)


@dataclass(frozen=True, slots=True)
class CallRef:
    """A call as the switch knows it: tenant, channel id and the FreeSWITCH node holding it."""

    tenant_id: str
    call_id: str
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class DigitsRequest:
    """One play_and_get_digits attempt; `prompt`/`invalid_prompt` are playback strings."""

    min_digits: int
    max_digits: int
    timeout_ms: int
    digit_timeout_ms: int
    terminators: str
    prompt: str
    invalid_prompt: str
    regex: str


class CallGone(Exception):
    """The call no longer exists (the caller hung up)."""


class CallControlFailed(UpstreamError):
    error_id = "callcontrol-failed"


class CallControl(Protocol):
    async def answer(self, call: CallRef) -> None: ...

    async def hangup(self, call: CallRef, cause: str) -> None: ...

    async def play(self, call: CallRef, files: Sequence[str]) -> None:
        """Play files in order and return when done; CallGone if the caller hangs up."""
        ...

    async def collect_digits(self, call: CallRef, request: DigitsRequest) -> str:
        """The caller's entry, or "" when nothing valid came before the timeout."""
        ...

    async def transfer(self, call: CallRef, destination: str, dialplan: str) -> None: ...

    async def record_start(self, call: CallRef, path: str) -> None: ...

    async def record_stop(self, call: CallRef, path: str) -> None: ...

    async def exists(self, call: CallRef) -> bool: ...

    async def set_variables(self, call: CallRef, variables: Mapping[str, str]) -> None:
        """Set channel variables on the call (e.g. `park_after_bridge`)."""
        ...

    async def call_state(self, call: CallRef) -> str | None:
        """The switch's state of the call ("parked", "bridged", ...); None when it is gone."""
        ...


ChannelFactory = Callable[[str], grpc.aio.Channel]


class GrpcCallControl:
    """CallControl over gRPC, one channel per switch address (opened on first use)."""

    def __init__(
        self,
        default_target: str,
        node_targets: Mapping[str, str] | None = None,
        *,
        deadline_s: float = 5.0,
        media_deadline_s: float = 300.0,
        channel_factory: ChannelFactory | None = None,
    ) -> None:
        self._default_target = default_target
        self._node_targets = dict(node_targets or {})
        self._deadline_s = deadline_s
        self._media_deadline_s = media_deadline_s
        self._channel_factory = channel_factory or (
            lambda target: client_channel(target, default_deadline_s=deadline_s)
        )
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, Any] = {}

    async def start(self) -> None:
        """Channels connect lazily; nothing to do before the first call."""

    async def stop(self) -> None:
        channels, self._channels = self._channels, {}
        self._stubs = {}
        for channel in channels.values():
            await channel.close(None)

    def target_for(self, call: CallRef) -> str:
        return self._node_targets.get(call.node_id, self._default_target)

    def _stub(self, call: CallRef) -> Any:
        target = self.target_for(call)
        stub = self._stubs.get(target)
        if stub is None:
            channel = self._channel_factory(target)
            self._channels[target] = channel
            stub = self._stubs[target] = pb_grpc.CallControlStub(channel)
        return stub

    async def _invoke(
        self, call: CallRef, method: str, request: Any, *, deadline_s: float, retry: bool
    ) -> Any:
        delays = _RETRY_DELAYS_S if retry else ()
        attempt = 0
        while True:
            try:
                return await getattr(self._stub(call), method)(request, timeout=deadline_s)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.NOT_FOUND:
                    raise CallGone(call.call_id) from exc
                if code == grpc.StatusCode.UNAVAILABLE and attempt < len(delays):
                    await asyncio.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise CallControlFailed(
                    f"CallControl.{method} on call {call.call_id}: {code.name}: {exc.details()}",
                    details={"method": method, "code": code.name, "call_id": call.call_id},
                ) from exc

    @staticmethod
    def _ref(call: CallRef) -> Any:
        return pb.CallRef(tenant_id=call.tenant_id, call_id=call.call_id)

    async def answer(self, call: CallRef) -> None:
        await self._invoke(call, "Answer", self._ref(call), deadline_s=self._deadline_s, retry=True)

    async def hangup(self, call: CallRef, cause: str) -> None:
        request = pb.HangupRequest(call=self._ref(call), cause=cause)
        await self._invoke(call, "Hangup", request, deadline_s=self._deadline_s, retry=True)

    async def play(self, call: CallRef, files: Sequence[str]) -> None:
        request = pb.PlaybackRequest(call=self._ref(call), items=list(files), wait=True)
        result = await self._invoke(
            call, "Playback", request, deadline_s=self._media_deadline_s, retry=False
        )
        if result.reason == "hangup":
            raise CallGone(call.call_id)

    async def collect_digits(self, call: CallRef, request: DigitsRequest) -> str:
        message = pb.PlayAndGetDigitsRequest(
            call=self._ref(call),
            min_digits=request.min_digits,
            max_digits=request.max_digits,
            tries=1,
            timeout_ms=request.timeout_ms,
            terminators=request.terminators,
            prompt=request.prompt or SILENCE,
            invalid_prompt=request.invalid_prompt,
            regex=request.regex,
            digit_timeout_ms=request.digit_timeout_ms,
        )
        result = await self._invoke(
            call, "PlayAndGetDigits", message, deadline_s=self._media_deadline_s, retry=False
        )
        return str(result.digits)

    async def transfer(self, call: CallRef, destination: str, dialplan: str) -> None:
        request = pb.TransferRequest(
            call=self._ref(call), destination=destination, dialplan=dialplan
        )
        await self._invoke(call, "Transfer", request, deadline_s=self._deadline_s, retry=False)

    async def record_start(self, call: CallRef, path: str) -> None:
        request = pb.RecordRequest(call=self._ref(call), path=path)
        await self._invoke(call, "RecordStart", request, deadline_s=self._deadline_s, retry=False)

    async def record_stop(self, call: CallRef, path: str) -> None:
        request = pb.RecordRequest(call=self._ref(call), path=path)
        await self._invoke(call, "RecordStop", request, deadline_s=self._deadline_s, retry=True)

    async def set_variables(self, call: CallRef, variables: Mapping[str, str]) -> None:
        request = pb.SetVariablesRequest(call=self._ref(call), variables=dict(variables))
        await self._invoke(call, "SetVariables", request, deadline_s=self._deadline_s, retry=True)

    async def call_state(self, call: CallRef) -> str | None:
        try:
            info = await self._invoke(
                call, "GetCall", self._ref(call), deadline_s=self._deadline_s, retry=True
            )
        except CallGone:
            return None
        return str(info.state)

    async def exists(self, call: CallRef) -> bool:
        try:
            await self._invoke(
                call, "GetCall", self._ref(call), deadline_s=self._deadline_s, retry=True
            )
        except CallGone:
            return False
        return True
