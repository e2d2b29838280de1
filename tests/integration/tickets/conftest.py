"""Fixtures of the tickets service tests: a migrated PostgreSQL database, the service wired
in-process with a controllable clock, HTTP clients holding a tenant's token, agents."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard_common import db
from switchboard_common.auth import Authenticator, issue_access_token
from switchboard_common.bus import ConsumerSettings, ProducerSettings
from switchboard_common.events import Envelope, EventPayload, decode
from switchboard_common.events.calls import CallArrived, CallEnded, CallRecordingStopped
from switchboard_common.events.config import UserCreated
from switchboard_common.events.ivr import SurveyAnswer, SurveyCompleted, VoicemailLeft
from switchboard_common.events.queues import CallAbandoned, CallEnqueued, QueueCallAnswered
from switchboard_tickets import models
from switchboard_tickets.main import TicketsApp, assemble
from switchboard_tickets.settings import TicketsSettings

SECRET = "tickets-test-secret-0123456789-abcdef"
ALL_PERMISSIONS = (
    "customers:read",
    "customers:write",
    "tickets:read",
    "tickets:write",
    "tickets:configure",
)
START = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
"""Monday 6 May 2024, 09:00 in Paris."""


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def set(self, at: datetime) -> None:
        self.now = at.astimezone(UTC)


@pytest.fixture(scope="session")
async def tickets_db(pg_url: str) -> str:
    """The session database with the tickets migrations applied."""
    await db.upgrade("tickets", "switchboard_tickets", pg_url)
    return pg_url


def tickets_settings(**overrides: Any) -> TicketsSettings:
    return TicketsSettings(jwt_secret=SECRET, kafka_bootstrap_servers="", **overrides)


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture()
async def engine(tickets_db: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(tickets_db, pool_size=5)
    yield engine
    await engine.dispose()


ServiceFactory = Callable[..., Awaitable[TicketsApp]]


@pytest.fixture()
async def make_service(engine: AsyncEngine, clock: ManualClock) -> ServiceFactory:
    """Builds a service instance on the test database (a new one = a restart)."""

    async def make(
        producer_settings: ProducerSettings | None = None,
        consumer_settings: ConsumerSettings | None = None,
        **settings: Any,
    ) -> TicketsApp:
        service = assemble(
            tickets_settings(**settings),
            engine,
            clock=clock,
            authenticator=Authenticator(jwt_secret=SECRET),
            producer_settings=producer_settings,
            consumer_settings=consumer_settings,
        )
        await service.customers.warm_index()
        return service

    return make


@pytest.fixture()
async def service(make_service: ServiceFactory) -> TicketsApp:
    return await make_service()


def token(tenant_id: str, permissions: Iterable[str] = ALL_PERMISSIONS, user: str = "u1") -> str:
    return issue_access_token(
        SECRET, kind="user", subject=user, tenant_id=tenant_id, permissions=permissions
    ).token


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture()
async def make_client(service: TicketsApp) -> AsyncIterator[ClientFactory]:
    """`make_client(tenant, permissions=..., user=...)`: an HTTP client of that tenant."""
    clients: list[httpx.AsyncClient] = []

    def make(
        tenant_id: str,
        permissions: Iterable[str] = ALL_PERMISSIONS,
        user: str = "u1",
        app_service: TicketsApp | None = None,
    ) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=(app_service or service).app),
            base_url="http://tickets",
            headers={"Authorization": f"Bearer {token(tenant_id, permissions, user)}"},
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def new_tenant_id() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture()
def tenant() -> str:
    """A tenant of this test alone."""
    return new_tenant_id()


@pytest.fixture()
def other_tenant() -> str:
    return new_tenant_id()


AgentAdder = Callable[..., Awaitable[None]]


@pytest.fixture()
def add_agent(service: TicketsApp) -> AgentAdder:
    """`await add_agent(tenant, agent_id)`: the agent directory learns the agent as from
    admin's user event."""

    async def add(tenant_id: str, agent_id: str, on: TicketsApp | None = None) -> None:
        event = UserCreated(
            user_id=agent_id,
            username=agent_id,
            display_name=agent_id.title(),
            roles=("agent",),
            permissions=(),
            is_agent=True,
        )
        await (on or service).contacts.handle(
            Envelope.wrap(event, source="switchboard/admin", tenant=tenant_id, subject=agent_id)
        )

    return add


@pytest.fixture()
def paris_sla() -> dict[str, Any]:
    """An SLA policy body: Paris office hours, every ticket 1 h to respond, 8 h to resolve;
    reminders at 75 and 90 %, escalations at due (assignee), +1 h (department lead) and
    +4 h (tenant admin)."""
    return {
        "calendar": {
            "timezone": "Europe/Paris",
            "weekly": {
                day: ["09:00-12:30", "13:30-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")
            },
        },
        "rules": [{"target": {"response": "PT1H", "resolution": "PT8H"}}],
    }


OutboxReader = Callable[[str], Awaitable[list[Envelope]]]


@pytest.fixture()
def outbox_events(engine: AsyncEngine) -> OutboxReader:
    """`await outbox_events(tenant)`: the events queued for a tenant, oldest first."""

    async def read(tenant_id: str) -> list[Envelope]:
        table = models.outbox
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(table.c.payload).where(table.c.key == tenant_id).order_by(table.c.id)
            )
            return [decode(bytes(row.payload)) for row in rows]

    return read


class CallEvents:
    """Builds the events of a call as switch, ivr and routing publish them, and hands them
    to the service's consumer handler (`send`) or returns them (`build`)."""

    def __init__(self, service: TicketsApp, clock: ManualClock) -> None:
        self.service = service
        self.clock = clock

    def envelope(self, tenant_id: str, payload: EventPayload, subject: str) -> Envelope:
        return Envelope.wrap(payload, source="switchboard/test", tenant=tenant_id, subject=subject)

    async def send(self, envelope: Envelope) -> Envelope:
        await self.service.contacts.handle(envelope)
        return envelope

    async def arrived(
        self, tenant_id: str, call_id: str, number: str, *, name: str = ""
    ) -> Envelope:
        payload = CallArrived(
            call_id=call_id,
            node_id="fs-1",
            caller_number=number,
            caller_name=name,
            destination_number="+33100000000",
            tenant_number="+33100000000",
            arrived_at=self.clock(),
        )
        return await self.send(self.envelope(tenant_id, payload, call_id))

    async def enqueued(self, tenant_id: str, call_id: str, queue_id: str, number: str) -> Envelope:
        payload = CallEnqueued(
            call_id=call_id,
            queue_id=queue_id,
            node_id="fs-1",
            caller_number=number,
            enqueued_at=self.clock(),
        )
        return await self.send(self.envelope(tenant_id, payload, call_id))

    async def answered(
        self, tenant_id: str, call_id: str, queue_id: str, agent_id: str
    ) -> Envelope:
        payload = QueueCallAnswered(
            call_id=call_id,
            queue_id=queue_id,
            agent_id=agent_id,
            reservation_id="r-1",
            waited_s=12,
            answered_at=self.clock(),
        )
        return await self.send(self.envelope(tenant_id, payload, call_id))

    async def abandoned(self, tenant_id: str, call_id: str, queue_id: str) -> Envelope:
        payload = CallAbandoned(
            call_id=call_id, queue_id=queue_id, waited_s=30, abandoned_at=self.clock()
        )
        return await self.send(self.envelope(tenant_id, payload, call_id))

    async def recorded(self, tenant_id: str, call_id: str, path: str) -> Envelope:
        payload = CallRecordingStopped(call_id=call_id, node_id="fs-1", path=path)
        return await self.send(self.envelope(tenant_id, payload, call_id))

    def ended_event(self, tenant_id: str, call_id: str, duration_s: float) -> Envelope:
        payload = CallEnded(
            call_id=call_id,
            node_id="fs-1",
            hangup_cause="NORMAL_CLEARING",
            ended_at=self.clock(),
            duration_s=duration_s,
            billable_s=duration_s,
        )
        return self.envelope(tenant_id, payload, call_id)

    async def ended(self, tenant_id: str, call_id: str, duration_s: float) -> Envelope:
        return await self.send(self.ended_event(tenant_id, call_id, duration_s))

    async def survey(self, tenant_id: str, call_id: str, scores: list[int]) -> Envelope:
        payload = SurveyCompleted(
            call_id=call_id,
            flow_id="flow-1",
            survey_id="csat",
            answers=[
                SurveyAnswer(question_id=f"q{index}", kind="scale", value=score)
                for index, score in enumerate(scores)
            ],
            complete=True,
            completed_at=self.clock(),
        )
        return await self.send(self.envelope(tenant_id, payload, call_id))

    async def voicemail(self, tenant_id: str, call_id: str, number: str) -> Envelope:
        payload = VoicemailLeft(
            call_id=call_id,
            flow_id="flow-1",
            mailbox="sales",
            caller_number=number,
            recording_path="/recordings/vm-1.wav",
            duration_ms=42_000,
            open_ticket=True,
            left_at=self.clock(),
        )
        return await self.send(self.envelope(tenant_id, payload, call_id))


@pytest.fixture()
def call_events(service: TicketsApp, clock: ManualClock) -> CallEvents:
    return CallEvents(service, clock)


Eventually = Callable[..., Awaitable[None]]


@pytest.fixture()
def eventually() -> Eventually:
    """`await eventually(predicate, timeout_s=30)`: poll an async predicate until it holds
    (for effects that cross a broker or a background task); AssertionError on timeout."""

    async def wait(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
        interval = 0.05
        for _ in range(int(timeout_s / interval)):
            if await predicate():
                return
            await asyncio.sleep(interval)
        raise AssertionError(f"still not true after {timeout_s} s")

    return wait
