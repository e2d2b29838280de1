"""gRPC RoutingService: parse the request, ask `RoutingQueries`, build the reply; and
`GrpcOwnerLink`, the client one routing instance uses to ask the owner of a tenant.

AppErrors become status codes in the shared interceptor (unknown queue or call: NOT_FOUND;
nobody owns the tenant right now: UNAVAILABLE). A request that was already forwarded by
another instance carries the `x-switchboard-forwarded` metadata and is never forwarded again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from switchboard.routing.v1 import routing_pb2 as pb
from switchboard.routing.v1 import routing_pb2_grpc as pb_grpc
from switchboard_common.errors import NotFound, UpstreamError, ValidationFailed
from switchboard_common.events.queues import RoutingDecisionMade
from switchboard_common.grpc import client_channel
from switchboard_routing.ownership import NotOwner
from switchboard_routing.schemas import QueueStatusPublic, WaitingCallPublic
from switchboard_routing.services import Explanation, RoutingQueries

SERVICE_NAME = "switchboard.routing.v1.RoutingService"
FORWARDED = "x-switchboard-forwarded"

_SOURCES = {"offer": pb.EXPLANATION_SOURCE_OFFER, "live": pb.EXPLANATION_SOURCE_LIVE}
_SOURCE_NAMES = {value: name for name, value in _SOURCES.items()}


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def status_message(status: QueueStatusPublic) -> Any:
    message = pb.QueueStatus(
        queue_id=status.queue_id,
        strategy=status.strategy,
        waiting=[
            pb.WaitingCall(
                call_id=w.call_id,
                position=w.position,
                waited_s=w.waited_s,
                effective_priority=w.effective_priority,
                vip_level=w.vip_level,
            )
            for w in status.waiting
        ],
        ringing=status.ringing,
        longest_wait_s=status.longest_wait_s,
        agents_by_state=status.agents_by_state,
        logged_in_agents=status.logged_in_agents,
        available_agents=status.available_agents,
        average_handle_s=status.average_handle_s,
        answered=status.answered,
        answered_within_service_level=status.answered_within_service_level,
        abandoned=status.abandoned,
        overflowed=status.overflowed,
        as_of=_timestamp(status.as_of),
        epoch=status.epoch,
    )
    if status.estimated_wait_s is not None:
        message.estimated_wait_s = status.estimated_wait_s
    if status.service_level is not None:
        message.service_level = status.service_level
    return message


def status_view(message: Any) -> QueueStatusPublic:
    return QueueStatusPublic(
        queue_id=message.queue_id,
        strategy=message.strategy,
        waiting=[
            WaitingCallPublic(
                call_id=w.call_id,
                position=w.position,
                waited_s=w.waited_s,
                effective_priority=w.effective_priority,
                vip_level=w.vip_level,
            )
            for w in message.waiting
        ],
        ringing=message.ringing,
        longest_wait_s=message.longest_wait_s,
        agents_by_state=dict(message.agents_by_state),
        logged_in_agents=message.logged_in_agents,
        available_agents=message.available_agents,
        estimated_wait_s=(
            message.estimated_wait_s if message.HasField("estimated_wait_s") else None
        ),
        average_handle_s=message.average_handle_s,
        answered=message.answered,
        answered_within_service_level=message.answered_within_service_level,
        abandoned=message.abandoned,
        overflowed=message.overflowed,
        service_level=message.service_level if message.HasField("service_level") else None,
        as_of=message.as_of.ToDatetime(tzinfo=UTC),
        epoch=message.epoch,
    )


def decision_message(decision: RoutingDecisionMade) -> Any:
    return pb.Decision(
        decision_id=decision.decision_id,
        call_id=decision.call_id,
        queue_id=decision.queue_id,
        strategy=decision.strategy,
        chosen_agent_ids=decision.chosen_agent_ids,
        candidates=[
            pb.Candidate(agent_id=c.agent_id, score=c.score, basis=c.basis)
            for c in decision.candidates
        ],
        skipped=[
            pb.SkippedAgent(agent_id=s.agent_id, reason=s.reason, detail=s.detail)
            for s in decision.skipped
        ],
        skipped_not_listed=decision.skipped_not_listed,
        unavailable_by_state=decision.unavailable_by_state,
        effective_priority=decision.effective_priority,
        waited_s=decision.waited_s,
        proficiency_relaxed_by=decision.proficiency_relaxed_by,
        note=decision.note,
        epoch=decision.epoch,
        decided_at=_timestamp(decision.decided_at),
    )


def decision_view(message: Any) -> RoutingDecisionMade:
    return RoutingDecisionMade.model_validate(
        {
            "decision_id": message.decision_id,
            "call_id": message.call_id,
            "queue_id": message.queue_id,
            "strategy": message.strategy,
            "chosen_agent_ids": list(message.chosen_agent_ids),
            "candidates": [
                {"agent_id": c.agent_id, "score": c.score, "basis": c.basis}
                for c in message.candidates
            ],
            "skipped": [
                {"agent_id": s.agent_id, "reason": s.reason, "detail": s.detail}
                for s in message.skipped
            ],
            "skipped_not_listed": message.skipped_not_listed,
            "unavailable_by_state": dict(message.unavailable_by_state),
            "effective_priority": message.effective_priority,
            "waited_s": message.waited_s,
            "proficiency_relaxed_by": message.proficiency_relaxed_by,
            "note": message.note,
            "epoch": message.epoch,
            "decided_at": message.decided_at.ToDatetime(tzinfo=UTC),
        }
    )


def _required(value: str, field: str) -> str:
    if not value:
        raise ValidationFailed(f"{field} is required", field=field)
    return value


def _forwarded(context: Any) -> bool:
    return any(key == FORWARDED for key, _ in (context.invocation_metadata() or ()))


class RoutingServicer(pb_grpc.RoutingServiceServicer):  # type: ignore[misc]
    def __init__(self, queries: RoutingQueries) -> None:
        self._queries = queries

    async def GetQueueStatus(self, request: Any, context: Any) -> Any:
        status = await self._queries.queue_status(
            _required(request.tenant_id, "tenant_id"),
            _required(request.queue_id, "queue_id"),
            forward=not _forwarded(context),
        )
        return pb.GetQueueStatusResponse(status=status_message(status))

    async def ExplainCall(self, request: Any, context: Any) -> Any:
        found = await self._queries.explain(
            _required(request.tenant_id, "tenant_id"),
            _required(request.call_id, "call_id"),
            forward=not _forwarded(context),
        )
        return pb.ExplainCallResponse(
            source=_SOURCES[found.source], decision=decision_message(found.decision)
        )


ChannelFactory = Callable[[str], grpc.aio.Channel]


class GrpcOwnerLink:
    """Asks the routing instance that owns a tenant (one channel per address)."""

    def __init__(
        self, *, deadline_s: float = 2.0, channel_factory: ChannelFactory | None = None
    ) -> None:
        self._deadline_s = deadline_s
        self._channel_factory = channel_factory or (
            lambda target: client_channel(target, default_deadline_s=deadline_s)
        )
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, Any] = {}

    async def start(self) -> None:
        """Channels open on first use."""

    async def stop(self) -> None:
        channels, self._channels = self._channels, {}
        self._stubs = {}
        for channel in channels.values():
            await channel.close(None)

    def _stub(self, address: str) -> Any:
        stub = self._stubs.get(address)
        if stub is None:
            self._channels[address] = channel = self._channel_factory(address)
            stub = self._stubs[address] = pb_grpc.RoutingServiceStub(channel)
        return stub

    async def _call(self, address: str, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub(address), method)(
                request, timeout=self._deadline_s, metadata=((FORWARDED, "1"),)
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            text = exc.details() or ""
            if code == grpc.StatusCode.NOT_FOUND:
                error_id = text.split(":", 1)[0] or "not-found"
                raise NotFound(text, error_id=error_id) from exc
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise NotOwner(f"the owner at {address} did not answer: {text}") from exc
            raise UpstreamError(f"routing at {address}: {code.name}: {text}") from exc

    async def queue_status(self, address: str, tenant_id: str, queue_id: str) -> QueueStatusPublic:
        request = pb.GetQueueStatusRequest(tenant_id=tenant_id, queue_id=queue_id)
        response = await self._call(address, "GetQueueStatus", request)
        return status_view(response.status)

    async def explain(self, address: str, tenant_id: str, call_id: str) -> Explanation | None:
        request = pb.ExplainCallRequest(tenant_id=tenant_id, call_id=call_id)
        try:
            response = await self._call(address, "ExplainCall", request)
        except NotFound:
            return None
        source = _SOURCE_NAMES.get(response.source, "offer")
        return Explanation(
            "live" if source == "live" else "offer", decision_view(response.decision)
        )
