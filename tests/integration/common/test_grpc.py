"""The shared gRPC server: health, reflection, AppError -> status code, deadlines."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace

from switchboard.callcontrol.v1 import callcontrol_pb2, callcontrol_pb2_grpc
from switchboard_common.errors import NotFound, PreconditionFailed
from switchboard_common.grpc import GrpcServer, client_channel
from switchboard_common.telemetry import configure_tracing


class FakeCallControl(callcontrol_pb2_grpc.CallControlServicer):  # type: ignore[misc]
    async def Answer(
        self, request: callcontrol_pb2.CallRef, context: grpc.aio.ServicerContext
    ) -> callcontrol_pb2.CommandResult:
        if request.call_id == "missing":
            raise NotFound("no such call", error_id="no-such-call")
        if request.call_id == "err":
            raise PreconditionFailed("-ERR No such channel!", error_id="freeswitch-error")
        return callcontrol_pb2.CommandResult(call_id=request.call_id, detail="+OK")


async def test_grpc_server_health_and_error_mapping() -> None:
    server = GrpcServer("test", "127.0.0.1", 0)
    server.add(
        callcontrol_pb2_grpc.add_CallControlServicer_to_server,
        FakeCallControl(),
        "switchboard.callcontrol.v1.CallControl",
    )
    port = await server.start()
    try:
        async with client_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = await health.Check(
                health_pb2.HealthCheckRequest(service="switchboard.callcontrol.v1.CallControl")
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            stub = callcontrol_pb2_grpc.CallControlStub(channel)
            ok = await stub.Answer(callcontrol_pb2.CallRef(tenant_id="t", call_id="c1"))
            assert ok.detail == "+OK"
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Answer(callcontrol_pb2.CallRef(tenant_id="t", call_id="missing"))
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            assert info.value.details() == "no-such-call: no such call"
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Answer(callcontrol_pb2.CallRef(tenant_id="t", call_id="err"))
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "-ERR No such channel!" in (info.value.details() or "")
    finally:
        await server.stop(0)


class TraceEcho(callcontrol_pb2_grpc.CallControlServicer):  # type: ignore[misc]
    """Answers with the trace id it sees, so a test can check the context crossed."""

    async def Answer(
        self, request: callcontrol_pb2.CallRef, context: grpc.aio.ServicerContext
    ) -> callcontrol_pb2.CommandResult:
        span_context = trace.get_current_span().get_span_context()
        return callcontrol_pb2.CommandResult(
            call_id=request.call_id, detail=format(span_context.trace_id, "032x")
        )


async def test_trace_context_crosses_grpc() -> None:
    configure_tracing("test")
    server = GrpcServer("test", "127.0.0.1", 0)
    server.add(
        callcontrol_pb2_grpc.add_CallControlServicer_to_server,
        TraceEcho(),
        "switchboard.callcontrol.v1.CallControl",
    )
    port = await server.start()
    try:
        async with client_channel(f"127.0.0.1:{port}") as channel:
            stub = callcontrol_pb2_grpc.CallControlStub(channel)
            with trace.get_tracer("test").start_as_current_span("caller") as span:
                reply = await stub.Answer(callcontrol_pb2.CallRef(tenant_id="t", call_id="c"))
                expected = format(span.get_span_context().trace_id, "032x")
        assert reply.detail == expected
        assert expected != "0" * 32
    finally:
        await server.stop(0)
