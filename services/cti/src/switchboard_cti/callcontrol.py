"""The outbound CallControl adapter: what a desktop asks of its call, over the switch's gRPC.

`CallControl` is the port the call controls use; `GrpcCallControl` serves it with one
channel per switch instance (the one beside the FreeSWITCH node holding the call). Errors:
an unknown call is `CallGone` (404 `call-gone`), a refused command `CallControlRefused`
(409, FreeSWITCH's text), anything else `CallControlFailed` (502).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import grpc

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.errors import NotFound, PreconditionFailed, UpstreamError
from switchboard_common.grpc import client_channel

EavesdropMode = Literal["listen", "whisper", "barge"]
RecordVerb = Literal["start", "stop", "pause", "resume"]

_EAVESDROP_MODES = {
    "listen": pb.EAVESDROP_MODE_LISTEN,
    "whisper": pb.EAVESDROP_MODE_WHISPER,
    "barge": pb.EAVESDROP_MODE_BARGE,
}
_RECORD_METHODS = {
    "start": "RecordStart",
    "stop": "RecordStop",
    "pause": "RecordPause",
    "resume": "RecordResume",
}


@dataclass(frozen=True, slots=True)
class CallRef:
    tenant_id: str
    call_id: str
    node_id: str = ""


class CallGone(NotFound):
    error_id = "call-gone"


class CallControlRefused(PreconditionFailed):
    error_id = "callcontrol-refused"


class CallControlFailed(UpstreamError):
    error_id = "callcontrol-failed"


class CallControl(Protocol):
    async def answer(self, call: CallRef) -> None: ...

    async def hangup(self, call: CallRef, cause: str = "") -> None: ...

    async def hold(self, call: CallRef, on: bool) -> None: ...

    async def park(self, call: CallRef) -> None: ...

    async def mute(self, call: CallRef, muted: bool) -> None:
        """Silence (or restore) what this leg sends: the agent's microphone."""
        ...

    async def transfer(self, call: CallRef, destination: str, dialplan: str = "inline") -> None:
        """Send the call to `destination` (an inline `bridge:<dial string>` by default)."""
        ...

    async def originate(
        self,
        tenant_id: str,
        node_id: str,
        endpoint: str,
        *,
        timeout_s: int,
        variables: Mapping[str, str],
    ) -> str:
        """Call `endpoint` and park the answered leg; its call id. Not answered: refused."""
        ...

    async def conference(
        self, tenant_id: str, node_id: str, call_ids: Sequence[str], room: str
    ) -> None: ...

    async def send_dtmf(self, call: CallRef, digits: str) -> None: ...

    async def record(self, call: CallRef, action: RecordVerb, path: str) -> None: ...

    async def eavesdrop(
        self, call: CallRef, endpoint: str, mode: EavesdropMode, timeout_s: int
    ) -> str:
        """Call the supervisor's `endpoint` and join the call as `mode`; the new leg's id."""
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
        channel_factory: ChannelFactory | None = None,
    ) -> None:
        self._default_target = default_target
        self._node_targets = dict(node_targets or {})
        self._deadline_s = deadline_s
        self._channel_factory = channel_factory or (
            lambda target: client_channel(target, default_deadline_s=deadline_s)
        )
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, Any] = {}

    async def start(self) -> None:
        """Channels connect lazily."""

    async def stop(self) -> None:
        channels, self._channels = self._channels, {}
        self._stubs = {}
        for channel in channels.values():
            await channel.close(None)

    def _stub(self, node_id: str) -> Any:
        target = self._node_targets.get(node_id, self._default_target)
        stub = self._stubs.get(target)
        if stub is None:
            channel = self._channel_factory(target)
            self._channels[target] = channel
            stub = self._stubs[target] = pb_grpc.CallControlStub(channel)
        return stub

    async def _invoke(
        self, node_id: str, method: str, request: Any, *, call_id: str, deadline_s: float = 0
    ) -> Any:
        try:
            return await getattr(self._stub(node_id), method)(
                request, timeout=deadline_s or self._deadline_s
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            details = {"method": method, "code": code.name, "call_id": call_id}
            if code == grpc.StatusCode.NOT_FOUND:
                raise CallGone(f"call {call_id} no longer exists", details=details) from exc
            if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
                raise CallControlRefused(
                    f"the switch refused {method}: {exc.details()}", details=details
                ) from exc
            raise CallControlFailed(
                f"CallControl.{method} on call {call_id}: {code.name}: {exc.details()}",
                details=details,
            ) from exc

    @staticmethod
    def _ref(call: CallRef) -> Any:
        return pb.CallRef(tenant_id=call.tenant_id, call_id=call.call_id)

    async def answer(self, call: CallRef) -> None:
        await self._invoke(call.node_id, "Answer", self._ref(call), call_id=call.call_id)

    async def hangup(self, call: CallRef, cause: str = "") -> None:
        request = pb.HangupRequest(call=self._ref(call), cause=cause)
        await self._invoke(call.node_id, "Hangup", request, call_id=call.call_id)

    async def hold(self, call: CallRef, on: bool) -> None:
        method = "Hold" if on else "Unhold"
        await self._invoke(call.node_id, method, self._ref(call), call_id=call.call_id)

    async def park(self, call: CallRef) -> None:
        await self._invoke(call.node_id, "Park", self._ref(call), call_id=call.call_id)

    async def mute(self, call: CallRef, muted: bool) -> None:
        request = pb.MuteRequest(call=self._ref(call), muted=muted)
        await self._invoke(call.node_id, "Mute", request, call_id=call.call_id)

    async def transfer(self, call: CallRef, destination: str, dialplan: str = "inline") -> None:
        request = pb.TransferRequest(
            call=self._ref(call), destination=destination, dialplan=dialplan
        )
        await self._invoke(call.node_id, "Transfer", request, call_id=call.call_id)

    async def originate(
        self,
        tenant_id: str,
        node_id: str,
        endpoint: str,
        *,
        timeout_s: int,
        variables: Mapping[str, str],
    ) -> str:
        request = pb.OriginateRequest(
            tenant_id=tenant_id,
            endpoint=endpoint,
            application="&park()",
            timeout_s=timeout_s,
            variables=dict(variables),
        )
        result = await self._invoke(
            node_id, "Originate", request, call_id=endpoint, deadline_s=timeout_s + 5.0
        )
        if not result.answered:
            raise CallControlRefused(
                f"{endpoint} did not answer ({result.cause or 'no answer'})",
                details={"field": "target", "cause": result.cause},
            )
        return str(result.call_id)

    async def conference(
        self, tenant_id: str, node_id: str, call_ids: Sequence[str], room: str
    ) -> None:
        request = pb.ConferenceRequest(
            tenant_id=tenant_id, call_ids=list(call_ids), conference_name=room
        )
        await self._invoke(node_id, "Conference", request, call_id=",".join(call_ids))

    async def send_dtmf(self, call: CallRef, digits: str) -> None:
        request = pb.SendDtmfRequest(call=self._ref(call), digits=digits)
        await self._invoke(call.node_id, "SendDtmf", request, call_id=call.call_id)

    async def record(self, call: CallRef, action: RecordVerb, path: str) -> None:
        request = pb.RecordRequest(call=self._ref(call), path=path)
        await self._invoke(call.node_id, _RECORD_METHODS[action], request, call_id=call.call_id)

    async def eavesdrop(
        self, call: CallRef, endpoint: str, mode: EavesdropMode, timeout_s: int
    ) -> str:
        request = pb.EavesdropRequest(
            call=self._ref(call),
            supervisor_endpoint=endpoint,
            mode=_EAVESDROP_MODES[mode],
            timeout_s=timeout_s,
        )
        result = await self._invoke(
            call.node_id, "Eavesdrop", request, call_id=call.call_id, deadline_s=timeout_s + 5.0
        )
        if not result.answered:
            raise CallControlRefused(
                f"the supervisor's phone did not answer ({result.cause or 'no answer'})",
                details={"field": "endpoint", "cause": result.cause},
            )
        return str(result.call_id)
