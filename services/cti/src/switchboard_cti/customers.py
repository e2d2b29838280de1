"""Customer cards for the screen pop, from the tickets service's CustomerLookup (gRPC).

Called with a short deadline: a slow or absent tickets service must never hold a pop back,
so every failure is `CardUnavailable` and the pop goes out without a card.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from switchboard.tickets.v1 import customers_pb2 as pb
from switchboard.tickets.v1 import customers_pb2_grpc as pb_grpc
from switchboard_common.errors import Unavailable
from switchboard_common.grpc import client_channel

log = logging.getLogger(__name__)

_VIP = {
    pb.VIP_LEVEL_NONE: "none",
    pb.VIP_LEVEL_SILVER: "silver",
    pb.VIP_LEVEL_GOLD: "gold",
    pb.VIP_LEVEL_PLATINUM: "platinum",
}


class CardUnavailable(Unavailable):
    error_id = "customer-lookup-unavailable"


class CustomerCards(Protocol):
    async def lookup(self, tenant_id: str, phone_number: str) -> dict[str, Any] | None:
        """The caller's card, None for an unknown caller; CardUnavailable on failure."""
        ...


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix).lower()
    except ValueError:
        return "unspecified"


def _iso(stamp: Timestamp, present: bool) -> str | None:
    return stamp.ToDatetime().isoformat() + "Z" if present else None


def card_from_response(response: Any) -> dict[str, Any] | None:
    """The desktop's customer card (JSON) from a LookupByNumberResponse."""
    if not response.found:
        return None
    customer = response.customer
    return {
        "id": customer.id,
        "name": customer.name,
        "company": customer.company,
        "vip_level": _VIP.get(customer.vip_level, "none"),
        "lifecycle": _enum_name(pb.Lifecycle, customer.lifecycle, "LIFECYCLE_"),
        "owner_agent_id": customer.owner_agent_id,
        "tags": list(customer.tags),
        "phone_number": response.phone_number,
        "open_tickets": [
            {
                "id": ticket.id,
                "number": ticket.number,
                "title": ticket.title,
                "status": _enum_name(pb.TicketStatus, ticket.status, "TICKET_STATUS_"),
                "priority": _enum_name(pb.Priority, ticket.priority, "PRIORITY_").upper(),
                "due_at": _iso(ticket.due_at, ticket.HasField("due_at")),
            }
            for ticket in response.open_tickets
        ],
        "recent_contacts": [
            {
                "id": contact.id,
                "kind": _enum_name(pb.ContactKind, contact.kind, "CONTACT_KIND_"),
                "at": _iso(contact.at, contact.HasField("at")),
                "call_id": contact.call_id,
                "direction": contact.direction,
                "queue_id": contact.queue_id,
                "agent_id": contact.agent_id,
                "duration_s": contact.duration_s,
                "disposition": contact.disposition,
                "ticket_number": contact.ticket_number,
                "ticket_event": contact.ticket_event,
            }
            for contact in response.recent_contacts
        ],
    }


class GrpcCustomerCards:
    """CustomerLookup.LookupByNumber with a short deadline."""

    def __init__(self, target: str, *, deadline_s: float = 0.4, max_contacts: int = 5) -> None:
        self._target = target
        self._deadline_s = deadline_s
        self._max_contacts = max_contacts
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    async def start(self) -> None:
        """The channel connects lazily."""

    async def stop(self) -> None:
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close(None)

    async def lookup(self, tenant_id: str, phone_number: str) -> dict[str, Any] | None:
        if self._stub is None:
            self._channel = client_channel(self._target, default_deadline_s=self._deadline_s)
            self._stub = pb_grpc.CustomerLookupStub(self._channel)
        request = pb.LookupByNumberRequest(
            tenant_id=tenant_id, phone_number=phone_number, max_contacts=self._max_contacts
        )
        try:
            response = await self._stub.LookupByNumber(request, timeout=self._deadline_s)
        except grpc.aio.AioRpcError as exc:
            raise CardUnavailable(
                f"customer look-up failed: {exc.code().name}",
                details={"code": exc.code().name},
            ) from exc
        return card_from_response(response)


class NoCustomerCards:
    """Used when no tickets service is configured: every pop goes out without a card."""

    async def lookup(self, tenant_id: str, phone_number: str) -> dict[str, Any] | None:
        raise CardUnavailable("no customer look-up is configured")
