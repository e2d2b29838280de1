"""gRPC CallControl servicer: parse the request, call SwitchService, build the reply.

Errors are AppErrors raised by the service; the shared interceptor maps them to status codes
(unknown call -> NOT_FOUND, FreeSWITCH -ERR -> FAILED_PRECONDITION with FreeSWITCH's text).
"""

from __future__ import annotations

from typing import Any

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.errors import ValidationFailed
from switchboard_switch.domain.channels import Channel
from switchboard_switch.services import SwitchService

SERVICE_NAME = "switchboard.callcontrol.v1.CallControl"

_OUTCOMES = {
    "answered": pb.BRIDGE_OUTCOME_ANSWERED,
    "no_answer": pb.BRIDGE_OUTCOME_NO_ANSWER,
    "busy": pb.BRIDGE_OUTCOME_BUSY,
    "failed": pb.BRIDGE_OUTCOME_FAILED,
    "caller_gone": pb.BRIDGE_OUTCOME_CALLER_GONE,
}
_EAVESDROP_MODES = {
    pb.EAVESDROP_MODE_LISTEN: "listen",
    pb.EAVESDROP_MODE_WHISPER: "whisper",
    pb.EAVESDROP_MODE_BARGE: "barge",
}


def _ref(call: pb.CallRef) -> tuple[str, str]:
    if not call.tenant_id:
        raise ValidationFailed("tenant_id is required", field="call.tenant_id")
    if not call.call_id:
        raise ValidationFailed("call_id is required", field="call.call_id")
    return call.tenant_id, call.call_id


def _info(channel: Channel, node_id: str) -> pb.CallInfo:
    state = "answered" if channel.answered_at else "ringing"
    if channel.parked:
        state = "parked"
    if channel.other_leg:
        state = "bridged"
    return pb.CallInfo(
        call_id=channel.uuid,
        tenant_id=channel.tenant or "",
        node_id=node_id,
        state=state,
        caller_number=channel.caller_number,
        destination_number=channel.destination,
        other_call_id=channel.other_leg or "",
        held=channel.held,
        recording=channel.recording_path is not None,
        created_at_us=int(channel.created_at.timestamp() * 1_000_000),
        answered_at_us=int(channel.answered_at.timestamp() * 1_000_000)
        if channel.answered_at
        else 0,
    )


class CallControlServicer(pb_grpc.CallControlServicer):  # type: ignore[misc]
    def __init__(self, service: SwitchService) -> None:
        self.service = service

    async def Answer(self, request: pb.CallRef, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request)
        return pb.CommandResult(call_id=call_id, detail=await self.service.answer(tenant, call_id))

    async def Hangup(self, request: pb.HangupRequest, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request.call)
        detail = await self.service.hangup(tenant, call_id, request.cause)
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def Playback(self, request: pb.PlaybackRequest, _context: Any) -> pb.PlaybackResult:
        tenant, call_id = _ref(request.call)
        reason = await self.service.playback(tenant, call_id, list(request.items), request.wait)
        return pb.PlaybackResult(
            call_id=call_id, completed=reason in ("done", "queued"), reason=reason
        )

    async def PlayAndGetDigits(
        self, request: pb.PlayAndGetDigitsRequest, _context: Any
    ) -> pb.DigitsResult:
        tenant, call_id = _ref(request.call)
        result = await self.service.play_and_get_digits(
            tenant,
            call_id,
            min_digits=request.min_digits,
            max_digits=request.max_digits,
            tries=request.tries,
            timeout_ms=request.timeout_ms,
            terminators=request.terminators,
            prompt=request.prompt,
            invalid_prompt=request.invalid_prompt,
            regex=request.regex,
            digit_timeout_ms=request.digit_timeout_ms,
        )
        return pb.DigitsResult(call_id=call_id, digits=result.digits, timed_out=result.timed_out)

    async def Bridge(self, request: pb.BridgeRequest, _context: Any) -> pb.BridgeResult:
        tenant, call_id = _ref(request.call)
        result = await self.service.bridge(
            tenant,
            call_id,
            request.endpoint,
            request.ring_timeout_s or 20,
            dict(request.variables),
            request.caller_id_name,
            request.caller_id_number,
        )
        return pb.BridgeResult(
            call_id=call_id,
            outcome=_OUTCOMES[result.outcome],
            agent_call_id=result.agent_call_id,
            cause=result.cause,
            answered_endpoint=result.answered_endpoint,
        )

    async def Originate(self, request: pb.OriginateRequest, _context: Any) -> pb.OriginateResult:
        if not request.tenant_id:
            raise ValidationFailed("tenant_id is required", field="tenant_id")
        call_id, answered, cause = await self.service.originate(
            request.tenant_id,
            request.endpoint,
            request.application or "&park()",
            request.timeout_s or 30,
            dict(request.variables),
            request.caller_id_name,
            request.caller_id_number,
        )
        return pb.OriginateResult(call_id=call_id, answered=answered, cause=cause)

    async def Transfer(self, request: pb.TransferRequest, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request.call)
        detail = await self.service.transfer(
            tenant,
            call_id,
            request.destination,
            bleg=request.bleg,
            dialplan=request.dialplan,
            context=request.context,
        )
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def Park(self, request: pb.CallRef, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request)
        return pb.CommandResult(call_id=call_id, detail=await self.service.park(tenant, call_id))

    async def Hold(self, request: pb.CallRef, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request)
        detail = await self.service.hold(tenant, call_id, True)
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def Unhold(self, request: pb.CallRef, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request)
        detail = await self.service.hold(tenant, call_id, False)
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def _record(self, request: pb.RecordRequest, action: str) -> pb.CommandResult:
        tenant, call_id = _ref(request.call)
        detail = await self.service.record(tenant, call_id, action, request.path)
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def RecordStart(self, request: pb.RecordRequest, _context: Any) -> pb.CommandResult:
        return await self._record(request, "start")

    async def RecordStop(self, request: pb.RecordRequest, _context: Any) -> pb.CommandResult:
        return await self._record(request, "stop")

    async def RecordPause(self, request: pb.RecordRequest, _context: Any) -> pb.CommandResult:
        return await self._record(request, "pause")

    async def RecordResume(self, request: pb.RecordRequest, _context: Any) -> pb.CommandResult:
        return await self._record(request, "resume")

    async def Eavesdrop(self, request: pb.EavesdropRequest, _context: Any) -> pb.OriginateResult:
        tenant, call_id = _ref(request.call)
        mode = _EAVESDROP_MODES.get(request.mode)
        if mode is None:
            raise ValidationFailed("mode must be LISTEN, WHISPER or BARGE", field="mode")
        leg, answered, cause = await self.service.eavesdrop(
            tenant, call_id, request.supervisor_endpoint, mode, request.timeout_s or 30
        )
        return pb.OriginateResult(call_id=leg, answered=answered, cause=cause)

    async def Conference(self, request: pb.ConferenceRequest, _context: Any) -> pb.CommandResult:
        if not request.tenant_id:
            raise ValidationFailed("tenant_id is required", field="tenant_id")
        room = await self.service.conference(
            request.tenant_id, list(request.call_ids), request.conference_name
        )
        return pb.CommandResult(call_id=request.call_ids[0], detail=room)

    async def SendDtmf(self, request: pb.SendDtmfRequest, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request.call)
        detail = await self.service.send_dtmf(tenant, call_id, request.digits)
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def SetVariables(
        self, request: pb.SetVariablesRequest, _context: Any
    ) -> pb.CommandResult:
        tenant, call_id = _ref(request.call)
        detail = await self.service.set_variables(tenant, call_id, dict(request.variables))
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def Mute(self, request: pb.MuteRequest, _context: Any) -> pb.CommandResult:
        tenant, call_id = _ref(request.call)
        detail = await self.service.mute(tenant, call_id, request.muted)
        return pb.CommandResult(call_id=call_id, detail=detail)

    async def GetCall(self, request: pb.CallRef, _context: Any) -> pb.CallInfo:
        tenant, call_id = _ref(request)
        return _info(self.service.call(tenant, call_id), self.service.node_id)

    async def ListCalls(self, request: pb.ListCallsRequest, _context: Any) -> pb.ListCallsResponse:
        if not request.tenant_id:
            raise ValidationFailed("tenant_id is required", field="tenant_id")
        return pb.ListCallsResponse(
            calls=[
                _info(channel, self.service.node_id)
                for channel in self.service.calls(request.tenant_id)
            ]
        )
