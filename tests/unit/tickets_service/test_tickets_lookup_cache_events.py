"""The look-up cache of a second instance kept current by the tickets topic's events
(`PhoneIndexListener`), on SQLite (no database notifications there): without the event the
second instance still answers from its cache; once the event is handled, it reads again."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard_common import db
from switchboard_common.auth import Authenticator
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.tickets import CustomerMerged, TicketCreated, TicketStatusChanged
from switchboard_tickets.main import TicketsApp, assemble
from switchboard_tickets.schemas import (
    CustomerCreate,
    MergeRequest,
    TicketCreate,
    TransitionRequest,
)
from switchboard_tickets.services import PhoneIndexListener
from switchboard_tickets.settings import TicketsSettings

SECRET = "sqlite-test-secret-0123456789-abcdef"
AT = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
NUMBER = "+33142685300"


@pytest.fixture()
async def pair(tmp_path: Path) -> AsyncIterator[list[TicketsApp]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tickets.db'}"
    await db.upgrade("tickets", "switchboard_tickets", url)
    engines = [db.create_engine(url), db.create_engine(url)]
    settings = TicketsSettings(jwt_secret=SECRET, kafka_bootstrap_servers="")
    instances = [
        assemble(settings, engine, clock=lambda: AT, authenticator=Authenticator(jwt_secret=SECRET))
        for engine in engines
    ]
    yield instances
    for engine in engines:
        await engine.dispose()


def envelope(payload: EventPayload) -> Envelope:
    return Envelope.wrap(payload, source="switchboard/tickets", tenant="acme", subject="x")


async def open_subjects(instance: TicketsApp) -> list[str]:
    answer = await instance.customers.lookup("acme", NUMBER)
    return [ticket.subject for ticket in answer.open_tickets]


async def test_ticket_events_evict_the_customer(pair: list[TicketsApp]) -> None:
    first, second = pair
    listener = PhoneIndexListener(second.customers)
    ada = await first.customers.create("acme", CustomerCreate(name="Ada", phones=(NUMBER,)))
    assert await open_subjects(second) == []
    ticket = await first.tickets.create("acme", TicketCreate(subject="Refund", customer_id=ada.id))
    assert await open_subjects(second) == [], "served from the second instance's cache"
    await listener.handle(
        envelope(
            TicketCreated(
                ticket_id=ticket.id,
                ticket_number=ticket.number,
                subject=ticket.subject,
                category="general",
                priority="P3",
                urgency="medium",
                impact="medium",
                status="new",
                customer_id=ada.id,
                created_at=AT,
            )
        )
    )
    assert await open_subjects(second) == ["Refund"]

    await first.tickets.transition(
        "acme", ticket.id, TransitionRequest(status="resolved", resolution="done")
    )
    assert await open_subjects(second) == ["Refund"]
    await listener.handle(
        envelope(
            TicketStatusChanged(
                ticket_id=ticket.id,
                ticket_number=ticket.number,
                from_status="new",
                to_status="resolved",
                changed_at=AT,
            )
        )
    )
    assert await open_subjects(second) == []


async def test_merge_event_evicts_both_records(pair: list[TicketsApp]) -> None:
    first, second = pair
    listener = PhoneIndexListener(second.customers)
    ada = await first.customers.create("acme", CustomerCreate(name="Ada", phones=(NUMBER,)))
    other = await first.customers.create(
        "acme", CustomerCreate(name="Ada L.", phones=("+442079460958",), tags=("vip",))
    )
    assert (await second.customers.lookup("acme", NUMBER)).customer is not None
    outcome = await first.customers.merge("acme", MergeRequest(customer_ids=(ada.id, other.id)))
    stale = await second.customers.lookup("acme", NUMBER)
    assert stale.customer is not None and stale.customer.tags == ()
    await listener.handle(
        envelope(
            CustomerMerged(
                survivor_id=outcome.report.survivor_id,
                merged_id=outcome.report.merged_id,
                merged_at=AT,
            )
        )
    )
    fresh = await second.customers.lookup("acme", NUMBER)
    assert fresh.customer is not None and "vip" in fresh.customer.tags
