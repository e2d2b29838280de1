"""gRPC helpers: a `grpc.aio` server with health checking, reflection, AppError mapping and
trace-context extraction; client channels that carry trace context and default deadlines."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeAlias

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from switchboard_common.errors import AppError
from switchboard_common.metrics import GRPC_REQUESTS
from switchboard_common.telemetry import extract_context

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 5.0

MethodHandler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def status_code_for(error: AppError) -> grpc.StatusCode:
    return grpc.StatusCode[error.kind.grpc_code_name]


def _wrap_unary(
    service: str, method: str, behavior: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    tracer = trace.get_tracer(f"switchboard.{service}.grpc")

    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        ctx = extract_context(
            {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        )
        token = otel_context.attach(ctx)
        code = "OK"
        try:
            with tracer.start_as_current_span(method):
                return await behavior(request, context)
        except AppError as exc:
            code = exc.kind.grpc_code_name
            await context.abort(status_code_for(exc), f"{exc.error_id}: {exc.message}")
        except Exception:
            if context.code() not in (None, grpc.StatusCode.OK):
                code = str(context.code().name) if context.code() else "UNKNOWN"
                raise
            code = "INTERNAL"
            log.exception("unhandled error in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "internal-error: it has been logged")
        finally:
            GRPC_REQUESTS.labels(service, method, code).inc()
            otel_context.detach(token)

    return wrapped


class AppErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Maps AppError to gRPC status codes once for every unary RPC, with a span per call."""

    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[MethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> MethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        return grpc.unary_unary_rpc_method_handler(
            _wrap_unary(self.service, method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """A grpc.aio server with health and reflection; `add` registers a servicer."""

    def __init__(self, service: str, host: str, port: int) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.server = grpc.aio.server(interceptors=[AppErrorInterceptor(service)])
        self.health = (
            health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._service_names: list[str] = [
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        ]

    def add(
        self,
        register: Callable[[Any, grpc.aio.Server], None],
        servicer: Any,
        full_service_name: str,
    ) -> None:
        register(servicer, self.server)
        self._service_names.append(full_service_name)

    async def start(self) -> int:
        reflection.enable_server_reflection(
            [*self._service_names, reflection.SERVICE_NAME], self.server
        )
        bound = self.server.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC to {self.host}:{self.port}")
        self.port = bound
        await self.server.start()
        for name in [*self._service_names, ""]:
            await _maybe_await(self.health.set(name, health_pb2.HealthCheckResponse.SERVING))
        return bound

    async def stop(self, grace: float = 2.0) -> None:
        await self.server.stop(grace)


async def _maybe_await(value: Any) -> None:
    if hasattr(value, "__await__"):
        await value


class _ClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Adds the trace context and a default deadline to every unary call."""

    def __init__(self, default_deadline_s: float) -> None:
        self.default_deadline_s = default_deadline_s

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: Any, request: Any
    ) -> Any:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        metadata = list(client_call_details.metadata or ()) + list(carrier.items())
        timeout = client_call_details.timeout
        if timeout is None:
            timeout = self.default_deadline_s
        details = grpc.aio.ClientCallDetails(
            method=client_call_details.method,
            timeout=timeout,
            metadata=grpc.aio.Metadata(*metadata),
            credentials=client_call_details.credentials,
            wait_for_ready=client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def client_channel(
    target: str,
    *,
    default_deadline_s: float = DEFAULT_DEADLINE_S,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.aio.Channel:
    """An insecure channel (loopback / in-cluster mTLS sidecar) with deadlines and tracing."""
    interceptors: list[Any] = [_ClientInterceptor(default_deadline_s)]
    return grpc.aio.insecure_channel(target, interceptors=interceptors, options=list(options))


def metadata_items(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(pairs)
