"""Ticket and customer events published by the tickets service on `switchboard.tickets.v1`.

Subject: the ticket id (customer id for customer events). Statuses, priorities and the
other enumerations are the string values of the tickets domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from switchboard_common.events import topics
from switchboard_common.events.envelope import EventPayload, register

TicketStatusName = Literal[
    "new", "assigned", "in_progress", "pending_customer", "resolved", "closed", "reopened"
]
PriorityName = Literal["P1", "P2", "P3", "P4"]
LevelName = Literal["high", "medium", "low"]
SlaClockName = Literal["response", "resolution"]
RecipientName = Literal["assignee", "department_lead", "tenant_admin"]


class _TicketEvent(EventPayload):
    TOPIC = topics.TICKETS

    ticket_id: str
    ticket_number: str = Field(description="human-friendly number, e.g. ACME-000123")


@register
class TicketCreated(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.created.v1"
    DESCRIPTION = "A ticket was opened (by an agent, the REST API, a voicemail or a wrap-up)."

    subject: str
    category: str
    priority: PriorityName
    urgency: LevelName
    impact: LevelName
    status: TicketStatusName
    customer_id: str | None = None
    department_id: str | None = None
    assignee_id: str | None = None
    origin_call_id: str | None = Field(default=None, description="the call it was opened from")
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    created_at: datetime


@register
class TicketAssigned(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.assigned.v1"
    DESCRIPTION = "A ticket was given to an agent (or moved to another one)."

    assignee_id: str
    previous_assignee_id: str | None = None
    department_id: str | None = None
    assigned_at: datetime


@register
class TicketStatusChanged(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.status_changed.v1"
    DESCRIPTION = "A ticket moved along its workflow."

    from_status: TicketStatusName
    to_status: TicketStatusName
    assignee_id: str | None = None
    changed_at: datetime


@register
class TicketReminderDue(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.reminder_due.v1"
    DESCRIPTION = "A share of an SLA target was used up: remind whoever works the ticket."

    clock: SlaClockName
    percent: int = Field(ge=1, le=99, description="share of the target used up")
    notify: RecipientName
    assignee_id: str | None = None
    due_at: datetime
    idempotency_key: str
    reminded_at: datetime


@register
class TicketEscalated(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.escalated.v1"
    DESCRIPTION = "An SLA due time passed: the ticket was escalated to the next level."

    clock: SlaClockName
    level: int = Field(ge=1, le=9)
    target: RecipientName = Field(description="who is told at this level")
    assignee_id: str | None = None
    department_id: str | None = None
    due_at: datetime
    idempotency_key: str
    escalated_at: datetime


@register
class TicketResolved(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.resolved.v1"
    DESCRIPTION = "A ticket was resolved."

    resolution: str
    assignee_id: str | None = None
    first_contact_resolution: bool = Field(
        description="resolved on the call that opened it, while it was still up"
    )
    sla_breached: bool | None = Field(
        default=None, description="resolution target missed (null: the ticket had no SLA)"
    )
    resolved_at: datetime


@register
class TicketClosed(_TicketEvent):
    EVENT_TYPE = "switchboard.ticket.closed.v1"
    DESCRIPTION = "A resolved ticket was closed (final unless reopened within the window)."

    closed_at: datetime


@register
class CustomerCreated(EventPayload):
    EVENT_TYPE = "switchboard.customer.created.v1"
    TOPIC = topics.TICKETS
    DESCRIPTION = "A customer record was created in the CRM."

    customer_id: str
    name: str = ""
    phones: list[str] = Field(default_factory=list, description="E.164")
    vip_level: int = Field(default=0, ge=0, le=3)
    owner_agent_id: str | None = None
    created_at: datetime


@register
class CustomerMerged(EventPayload):
    EVENT_TYPE = "switchboard.customer.merged.v1"
    TOPIC = topics.TICKETS
    DESCRIPTION = "Two records of one customer were merged; the merged id no longer exists."

    survivor_id: str = Field(description="the older record, which keeps its id")
    merged_id: str = Field(description="the record folded into the survivor")
    phones_added: list[str] = Field(default_factory=list)
    emails_added: list[str] = Field(default_factory=list)
    custom_fields_overwritten: list[str] = Field(default_factory=list)
    merged_at: datetime
