"""Composition root of the admin service: settings -> adapters -> services -> servers.

`create_admin_app(settings, engine)` wires everything that needs no network (tests build
the app with it); `build(settings)` adds migrations, the database engine and, only when
KAFKA_BOOTSTRAP_SERVERS is set, the producer and the outbox relay (without Kafka, events
wait in `admin_outbox`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_admin import models
from switchboard_admin.api import (
    AdminServices,
    auth_router,
    install_admin_error_handlers,
    internal_router,
    operator_router,
    tenant_router,
)
from switchboard_admin.domain.credentials import Passwords
from switchboard_admin.domain.throttle import LoginThrottle, ThrottlePolicy
from switchboard_admin.notifier import ConfigNotifier
from switchboard_admin.repository import AdminStore
from switchboard_admin.services import (
    ApiKeysService,
    AuditService,
    AuthService,
    CalendarsService,
    FreeswitchService,
    NumbersService,
    Ports,
    RolesService,
    SkillsService,
    TenantsService,
    UsersService,
)
from switchboard_admin.settings import AdminSettings
from switchboard_admin.xml_curl import freeswitch_router
from switchboard_common.auth import Authenticator, install_authentication
from switchboard_common.bus import EventPublisher, ProducerSettings
from switchboard_common.db import is_postgres, make_sessionmaker
from switchboard_common.http import create_app
from switchboard_common.outbox import Outbox, OutboxRelay
from switchboard_common.runtime import (
    Component,
    ServiceRuntime,
    database_check,
    lay_foundation,
    run_service,
)


@dataclass
class AdminApp:
    app: FastAPI
    services: AdminServices
    freeswitch: FreeswitchService
    store: AdminStore
    outbox: Outbox


def create_admin_app(settings: AdminSettings, engine: AsyncEngine) -> AdminApp:
    store = AdminStore(
        make_sessionmaker(engine), app_role=settings.db_role if is_postgres(engine) else ""
    )
    outbox = Outbox(models.outbox)
    passwords = Passwords(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )
    ports = Ports(store=store, notifier=ConfigNotifier(outbox), passwords=passwords)
    throttle = LoginThrottle(
        per_user=ThrottlePolicy(
            window_s=settings.login_window_s, free_failures=settings.login_free_failures_per_user
        ),
        per_address=ThrottlePolicy(
            window_s=settings.login_window_s,
            free_failures=settings.login_free_failures_per_address,
        ),
    )
    services = AdminServices(
        tenants=TenantsService(ports, sip_domain_suffix=settings.sip_domain_suffix),
        users=UsersService(ports),
        roles=RolesService(ports),
        api_keys=ApiKeysService(
            ports, touch_interval=timedelta(seconds=settings.api_key_touch_interval_s)
        ),
        numbers=NumbersService(ports),
        skills=SkillsService(ports),
        calendars=CalendarsService(ports),
        audit=AuditService(ports),
        auth=AuthService(
            ports,
            throttle,
            jwt_secret=settings.jwt_secret.get_secret_value(),
            token_ttl=timedelta(seconds=settings.access_token_ttl_s),
        ),
    )
    freeswitch = FreeswitchService(store, suspended_announcement=settings.suspended_announcement)
    app = create_app(
        "admin",
        description=(
            "Tenants, users, roles, API keys, numbers, skills, calendars, audit; "
            "FreeSWITCH directory and dialplan (mod_xml_curl)."
        ),
        routers=[
            operator_router(services),
            tenant_router(services),
            auth_router(services),
            internal_router(services, settings.internal_secret),
            freeswitch_router(freeswitch, settings.internal_secret),
        ],
        health_checks={"database": database_check(engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    install_authentication(
        app,
        Authenticator(
            jwt_secret=settings.jwt_secret,
            api_keys=services.api_keys,
            operator_token=settings.operator_token,
        ),
    )
    install_admin_error_handlers(app)
    return AdminApp(app=app, services=services, freeswitch=freeswitch, store=store, outbox=outbox)


async def build(settings: AdminSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_admin")
    admin = create_admin_app(settings, foundation.engine)
    components: list[Component] = []
    if settings.kafka_bootstrap_servers:
        publisher = EventPublisher(ProducerSettings.from_service_settings(settings))
        components = [publisher, OutboxRelay(admin.outbox, foundation.engine, publisher)]
    return foundation.runtime(admin.app, components)


def main() -> int:
    return run_service(AdminSettings, build)
