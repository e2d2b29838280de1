"""Event payloads for ticket changes, built from domain objects (the notifier publishes them)."""

from __future__ import annotations

from datetime import datetime

from switchboard_common.events.envelope import EventPayload
from switchboard_common.events.tickets import (
    CustomerMerged,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketEscalated,
    TicketReminderDue,
    TicketResolved,
    TicketStatusChanged,
)
from switchboard_tickets.domain.customers import MergeReport
from switchboard_tickets.domain.escalation import Action
from switchboard_tickets.domain.tickets import Ticket
from switchboard_tickets.domain.workflow import TicketStatus


def ticket_created(ticket: Ticket) -> TicketCreated:
    return TicketCreated(
        ticket_id=ticket.id,
        ticket_number=ticket.number,
        subject=ticket.subject,
        category=ticket.category,
        priority=ticket.priority.value,
        urgency=ticket.urgency.value,
        impact=ticket.impact.value,
        status=ticket.status.value,
        customer_id=ticket.customer_id,
        department_id=ticket.department_id,
        assignee_id=ticket.assignee_id,
        origin_call_id=ticket.origin_call_id,
        response_due_at=ticket.response_clock.due_at if ticket.response_clock else None,
        resolution_due_at=ticket.resolution_clock.due_at if ticket.resolution_clock else None,
        created_at=ticket.created_at,
    )


def events_for_change(before: Ticket, after: Ticket) -> list[EventPayload]:
    """What to announce after an operation turned `before` into `after` (maybe nothing)."""
    events: list[EventPayload] = []
    if after.assignee_id is not None and after.assignee_id != before.assignee_id:
        events.append(
            TicketAssigned(
                ticket_id=after.id,
                ticket_number=after.number,
                assignee_id=after.assignee_id,
                previous_assignee_id=before.assignee_id,
                department_id=after.department_id,
                assigned_at=after.updated_at,
            )
        )
    if after.status != before.status:
        events.append(
            TicketStatusChanged(
                ticket_id=after.id,
                ticket_number=after.number,
                from_status=before.status.value,
                to_status=after.status.value,
                assignee_id=after.assignee_id,
                changed_at=after.updated_at,
            )
        )
        if after.status == TicketStatus.RESOLVED:
            events.append(ticket_resolved(after))
        elif after.status == TicketStatus.CLOSED and after.closed_at is not None:
            events.append(
                TicketClosed(
                    ticket_id=after.id, ticket_number=after.number, closed_at=after.closed_at
                )
            )
    return events


def ticket_resolved(ticket: Ticket) -> TicketResolved:
    clock = ticket.resolution_clock
    return TicketResolved(
        ticket_id=ticket.id,
        ticket_number=ticket.number,
        resolution=ticket.resolution or "",
        assignee_id=ticket.assignee_id,
        first_contact_resolution=ticket.first_contact_resolution,
        sla_breached=clock.breached if clock is not None else None,
        resolved_at=ticket.resolved_at or ticket.updated_at,
    )


def action_event(ticket: Ticket, action: Action, at: datetime) -> EventPayload:
    """The event announcing a fired reminder or escalation."""
    if action.kind == "reminder":
        return TicketReminderDue(
            ticket_id=ticket.id,
            ticket_number=ticket.number,
            clock=action.clock,
            percent=action.level,
            notify=action.notify,
            assignee_id=ticket.assignee_id,
            due_at=action.due_at,
            idempotency_key=action.key,
            reminded_at=at,
        )
    return TicketEscalated(
        ticket_id=ticket.id,
        ticket_number=ticket.number,
        clock=action.clock,
        level=action.level,
        target=action.notify,
        assignee_id=ticket.assignee_id,
        department_id=ticket.department_id,
        due_at=action.due_at,
        idempotency_key=action.key,
        escalated_at=at,
    )


def customer_merged(report: MergeReport, at: datetime) -> CustomerMerged:
    return CustomerMerged(
        survivor_id=report.survivor_id,
        merged_id=report.merged_id,
        phones_added=list(report.phones_added),
        emails_added=list(report.emails_added),
        custom_fields_overwritten=list(report.custom_fields_overwritten),
        merged_at=at,
    )
