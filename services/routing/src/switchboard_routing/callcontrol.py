"""The outbound CallControl adapter: bridging a waiting caller to an agent, and playing
queue announcements, over the switch's gRPC API.

`CallControl` is the port `RoutingService` talks to; `GrpcCallControl` serves it with one
channel per switch instance (the one beside the FreeSWITCH node holding the call, from
`CallEnqueued.node_id`). A Bridge returns how the offer ended; an unknown call (NOT_FOUND)
means the caller is gone; any other RPC failure raises `CallControlFailed`, which routing
counts as a failed offer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from opentelemetry import propagate

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.errors import UpstreamError
from switchboard_routing.domain import OfferOutcome

log = logging.getLogger(__name__)

_OUTCOMES: dict[int, OfferOutcome] = {
    pb.BRIDGE_OUTCOME_ANSWERED: OfferOutcome.ANSWERED,
    pb.BRIDGE_OUTCOME_NO_ANSWER: OfferOutcome.NO_ANSWER,
    pb.BRIDGE_OUTCOME_BUSY: OfferOutcome.BUSY,
    pb.BRIDGE_OUTCOME_FAILED: OfferOutcome.FAILED,
    pb.BRIDGE_OUTCOME_CALLER_GONE: OfferOutcome.CALLER_HUNG_UP,
}


@dataclass(frozen=True, slots=True)
class CallLeg:
    """A caller's channel as the switch knows it."""

    tenant_id: str
    call_id: str
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class BridgeCommand:
    """Ring `endpoint` (several at once when comma-separated) and connect the caller to the
    one that answers."""

    call: CallLeg
    endpoint: str
    ring_timeout_s: int
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BridgeReport:
    """How the switch says a bridge ended (CALLER_HUNG_UP when the caller left first)."""

    outcome: OfferOutcome
    agent_call_id: str = ""
    cause: str = ""
    answered_endpoint: str = ""
    """Which endpoint answered (for a ring-all Bridge, one of the comma-separated list)."""


class CallControlFailed(UpstreamError):
    error_id = "callcontrol-failed"


class CallControl(Protocol):
    def bridge(self, command: BridgeCommand, *, deadline_s: float) -> Awaitable[BridgeReport]:
        """Send the Bridge command now (before returning) and give what awaits its outcome;
        raises on transport errors (the offer then counts as failed)."""
        ...

    async def announce(self, call: CallLeg, items: Sequence[str]) -> None:
        """Play `items` to a waiting caller without waiting for the end."""
        ...


ChannelFactory = Callable[[str], grpc.Channel]


class GrpcCallControl:
    """CallControl over gRPC, one channel per switch address (opened on first use).

    It uses gRPC's threaded client, not grpc.aio: a Bridge is handed to gRPC's own threads
    the moment routing decides (the request leaves without waiting for the event loop to
    get round to it), and the outcome comes back to the loop through a future."""

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
        self._channel_factory = channel_factory or grpc.insecure_channel
        self._channels: dict[str, grpc.Channel] = {}
        self._stubs: dict[str, Any] = {}

    async def start(self) -> None:
        """Channels connect lazily; nothing to do before the first call."""

    async def stop(self) -> None:
        channels, self._channels = self._channels, {}
        self._stubs = {}
        for channel in channels.values():
            channel.close()

    def target_for(self, call: CallLeg) -> str:
        return self._node_targets.get(call.node_id, self._default_target)

    def _stub(self, call: CallLeg) -> Any:
        target = self.target_for(call)
        stub = self._stubs.get(target)
        if stub is None:
            channel = self._channel_factory(target)
            self._channels[target] = channel
            stub = self._stubs[target] = pb_grpc.CallControlStub(channel)
        return stub

    @staticmethod
    def _ref(call: CallLeg) -> Any:
        return pb.CallRef(tenant_id=call.tenant_id, call_id=call.call_id)

    def bridge(self, command: BridgeCommand, *, deadline_s: float) -> Awaitable[BridgeReport]:
        request = pb.BridgeRequest(
            call=self._ref(command.call),
            endpoint=command.endpoint,
            ring_timeout_s=command.ring_timeout_s,
            variables=dict(command.variables),
        )
        sent = self._stub(command.call).Bridge.future(
            request, timeout=deadline_s, metadata=_trace_metadata()
        )
        return self._report(command, _awaitable(sent))

    @staticmethod
    async def _report(command: BridgeCommand, outcome: Awaitable[Any]) -> BridgeReport:
        try:
            result = await outcome
        except grpc.RpcError as exc:
            code = _code(exc)
            if code == grpc.StatusCode.NOT_FOUND:
                return BridgeReport(OfferOutcome.CALLER_HUNG_UP, cause="CALL_NOT_FOUND")
            raise CallControlFailed(
                f"CallControl.Bridge on call {command.call.call_id}: {code.name}: {_details(exc)}",
                details={"code": code.name, "call_id": command.call.call_id},
            ) from exc
        return BridgeReport(
            _OUTCOMES.get(result.outcome, OfferOutcome.FAILED),
            result.agent_call_id,
            result.cause,
            result.answered_endpoint,
        )

    async def announce(self, call: CallLeg, items: Sequence[str]) -> None:
        request = pb.PlaybackRequest(call=self._ref(call), items=list(items), wait=False)
        sent = self._stub(call).Playback.future(
            request, timeout=self._deadline_s, metadata=_trace_metadata()
        )
        try:
            await _awaitable(sent)
        except grpc.RpcError as exc:
            code = _code(exc)
            raise CallControlFailed(
                f"CallControl.Playback on call {call.call_id}: {code.name}: {_details(exc)}",
                details={"code": code.name, "call_id": call.call_id},
            ) from exc


def _awaitable(sent: Any) -> asyncio.Future[Any]:
    """An asyncio future settled from gRPC's thread when the call `sent` completes;
    cancelling it cancels the call."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[Any] = loop.create_future()

    def settle(done: Any) -> None:
        if waiter.done():
            return
        try:
            waiter.set_result(done.result())
        except BaseException as exc:
            waiter.set_exception(exc)

    def completed(done: Any) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(settle, done)

    def abandoned(future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            sent.cancel()

    waiter.add_done_callback(abandoned)
    sent.add_done_callback(completed)
    return waiter


def _code(error: grpc.RpcError) -> grpc.StatusCode:
    code = error.code() if isinstance(error, grpc.Call) else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def _details(error: grpc.RpcError) -> str:
    return str(error.details()) if isinstance(error, grpc.Call) else str(error)


def _trace_metadata() -> tuple[tuple[str, str], ...]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())
