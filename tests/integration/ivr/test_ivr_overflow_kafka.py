"""Overflow through the real broker: a call ivr handed to routing is overflowed by
`queue.call_overflowed` (delivered twice) to an external number; ivr transfers it once over
gRPC CallControl and announces the run's end on the ivr topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.bus import BrokerEndpoint, EventConsumer, EventPublisher
from switchboard_common.events import Envelope, topics
from switchboard_common.events.calls import CallArrived
from switchboard_common.events.config import NumberAssigned
from switchboard_common.events.queues import CallOverflowed
from switchboard_common.testing import kafka as kafka_plugin
from switchboard_common.testing.kafka import EventCollector
from switchboard_ivr.main import build
from switchboard_ivr.overflow import TRANSFER_NODE
from switchboard_ivr.services import CallsService

kafka_broker = kafka_plugin.kafka_broker

NUMBER = "+33142685310"
EXTERNAL = "+33142685399"
CALL_ID = f"overflow-call-{uuid.uuid4().hex[:8]}"
FLOW: dict[str, Any] = {
    "id": "overflow-line",
    "start": "sales",
    "nodes": [{"id": "sales", "kind": "queue", "queue": "sales"}],
}


class Switch(pb_grpc.CallControlServicer):  # type: ignore[misc]
    """A switch holding one call; a transfer takes the call away from it."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        self.transfers: list[str] = []
        self.gone = False

    async def _known(self, call: Any, method: str, context: Any) -> None:
        if call.call_id != CALL_ID or self.gone:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no-such-call")
        self.methods.append(method)

    async def Answer(self, request: Any, context: Any) -> Any:
        await self._known(request, "Answer", context)
        return pb.CommandResult(call_id=request.call_id, detail="+OK")

    async def Transfer(self, request: Any, context: Any) -> Any:
        await self._known(request.call, "Transfer", context)
        self.transfers.append(request.destination)
        self.gone = True
        return pb.CommandResult(call_id=request.call.call_id, detail="+OK")

    async def GetCall(self, request: Any, context: Any) -> Any:
        await self._known(request, "GetCall", context)
        return pb.CallInfo(call_id=request.call_id, tenant_id=request.tenant_id)


@pytest.fixture()
async def switch_address() -> AsyncIterator[tuple[Switch, str]]:
    switch = Switch()
    server = grpc.aio.server()
    pb_grpc.add_CallControlServicer_to_server(switch, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield switch, f"127.0.0.1:{port}"
    await server.stop(None)


async def test_an_overflow_on_the_bus_transfers_the_waiting_call_once(
    ivr_db: str,
    kafka_broker: BrokerEndpoint,
    switch_address: tuple[Switch, str],
    settings_for: Any,
    token_for: Any,
) -> None:
    switch, address = switch_address
    tenant = f"t{uuid.uuid4().hex[:12]}"
    settings = settings_for(
        ivr_db,
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        kafka_enable_idempotence=False,
        consumer_group=f"ivr-test-{uuid.uuid4().hex[:8]}",
        switch_grpc=address,
    )
    runtime = await build(settings)
    collector = EventCollector()
    watcher = EventConsumer(
        kafka_broker.consumer_settings(f"watch-{uuid.uuid4().hex[:8]}", auto_offset_reset="latest"),
        [topics.IVR, topics.QUEUES],
        collector,
    )
    started: list[Any] = []
    try:
        for component in runtime.components:
            await component.start()
            started.append(component)
        await watcher.start()
        for component in [*runtime.components, watcher]:
            if isinstance(component, EventConsumer):
                await component.wait_for_assignment(60)

        headers = {"Authorization": f"Bearer {token_for(tenant)}"}
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ivr") as http:
            assert (await http.post("/v1/flows", json=FLOW, headers=headers)).status_code == 201
            published = await http.post("/v1/flows/overflow-line/publish", headers=headers)
            assert published.status_code == 200, published.text

        def of_tenant(kind: str) -> list[Envelope]:
            return [e for e in collector.events if e.tenant == tenant and e.type == kind]

        calls = next(c for c in runtime.components if isinstance(c, CallsService))
        now = datetime.now(UTC)
        async with EventPublisher(kafka_broker.producer_settings()) as bus:
            await bus.publish(
                Envelope.wrap(
                    NumberAssigned(
                        number_id="n1",
                        number=NUMBER,
                        target_kind="ivr_flow",
                        target_id="overflow-line",
                    ),
                    source="switchboard/admin",
                    tenant=tenant,
                    subject="n1",
                )
            )
            async with httpx.AsyncClient(transport=transport, base_url="http://ivr") as http:
                async with asyncio.timeout(30):
                    number_url = f"/v1/numbers/{NUMBER}"
                    while (await http.get(number_url, headers=headers)).is_error:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
            await bus.publish(
                Envelope.wrap(
                    CallArrived(
                        call_id=CALL_ID,
                        node_id="fs1",
                        caller_number="+33612345678",
                        destination_number=NUMBER,
                        tenant_number=NUMBER,
                        arrived_at=now,
                    ),
                    source="switchboard/switch",
                    tenant=tenant,
                    subject=CALL_ID,
                )
            )
            await collector.wait_for(
                lambda _events: bool(of_tenant("switchboard.queue.call_enqueued.v1")), 30
            )

            overflow = Envelope.wrap(
                CallOverflowed(
                    call_id=CALL_ID,
                    queue_id="sales",
                    node_id="fs1",
                    reason="max_wait",
                    target_kind="external",
                    target=EXTERNAL,
                    waited_s=60.0,
                    overflowed_at=now,
                ),
                source="switchboard/routing",
                tenant=tenant,
                subject=CALL_ID,
            )
            await bus.publish(overflow)
            await bus.publish(overflow)

            def transferred(_events: Any) -> bool:
                return any(
                    e.data["exit_reason"] == "overflow_external"
                    for e in of_tenant("switchboard.ivr.completed.v1")
                )

            await collector.wait_for(transferred, 30)
            async with asyncio.timeout(30):
                while calls.calls_in_progress(tenant):  # noqa: ASYNC110 - nothing to wait on
                    await asyncio.sleep(0.05)

        completed = [e.data for e in of_tenant("switchboard.ivr.completed.v1")]
        assert [(c["exit_reason"], c["last_node"]) for c in completed] == [
            ("queued", "sales"),
            ("overflow_external", TRANSFER_NODE),
        ]
        assert completed[-1]["transferred_to"] == EXTERNAL
        assert switch.transfers == [f"bridge:sofia/gateway/pstn/{EXTERNAL}"]
        assert len(of_tenant("switchboard.ivr.started.v1")) == 1
    finally:
        await watcher.stop()
        for component in reversed(started):
            await component.stop()
        for hook in runtime.on_stop:
            await hook()
