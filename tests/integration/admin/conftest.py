"""Fixtures of the admin integration tests: one migrated PostgreSQL database per session,
the admin app built in-process, and a client that knows how to onboard tenants."""

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from switchboard_admin.main import AdminApp, create_admin_app
from switchboard_admin.settings import AdminSettings
from switchboard_common import db

OPERATOR_TOKEN = "integration-operator-token-0123456789"
INTERNAL_SECRET = "integration-internal-secret-0123456789"
JWT_SECRET = "integration-jwt-secret-0123456789abcdef"
ADMIN_PASSWORD = "Tenant-Admin-Pass-42"
USER_PASSWORD = "Kx7-Tango-Delta-42"


def admin_settings_for(url: str, **overrides: Any) -> AdminSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": url,
        "operator_token": OPERATOR_TOKEN,
        "internal_secret": INTERNAL_SECRET,
        "jwt_secret": JWT_SECRET,
        "password_time_cost": 1,
        "password_memory_kib": 1024,
        "password_parallelism": 1,
    }
    values.update(overrides)
    return AdminSettings(**values)


@dataclass
class TenantHandle:
    id: str
    slug: str
    sip_domain: str
    key: str
    admin_username: str
    admin_password: str
    jwt: str = ""
    provisioned: dict[str, Any] = field(default_factory=dict)

    @property
    def key_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    @property
    def jwt_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}


class AdminClient:
    """An httpx client on the in-process app, with the steps most tests repeat."""

    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    freeswitch_auth = ("freeswitch", INTERNAL_SECRET)

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    async def new_tenant(self, **overrides: Any) -> TenantHandle:
        slug = overrides.pop("slug", f"t{uuid.uuid4().hex[:12]}")
        body: dict[str, Any] = {
            "slug": slug,
            "name": f"Tenant {slug}",
            "timezone": "Europe/Paris",
            "admin": {"username": "boss", "password": ADMIN_PASSWORD},
        }
        body.update(overrides)
        response = await self.http.post("/v1/tenants", json=body, headers=self.operator)
        assert response.status_code == 201, response.text
        data = response.json()
        handle = TenantHandle(
            id=data["tenant"]["id"],
            slug=slug,
            sip_domain=data["tenant"]["sip_domain"],
            key=data["api_key"]["key"],
            admin_username="boss",
            admin_password=ADMIN_PASSWORD,
            provisioned=data,
        )
        handle.jwt = await self.login(slug, "boss", ADMIN_PASSWORD)
        return handle

    async def login(self, tenant: str, username: str, password: str) -> str:
        response = await self.http.post(
            "/v1/auth/login", json={"tenant": tenant, "username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def user(
        self, tenant: TenantHandle, username: str, roles: list[str], **extra: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Create a user and log it in: (its JSON, its bearer headers)."""
        password = USER_PASSWORD
        response = await self.http.post(
            "/v1/users",
            json={"username": username, "password": password, "roles": roles, **extra},
            headers=tenant.key_headers,
        )
        assert response.status_code == 201, response.text
        token = await self.login(tenant.slug, username, password)
        return response.json(), {"Authorization": f"Bearer {token}"}

    @staticmethod
    def phone_number() -> str:
        """A valid French number with random last digits."""
        return f"+3314{uuid.uuid4().int % 10_000_000:07d}"

    async def created(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = await self.http.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture(scope="session")
async def admin_db(pg_url: str) -> str:
    await db.upgrade("admin", "switchboard_admin", pg_url)
    return pg_url


@pytest.fixture(scope="session")
def admin_settings(admin_db: str) -> AdminSettings:
    return admin_settings_for(admin_db)


@pytest.fixture(scope="session")
async def admin_app(admin_settings: AdminSettings) -> AsyncIterator[AdminApp]:
    engine = db.create_engine(admin_settings.effective_database_url, pool_size=4)
    yield create_admin_app(admin_settings, engine)
    await engine.dispose()


@pytest.fixture()
async def api(admin_app: AdminApp) -> AsyncIterator[AdminClient]:
    transport = httpx.ASGITransport(app=admin_app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin.test") as client:
        yield AdminClient(client)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def live_admin(admin_settings: AdminSettings) -> Iterator[str]:
    """Admin on 127.0.0.1:<free port>, in a thread with its own event loop and engine."""
    port = free_port()
    holder: dict[str, uvicorn.Server] = {}
    failure: list[BaseException] = []

    def serve() -> None:
        async def run() -> None:
            engine = db.create_engine(admin_settings.effective_database_url, pool_size=4)
            admin = create_admin_app(admin_settings, engine)
            config = uvicorn.Config(
                admin.app,
                host="127.0.0.1",
                port=port,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
            server = uvicorn.Server(config)
            holder["server"] = server
            try:
                await server.serve()
            finally:
                await engine.dispose()

        try:
            asyncio.run(run())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=serve, name="live-admin", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not (holder.get("server") and holder["server"].started):
        assert not failure, failure
        assert time.monotonic() < deadline, "admin did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    holder["server"].should_exit = True
    thread.join(timeout=10)
