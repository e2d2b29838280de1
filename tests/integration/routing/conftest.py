"""Fixtures of the routing service integration tests: a migrated PostgreSQL database, the
service wired in-process (owning every tenant through one partition) with a CallControl
that answers every Bridge, HTTP clients holding a tenant's token, admin's skill events."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common import db
from switchboard_common.auth import Authenticator
from switchboard_common.events.config import SkillChanged
from switchboard_routing.main import RoutingApp, assemble
from switchboard_routing.services import RoutingOptions

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from routing_it_support import (  # noqa: E402
    READ,
    SECRET,
    WRITE,
    AnsweringCallControl,
    ClientFactory,
    SkillMaker,
    routing_settings,
    token,
)


@pytest.fixture(scope="session")
async def routing_db(pg_url: str) -> str:
    """The session database with the routing migrations applied."""
    await db.upgrade("routing", "switchboard_routing", pg_url)
    return pg_url


@pytest.fixture()
async def engine(routing_db: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(routing_db, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture()
async def service(engine: AsyncEngine) -> AsyncIterator[RoutingApp]:
    """The service owning partition 0 of 1 (every tenant), routing."""
    app = assemble(
        routing_settings(),
        engine,
        control=AnsweringCallControl(),
        authenticator=Authenticator(jwt_secret=SECRET),
        options=RoutingOptions(instance_id=f"test-{uuid.uuid4().hex[:6]}"),
    )
    app.routing.ownership.set_partition_count(1)
    await app.routing.take_over(0)
    app.routing.resume(0)
    yield app
    await app.routing.release(0)
    await app.routing.stop()


@pytest.fixture()
async def make_client(service: RoutingApp) -> AsyncIterator[ClientFactory]:
    """`make_client(tenant, permissions=...)`: an HTTP client of that tenant (None: none)."""
    clients: list[httpx.AsyncClient] = []

    def make(
        tenant_id: str | None, permissions: Iterable[str] = (READ, WRITE)
    ) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token(tenant_id, permissions)}"} if tenant_id else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.app),
            base_url="http://routing.test",
            headers=headers,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture()
def add_skill(service: RoutingApp) -> SkillMaker:
    """Feeds admin's `skill.changed` for a tenant, as the config consumer would."""

    async def add(tenant_id: str, name: str) -> None:
        await service.store.apply_config_event(
            tenant_id,
            SkillChanged(skill_id=uuid.uuid4().hex[:8], name=name, change="created"),
            datetime.now(UTC),
        )

    return add
