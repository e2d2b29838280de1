"""Composition root of the cti service: settings -> adapters -> services -> servers.

`assemble()` wires everything on a migrated database (tests use it with their own fakes and
broker); `build()` adds the process foundation (migrations, gRPC server, runtime).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.cti.v1 import agents_pb2_grpc
from switchboard_common.auth import Authenticator, HttpApiKeyVerifier, install_authentication
from switchboard_common.bus import (
    ConsumerSettings,
    EventConsumer,
    EventPublisher,
    InMemoryProcessedEvents,
    ProducerSettings,
)
from switchboard_common.events import topics
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
from switchboard_cti import models
from switchboard_cti.api import STATIC_DIR, build_router, desktop_redirect_router
from switchboard_cti.callcontrol import CallControl, GrpcCallControl
from switchboard_cti.consumers import ConfigEventsHandler, LiveEventsHandler
from switchboard_cti.customers import CustomerCards, GrpcCustomerCards, NoCustomerCards
from switchboard_cti.directory import Directory
from switchboard_cti.grpc_server import SERVICE_NAME, AgentServicer
from switchboard_cti.hub import SessionHub
from switchboard_cti.notifier import AgentNotifier
from switchboard_cti.repository import CtiRepository
from switchboard_cti.services import (
    AgentsService,
    CallControls,
    Clock,
    ScreenPop,
    Supervision,
    SupervisorFeed,
    Templates,
)
from switchboard_cti.settings import CtiSettings
from switchboard_cti.synthetic import SyntheticAgents
from switchboard_cti.tickets import HttpTicketCreator, TicketCreator
from switchboard_cti.ws import WsServices, build_ws_router


class StateLoader:
    """Component: takes tenants, queues and agents back from the database first thing, and
    stops the agents' timers last."""

    def __init__(self, directory: Directory, agents: AgentsService) -> None:
        self._directory = directory
        self._agents = agents

    async def start(self) -> None:
        await self._directory.load()
        await self._agents.load()

    async def stop(self) -> None:
        await self._agents.stop()


@dataclass
class CtiApp:
    """The wired service: what `build()` runs and what tests drive."""

    app: FastAPI
    repository: CtiRepository
    directory: Directory
    hub: SessionHub
    agents: AgentsService
    pop: ScreenPop
    controls: CallControls
    supervision: Supervision
    servicer: AgentServicer
    components: list[Component] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)
    synthetic: SyntheticAgents | None = None

    def register_grpc(self, server: GrpcServer) -> None:
        server.add(agents_pb2_grpc.add_AgentServiceServicer_to_server, self.servicer, SERVICE_NAME)


def assemble(
    settings: CtiSettings,
    engine: AsyncEngine,
    *,
    clock: Clock = time.time,
    authenticator: Authenticator | None = None,
    callcontrol: CallControl | None = None,
    cards: CustomerCards | None = None,
    tickets: TicketCreator | None = None,
    producer_settings: ProducerSettings | None = None,
    consumer_settings: ConsumerSettings | None = None,
) -> CtiApp:
    """Wire the service on a migrated database. Kafka parts (outbox relay, consumers) are
    added when `settings.kafka_bootstrap_servers` (or explicit client settings) are given."""
    components: list[Component] = []
    repository = CtiRepository(engine)
    outbox = Outbox(models.outbox)
    notifier = AgentNotifier(outbox)
    directory = Directory(repository)
    hub = SessionHub()
    agents = AgentsService(
        repository,
        notifier,
        hub,
        directory,
        clock=clock,
        desktop_lost_grace_s=settings.desktop_lost_grace_s,
    )
    components.append(StateLoader(directory, agents))
    if callcontrol is None:
        grpc_callcontrol = GrpcCallControl(
            settings.switch_grpc,
            settings.switch_grpc_nodes,
            deadline_s=settings.callcontrol_deadline_s,
        )
        components.append(grpc_callcontrol)
        callcontrol = grpc_callcontrol
    if cards is None:
        if settings.tickets_grpc:
            grpc_cards = GrpcCustomerCards(
                settings.tickets_grpc, deadline_s=settings.lookup_deadline_s
            )
            components.append(grpc_cards)
            cards = grpc_cards
        else:
            cards = NoCustomerCards()
    if tickets is None:
        http_tickets = HttpTicketCreator(settings.tickets_url, timeout_s=settings.tickets_timeout_s)
        components.append(http_tickets)
        tickets = http_tickets
    pop = ScreenPop(agents, directory, cards, card_wait_s=settings.pop_card_wait_s)
    controls = CallControls(
        agents,
        callcontrol,
        tickets,
        notifier,
        repository,
        templates=Templates(
            agent_endpoint=settings.agent_endpoint_template,
            number_endpoint=settings.number_endpoint_template,
            recording_path=settings.recording_path_template,
            default_region=settings.default_region,
            consult_timeout_s=settings.consult_timeout_s,
        ),
    )
    supervision = Supervision(agents, callcontrol)
    components.append(SupervisorFeed(agents, supervision))

    if authenticator is None:
        api_keys = HttpApiKeyVerifier(
            settings.admin_url or "http://127.0.0.1:8108", settings.internal_secret
        )
        components.append(api_keys)
        authenticator = Authenticator(jwt_secret=settings.jwt_secret, api_keys=api_keys)
    app = create_app(
        "cti",
        description="Agent sessions, agent state machine, screen pop, call controls, "
        "desktop pages (/desktop/).",
        routers=[
            build_router(agents, supervision, repository, admin_url=settings.admin_url),
            build_ws_router(
                WsServices(
                    authenticator=authenticator,
                    agents=agents,
                    controls=controls,
                    supervision=supervision,
                    hub=hub,
                    send_queue=settings.ws_send_queue,
                )
            ),
            desktop_redirect_router(),
        ],
        health_checks={"database": database_check(engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    install_authentication(app, authenticator)
    app.mount("/desktop", StaticFiles(directory=STATIC_DIR, html=True), name="desktop")

    if producer_settings is None and settings.kafka_bootstrap_servers:
        producer_settings = ProducerSettings.from_service_settings(settings)
    if consumer_settings is None and settings.kafka_bootstrap_servers:
        consumer_settings = ConsumerSettings.from_service_settings(
            settings, settings.consumer_group
        )
    publisher: EventPublisher | None = None
    if producer_settings is not None:
        publisher = EventPublisher(producer_settings)
        relay = OutboxRelay(outbox, engine, publisher)
        repository.add_commit_listener(relay.notify)
        components += [publisher, relay]
    consumers: list[EventConsumer] = []
    if consumer_settings is not None:
        config_settings = consumer_settings.model_copy(
            update={
                "group_id": f"{consumer_settings.group_id}-config",
                "auto_offset_reset": "earliest",
            }
        )
        live_settings = consumer_settings.model_copy(
            update={"auto_offset_reset": settings.live_offset_reset}
        )
        consumers = [
            EventConsumer(
                config_settings,
                [topics.CONFIG],
                ConfigEventsHandler(agents, directory),
                processed=InMemoryProcessedEvents(),
                dead_letters=publisher,
            ),
            EventConsumer(
                live_settings,
                [topics.QUEUES, topics.CALLS, topics.IVR],
                LiveEventsHandler(agents, pop),
                processed=InMemoryProcessedEvents(),
                dead_letters=publisher,
            ),
        ]
        components += consumers
    synthetic = None
    if settings.synthetic_agents > 0:
        synthetic = SyntheticAgents(settings, agents)
        components.append(synthetic)

    return CtiApp(
        app=app,
        repository=repository,
        directory=directory,
        hub=hub,
        agents=agents,
        pop=pop,
        controls=controls,
        supervision=supervision,
        servicer=AgentServicer(agents),
        components=components,
        consumers=consumers,
        synthetic=synthetic,
    )


async def build(settings: CtiSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_cti")
    service = assemble(settings, foundation.engine)
    service.register_grpc(foundation.grpc_server)
    return foundation.runtime(service.app, service.components)


def main() -> int:
    return run_service(CtiSettings, build)
