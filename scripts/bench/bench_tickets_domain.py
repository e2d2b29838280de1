"""Benchmarks of the tickets domain and business-hours arithmetic.

Prints `BENCH <name> <value> <unit>` lines; finishes in a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from switchboard_common.business_hours import BusinessCalendar, Holiday
from switchboard_tickets.domain import (
    Priority,
    SlaPolicy,
    SlaRule,
    SlaTarget,
    TicketDraft,
    TicketPolicy,
    due_actions,
    next_wakeup,
    open_ticket,
    wait_for_customer,
)

WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office() -> BusinessCalendar:
    return BusinessCalendar(
        timezone="Europe/Paris",
        weekly={day: ("09:00-12:30", "13:30-18:00") for day in WORKDAYS},
        holidays=tuple(Holiday(first_day=date(year, 12, 25)) for year in range(2024, 2030)),
    )


def rate(name: str, unit: str, count: int, body: Callable[[int], object]) -> None:
    began = time.perf_counter()
    for index in range(count):
        body(index)
    elapsed = time.perf_counter() - began
    print(f"BENCH {name} {count / elapsed:.0f} {unit}")


def main() -> None:
    calendar = office()
    base = datetime(2024, 3, 1, 8, tzinfo=UTC)
    starts = [base + timedelta(minutes=37 * i) for i in range(5000)]

    rate(
        "business_hours_add_4h_warm",
        "ops/s",
        20_000,
        lambda i: calendar.add_business_time(starts[i % 5000], timedelta(hours=4)),
    )
    rate(
        "business_hours_add_1000h_warm",
        "ops/s",
        500,
        lambda i: calendar.add_business_time(starts[i % 5000], timedelta(hours=1000)),
    )
    rate(
        "business_hours_add_24h_cold",
        "ops/s",
        2_000,
        lambda i: office().add_business_time(starts[i % 5000], timedelta(hours=24)),
    )
    rate(
        "business_hours_between_30d_warm",
        "ops/s",
        5_000,
        lambda i: calendar.business_time_between(
            starts[i % 5000], starts[i % 5000] + timedelta(days=30)
        ),
    )
    rate(
        "business_hours_status_at", "ops/s", 50_000, lambda i: calendar.status_at(starts[i % 5000])
    )

    policy = TicketPolicy(
        sla=SlaPolicy(
            calendar=calendar,
            rules=(
                SlaRule(
                    priority=Priority.P1,
                    target=SlaTarget(response=timedelta(hours=1), resolution=timedelta(hours=4)),
                ),
                SlaRule(
                    target=SlaTarget(response=timedelta(hours=4), resolution=timedelta(hours=24))
                ),
            ),
        )
    )
    draft = TicketDraft(subject="Cannot log in", assignee_id="agent-1")
    rate(
        "tickets_open_with_sla",
        "tickets/s",
        5_000,
        lambda i: open_ticket(
            draft,
            ticket_id=f"t-{i}",
            tenant_id="acme",
            sequence=i + 1,
            at=starts[i % 5000],
            policy=policy,
        ),
    )
    tickets = [
        open_ticket(
            draft, ticket_id=f"t-{i}", tenant_id="acme", sequence=i + 1, at=starts[i], policy=policy
        )
        for i in range(2000)
    ]
    later = base + timedelta(days=100)
    fired: set[str] = set()
    rate(
        "tickets_due_actions",
        "tickets/s",
        20_000,
        lambda i: due_actions(tickets[i % 2000], later, fired),
    )
    rate(
        "tickets_next_wakeup", "tickets/s", 20_000, lambda i: next_wakeup(tickets[i % 2000], fired)
    )
    rate(
        "tickets_pause_clock",
        "ops/s",
        5_000,
        lambda i: wait_for_customer(
            tickets[i % 2000], at=starts[i % 2000] + timedelta(hours=2), policy=policy
        ),
    )


if __name__ == "__main__":
    main()
