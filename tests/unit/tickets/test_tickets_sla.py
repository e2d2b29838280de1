"""SLA targets and clocks: due times in business hours, weekends, holidays, DST, pauses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard_common.business_hours import BusinessCalendar
from switchboard_common.errors import ValidationFailed
from switchboard_tickets.domain import (
    Priority,
    SlaClock,
    SlaPolicy,
    SlaRule,
    SlaTarget,
    Ticket,
    TicketDraft,
    TicketPolicy,
    Urgency,
    open_ticket,
    record_first_response,
    reopen,
    resolve,
    start_work,
    update_details,
    wait_for_customer,
)

PARIS = ZoneInfo("Europe/Paris")
MakeTicket = Callable[..., Ticket]


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


def due(ticket: Ticket, clock: str = "resolution") -> datetime:
    sla_clock = ticket.resolution_clock if clock == "resolution" else ticket.response_clock
    assert sla_clock is not None and sla_clock.due_at is not None
    return sla_clock.due_at


def resolution_clock(ticket: Ticket) -> SlaClock:
    assert ticket.resolution_clock is not None
    return ticket.resolution_clock


@pytest.mark.parametrize(
    ("category", "priority", "response", "resolution"),
    [
        ("billing", Priority.P1, timedelta(minutes=30), timedelta(hours=2)),
        ("billing", Priority.P3, timedelta(hours=2), timedelta(hours=16)),
        ("general", Priority.P1, timedelta(hours=1), timedelta(hours=4)),
        ("general", Priority.P3, timedelta(hours=4), timedelta(hours=24)),
    ],
)
def test_most_specific_rule_wins(
    policy: TicketPolicy,
    category: str,
    priority: Priority,
    response: timedelta,
    resolution: timedelta,
) -> None:
    assert policy.sla is not None
    assert policy.sla.target_for(category, priority) == SlaTarget(
        response=response, resolution=resolution
    )


def test_policy_refuses_duplicate_rules_and_empty_targets(calendar: BusinessCalendar) -> None:
    target = SlaTarget(response=timedelta(hours=1), resolution=timedelta(hours=2))
    with pytest.raises(ValueError, match="same category"):
        SlaPolicy(calendar=calendar, rules=(SlaRule(target=target), SlaRule(target=target)))
    with pytest.raises(ValueError, match="positive"):
        SlaTarget(response=timedelta(0), resolution=timedelta(hours=1))


@pytest.mark.parametrize(
    ("opened", "response_due", "resolution_due"),
    [
        # Monday morning: 4 open hours run over the lunch break.
        (paris(2024, 5, 6, 9), paris(2024, 5, 6, 10), paris(2024, 5, 6, 14)),
        # Friday evening: over the weekend.
        (paris(2024, 5, 10, 17), paris(2024, 5, 10, 18), paris(2024, 5, 13, 12)),
        # Friday evening before Whit Monday: over the weekend and the holiday.
        (paris(2024, 5, 17, 17), paris(2024, 5, 17, 18), paris(2024, 5, 21, 12)),
        # Opened on Saturday: counting starts on Monday.
        (paris(2024, 5, 11, 11), paris(2024, 5, 13, 10), paris(2024, 5, 13, 14)),
        # Friday before the spring-forward night, due on Monday in summer time.
        (paris(2024, 3, 29, 16), paris(2024, 3, 29, 17), paris(2024, 4, 1, 11)),
        # Friday before the fall-back night, due on Monday in winter time.
        (paris(2024, 10, 25, 17), paris(2024, 10, 25, 18), paris(2024, 10, 28, 12)),
    ],
)
def test_due_times_count_business_hours(
    make_ticket: MakeTicket, opened: datetime, response_due: datetime, resolution_due: datetime
) -> None:
    ticket = make_ticket(at=opened)
    assert due(ticket, "response") == response_due
    assert due(ticket) == resolution_due
    assert due(ticket).tzinfo == UTC


def test_spring_forward_due_time_is_the_right_real_instant(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(at=paris(2024, 3, 29, 16))
    assert due(ticket) == datetime(2024, 4, 1, 9, tzinfo=UTC)


def test_no_matching_rule_means_no_sla(calendar: BusinessCalendar, policy: TicketPolicy) -> None:
    narrow = policy.model_copy(
        update={
            "sla": SlaPolicy(
                calendar=calendar,
                rules=(
                    SlaRule(
                        priority=Priority.P1,
                        target=SlaTarget(
                            response=timedelta(hours=1), resolution=timedelta(hours=4)
                        ),
                    ),
                ),
            )
        }
    )
    draft = TicketDraft(subject="x", urgency=Urgency.LOW)
    opened = paris(2024, 5, 6, 9)
    ticket = open_ticket(
        draft, ticket_id="t", tenant_id="acme", sequence=1, at=opened, policy=narrow
    )
    assert ticket.sla_clocks == ()
    # Raising it to P1 later starts the clocks from that moment.
    raised = update_details(ticket, at=paris(2024, 5, 6, 10), policy=narrow, priority=Priority.P1)
    assert due(raised, "response") == paris(2024, 5, 6, 11)
    assert due(raised) == paris(2024, 5, 6, 15)


def test_first_response_meets_the_response_target(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    worked = start_work(ticket, at=paris(2024, 5, 6, 9, 40), policy=policy)
    assert worked.response_clock is not None
    assert worked.response_clock.state == "met"
    assert not worked.response_clock.breached
    assert worked.first_response_at == paris(2024, 5, 6, 9, 40)
    assert resolution_clock(worked).state == "running"


def test_late_first_response_is_breached(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    ticket = make_ticket(at=paris(2024, 5, 10, 17, 30))
    answered = record_first_response(ticket, at=paris(2024, 5, 13, 9, 31), policy=policy)
    clock = answered.response_clock
    assert clock is not None and clock.state == "met" and clock.breached
    assert clock.consumed == timedelta(minutes=61)
    assert record_first_response(answered, at=paris(2024, 5, 13, 10), policy=policy) is answered


def test_waiting_for_the_customer_stops_the_clock(
    make_ticket: MakeTicket, policy: TicketPolicy, calendar: BusinessCalendar
) -> None:
    ticket = start_work(
        make_ticket(assignee_id="agent-1"), at=paris(2024, 5, 6, 9, 30), policy=policy
    )
    paused = wait_for_customer(ticket, at=paris(2024, 5, 6, 10), policy=policy)
    clock = resolution_clock(paused)
    assert clock.state == "paused"
    assert clock.consumed == timedelta(hours=1)
    # A day later nothing more was used.
    assert clock.used(paris(2024, 5, 7, 17), calendar) == timedelta(hours=1)
    assert not clock.is_overdue(paris(2024, 5, 9, 17), calendar)

    resumed = start_work(paused, at=paris(2024, 5, 7, 10), policy=policy)
    clock = resolution_clock(resumed)
    assert clock.state == "running"
    # 3 hours left from Tuesday 10:00: 2.5 before lunch, 0.5 after.
    assert clock.due_at == paris(2024, 5, 7, 14)
    assert clock.due_version == 2


def test_pause_and_resume_outside_hours_keeps_due_time_and_version(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(at=paris(2024, 5, 10, 17), assignee_id="agent-1")
    before = resolution_clock(ticket)
    paused = wait_for_customer(ticket, at=paris(2024, 5, 10, 18, 30), policy=policy)
    resumed = start_work(paused, at=paris(2024, 5, 11, 10), policy=policy)
    after = resolution_clock(resumed)
    assert after.due_at == before.due_at == paris(2024, 5, 13, 12)
    assert after.due_version == before.due_version


def test_resolution_met_on_time_or_late(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    on_time = resolve(ticket, "done", at=paris(2024, 5, 6, 14), policy=policy)
    assert resolution_clock(on_time).state == "met"
    assert not resolution_clock(on_time).breached
    late = resolve(ticket, "done", at=paris(2024, 5, 6, 14, 0, 1), policy=policy)
    assert resolution_clock(late).breached


def test_resolving_while_paused_counts_only_running_time(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    paused = wait_for_customer(ticket, at=paris(2024, 5, 6, 11), policy=policy)
    resolved = resolve(paused, "customer confirmed", at=paris(2024, 5, 9, 11), policy=policy)
    clock = resolution_clock(resolved)
    assert clock.consumed == timedelta(hours=2)
    assert not clock.breached


def test_reopen_continues_from_the_time_already_used(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    resolved = resolve(ticket, "done", at=paris(2024, 5, 6, 11), policy=policy)
    reopened = reopen(resolved, at=paris(2024, 5, 7, 10), policy=policy)
    clock = resolution_clock(reopened)
    assert clock.state == "running"
    assert clock.consumed == timedelta(hours=2)
    assert clock.due_at == paris(2024, 5, 7, 12)
    assert reopened.response_clock is not None and reopened.response_clock.state == "met"


def test_lower_priority_moves_the_due_time_and_its_version(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket()
    before = resolution_clock(ticket)
    lowered = update_details(ticket, at=paris(2024, 5, 6, 11), policy=policy, urgency=Urgency.LOW)
    assert lowered.priority == Priority.P3
    after = resolution_clock(lowered)
    assert after.target == timedelta(hours=24)
    # 2 hours used by 11:00; 22 left: Mon 11:00-18:00 (6), Tue, Wed (16) -> Wed 18:00.
    assert after.due_at == paris(2024, 5, 8, 18)
    assert after.due_version == before.due_version + 1


def test_target_shorter_than_time_used_is_due_immediately(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(urgency="low", impact="low", category="billing")
    assert ticket.priority == Priority.P4
    raised = update_details(ticket, at=paris(2024, 5, 6, 12), policy=policy, priority=Priority.P1)
    clock = resolution_clock(raised)
    assert clock.target == timedelta(hours=2)
    assert clock.due_at == paris(2024, 5, 6, 12)
    assert clock.due_version == 2


def test_overdue_clock_keeps_its_breach_instant_across_pause_and_resume(
    make_ticket: MakeTicket, policy: TicketPolicy, calendar: BusinessCalendar
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    paused = wait_for_customer(ticket, at=paris(2024, 5, 6, 16), policy=policy)
    assert resolution_clock(paused).is_overdue(paris(2024, 5, 6, 16), calendar)
    resumed = start_work(paused, at=paris(2024, 5, 7, 10), policy=policy)
    clock = resolution_clock(resumed)
    assert clock.due_at == paris(2024, 5, 6, 14)
    assert clock.due_version == resolution_clock(ticket).due_version


def test_clock_arithmetic_refuses_naive_times(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    with pytest.raises(ValidationFailed):
        make_ticket(at=datetime(2024, 5, 6, 9))
