"""GrpcCallControl against a CallControl server on a loopback port: requests carry the
tenant and the flow's rules, unknown calls and hang-ups become CallGone, an unavailable switch
is retried for repeatable commands, and each FreeSWITCH node's calls go to its own switch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_ivr.callcontrol import (
    SILENCE,
    CallControlFailed,
    CallGone,
    CallRef,
    DigitsRequest,
    GrpcCallControl,
)

LIVE = "live-call"


class FakeSwitch(pb_grpc.CallControlServicer):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        self.name = name
        self.requests: list[tuple[str, Any]] = []
        self.unavailable_answers = 0
        self.playback_reason = "done"

    async def _check(self, method: str, call: Any, context: Any) -> None:
        self.requests.append((method, call))
        if call.call_id != LIVE:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no-such-call: unknown")

    async def Answer(self, request: Any, context: Any) -> Any:
        await self._check("Answer", request, context)
        if self.unavailable_answers:
            self.unavailable_answers -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "ESL link down")
        return pb.CommandResult(call_id=request.call_id, detail="+OK")

    async def Hangup(self, request: Any, context: Any) -> Any:
        await self._check("Hangup", request.call, context)
        self.requests[-1] = ("Hangup", request)
        return pb.CommandResult(call_id=request.call.call_id, detail="+OK")

    async def Playback(self, request: Any, context: Any) -> Any:
        await self._check("Playback", request.call, context)
        self.requests[-1] = ("Playback", request)
        return pb.PlaybackResult(
            call_id=request.call.call_id,
            completed=self.playback_reason == "done",
            reason=self.playback_reason,
        )

    async def PlayAndGetDigits(self, request: Any, context: Any) -> Any:
        await self._check("PlayAndGetDigits", request.call, context)
        self.requests[-1] = ("PlayAndGetDigits", request)
        return pb.DigitsResult(call_id=request.call.call_id, digits="42", timed_out=False)

    async def Transfer(self, request: Any, context: Any) -> Any:
        await self._check("Transfer", request.call, context)
        self.requests[-1] = ("Transfer", request)
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "freeswitch-error: -ERR")

    async def SetVariables(self, request: Any, context: Any) -> Any:
        await self._check("SetVariables", request.call, context)
        self.requests[-1] = ("SetVariables", request)
        return pb.CommandResult(call_id=request.call.call_id, detail="+OK")

    async def GetCall(self, request: Any, context: Any) -> Any:
        await self._check("GetCall", request, context)
        return pb.CallInfo(call_id=request.call_id, tenant_id=request.tenant_id)


async def _serve(switch: FakeSwitch) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pb_grpc.add_CallControlServicer_to_server(switch, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture()
async def switches() -> AsyncIterator[tuple[FakeSwitch, FakeSwitch, GrpcCallControl]]:
    first, second = FakeSwitch("fs1"), FakeSwitch("fs2")
    server1, target1 = await _serve(first)
    server2, target2 = await _serve(second)
    control = GrpcCallControl(target1, {"fs2": target2}, deadline_s=2.0, media_deadline_s=5.0)
    yield first, second, control
    await control.stop()
    await server1.stop(None)
    await server2.stop(None)


async def test_commands_carry_the_tenant_and_the_flow_s_rules(switches: Any) -> None:
    switch, _, control = switches
    call = CallRef("acme", LIVE, "fs1")

    await control.hangup(call, "USER_BUSY")
    await control.play(call, ["a.wav", "b.wav"])
    digits = await control.collect_digits(
        call,
        DigitsRequest(
            min_digits=1,
            max_digits=4,
            timeout_ms=5000,
            digit_timeout_ms=2000,
            terminators="#",
            prompt="",
            invalid_prompt="bad.wav",
            regex="^\\d+$",
        ),
    )

    await control.set_variables(call, {"park_after_bridge": "true"})

    hangup, playback, collect, variables = (request for _, request in switch.requests)
    assert dict(variables.variables) == {"park_after_bridge": "true"}
    assert (hangup.call.tenant_id, hangup.call.call_id, hangup.cause) == ("acme", LIVE, "USER_BUSY")
    assert (list(playback.items), playback.wait) == (["a.wav", "b.wav"], True)
    assert digits == "42"
    assert (collect.tries, collect.max_digits, collect.regex) == (1, 4, "^\\d+$")
    assert (collect.prompt, collect.invalid_prompt, collect.terminators) == (
        SILENCE,
        "bad.wav",
        "#",
    )


async def test_an_unknown_call_or_a_playback_cut_by_a_hang_up_is_call_gone(
    switches: Any,
) -> None:
    switch, _, control = switches

    with pytest.raises(CallGone):
        await control.answer(CallRef("acme", "gone", "fs1"))
    assert await control.exists(CallRef("acme", "gone", "fs1")) is False
    assert await control.exists(CallRef("acme", LIVE, "fs1")) is True
    switch.playback_reason = "hangup"
    with pytest.raises(CallGone):
        await control.play(CallRef("acme", LIVE, "fs1"), ["a.wav"])


async def test_an_unavailable_switch_is_retried_and_other_errors_are_reported(
    switches: Any,
) -> None:
    switch, _, control = switches
    switch.unavailable_answers = 2

    await control.answer(CallRef("acme", LIVE, "fs1"))
    assert [method for method, _ in switch.requests] == ["Answer"] * 3

    with pytest.raises(CallControlFailed) as failure:
        await control.transfer(CallRef("acme", LIVE, "fs1"), "bridge:x", "inline")
    assert failure.value.details["code"] == "FAILED_PRECONDITION"


async def test_each_node_s_calls_go_to_its_own_switch(switches: Any) -> None:
    first, second, control = switches

    await control.answer(CallRef("acme", LIVE, "fs2"))
    await control.answer(CallRef("acme", LIVE, "fs-unknown"))

    assert len(second.requests) == 1 and len(first.requests) == 1
