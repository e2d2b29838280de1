"""Composition root of the routing service: settings -> adapters -> services -> servers.

`assemble()` wires everything on an engine whose database is migrated (tests and the
benchmark use it with their own clock, CallControl and broker settings); `build()` adds the
process foundation (migrations, gRPC server, runtime) around it.
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.routing.v1 import routing_pb2_grpc
from switchboard_common.auth import Authenticator, HttpApiKeyVerifier, install_authentication
from switchboard_common.bus import ConsumerSettings, EventPublisher, ProducerSettings
from switchboard_common.grpc import GrpcServer
from switchboard_common.http import create_app
from switchboard_common.outbox import Outbox, OutboxRelay
from switchboard_common.runtime import (
    Component,
    ServiceRuntime,
    database_check,
    lay_foundation,
    run_service,
)
from switchboard_routing import models
from switchboard_routing.api import ApiServices, build_router
from switchboard_routing.callcontrol import CallControl, GrpcCallControl
from switchboard_routing.consumers import RoutingConsumers
from switchboard_routing.grpc_server import SERVICE_NAME, GrpcOwnerLink, RoutingServicer
from switchboard_routing.notifier import ConfigNotifier
from switchboard_routing.repository import RoutingStore
from switchboard_routing.services import (
    CALLS_IN_PROGRESS,
    Clock,
    QueuesService,
    RoutingOptions,
    RoutingQueries,
    RoutingService,
    RoutingTimers,
    wall_clock,
)
from switchboard_routing.settings import RoutingSettings


@dataclass
class RoutingApp:
    """The wired service: what `build()` runs and what tests drive."""

    app: FastAPI
    store: RoutingStore
    outbox: Outbox
    routing: RoutingService
    queries: RoutingQueries
    queues: QueuesService
    servicer: RoutingServicer
    timers: RoutingTimers
    consumers: RoutingConsumers | None = None
    publisher: EventPublisher | None = None
    components: list[Component] = field(default_factory=list)

    def register_grpc(self, server: GrpcServer) -> None:
        server.add(
            routing_pb2_grpc.add_RoutingServiceServicer_to_server, self.servicer, SERVICE_NAME
        )

    def advertise(self, address: str) -> None:
        """The gRPC address recorded with the partitions this instance takes over."""
        self.routing.options = dataclasses.replace(self.routing.options, address=address)


def routing_options(settings: RoutingSettings) -> RoutingOptions:
    return RoutingOptions(
        instance_id=settings.effective_instance_id,
        address=settings.effective_advertised_grpc,
        bridge_grace_s=settings.bridge_grace_s,
        position_prompt=settings.announcement_position_prompt,
        wait_prompt=settings.announcement_wait_prompt,
        minutes_prompt=settings.announcement_minutes_prompt,
        digits_template=settings.digits_prompt_template,
    )


def assemble(
    settings: RoutingSettings,
    engine: AsyncEngine,
    *,
    control: CallControl | None = None,
    clock: Clock = wall_clock,
    authenticator: Authenticator | None = None,
    producer_settings: ProducerSettings | None = None,
    consumer_settings: ConsumerSettings | None = None,
    options: RoutingOptions | None = None,
) -> RoutingApp:
    """Wire the service on a migrated database. Kafka parts (outbox relay, consumers) are
    added when `settings.kafka_bootstrap_servers` (or explicit client settings) are given."""
    outbox = Outbox(models.outbox)
    store = RoutingStore(engine, outbox, role=settings.db_role)
    components: list[Component] = []
    if control is None:
        grpc_control = GrpcCallControl(settings.switch_grpc, settings.switch_grpc_nodes)
        components.append(grpc_control)
        control = grpc_control
    routing = RoutingService(
        store, control, clock=clock, options=options or routing_options(settings)
    )
    owners = GrpcOwnerLink(deadline_s=settings.grpc_deadline_s)
    components.append(owners)
    queries = RoutingQueries(routing, store, store, owners)
    queues = QueuesService(store, ConfigNotifier(outbox), routing, queries, clock=clock)
    CALLS_IN_PROGRESS.track(routing)

    app = create_app(
        "routing",
        description="Queues, skills, agent availability, routing decisions, staffing maths.",
        routers=[build_router(ApiServices(queues=queues, routing=routing))],
        health_checks={"database": database_check(engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    if authenticator is None:
        api_keys = HttpApiKeyVerifier(settings.admin_url, settings.internal_secret)
        components.append(api_keys)
        authenticator = Authenticator(jwt_secret=settings.jwt_secret, api_keys=api_keys)
    install_authentication(app, authenticator)

    if producer_settings is None and settings.kafka_bootstrap_servers:
        producer_settings = ProducerSettings.from_service_settings(settings)
    if consumer_settings is None and settings.kafka_bootstrap_servers:
        consumer_settings = ConsumerSettings.from_service_settings(
            settings, settings.consumer_group, auto_offset_reset=settings.auto_offset_reset
        )
    publisher: EventPublisher | None = None
    if producer_settings is not None:
        publisher = EventPublisher(producer_settings)
        components += [publisher, OutboxRelay(outbox, engine, publisher)]
    timers = RoutingTimers(
        routing,
        tick_interval_s=settings.tick_interval_s,
        flush_interval_s=settings.flush_interval_s,
        snapshot_interval_s=settings.snapshot_interval_s,
        purge=lambda: store.purge_older(clock(), settings.decision_retention_s),
    )
    components += [_RoutingShutdown(routing), timers]
    consumers: RoutingConsumers | None = None
    if consumer_settings is not None:
        consumers = RoutingConsumers(
            routing,
            consumer_settings,
            consumer_settings.bootstrap_servers,
            dead_letters=publisher,
            follow_from_start=settings.follow_history_from_start,
            catch_up_timeout_s=settings.catch_up_timeout_s,
        )
        components.append(consumers)
    return RoutingApp(
        app=app,
        store=store,
        outbox=outbox,
        routing=routing,
        queries=queries,
        queues=queues,
        servicer=RoutingServicer(queries),
        timers=timers,
        consumers=consumers,
        publisher=publisher,
        components=components,
    )


class _RoutingShutdown:
    """Cancels the Bridge commands in flight on shutdown, once the consumers have released
    the partitions and the timers have written what was pending (components stop in
    reverse order)."""

    def __init__(self, routing: RoutingService) -> None:
        self._routing = routing

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._routing.stop()


class HeapFreeze:
    """Component started last: moves everything allocated while starting (modules, wiring,
    rebuilt engines) out of the garbage collector's view. Full collections then walk only
    what the service allocates while running: without it they stop the event loop for
    tens of milliseconds, which a Bridge decided in that window waits for."""

    async def start(self) -> None:
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        gc.unfreeze()


async def build(settings: RoutingSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_routing")
    service = assemble(settings, foundation.engine)
    service.register_grpc(foundation.grpc_server)
    return foundation.runtime(service.app, [*service.components, HeapFreeze()])


def main() -> int:
    return run_service(RoutingSettings, build)
