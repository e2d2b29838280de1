"""gRPC RoutingService (GetQueueStatus, ExplainCall) on a real server, and an instance that
does not own a tenant answering REST questions by asking the owner over gRPC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import httpx
import pytest
from routing_it_support import (
    SECRET,
    AnsweringCallControl,
    ClientFactory,
    new_tenant,
    routing_settings,
    token,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from switchboard.routing.v1 import routing_pb2 as pb
from switchboard.routing.v1 import routing_pb2_grpc as pb_grpc
from switchboard_common.auth import Authenticator
from switchboard_common.events.queues import CallEnqueued
from switchboard_common.grpc import GrpcServer, client_channel
from switchboard_routing.main import RoutingApp, assemble
from switchboard_routing.services import RoutingOptions


async def test_status_and_explanations_over_grpc_and_from_a_non_owner(
    service: RoutingApp, engine: AsyncEngine, make_client: ClientFactory
) -> None:
    server = GrpcServer("routing", "127.0.0.1", 0)
    service.register_grpc(server)
    port = await server.start()
    address = f"127.0.0.1:{port}"
    service.advertise(address)
    await service.routing.take_over(0)
    service.routing.resume(0)
    epoch = service.routing.ownership.epoch_of(0)

    tenant = new_tenant()
    assert (await make_client(tenant).post("/v1/queues", json={"id": "sales"})).status_code == 201
    await service.routing.call_enqueued(
        tenant,
        CallEnqueued(call_id="c1", queue_id="sales", node_id="fs1", enqueued_at=datetime.now(UTC)),
    )

    other = assemble(
        routing_settings(),
        engine,
        control=AnsweringCallControl(),
        authenticator=Authenticator(jwt_secret=SECRET),
        options=RoutingOptions(instance_id=f"other-{uuid.uuid4().hex[:6]}", address="other:1"),
    )
    other.routing.ownership.set_partition_count(1)
    channel = client_channel(address)
    try:
        stub = pb_grpc.RoutingServiceStub(channel)
        status = await stub.GetQueueStatus(
            pb.GetQueueStatusRequest(tenant_id=tenant, queue_id="sales")
        )
        assert [w.call_id for w in status.status.waiting] == ["c1"]
        assert status.status.epoch == epoch
        assert not status.status.HasField("estimated_wait_s")
        explained = await stub.ExplainCall(pb.ExplainCallRequest(tenant_id=tenant, call_id="c1"))
        assert explained.source == pb.EXPLANATION_SOURCE_LIVE
        assert explained.decision.queue_id == "sales"
        for request in (
            pb.GetQueueStatusRequest(tenant_id=tenant, queue_id="nope"),
            pb.GetQueueStatusRequest(tenant_id=new_tenant(), queue_id="sales"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await stub.GetQueueStatus(request)
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.ExplainCall(pb.ExplainCallRequest(tenant_id=tenant))
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other.app),
            base_url="http://other.test",
            headers={"Authorization": f"Bearer {token(tenant)}"},
        ) as http:
            forwarded = await http.get("/v1/queues/sales/status")
            assert forwarded.status_code == 200, forwarded.text
            assert [w["call_id"] for w in forwarded.json()["waiting"]] == ["c1"]
            assert forwarded.json()["epoch"] == epoch
            why = await http.get("/v1/calls/c1/explain")
            assert why.status_code == 200 and why.json()["source"] == "live"

            await server.stop(0)
            gone = await http.get("/v1/queues/sales/status")
            assert gone.status_code == 503
            assert gone.json()["error"] == "routing-owner-unavailable"
    finally:
        await channel.close(None)
        await server.stop(0)
        for component in reversed(other.components):
            await component.stop()
