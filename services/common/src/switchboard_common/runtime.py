"""Runs one service process: HTTP (uvicorn), optional gRPC, background components, and a
clean shutdown on SIGTERM/SIGINT. Each service's composition root builds a `ServiceRuntime`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.errors import ConfigurationError
from switchboard_common.grpc import GrpcServer
from switchboard_common.logging import configure_logging
from switchboard_common.metrics import SERVICE_INFO
from switchboard_common.settings import ServiceSettings, load_settings
from switchboard_common.telemetry import configure_tracing

log = logging.getLogger(__name__)


class Component(Protocol):
    """Something with a lifecycle inside a service: a consumer, a relay, a connection."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    app: FastAPI
    grpc_server: GrpcServer | None = None
    components: list[Component] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Start everything, wait for a stop signal (or `stop`), then stop in reverse order."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        service = self.settings.SERVICE
        started: list[Component] = []
        config = uvicorn.Config(
            self.app,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        # The runtime owns SIGTERM/SIGINT: uvicorn must neither take nor re-raise them.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        http_task: asyncio.Task[None] | None = None
        try:
            for component in self.components:
                await component.start()
                started.append(component)
            if self.grpc_server is not None:
                port = await self.grpc_server.start()
                log.info("gRPC listening", extra={"grpc_port": port})
            http_task = asyncio.create_task(server.serve())
            while not server.started:
                if http_task.done():
                    await http_task
                    raise OSError(f"HTTP server for {service} stopped during start-up")
                await asyncio.sleep(0.02)
            SERVICE_INFO.labels(service).set(1)
            log.info("service started", extra={"http_port": self.settings.http_port})
            stop_wait = asyncio.create_task(stop.wait())
            await asyncio.wait({stop_wait, http_task}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
        finally:
            SERVICE_INFO.labels(service).set(0)
            server.should_exit = True
            if http_task is not None:
                await asyncio.gather(http_task, return_exceptions=True)
            if self.grpc_server is not None:
                await self.grpc_server.stop()
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception:
                    log.exception("error while stopping %s", type(component).__name__)
            for hook in self.on_stop:
                await hook()
            log.info("service stopped")


def database_check(engine: AsyncEngine) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    return check


S = TypeVar("S", bound=ServiceSettings)


def run_service(settings_cls: type[S], build: Callable[[S], Awaitable[ServiceRuntime]]) -> int:
    """Process entry point shared by every service: settings, logging, tracing, run."""
    try:
        settings = load_settings(settings_cls)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.SERVICE, settings.log_level, settings.log_format)
    configure_tracing(settings.SERVICE, settings.otel_exporter, settings.otel_endpoint)

    async def main() -> None:
        runtime = await build(settings)
        await runtime.run()

    try:
        asyncio.run(main())
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: {settings.SERVICE}: {exc}", file=sys.stderr)
        return 1
    return 0


@dataclass
class Foundation:
    """What every service's composition root starts from: database, HTTP app, gRPC server."""

    settings: ServiceSettings
    engine: AsyncEngine
    grpc_server: GrpcServer

    def runtime(self, app: FastAPI, components: list[Component] | None = None) -> ServiceRuntime:
        return ServiceRuntime(
            self.settings, app, self.grpc_server, components or [], on_stop=[self.engine.dispose]
        )


async def lay_foundation(settings: ServiceSettings, package: str) -> Foundation:
    """Open the service's database, apply its migrations and prepare its gRPC server."""
    from switchboard_common import db

    url = settings.effective_database_url
    await db.upgrade(settings.SERVICE, package, url)
    engine = db.create_engine(url)
    grpc_server = GrpcServer(settings.SERVICE, settings.grpc_host, settings.grpc_port)
    return Foundation(settings, engine, grpc_server)
