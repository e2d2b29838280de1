"""Shared fixtures of the tickets domain tests: a Paris office calendar and tenant policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard_common.business_hours import BusinessCalendar, Holiday
from switchboard_tickets.domain import (
    EscalationLevel,
    EscalationPolicy,
    Priority,
    SlaPolicy,
    SlaRule,
    SlaTarget,
    Ticket,
    TicketDraft,
    TicketNumberFormat,
    TicketPolicy,
    open_ticket,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


@pytest.fixture
def calendar() -> BusinessCalendar:
    """Mon-Fri 09:00-12:30, 13:30-18:00 in Paris; Whit Monday 20 May 2024 off."""
    return BusinessCalendar(
        timezone="Europe/Paris",
        weekly={day: ("09:00-12:30", "13:30-18:00") for day in ("mon", "tue", "wed", "thu", "fri")},
        holidays=(Holiday(name="Whit Monday", first_day=date(2024, 5, 20)),),
    )


@pytest.fixture
def escalation() -> EscalationPolicy:
    return EscalationPolicy(
        reminder_percents=(75, 90),
        levels=(
            EscalationLevel(level=1, notify="assignee"),
            EscalationLevel(level=2, notify="department_lead", after_due=timedelta(hours=1)),
            EscalationLevel(
                level=3, notify="tenant_admin", after_due=timedelta(hours=4), business_time=False
            ),
        ),
        clocks=("resolution",),
    )


@pytest.fixture
def policy(calendar: BusinessCalendar, escalation: EscalationPolicy) -> TicketPolicy:
    return TicketPolicy(
        numbering=TicketNumberFormat(prefix="ACME"),
        sla=SlaPolicy(
            calendar=calendar,
            rules=(
                SlaRule(
                    priority=Priority.P1,
                    target=SlaTarget(response=timedelta(hours=1), resolution=timedelta(hours=4)),
                ),
                SlaRule(
                    category="billing",
                    priority=Priority.P1,
                    target=SlaTarget(response=timedelta(minutes=30), resolution=timedelta(hours=2)),
                ),
                SlaRule(
                    category="billing",
                    target=SlaTarget(response=timedelta(hours=2), resolution=timedelta(hours=16)),
                ),
                SlaRule(
                    target=SlaTarget(response=timedelta(hours=4), resolution=timedelta(hours=24))
                ),
            ),
            escalation=escalation,
        ),
        reopen_window=timedelta(days=7),
    )


TicketFactory = Callable[..., Ticket]


@pytest.fixture
def make_ticket(policy: TicketPolicy) -> TicketFactory:
    """open_ticket with defaults: P1 (high x high), category general, opened Mon 6 May 09:00."""
    counter = iter(range(1, 10_000))

    def make(at: datetime | None = None, **fields: object) -> Ticket:
        sequence = next(counter)
        draft = TicketDraft.model_validate(
            {"subject": "Cannot log in", "urgency": "high", "impact": "high", **fields}
        )
        return open_ticket(
            draft,
            ticket_id=f"t-{sequence}",
            tenant_id="acme",
            sequence=sequence,
            at=at or paris(2024, 5, 6, 9),
            policy=policy,
        )

    return make
