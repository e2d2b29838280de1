"""Ticket workflow: the transition table, the rules around it, first-contact resolution."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard_common.errors import ErrorKind, PreconditionFailed, ValidationFailed
from switchboard_common.events.tickets import TicketResolved
from switchboard_tickets.domain import (
    ALLOWED_TRANSITIONS,
    Impact,
    Priority,
    Ticket,
    TicketPolicy,
    TicketStatus,
    Urgency,
    assign,
    change_status,
    close,
    record_call_ended,
    reopen,
    resolve,
    start_work,
    unassign,
    update_details,
    wait_for_customer,
)
from switchboard_tickets.domain.events import events_for_change, ticket_created

S = TicketStatus
PARIS = ZoneInfo("Europe/Paris")
MakeTicket = Callable[..., Ticket]


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


T0 = paris(2024, 5, 6, 9)


def later(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ticket_in(status: TicketStatus, make: MakeTicket, policy: TicketPolicy) -> Ticket:
    """A ticket brought to `status` the ordinary way (assigned to agent-1 where it matters)."""
    if status == S.NEW:
        return make()
    ticket = make(assignee_id="agent-1")
    if status == S.ASSIGNED:
        return ticket
    if status == S.IN_PROGRESS:
        return start_work(ticket, at=later(1), policy=policy)
    if status == S.PENDING_CUSTOMER:
        return wait_for_customer(ticket, at=later(1), policy=policy)
    resolved = resolve(ticket, "password reset", at=later(2), policy=policy)
    if status == S.RESOLVED:
        return resolved
    if status == S.CLOSED:
        return close(resolved, at=later(3), policy=policy)
    return reopen(resolved, at=later(3), policy=policy)


ALLOWED = sorted(
    ((source, target) for source, targets in ALLOWED_TRANSITIONS.items() for target in targets),
    key=lambda pair: (pair[0].value, pair[1].value),
)
ILLEGAL = sorted(
    (
        (source, target)
        for source in TicketStatus
        for target in TicketStatus
        if target not in ALLOWED_TRANSITIONS[source]
    ),
    key=lambda pair: (pair[0].value, pair[1].value),
)


def test_every_status_has_a_row_and_closed_only_reopens() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(TicketStatus)
    assert ALLOWED_TRANSITIONS[S.CLOSED] == {S.REOPENED}
    assert ALLOWED_TRANSITIONS[S.RESOLVED] == {S.CLOSED, S.REOPENED}
    assert len(ILLEGAL) > 20


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=lambda s: s.value)
def test_allowed_transition(
    source: TicketStatus, target: TicketStatus, make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = ticket_in(source, make_ticket, policy)
    assert ticket.status == source
    moved = change_status(
        ticket,
        target,
        at=later(10),
        policy=policy,
        assignee_id="agent-2",
        resolution="fixed",
    )
    assert moved.status == target
    assert moved.version > ticket.version
    assert moved.updated_at == later(10)


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=lambda s: s.value)
def test_illegal_transition(
    source: TicketStatus, target: TicketStatus, make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = ticket_in(source, make_ticket, policy)
    with pytest.raises(PreconditionFailed) as caught:
        change_status(ticket, target, at=later(10), policy=policy, assignee_id="a", resolution="r")
    error = caught.value
    assert error.error_id == "illegal-transition"
    assert error.kind is ErrorKind.PRECONDITION
    assert error.details == {
        "from": source.value,
        "to": target.value,
        "allowed": sorted(status.value for status in ALLOWED_TRANSITIONS[source]),
    }


def test_new_ticket_is_numbered_prioritised_and_new(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(urgency="low", impact="medium")
    assert ticket.status == S.NEW
    assert ticket.number == f"ACME-{ticket.sequence:06d}"
    assert ticket.priority == Priority.P4
    assert ticket.version == 1
    assert ticket.created_at.utcoffset() == timedelta(0)


def test_opening_with_an_agent_makes_it_assigned(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-9")
    assert (ticket.status, ticket.assignee_id) == (S.ASSIGNED, "agent-9")


def test_explicit_priority_overrides_the_matrix(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(urgency="low", impact="low", priority="P1")
    assert ticket.priority == Priority.P1 and ticket.priority_overridden


def test_assigning_sets_status_assigned_even_when_work_had_started(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = start_work(make_ticket(assignee_id="agent-1"), at=later(1), policy=policy)
    moved = assign(ticket, "agent-2", at=later(2), policy=policy)
    assert (moved.status, moved.assignee_id) == (S.ASSIGNED, "agent-2")


def test_assigning_needs_an_agent(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    with pytest.raises(ValidationFailed) as caught:
        change_status(make_ticket(), S.ASSIGNED, at=later(1), policy=policy)
    assert caught.value.details["field"] == "assignee_id"


def test_reassigning_to_the_same_agent_changes_nothing(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    assert assign(ticket, "agent-1", at=later(5), policy=policy) is ticket


def test_unassigning_returns_to_new(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    moved = unassign(make_ticket(assignee_id="agent-1"), at=later(1), policy=policy)
    assert (moved.status, moved.assignee_id) == (S.NEW, None)


def test_working_on_an_unassigned_reopened_ticket_is_refused(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    resolved = resolve(make_ticket(), "duplicate", at=later(1), policy=policy)
    reopened = reopen(resolved, at=later(2), policy=policy)
    with pytest.raises(PreconditionFailed) as caught:
        start_work(reopened, at=later(3), policy=policy)
    assert caught.value.error_id == "ticket-unassigned"


def test_resolving_records_resolution_and_time(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = start_work(make_ticket(assignee_id="agent-1"), at=later(1), policy=policy)
    resolved = resolve(ticket, "  reset the password  ", at=later(30), policy=policy)
    assert resolved.resolution == "reset the password"
    assert resolved.resolved_at == later(30)
    assert not resolved.is_open


@pytest.mark.parametrize("text", ["", "   "])
def test_resolving_needs_a_resolution(
    text: str, make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        resolve(make_ticket(), text, at=later(1), policy=policy)
    assert caught.value.details["field"] == "resolution"


def test_reopen_within_the_window_clears_the_resolution(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    closed = ticket_in(S.CLOSED, make_ticket, policy)
    reopened = reopen(closed, at=closed.updated_at + timedelta(days=7), policy=policy)
    assert reopened.status == S.REOPENED
    assert (reopened.resolution, reopened.resolved_at, reopened.closed_at) == (None, None, None)
    assert reopened.reopen_count == 1
    assert reopened.assignee_id == "agent-1"


def test_reopen_after_the_window_is_refused(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    closed = ticket_in(S.CLOSED, make_ticket, policy)
    too_late = closed.updated_at + timedelta(days=7, seconds=1)
    with pytest.raises(PreconditionFailed) as caught:
        reopen(closed, at=too_late, policy=policy)
    assert caught.value.error_id == "reopen-window-expired"
    assert "reopen_until" in caught.value.details


def test_reopen_window_is_per_tenant(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    strict = policy.model_copy(update={"reopen_window": timedelta(days=1)})
    closed = ticket_in(S.CLOSED, make_ticket, policy)
    with pytest.raises(PreconditionFailed):
        reopen(closed, at=closed.updated_at + timedelta(days=2), policy=strict)


def test_a_change_cannot_predate_the_last_one(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = start_work(make_ticket(assignee_id="agent-1"), at=later(10), policy=policy)
    with pytest.raises(ValidationFailed) as caught:
        resolve(ticket, "done", at=later(5), policy=policy)
    assert caught.value.error_id == "at-before-last-change"


def test_naive_times_are_refused(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    with pytest.raises(ValidationFailed) as caught:
        assign(make_ticket(), "agent-1", at=datetime(2024, 5, 6, 10), policy=policy)
    assert caught.value.details["field"] == "at"


def test_editing_urgency_recomputes_priority_unless_overridden(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(urgency="low", impact="low")
    raised = update_details(ticket, at=later(1), policy=policy, urgency=Urgency.HIGH)
    assert raised.priority == Priority.P3
    pinned = update_details(raised, at=later(2), policy=policy, priority=Priority.P2)
    still = update_details(pinned, at=later(3), policy=policy, impact=Impact.HIGH)
    assert still.priority == Priority.P2
    assert update_details(still, at=later(4), policy=policy, subject=still.subject) is still


# -- first-contact resolution ------------------------------------------------------------------


def test_resolved_on_the_originating_call_is_first_contact(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1", origin_call_id="call-1")
    resolved = resolve(ticket, "done", at=later(3), policy=policy, during_call_id="call-1")
    ended = record_call_ended(resolved, call_id="call-1", ended_at=later(2))
    assert ended.first_contact_resolution


def test_resolved_while_the_call_was_still_up_is_first_contact(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1", origin_call_id="call-1")
    resolved = resolve(ticket, "done", at=later(3), policy=policy)
    assert resolved.first_contact_resolution
    assert record_call_ended(resolved, call_id="call-1", ended_at=later(4)).first_contact_resolution


def test_resolved_after_the_call_ended_is_not_first_contact(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1", origin_call_id="call-1")
    ended = record_call_ended(ticket, call_id="call-1", ended_at=later(2))
    assert record_call_ended(ended, call_id="call-1", ended_at=later(9)) is ended
    assert record_call_ended(ticket, call_id="call-other", ended_at=later(2)) is ticket
    resolved = resolve(ended, "done", at=later(60), policy=policy, during_call_id="call-2")
    assert not resolved.first_contact_resolution


def test_tickets_without_a_call_or_reopened_are_not_first_contact(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    no_call = resolve(make_ticket(), "done", at=later(1), policy=policy)
    assert not no_call.first_contact_resolution
    on_call = make_ticket(assignee_id="agent-1", origin_call_id="call-1")
    resolved = resolve(on_call, "done", at=later(1), policy=policy, during_call_id="call-1")
    again = resolve(
        reopen(resolved, at=later(2), policy=policy),
        "done again",
        at=later(3),
        policy=policy,
        during_call_id="call-1",
    )
    assert not again.first_contact_resolution


# -- events ------------------------------------------------------------------------------------


def test_events_for_assignment_and_resolution(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(origin_call_id="call-1")
    created = ticket_created(ticket)
    assert created.ticket_number == ticket.number and created.resolution_due_at is not None
    assigned = assign(ticket, "agent-1", at=later(1), policy=policy)
    events = events_for_change(ticket, assigned)
    assert [type(event).__name__ for event in events] == ["TicketAssigned", "TicketStatusChanged"]
    resolved = resolve(assigned, "done", at=later(2), policy=policy, during_call_id="call-1")
    events = events_for_change(assigned, resolved)
    assert [type(event).__name__ for event in events] == ["TicketStatusChanged", "TicketResolved"]
    resolved_event = events[1]
    assert isinstance(resolved_event, TicketResolved)
    assert resolved_event.first_contact_resolution and resolved_event.sla_breached is False
    closed = close(resolved, at=later(3), policy=policy)
    assert [type(event).__name__ for event in events_for_change(resolved, closed)] == [
        "TicketStatusChanged",
        "TicketClosed",
    ]
    assert events_for_change(closed, closed) == []


def test_editing_validates_like_creating(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    with pytest.raises(ValidationFailed) as caught:
        update_details(make_ticket(), at=later(1), policy=policy, subject="   ")
    assert caught.value.details["field"] == "subject"
    with pytest.raises(ValidationFailed) as caught:
        update_details(make_ticket(), at=later(1), policy=policy, category="Not A Slug")
    assert caught.value.details["field"] == "category"
