"""WebSocket sessions: agent desktops (`/v1/agents/ws`) and supervisor screens
(`/v1/supervisor/ws`).

Authentication: the admin JWT, as `Authorization: Bearer <jwt>` or, for browsers (which
cannot set headers on a WebSocket), as the `token` query parameter. A refused credential is
told in an `error` message, then the socket is closed with 4401 (4403: missing permission).
Commands run concurrently (a slow transfer does not hold up a hang-up), each answered by one
reply carrying its request id; see domain/protocol.py for the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import TypeAdapter
from starlette.websockets import WebSocketDisconnect, WebSocketState

from switchboard_common.auth import Authenticator, Principal
from switchboard_common.errors import AppError, Forbidden, Unauthenticated
from switchboard_cti.domain import protocol as p
from switchboard_cti.hub import SessionHub
from switchboard_cti.services import AgentsService, CallControls, Supervision

log = logging.getLogger(__name__)

AGENT_PERMISSION = "calls:control"
SUPERVISOR_PERMISSION = "agents:read"
FORCE_PERMISSION = "agents:write"
MAX_COMMANDS_IN_FLIGHT = 8
_CLOSE = object()
_ids = itertools.count(1)


class WsConnection:
    """One WebSocket with its own send queue and writer task (see hub.Connection)."""

    def __init__(self, websocket: WebSocket, *, queue_size: int) -> None:
        self.websocket = websocket
        self._id = f"ws-{next(_ids)}"
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._closing = False
        self.close_code = 1000
        self.close_reason = ""

    @property
    def connection_id(self) -> str:
        return self._id

    def push(self, message: dict[str, Any]) -> None:
        if self._closing:
            return
        try:
            self._queue.put_nowait(orjson.dumps(message))
        except asyncio.QueueFull:
            log.warning("desktop %s is not reading; closing it", self._id)
            self._closing = True
            self.close_code, self.close_reason = 4008, "too slow: messages piled up"
            self._queue.get_nowait()
            self._queue.put_nowait(_CLOSE)

    def close_soon(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self.close_code, self.close_reason = code, reason
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_CLOSE)

    def finish(self) -> None:
        """The reader is done: let the writer end."""
        self._closing = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def run_writer(self) -> None:
        websocket = self.websocket
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                if item is _CLOSE:
                    await websocket.close(self.close_code, self.close_reason)
                    return
                await websocket.send_text(item.decode())
        except (WebSocketDisconnect, RuntimeError, OSError):
            return


@dataclass
class WsServices:
    authenticator: Authenticator
    agents: AgentsService
    controls: CallControls
    supervision: Supervision
    hub: SessionHub
    send_queue: int = 256


def _token(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return websocket.query_params.get("token") or None


async def _refuse(websocket: WebSocket, error: AppError, code: int) -> None:
    await websocket.accept()
    await websocket.send_text(orjson.dumps({"type": "error", "error": error.to_body()}).decode())
    await websocket.close(code, error.error_id)


async def _authenticate(
    websocket: WebSocket, authenticator: Authenticator, permission: str
) -> tuple[Principal, str] | None:
    token = _token(websocket)
    try:
        principal = await authenticator.authenticate(bearer=token, api_key=None)
    except Unauthenticated as exc:
        await _refuse(websocket, exc, 4401)
        return None
    if principal.tenant_id is None or principal.user_id is None or not principal.has(permission):
        await _refuse(
            websocket,
            Forbidden(f"missing permission {permission}", details={"permission": permission}),
            4403,
        )
        return None
    assert token is not None
    return principal, token


def _reply(request_id: str | None, result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "reply", "id": request_id, "ok": True, "result": result}


def _error(request_id: str | None, error: AppError) -> dict[str, Any]:
    return {"type": "reply", "id": request_id, "ok": False, "error": error.to_body()}


async def _serve(
    websocket: WebSocket,
    connection: WsConnection,
    adapter: TypeAdapter[Any],
    execute: Callable[[Any], Awaitable[dict[str, Any]]],
) -> None:
    """Read commands until the socket goes; each runs as its own task."""
    in_flight: set[asyncio.Task[None]] = set()
    limit = asyncio.Semaphore(MAX_COMMANDS_IN_FLIGHT)

    async def run(request_id: str | None, command: Any) -> None:
        async with limit:
            try:
                connection.push(_reply(request_id, await execute(command)))
            except AppError as exc:
                connection.push(_error(request_id, exc))
            except Exception:
                log.exception("command %s failed", getattr(command, "cmd", "?"))
                connection.push(_error(request_id, AppError("internal error; it has been logged")))

    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            try:
                request_id, command = p.parse_message(raw, adapter)
            except p.MalformedMessage as exc:
                connection.push(_error(exc.details.get("id"), exc))
                continue
            task = asyncio.create_task(run(request_id, command))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        for task in list(in_flight):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def build_ws_router(services: WsServices) -> APIRouter:
    router = APIRouter()

    @router.websocket("/v1/agents/ws")
    async def agent_desktop(websocket: WebSocket) -> None:
        auth = await _authenticate(websocket, services.authenticator, AGENT_PERMISSION)
        if auth is None:
            return
        principal, token = auth
        tenant_id, agent_id = principal.tenant_id, principal.user_id
        assert tenant_id is not None and agent_id is not None
        await websocket.accept()
        connection = WsConnection(websocket, queue_size=services.send_queue)
        writer = asyncio.create_task(connection.run_writer())
        record = await services.agents.connect_desktop(tenant_id, agent_id, connection, token)

        async def execute(command: Any) -> dict[str, Any]:
            return await services.controls.execute(tenant_id, agent_id, command)

        try:
            await _serve(websocket, connection, p.AGENT_COMMANDS, execute)
        finally:
            await services.agents.disconnect_desktop(record, connection)
            connection.finish()
            await writer
            if websocket.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                    await websocket.close()

    @router.websocket("/v1/supervisor/ws")
    async def supervisor_screen(websocket: WebSocket) -> None:
        auth = await _authenticate(websocket, services.authenticator, SUPERVISOR_PERMISSION)
        if auth is None:
            return
        principal, _token_text = auth
        tenant_id = principal.tenant_id
        assert tenant_id is not None
        await websocket.accept()
        connection = WsConnection(websocket, queue_size=max(services.send_queue, 4096))
        writer = asyncio.create_task(connection.run_writer())
        connection.push(services.supervision.snapshot(tenant_id))
        services.hub.attach_supervisor(tenant_id, connection)

        async def execute(command: Any) -> dict[str, Any]:
            if isinstance(command, p.Ping):
                return {"pong": services.agents.now()}
            if isinstance(command, p.ForceState):
                _require(principal, FORCE_PERMISSION)
                agent = await services.agents.force_state(
                    tenant_id,
                    command.agent_id,
                    command.state,
                    reason=command.reason,
                    actor=principal.subject,
                    source="supervisor-ws",
                )
                return {"agent": agent}
            assert isinstance(command, p.Eavesdrop)
            _require(principal, f"supervise:{command.mode}")
            return await services.supervision.eavesdrop(
                tenant_id, command.agent_id, command.mode, command.endpoint
            )

        try:
            await _serve(websocket, connection, p.SUPERVISOR_COMMANDS, execute)
        finally:
            services.hub.detach_supervisor(tenant_id, connection)
            connection.finish()
            await writer

    return router


def _require(principal: Principal, permission: str) -> None:
    if not principal.has(permission):
        raise Forbidden(f"missing permission {permission}", details={"permission": permission})
