"""Priority matrix, ticket numbers, search queries, optimistic concurrency, event payloads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard_common.errors import Conflict, ErrorKind, ValidationFailed
from switchboard_common.events import Envelope, decode, registered_payloads
from switchboard_common.events.tickets import TicketCreated
from switchboard_tickets.domain import (
    MAX_PAGE_SIZE,
    Impact,
    Priority,
    PriorityMatrix,
    Ticket,
    TicketCursor,
    TicketNumberFormat,
    TicketSearchQuery,
    TicketStatus,
    Urgency,
    ensure_version,
)
from switchboard_tickets.domain.events import ticket_created

MakeTicket = Callable[..., Ticket]

# -- priority matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urgency", "impact", "expected"),
    [
        (Urgency.HIGH, Impact.HIGH, Priority.P1),
        (Urgency.MEDIUM, Impact.HIGH, Priority.P2),
        (Urgency.HIGH, Impact.MEDIUM, Priority.P2),
        (Urgency.LOW, Impact.HIGH, Priority.P3),
        (Urgency.MEDIUM, Impact.MEDIUM, Priority.P3),
        (Urgency.HIGH, Impact.LOW, Priority.P3),
        (Urgency.LOW, Impact.MEDIUM, Priority.P4),
        (Urgency.MEDIUM, Impact.LOW, Priority.P4),
        (Urgency.LOW, Impact.LOW, Priority.P4),
    ],
)
def test_default_priority_matrix(urgency: Urgency, impact: Impact, expected: Priority) -> None:
    assert PriorityMatrix.default().priority_for(urgency, impact) is expected


def test_tenant_matrix_replaces_the_default() -> None:
    cells = {impact.value: {urgency.value: "P2" for urgency in Urgency} for impact in Impact}
    cells["low"]["low"] = "P4"
    matrix = PriorityMatrix.model_validate({"cells": cells})
    assert matrix.priority_for(Urgency.HIGH, Impact.HIGH) is Priority.P2
    assert matrix.priority_for(Urgency.LOW, Impact.LOW) is Priority.P4


def test_incomplete_matrix_is_refused() -> None:
    cells: dict[str, Any] = {"high": {"high": "P1"}}
    with pytest.raises(ValueError, match="misses cells"):
        PriorityMatrix.model_validate({"cells": cells})


def test_priority_rank_orders_p1_first() -> None:
    assert sorted(Priority, key=lambda p: p.rank)[0] is Priority.P1
    assert Priority.P4.rank == 4


# -- ticket numbers ------------------------------------------------------------------------------


def test_ticket_number_format_and_parse() -> None:
    numbering = TicketNumberFormat(prefix="ACME", width=6)
    assert numbering.format(123) == "ACME-000123"
    assert numbering.format(1_234_567) == "ACME-1234567"
    for typed in ("ACME-000123", "acme-123", " ACME000123 ", "123", "000123"):
        assert numbering.parse(typed) == 123
    assert TicketNumberFormat(prefix="HD", width=4, separator="").format(7) == "HD0007"


@pytest.mark.parametrize("typed", ["OTHER-000123", "ACME-", "ACME-0", "ACME-12a", ""])
def test_ticket_number_parse_refuses_other_text(typed: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TicketNumberFormat(prefix="ACME").parse(typed)
    assert caught.value.error_id == "invalid-ticket-number"


def test_ticket_number_format_checks_its_settings() -> None:
    with pytest.raises(ValueError):
        TicketNumberFormat(prefix="acme")
    with pytest.raises(ValueError):
        TicketNumberFormat(width=0)
    with pytest.raises(ValidationFailed):
        TicketNumberFormat().format(0)


# -- search --------------------------------------------------------------------------------------


def test_search_defaults_and_filters() -> None:
    query = TicketSearchQuery.parse(
        {
            "number": " acme-000123 ",
            "status": "new,assigned",
            "department_id": "support",
            "created_from": "2024-05-01T00:00:00+02:00",
            "created_to": "2024-06-01T00:00:00+02:00",
            "text": "  login  ",
        }
    )
    assert query.number == "ACME-000123"
    assert query.status == (TicketStatus.NEW, TicketStatus.ASSIGNED)
    assert query.created_from == datetime(2024, 4, 30, 22, tzinfo=UTC)
    assert query.text == "login"
    assert (query.page, query.size, query.offset, query.after) == (None, 25, 0, None)


def test_page_mode_offset() -> None:
    query = TicketSearchQuery.parse({"page": 3, "size": 50})
    assert query.offset == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"size": MAX_PAGE_SIZE + 1}, "size"),
        ({"size": 0}, "size"),
        ({"page": 0}, "page"),
        (
            {
                "page": 2,
                "cursor": TicketCursor(created_at=datetime.now(UTC), ticket_id="t").encode(),
            },
            "page",
        ),
        ({"status": "new,archived"}, "status[1]"),
        (
            {"created_from": "2024-05-02T00:00:00Z", "created_to": "2024-05-01T00:00:00Z"},
            "created_to",
        ),
        ({"created_from": "2024-05-02T00:00:00"}, "created_from"),
        ({"text": "x"}, "text"),
        ({"assignee_id": "a", "unassigned": True}, "assignee_id"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"sort": "priority"}, "sort"),
    ],
)
def test_search_validation_names_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TicketSearchQuery.parse(params)
    assert caught.value.details["field"] == field
    assert caught.value.kind is ErrorKind.INVALID


def test_cursor_round_trip() -> None:
    cursor = TicketCursor(created_at=datetime(2024, 5, 6, 9, 30, tzinfo=UTC), ticket_id="t-42")
    token = cursor.encode()
    assert "=" not in token
    assert TicketCursor.decode(token) == cursor
    assert TicketSearchQuery.parse({"cursor": token}).after == cursor


@pytest.mark.parametrize("token", ["", "!!!", "e30", "eyJjIjoieCIsImkiOiJ0In0"])
def test_garbage_cursors_are_refused(token: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        TicketCursor.decode(token)
    assert caught.value.error_id == "invalid-cursor"


# -- optimistic concurrency ----------------------------------------------------------------------


def test_version_mismatch_is_a_409_conflict() -> None:
    ensure_version("ticket", "t-1", expected=3, actual=3)
    with pytest.raises(Conflict) as caught:
        ensure_version("ticket", "t-1", expected=2, actual=3)
    error = caught.value
    assert error.error_id == "version-conflict"
    assert error.kind.http_status == 409
    assert error.details == {
        "resource": "ticket",
        "id": "t-1",
        "expected_version": 2,
        "actual_version": 3,
    }


# -- event payloads ------------------------------------------------------------------------------


def test_ticket_events_are_registered_on_the_tickets_topic() -> None:
    registry = registered_payloads()
    for event_type in (
        "switchboard.ticket.created.v1",
        "switchboard.ticket.assigned.v1",
        "switchboard.ticket.status_changed.v1",
        "switchboard.ticket.escalated.v1",
        "switchboard.ticket.resolved.v1",
        "switchboard.ticket.closed.v1",
        "switchboard.ticket.reminder_due.v1",
        "switchboard.customer.created.v1",
        "switchboard.customer.merged.v1",
    ):
        assert registry[event_type].TOPIC == "switchboard.tickets.v1"


def test_ticket_created_travels_in_an_envelope(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(customer_id="c-1", origin_call_id="call-1")
    envelope = Envelope.wrap(
        ticket_created(ticket), source="tickets", tenant="acme", subject=ticket.id
    )
    received = decode(envelope.encode())
    payload = received.payload_as(TicketCreated)
    assert payload.ticket_number == ticket.number
    assert payload.priority == "P1"
    assert payload.resolution_due_at == ticket.resolution_clock.due_at  # type: ignore[union-attr]
    assert received.topic == "switchboard.tickets.v1"
    assert payload.created_at - ticket.created_at == timedelta(0)


# -- storage round trip --------------------------------------------------------------------------


def test_ticket_with_sla_clocks_round_trips_through_json(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-1", origin_call_id="call-1")
    stored = ticket.model_dump_json()
    loaded = Ticket.model_validate_json(stored)
    assert loaded == ticket
    assert loaded.resolution_clock is not None
    assert loaded.resolution_clock.schedule == ticket.resolution_clock.schedule  # type: ignore[union-attr]
