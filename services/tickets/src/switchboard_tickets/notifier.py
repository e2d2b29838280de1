"""The only place the tickets service publishes events: ticket and customer events on
`switchboard.tickets.v1`, written to the outbox in the caller's transaction (an event exists
exactly when its change was committed) and relayed to Kafka afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.tickets import CustomerCreated, TicketAssigned
from switchboard_tickets.domain import Action, Customer, MergeReport, Ticket
from switchboard_tickets.domain.events import (
    action_event,
    customer_merged,
    events_for_change,
    ticket_created,
)

SOURCE = "switchboard/tickets"


class EventSink(Protocol):
    """Where envelopes go inside a transaction (`switchboard_common.outbox.Outbox`)."""

    async def add(self, session: AsyncSession, envelope: Envelope) -> None: ...


class TicketsNotifier:
    def __init__(self, sink: EventSink, *, source: str = SOURCE) -> None:
        self._sink = sink
        self._source = source

    async def _publish(
        self, session: AsyncSession, tenant_id: str, payload: EventPayload, subject: str
    ) -> None:
        envelope = Envelope.wrap(payload, source=self._source, tenant=tenant_id, subject=subject)
        await self._sink.add(session, envelope)

    async def ticket_created(self, session: AsyncSession, ticket: Ticket) -> None:
        """`ticket.created`, and `ticket.assigned` when it was opened with an assignee."""
        await self._publish(session, ticket.tenant_id, ticket_created(ticket), ticket.id)
        if ticket.assignee_id is not None:
            assigned = TicketAssigned(
                ticket_id=ticket.id,
                ticket_number=ticket.number,
                assignee_id=ticket.assignee_id,
                department_id=ticket.department_id,
                assigned_at=ticket.created_at,
            )
            await self._publish(session, ticket.tenant_id, assigned, ticket.id)

    async def ticket_changed(self, session: AsyncSession, before: Ticket, after: Ticket) -> None:
        """assigned / status_changed / resolved / closed, as the change calls for."""
        for payload in events_for_change(before, after):
            await self._publish(session, after.tenant_id, payload, after.id)

    async def action_fired(
        self, session: AsyncSession, ticket: Ticket, action: Action, at: datetime
    ) -> None:
        """`ticket.reminder_due` or `ticket.escalated`."""
        await self._publish(session, ticket.tenant_id, action_event(ticket, action, at), ticket.id)

    async def customer_created(self, session: AsyncSession, customer: Customer) -> None:
        payload = CustomerCreated(
            customer_id=customer.id,
            name=customer.name,
            phones=list(customer.phones),
            vip_level=int(customer.vip_level),
            owner_agent_id=customer.owner_agent_id,
            created_at=customer.created_at,
        )
        await self._publish(session, customer.tenant_id, payload, customer.id)

    async def customer_merged(
        self, session: AsyncSession, tenant_id: str, report: MergeReport, at: datetime
    ) -> None:
        await self._publish(session, tenant_id, customer_merged(report, at), report.survivor_id)
