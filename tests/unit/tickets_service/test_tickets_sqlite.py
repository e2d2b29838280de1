"""The whole service on SQLite (the embedded default): REST, search, look-up, timer."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from switchboard_common import db
from switchboard_common.auth import Authenticator, issue_access_token
from switchboard_common.events import Envelope
from switchboard_common.events.config import UserCreated
from switchboard_tickets.main import TicketsApp, assemble
from switchboard_tickets.settings import TicketsSettings

SECRET = "sqlite-test-secret-0123456789-abcdef"
PERMISSIONS = (
    "customers:read",
    "customers:write",
    "tickets:read",
    "tickets:write",
    "tickets:configure",
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
async def service(tmp_path: Path, clock: Clock) -> AsyncIterator[TicketsApp]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tickets.db'}"
    await db.upgrade("tickets", "switchboard_tickets", url)
    engine = db.create_engine(url)
    settings = TicketsSettings(jwt_secret=SECRET, kafka_bootstrap_servers="")
    service = assemble(
        settings, engine, clock=clock, authenticator=Authenticator(jwt_secret=SECRET)
    )
    await service.customers.warm_index()
    yield service
    await engine.dispose()


@pytest.fixture()
async def client(service: TicketsApp) -> AsyncIterator[httpx.AsyncClient]:
    token = issue_access_token(
        SECRET, kind="user", subject="u1", tenant_id="acme", permissions=PERMISSIONS
    ).token
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app),
        base_url="http://tickets",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def test_customers_tickets_and_search_on_sqlite(
    client: httpx.AsyncClient, service: TicketsApp, clock: Clock
) -> None:
    ada = await client.post("/v1/customers", json={"name": "Ada", "phones": ["+33142685300"]})
    assert ada.status_code == 201, ada.text
    for subject in ("Invoice 100% wrong", "Printer jammed"):
        clock.now += timedelta(minutes=1)
        created = await client.post(
            "/v1/tickets", json={"subject": subject, "customer_id": ada.json()["id"]}
        )
        assert created.status_code == 201, created.text
    found = (await client.get("/v1/tickets", params={"text": "100% invo"})).json()
    assert [t["subject"] for t in found["items"]] == ["Invoice 100% wrong"]
    none = (await client.get("/v1/tickets", params={"text": "_%"})).json()
    assert none["items"] == []
    lookup = await client.get("/v1/customers/lookup", params={"phone_number": "+33142685300"})
    assert [t["subject"] for t in lookup.json()["open_tickets"]] == [
        "Printer jammed",
        "Invoice 100% wrong",
    ]
    assert lookup.json()["open_tickets"][0]["due_at"] is None


async def test_the_timer_fires_once_on_sqlite(
    client: httpx.AsyncClient, service: TicketsApp, clock: Clock
) -> None:
    await service.contacts.handle(
        Envelope.wrap(
            UserCreated(
                user_id="agent-1",
                username="a",
                display_name="A",
                roles=(),
                permissions=(),
                is_agent=True,
            ),
            source="test",
            tenant="acme",
        )
    )
    sla: dict[str, Any] = {
        "version": 0,
        "calendar": {"timezone": "UTC", "weekly": {"mon": ["00:00-00:00"]}},
        "rules": [{"target": {"response": "PT1H", "resolution": "PT2H"}}],
    }
    assert (await client.put("/v1/ticket-settings/sla", json=sla)).status_code == 200
    ticket = (
        await client.post("/v1/tickets", json={"subject": "x", "assignee_id": "agent-1"})
    ).json()
    clock.now += timedelta(minutes=61)
    await service.timer.run_once()
    await service.timer.run_once()
    fired = (await client.get("/v1/notifications", params={"ticket_id": ticket["id"]})).json()
    assert [(n["clock"], n["kind"], n["level"]) for n in fired] == [
        ("response", "escalation", 1)
    ], "the response reminders are overtaken by the escalation; resolution is not due yet"
