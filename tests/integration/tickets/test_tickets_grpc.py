"""CustomerLookup through a real gRPC server on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest

from switchboard.tickets.v1 import customers_pb2 as pb
from switchboard.tickets.v1 import customers_pb2_grpc as pb_grpc
from switchboard_common.grpc import GrpcServer, client_channel
from switchboard_tickets.main import TicketsApp


@pytest.fixture()
async def stub(service: TicketsApp) -> AsyncIterator[Any]:
    server = GrpcServer("tickets", "127.0.0.1", 0)
    service.register_grpc(server)
    port = await server.start()
    try:
        async with client_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.CustomerLookupStub(channel)
    finally:
        await server.stop(0)


async def test_lookup_by_number_returns_card_open_tickets_and_contacts(
    stub: Any,
    make_client: Any,
    tenant: str,
    other_tenant: str,
    add_agent: Any,
    call_events: Any,
    paris_sla: dict[str, Any],
    clock: Any,
) -> None:
    client = make_client(tenant)
    await add_agent(tenant, "agent-1")
    await client.put("/v1/ticket-settings/sla", json={"version": 0, **paris_sla})
    ada = (
        await client.post(
            "/v1/customers",
            json={
                "name": "Ada",
                "phones": ["+33142685300"],
                "vip_level": 3,
                "owner_agent_id": "agent-1",
                "tags": ["key-account"],
            },
        )
    ).json()
    for index in range(3):
        clock.advance(timedelta(minutes=1))
        await call_events.arrived(tenant, f"call-{index}", "+33142685300")
    clock.advance(timedelta(minutes=1))
    ticket = (
        await client.post(
            "/v1/tickets",
            json={"subject": "Broken", "customer_id": ada["id"], "urgency": "high"},
        )
    ).json()
    done = (
        await client.post(
            "/v1/tickets",
            json={"subject": "Old", "customer_id": ada["id"]},
        )
    ).json()
    await client.post(
        f"/v1/tickets/{done['id']}/transitions", json={"status": "resolved", "resolution": "ok"}
    )

    reply = await stub.LookupByNumber(
        pb.LookupByNumberRequest(tenant_id=tenant, phone_number="+33 1 42 68 53 00", max_contacts=2)
    )
    assert reply.found
    assert reply.phone_number == "+33142685300"
    assert reply.customer.id == ada["id"]
    assert reply.customer.vip_level == pb.VIP_LEVEL_PLATINUM
    assert reply.customer.lifecycle == pb.LIFECYCLE_CUSTOMER
    assert reply.customer.owner_agent_id == "agent-1"
    assert list(reply.customer.tags) == ["key-account"]
    assert [t.number for t in reply.open_tickets] == [ticket["number"]]
    open_ticket = reply.open_tickets[0]
    assert open_ticket.title == "Broken"
    assert open_ticket.status == pb.TICKET_STATUS_NEW
    assert open_ticket.priority == pb.PRIORITY_P2
    assert open_ticket.due_at.ToJsonString() == ticket["sla"][0]["due_at"]
    assert [c.kind for c in reply.recent_contacts] == [
        pb.CONTACT_KIND_TICKET,
        pb.CONTACT_KIND_TICKET,
    ]
    everything = await stub.LookupByNumber(
        pb.LookupByNumberRequest(tenant_id=tenant, phone_number="+33142685300")
    )
    calls = [c.call_id for c in everything.recent_contacts if c.kind == pb.CONTACT_KIND_CALL]
    assert calls == ["call-2", "call-1"]

    elsewhere = await stub.LookupByNumber(
        pb.LookupByNumberRequest(tenant_id=other_tenant, phone_number="+33142685300")
    )
    assert not elsewhere.found
    assert not elsewhere.HasField("customer")


async def test_bad_requests_are_invalid_argument(stub: Any, tenant: str) -> None:
    for request in (
        pb.LookupByNumberRequest(tenant_id=tenant, phone_number="12"),
        pb.LookupByNumberRequest(tenant_id=tenant, phone_number=""),
        pb.LookupByNumberRequest(tenant_id="", phone_number="+33142685300"),
        pb.LookupByNumberRequest(tenant_id="bad tenant!", phone_number="+33142685300"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.LookupByNumber(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
