"""Composition root of the ivr service: settings -> adapters -> services -> servers.

`create_ivr_app(...)` wires everything that needs no network (tests build the app with it,
giving their own CallControl); `build(settings)` adds migrations, the database engine, the
switch's CallControl over gRPC, the webhook client and, only when KAFKA_BOOTSTRAP_SERVERS is
set, the producer, the run notifier, the outbox relay and the consumers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common.auth import Authenticator, HttpApiKeyVerifier, install_authentication
from switchboard_common.bus import (
    ConsumerSettings,
    EventConsumer,
    EventPublisher,
    InMemoryProcessedEvents,
    ProducerSettings,
    SqlProcessedEvents,
)
from switchboard_common.bus.producer import RecordPublisher
from switchboard_common.db import is_postgres, make_sessionmaker
from switchboard_common.events import topics
from switchboard_common.http import create_app
from switchboard_common.outbox import Outbox, OutboxRelay
from switchboard_common.runtime import (
    Component,
    ServiceRuntime,
    database_check,
    lay_foundation,
    run_service,
)
from switchboard_ivr import models
from switchboard_ivr.api import (
    IvrServices,
    catalog_router,
    flows_router,
    internal_router,
    numbers_router,
)
from switchboard_ivr.callcontrol import CallControl, GrpcCallControl
from switchboard_ivr.consumers import CallEventsHandler, ConfigEventsHandler
from switchboard_ivr.notifier import FlowNotifier, IvrStats, RunNotifier
from switchboard_ivr.repository import IvrStore
from switchboard_ivr.runner import Webhooks, utcnow
from switchboard_ivr.services import (
    CallsOptions,
    CallsService,
    CatalogService,
    ConfigService,
    CrmLookup,
    FlowsService,
    TenantDirectory,
)
from switchboard_ivr.settings import IvrSettings
from switchboard_ivr.webhooks import WebhookClient


@dataclass
class IvrApp:
    app: FastAPI
    flows: FlowsService
    catalog: CatalogService
    config: ConfigService
    calls: CallsService
    directory: TenantDirectory
    notifier: RunNotifier
    outbox: Outbox
    stats: IvrStats


def calls_options(settings: IvrSettings) -> CallsOptions:
    return CallsOptions(
        voicemail_path_template=settings.voicemail_path_template,
        transfer_dial_template=settings.transfer_dial_template,
        apology_sound=settings.apology_sound,
        liveness_interval_s=settings.liveness_interval_s,
        handover_max_age_s=settings.handover_max_age_s,
        shutdown_grace_s=settings.shutdown_grace_s,
    )


def create_ivr_app(
    settings: IvrSettings,
    engine: AsyncEngine,
    *,
    control: CallControl,
    webhooks: Webhooks,
    publisher: RecordPublisher | None = None,
    authenticator: Authenticator | None = None,
    crm: CrmLookup | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> IvrApp:
    store = IvrStore(
        make_sessionmaker(engine), app_role=settings.db_role if is_postgres(engine) else ""
    )
    outbox = Outbox(models.outbox)
    stats = IvrStats()
    notifier = RunNotifier(publisher, stats=stats)
    directory = TenantDirectory(
        store,
        ttl_s=settings.config_cache_ttl_s,
        fallback_template=settings.prompt_fallback_template,
    )
    flows = FlowsService(store, FlowNotifier(outbox), directory, clock=clock)
    catalog = CatalogService(store, directory, clock=clock)
    config = ConfigService(store, directory, clock=clock)
    calls = CallsService(
        directory,
        control=control,
        announcer=notifier,
        webhooks=webhooks,
        stats=stats,
        options=calls_options(settings),
        crm=crm,
        clock=clock,
    )
    services = IvrServices(flows=flows, catalog=catalog, calls=calls)
    app = create_app(
        "ivr",
        description="IVR flows (drafts, versions, flow tester), numbers, prompts, blacklist; "
        "runs the flows of arriving calls.",
        routers=[
            flows_router(services),
            numbers_router(services),
            catalog_router(services),
            internal_router(stats, calls),
        ],
        health_checks={"database": database_check(engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    install_authentication(
        app,
        authenticator
        or Authenticator(
            jwt_secret=settings.jwt_secret,
            api_keys=HttpApiKeyVerifier(settings.admin_url, settings.internal_secret),
        ),
    )
    return IvrApp(
        app=app,
        flows=flows,
        catalog=catalog,
        config=config,
        calls=calls,
        directory=directory,
        notifier=notifier,
        outbox=outbox,
        stats=stats,
    )


async def build(settings: IvrSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_ivr")
    engine = foundation.engine
    control = GrpcCallControl(
        settings.switch_grpc,
        settings.switch_grpc_nodes,
        deadline_s=settings.grpc_deadline_s,
        media_deadline_s=settings.media_deadline_s,
    )
    webhooks = WebhookClient(max_bytes=settings.webhook_max_bytes)
    publisher = (
        EventPublisher(ProducerSettings.from_service_settings(settings))
        if settings.kafka_bootstrap_servers
        else None
    )
    ivr = create_ivr_app(settings, engine, control=control, webhooks=webhooks, publisher=publisher)
    components: list[Component] = [control, webhooks]
    if publisher is not None:
        calls_consumer = EventConsumer(
            ConsumerSettings.from_service_settings(settings, f"{settings.consumer_group}-calls"),
            [topics.CALLS, topics.QUEUES],
            CallEventsHandler(ivr.calls),
            processed=InMemoryProcessedEvents(),
            dead_letters=publisher,
        )
        config_consumer = EventConsumer(
            ConsumerSettings.from_service_settings(settings, f"{settings.consumer_group}-config"),
            [topics.CONFIG],
            ConfigEventsHandler(ivr.config),
            processed=SqlProcessedEvents(engine, models.processed_events),
            dead_letters=publisher,
        )
        components += [
            publisher,
            ivr.notifier,
            OutboxRelay(ivr.outbox, engine, publisher),
            ivr.calls,
            config_consumer,
            calls_consumer,
        ]
    return foundation.runtime(ivr.app, components)


def main() -> int:
    return run_service(IvrSettings, build)
