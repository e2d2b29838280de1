"""The composition root: `build()` runs the whole service (HTTP, gRPC, timer) on real
ports and stops cleanly."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from switchboard.tickets.v1 import customers_pb2 as pb
from switchboard.tickets.v1 import customers_pb2_grpc as pb_grpc
from switchboard_common.bus import free_port
from switchboard_common.grpc import client_channel
from switchboard_tickets.main import build
from switchboard_tickets.settings import TicketsSettings


async def test_the_service_serves_http_and_grpc(
    tickets_db: str, eventually: Any, tenant: str
) -> None:
    http_port = free_port()
    settings = TicketsSettings(
        database_url=tickets_db,
        http_port=http_port,
        grpc_port=0,
        kafka_bootstrap_servers="",
        jwt_secret="process-test-secret-0123456789-abcdef",
    )
    runtime = await build(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(runtime.run(stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:

            async def healthy() -> bool:
                try:
                    response = await client.get("/health")
                except httpx.TransportError:
                    return False
                return response.status_code == 200

            await eventually(healthy, timeout_s=20)
            health = (await client.get("/health")).json()
            assert health["checks"] == {"database": True, "phone_index": True}
            unauthenticated = await client.get("/v1/tickets")
            assert unauthenticated.status_code == 401
        assert runtime.grpc_server is not None
        async with client_channel(f"127.0.0.1:{runtime.grpc_server.port}") as channel:
            reply = await pb_grpc.CustomerLookupStub(channel).LookupByNumber(
                pb.LookupByNumberRequest(tenant_id=tenant, phone_number="+33142685300")
            )
        assert not reply.found
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
