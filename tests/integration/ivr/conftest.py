"""Fixtures of the ivr integration tests: one migrated PostgreSQL database per session, the
ivr app built in-process over the scripted media layer, and clients acting for tenants."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common import db
from switchboard_common.auth import Authenticator, issue_access_token
from switchboard_ivr.main import IvrApp, create_ivr_app
from switchboard_ivr.settings import IvrSettings
from switchboard_ivr.testing import CannedWebhooks, MemoryPublisher, ScriptedCallControl

JWT_SECRET = "integration-jwt-secret-0123456789abcdef"
ALL_PERMISSIONS = (
    "ivr:read",
    "ivr:write",
    "numbers:read",
    "numbers:write",
    "calls:read",
)


@pytest.fixture(scope="session")
async def ivr_db(pg_url: str) -> str:
    await db.upgrade("ivr", "switchboard_ivr", pg_url)
    return pg_url


@dataclass
class IvrHarness:
    """The app, its media layer double, and an HTTP client."""

    ivr: IvrApp
    control: ScriptedCallControl
    webhooks: CannedWebhooks
    published: MemoryPublisher
    http: httpx.AsyncClient
    engine: AsyncEngine

    async def events(self, kind: type[Any] | None = None) -> list[Any]:
        """Run announcements published so far (decoded payloads)."""
        await self.ivr.notifier.flush()
        return self.published.payloads(kind)

    def headers(self, tenant: str, *permissions: str) -> dict[str, str]:
        token = issue_access_token(
            JWT_SECRET,
            kind="user",
            subject=f"user-of-{tenant}",
            tenant_id=tenant,
            permissions=permissions or ALL_PERMISSIONS,
        )
        return {"Authorization": f"Bearer {token.token}"}

    @staticmethod
    def new_tenant() -> str:
        return f"t{uuid.uuid4().hex[:12]}"


def ivr_settings(url: str, **overrides: Any) -> IvrSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": url,
        "jwt_secret": JWT_SECRET,
        "internal_secret": "integration-internal-secret-0123456789",
        "config_cache_ttl_s": 0.0,
        "liveness_interval_s": 0.05,
    }
    values.update(overrides)
    return IvrSettings(**values)


@pytest.fixture()
def settings_for() -> Any:
    """`settings_for(database_url, **overrides)`: the settings these tests run with."""
    return ivr_settings


@pytest.fixture()
def token_for() -> Any:
    """`token_for(tenant, *permissions)`: a bearer token of a tenant user."""

    def token(tenant: str, *permissions: str) -> str:
        issued = issue_access_token(
            JWT_SECRET,
            kind="user",
            subject=f"user-of-{tenant}",
            tenant_id=tenant,
            permissions=permissions or ALL_PERMISSIONS,
        )
        return issued.token

    return token


@pytest.fixture()
async def ivr(ivr_db: str) -> AsyncIterator[IvrHarness]:
    settings = ivr_settings(ivr_db)
    engine = db.create_engine(ivr_db, pool_size=2)
    control = ScriptedCallControl()
    webhooks = CannedWebhooks()
    published = MemoryPublisher()
    app = create_ivr_app(
        settings,
        engine,
        control=control,
        webhooks=webhooks,
        publisher=published,
        authenticator=Authenticator(jwt_secret=JWT_SECRET),
    )
    await app.notifier.start()
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ivr") as client:
        yield IvrHarness(app, control, webhooks, published, client, engine)
    await app.calls.stop()
    await app.notifier.stop()
    await engine.dispose()
