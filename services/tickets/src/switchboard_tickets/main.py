"""Composition root of the tickets service: settings -> adapters -> services -> servers.

`assemble()` wires everything on an engine whose database is migrated (tests use it with
their own clock and broker); `build()` adds the process foundation (migrations, gRPC
server, runtime) around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.tickets.v1 import customers_pb2_grpc
from switchboard_common.auth import Authenticator, HttpApiKeyVerifier, install_authentication
from switchboard_common.bus import (
    ConsumerSettings,
    EventConsumer,
    EventPublisher,
    ProducerSettings,
    SqlProcessedEvents,
)
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
from switchboard_tickets import models
from switchboard_tickets.api import ApiServices, build_router
from switchboard_tickets.cache_sync import ChangeListener, LookupCacheWarmer
from switchboard_tickets.consumers import (
    contact_history_consumer,
    phone_index_consumer,
    phone_index_group,
)
from switchboard_tickets.grpc_server import SERVICE_NAME, CustomerLookupServicer
from switchboard_tickets.lookup_cache import LookupCache
from switchboard_tickets.notifier import TicketsNotifier
from switchboard_tickets.phone_index import PhoneIndex
from switchboard_tickets.repository import TicketsStore
from switchboard_tickets.services import (
    Clock,
    ConfigurationService,
    ContactHistoryService,
    CustomersService,
    PhoneIndexListener,
    TenantSettingsReader,
    TicketsService,
    utc_now,
)
from switchboard_tickets.settings import TicketsSettings
from switchboard_tickets.timers import EscalationTimer


class PhoneIndexWarmer:
    """Component: fills the phone-number index before the service takes traffic."""

    def __init__(self, customers: CustomersService) -> None:
        self._customers = customers

    async def start(self) -> None:
        await self._customers.warm_index()

    async def stop(self) -> None:
        return None


@dataclass
class TicketsApp:
    """The wired service: what `build()` runs and what tests drive."""

    app: FastAPI
    store: TicketsStore
    index: PhoneIndex
    cache: LookupCache
    cache_listener: ChangeListener
    cache_warmer: LookupCacheWarmer
    outbox: Outbox
    customers: CustomersService
    tickets: TicketsService
    configuration: ConfigurationService
    contacts: ContactHistoryService
    timer: EscalationTimer
    lookup_servicer: CustomerLookupServicer
    components: list[Component] = field(default_factory=list)

    def register_grpc(self, server: GrpcServer) -> None:
        server.add(
            customers_pb2_grpc.add_CustomerLookupServicer_to_server,
            self.lookup_servicer,
            SERVICE_NAME,
        )


def assemble(
    settings: TicketsSettings,
    engine: AsyncEngine,
    *,
    clock: Clock = utc_now,
    authenticator: Authenticator | None = None,
    producer_settings: ProducerSettings | None = None,
    consumer_settings: ConsumerSettings | None = None,
) -> TicketsApp:
    """Wire the service on a migrated database. Kafka parts (outbox relay, consumers) are
    added when `settings.kafka_bootstrap_servers` (or explicit client settings) are given."""
    store = TicketsStore(engine, role=settings.db_role)
    outbox = Outbox(models.outbox)
    notifier = TicketsNotifier(outbox)
    index = PhoneIndex()
    tenant_settings = TenantSettingsReader()
    processed = SqlProcessedEvents(engine, models.processed_events)
    check_agents = settings.check_agents
    cache = LookupCache(
        max_entries=settings.lookup_cache_entries,
        max_bytes=settings.lookup_cache_bytes,
        ttl_s=settings.lookup_cache_ttl_s,
    )
    customers = CustomersService(
        store,
        notifier,
        index,
        tenant_settings,
        clock=clock,
        check_agents=check_agents,
        cache=cache,
        fill_open_tickets=settings.lookup_open_tickets,
        fill_contacts=settings.lookup_contacts,
    )
    tickets = TicketsService(
        store, notifier, tenant_settings, customers, clock=clock, check_agents=check_agents
    )
    configuration = ConfigurationService(
        store, tenant_settings, clock=clock, check_agents=check_agents
    )
    contacts = ContactHistoryService(
        store, customers, tickets, tenant_settings, processed=processed, clock=clock
    )
    timer = EscalationTimer(
        store,
        tickets,
        clock=clock,
        poll_interval_s=settings.timer_poll_interval_s,
        batch_size=settings.timer_batch_size,
    )
    tickets.set_wakeup_listener(timer.wakeup_at)

    async def index_ready() -> bool:
        """Ready once the phone-number index is warm (look-ups would all miss before)."""
        return index.warmed

    app = create_app(
        "tickets",
        description="Customers (CRM) and tickets (SLA, escalation).",
        routers=[
            build_router(
                ApiServices(
                    customers=customers,
                    tickets=tickets,
                    configuration=configuration,
                    contacts=contacts,
                    lookup_contacts=settings.lookup_contacts,
                    lookup_open_tickets=settings.lookup_open_tickets,
                )
            )
        ],
        health_checks={"database": database_check(engine), "phone_index": index_ready},
        max_body_bytes=settings.max_body_bytes,
    )
    cache_listener = ChangeListener(engine, cache)
    cache_warmer = LookupCacheWarmer(customers, settings.lookup_cache_warm)
    components: list[Component] = [PhoneIndexWarmer(customers), cache_listener, cache_warmer]
    if authenticator is None:
        api_keys = HttpApiKeyVerifier(settings.admin_url, settings.internal_secret)
        components.append(api_keys)
        authenticator = Authenticator(jwt_secret=settings.jwt_secret, api_keys=api_keys)
    install_authentication(app, authenticator)

    if producer_settings is None and settings.kafka_bootstrap_servers:
        producer_settings = ProducerSettings.from_service_settings(settings)
    if consumer_settings is None and settings.kafka_bootstrap_servers:
        consumer_settings = ConsumerSettings.from_service_settings(
            settings, settings.consumer_group
        )
    publisher: EventPublisher | None = None
    if producer_settings is not None:
        publisher = EventPublisher(producer_settings)
        components += [publisher, OutboxRelay(outbox, engine, publisher)]
    if consumer_settings is not None:
        history: EventConsumer = contact_history_consumer(
            consumer_settings, contacts, dead_letters=publisher
        )
        index_settings = consumer_settings.model_copy(
            update={
                "group_id": phone_index_group(consumer_settings.group_id),
                "auto_offset_reset": "latest",
            }
        )
        components += [history, phone_index_consumer(index_settings, PhoneIndexListener(customers))]
    components.append(timer)

    return TicketsApp(
        app=app,
        store=store,
        index=index,
        cache=cache,
        cache_listener=cache_listener,
        cache_warmer=cache_warmer,
        outbox=outbox,
        customers=customers,
        tickets=tickets,
        configuration=configuration,
        contacts=contacts,
        timer=timer,
        lookup_servicer=CustomerLookupServicer(
            customers,
            default_contacts=settings.lookup_contacts,
            default_open_tickets=settings.lookup_open_tickets,
        ),
        components=components,
    )


async def build(settings: TicketsSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_tickets")
    service = assemble(settings, foundation.engine)
    service.register_grpc(foundation.grpc_server)
    return foundation.runtime(service.app, service.components)


def main() -> int:
    return run_service(TicketsSettings, build)
