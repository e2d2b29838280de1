"""gRPC CustomerLookup servicer: parse the request, ask CustomersService, build the reply.

AppErrors become status codes in the shared interceptor (a bad number: INVALID_ARGUMENT).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from switchboard.tickets.v1 import customers_pb2 as pb
from switchboard.tickets.v1 import customers_pb2_grpc as pb_grpc
from switchboard_common.errors import ValidationFailed
from switchboard_tickets.domain import CallContact, SurveyContact, TicketContact
from switchboard_tickets.schemas import CustomerLookup
from switchboard_tickets.services import CustomersService

SERVICE_NAME = "switchboard.tickets.v1.CustomerLookup"
MAX_CONTACTS = 50
MAX_OPEN_TICKETS = 100

_VIP_LEVELS = {
    0: pb.VIP_LEVEL_NONE,
    1: pb.VIP_LEVEL_SILVER,
    2: pb.VIP_LEVEL_GOLD,
    3: pb.VIP_LEVEL_PLATINUM,
}
_LIFECYCLES = {"lead": pb.LIFECYCLE_LEAD, "customer": pb.LIFECYCLE_CUSTOMER}
_STATUSES = {
    "new": pb.TICKET_STATUS_NEW,
    "assigned": pb.TICKET_STATUS_ASSIGNED,
    "in_progress": pb.TICKET_STATUS_IN_PROGRESS,
    "pending_customer": pb.TICKET_STATUS_PENDING_CUSTOMER,
    "resolved": pb.TICKET_STATUS_RESOLVED,
    "closed": pb.TICKET_STATUS_CLOSED,
    "reopened": pb.TICKET_STATUS_REOPENED,
}
_PRIORITIES = {
    "P1": pb.PRIORITY_P1,
    "P2": pb.PRIORITY_P2,
    "P3": pb.PRIORITY_P3,
    "P4": pb.PRIORITY_P4,
}


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def _contact(entry: CallContact | SurveyContact | TicketContact) -> pb.Contact:
    contact = pb.Contact(id=entry.id, at=_timestamp(entry.at))
    if isinstance(entry, CallContact):
        contact.kind = pb.CONTACT_KIND_CALL
        contact.call_id = entry.call_id
        contact.direction = entry.direction
        contact.queue_id = entry.queue_id or ""
        contact.agent_id = entry.agent_id or ""
        contact.duration_s = entry.duration.total_seconds()
        contact.disposition = entry.disposition or ""
        contact.recording_id = entry.recording_id or ""
    elif isinstance(entry, SurveyContact):
        contact.kind = pb.CONTACT_KIND_SURVEY
        contact.call_id = entry.call_id or ""
        contact.survey_score = entry.score if entry.score is not None else -1
    else:
        contact.kind = pb.CONTACT_KIND_TICKET
        contact.ticket_id = entry.ticket_id
        contact.ticket_number = entry.ticket_number
        contact.ticket_event = entry.event
    return contact


def lookup_response(lookup: CustomerLookup) -> pb.LookupByNumberResponse:
    response = pb.LookupByNumberResponse(found=lookup.found, phone_number=lookup.phone_number)
    customer = lookup.customer
    if customer is not None:
        response.customer.CopyFrom(
            pb.Customer(
                id=customer.id,
                name=customer.name,
                company=customer.company,
                lifecycle=_LIFECYCLES[customer.lifecycle],
                vip_level=_VIP_LEVELS[int(customer.vip_level)],
                owner_agent_id=customer.owner_agent_id or "",
                tags=list(customer.tags),
            )
        )
    for ticket in lookup.open_tickets:
        item = pb.OpenTicket(
            id=ticket.id,
            number=ticket.number,
            title=ticket.subject,
            status=_STATUSES[ticket.status.value],
            priority=_PRIORITIES[ticket.priority.value],
        )
        if ticket.due_at is not None:
            item.due_at.CopyFrom(_timestamp(ticket.due_at))
        response.open_tickets.append(item)
    response.recent_contacts.extend(_contact(entry) for entry in lookup.recent_contacts)
    return response


class CustomerLookupServicer(pb_grpc.CustomerLookupServicer):  # type: ignore[misc]
    def __init__(
        self, customers: CustomersService, *, default_contacts: int, default_open_tickets: int
    ) -> None:
        self._customers = customers
        self._default_contacts = default_contacts
        self._default_open_tickets = default_open_tickets

    async def LookupByNumber(
        self, request: pb.LookupByNumberRequest, _context: Any
    ) -> pb.LookupByNumberResponse:
        if not request.tenant_id:
            raise ValidationFailed("tenant_id is required", field="tenant_id")
        if not request.phone_number:
            raise ValidationFailed(
                "phone_number is required", field="phone_number", error_id="invalid-phone-number"
            )
        lookup = await self._customers.lookup(
            request.tenant_id,
            request.phone_number,
            contacts=min(request.max_contacts or self._default_contacts, MAX_CONTACTS),
            open_tickets=min(
                request.max_open_tickets or self._default_open_tickets, MAX_OPEN_TICKETS
            ),
        )
        return lookup_response(lookup)
