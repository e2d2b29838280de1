"""FastAPI app factory shared by every service: errors, health, metrics, tracing, body limit.

Errors always leave as `{"error": id, "message": ..., "details": {...}}`; validation errors
name the field at fault; anything unexpected is logged and answered as `internal-error`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_common.errors import AppError
from switchboard_common.metrics import HTTP_LATENCY, HTTP_REQUESTS, render_latest
from switchboard_common.telemetry import extract_context

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]

_STATUS_ERROR_IDS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "rate-limited",
}


def error_response(
    status: int,
    error_id: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": error_id, "message": message, "details": details or {}},
        headers=headers,
    )


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return error_response(exc.kind.http_status, exc.error_id, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_of(err.get("loc", ())),
                "problem": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "", "problem": "invalid"}
        return error_response(
            422,
            "invalid-input",
            f"{first['field']}: {first['problem']}",
            {"field": first["field"], "errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_id = _STATUS_ERROR_IDS.get(exc.status_code, "http-error")
        message = exc.detail if isinstance(exc.detail, str) else error_id
        return error_response(
            exc.status_code, error_id, message, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal-error", "internal error; it has been logged")


class BodyLimitMiddleware:
    """Refuse request bodies larger than `max_bytes` with 413 `payload-too-large`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = error_response(
            413,
            "payload-too-large",
            f"request body is larger than {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


class _BodyTooLarge(Exception):
    pass


def create_app(
    service: str,
    *,
    version: str = "0.1.0",
    description: str = "",
    routers: Sequence[APIRouter] = (),
    health_checks: dict[str, HealthCheck] | None = None,
    max_body_bytes: int = 1_048_576,
    lifespan: Any = None,
) -> FastAPI:
    """A FastAPI app with the house conventions; routers carry the service's own routes."""
    app = FastAPI(
        title=f"Switchboard {service}", version=version, description=description, lifespan=lifespan
    )
    install_error_handlers(app)
    checks = dict(health_checks or {})
    tracer = trace.get_tracer(f"switchboard.{service}.http")

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        route = request.scope.get("route")
        ctx = extract_context(dict(request.headers))
        with tracer.start_as_current_span(f"{request.method} {request.url.path}", context=ctx):
            response = await call_next(request)
        route = request.scope.get("route")
        route_path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(service, request.method, route_path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, route_path).observe(
            time.perf_counter() - started
        )
        return response

    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)

    @app.get("/health", tags=["ops"], summary="Liveness and readiness of this service")
    async def health() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = bool(await check())
            except Exception:
                log.warning("health check %s failed", name, exc_info=True)
                results[name] = False
        healthy = all(results.values())
        return JSONResponse(
            status_code=200 if healthy else 503,
            content={
                "service": service,
                "status": "ok" if healthy else "degraded",
                "checks": results,
            },
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render_latest()
        return Response(content=body, media_type=content_type)

    for router in routers:
        app.include_router(router)
    return app
