"""The service as `build()` wires it, with Kafka (embedded broker), PostgreSQL and a switch
answering CallControl over gRPC: admin's number event and `call.arrived` on the bus start a
run whose commands reach the switch and whose announcements reach the ivr and queue topics;
a flow publication reaches the config topic through the outbox."""

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
from switchboard_common.events.calls import CallArrived, CallEnded
from switchboard_common.events.config import NumberAssigned
from switchboard_common.testing import kafka as kafka_plugin
from switchboard_common.testing.kafka import EventCollector
from switchboard_ivr.main import build
from switchboard_ivr.services import CallsService

kafka_broker = kafka_plugin.kafka_broker

NUMBER = "+33142685300"
CALL_ID = f"bus-call-{uuid.uuid4().hex[:8]}"
FLOW: dict[str, Any] = {
    "id": "bus-line",
    "start": "menu",
    "nodes": [
        {"id": "menu", "kind": "menu", "prompt": "menu", "options": {"1": "sales"}},
        {"id": "sales", "kind": "queue", "queue": "sales", "priority": 7},
    ],
}


class Switch(pb_grpc.CallControlServicer):  # type: ignore[misc]
    """A switch holding one call, whose caller presses 1 and stays on the line (calls of
    other tests on the session's broker are unknown here)."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def _known(self, call: Any, method: str, context: Any) -> None:
        if call.call_id != CALL_ID:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no-such-call")
        self.methods.append(method)

    async def Answer(self, request: Any, context: Any) -> Any:
        await self._known(request, "Answer", context)
        return pb.CommandResult(call_id=request.call_id, detail="+OK")

    async def PlayAndGetDigits(self, request: Any, context: Any) -> Any:
        await self._known(request.call, "PlayAndGetDigits", context)
        return pb.DigitsResult(call_id=request.call.call_id, digits="1")

    async def GetCall(self, request: Any, context: Any) -> Any:
        if request.call_id != CALL_ID:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no-such-call")
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


async def test_a_call_on_the_bus_runs_its_flow_and_announces_the_queue(
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
        [topics.IVR, topics.QUEUES, topics.CONFIG],
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

        token = token_for(tenant)
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=runtime.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ivr") as http:
            await http.put(
                "/v1/ivr/prompts/menu", json={"paths": {"*": "/s/menu.wav"}}, headers=headers
            )
            assert (await http.post("/v1/flows", json=FLOW, headers=headers)).status_code == 201
            published = await http.post("/v1/flows/bus-line/publish", headers=headers)
            assert published.status_code == 200, published.text

        now = datetime.now(UTC)
        async with EventPublisher(kafka_broker.producer_settings()) as bus:
            await bus.publish(
                Envelope.wrap(
                    NumberAssigned(
                        number_id="n1", number=NUMBER, target_kind="ivr_flow", target_id="bus-line"
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

            def of_tenant(kind: str) -> list[Envelope]:
                return [e for e in collector.events if e.tenant == tenant and e.type == kind]

            await collector.wait_for(
                lambda _events: bool(of_tenant("switchboard.queue.call_enqueued.v1")), 30
            )
            enqueued = of_tenant("switchboard.queue.call_enqueued.v1")[0]
            assert (enqueued.subject, enqueued.data["queue_id"], enqueued.data["priority"]) == (
                CALL_ID,
                "sales",
                7,
            )
            await collector.wait_for(
                lambda _events: (
                    bool(of_tenant("switchboard.ivr.completed.v1"))
                    and bool(of_tenant("switchboard.ivr.flow_published.v1"))
                ),
                30,
            )
            assert of_tenant("switchboard.ivr.completed.v1")[0].data["exit_reason"] == "queued"
            assert [e.data["node_id"] for e in of_tenant("switchboard.ivr.node_entered.v1")] == [
                "menu",
                "sales",
            ]
            assert switch.methods == ["Answer", "PlayAndGetDigits"]

            await bus.publish(
                Envelope.wrap(
                    CallEnded(
                        call_id=CALL_ID,
                        node_id="fs1",
                        hangup_cause="NORMAL_CLEARING",
                        ended_at=now,
                        duration_s=3,
                        billable_s=3,
                    ),
                    source="switchboard/switch",
                    tenant=tenant,
                    subject=CALL_ID,
                )
            )
            calls = next(c for c in runtime.components if isinstance(c, CallsService))
            async with asyncio.timeout(30):
                while calls.calls_in_progress(tenant):  # noqa: ASYNC110 - nothing to wait on
                    await asyncio.sleep(0.05)
    finally:
        await watcher.stop()
        for component in reversed(started):
            await component.stop()
        for hook in runtime.on_stop:
            await hook()
