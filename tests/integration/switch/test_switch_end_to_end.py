"""Simulator -> switch service -> Kafka, and CallControl over real gRPC against simulated calls."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.bus import ConsumerSettings, EventConsumer
from switchboard_common.events import Envelope, topics
from switchboard_common.grpc import client_channel
from switchboard_common.testing.kafka import EventCollector
from switchboard_simulator.config import AgentEndpoint, CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig
from tests.integration.stack_support import start_switch

NUMBER = "+15550100"


@dataclass
class Stack:
    sim: Simulator
    collector: EventCollector
    stub: pb_grpc.CallControlStub
    node_id: str

    def events_of(self, call_id: str) -> list[Envelope]:
        return [e for e in self.collector.events if e.subject == call_id]

    async def wait_type(self, call_id: str, event_type: str, timeout_s: float = 15.0) -> Envelope:
        await self.collector.wait_for(
            lambda events: any(e.subject == call_id and e.type == event_type for e in events),
            timeout_s,
        )
        return next(e for e in self.events_of(call_id) if e.type == event_type)


def world() -> WorldConfig:
    return WorldConfig(
        seed=random.randrange(1, 2**31),
        numbers=[TenantNumber(number=NUMBER, tenant="acme")],
        agents=[
            AgentEndpoint(
                user="1001",
                domain="acme.example",
                answer_delay_s=(0.2, 0.3),
                handle_time_mean_s=600,
            ),
            AgentEndpoint(user="1002", domain="acme.example", outcome="busy"),
            AgentEndpoint(
                user="1003",
                domain="acme.example",
                answer_delay_s=(8.0, 8.0),
                handle_time_mean_s=600,
            ),
            AgentEndpoint(
                user="1004",
                domain="acme.example",
                answer_delay_s=(0.2, 0.3),
                handle_time_mean_s=600,
            ),
            AgentEndpoint(user="1005", domain="acme.example", outcome="busy"),
            AgentEndpoint(user="1006", domain="acme.example", registered=False),
        ],
        callers=CallerBehaviour(patience_mean_s=600, dtmf_choices={}),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def stack(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Stack]:
    sim = Simulator(SimulatorConfig(world=world(), esl_port=0, start_traffic=False))
    await sim.start()
    node_id = f"fs-{uuid.uuid4().hex[:6]}"
    switch = await start_switch(sim, kafka_bootstrap, tmp_path, node_id)
    collector = EventCollector()
    consumer = EventConsumer(
        ConsumerSettings(
            bootstrap_servers=kafka_bootstrap, group_id=f"t-{node_id}", auto_offset_reset="earliest"
        ),
        [topics.CALLS],
        collector,
    )
    await consumer.start()
    channel = client_channel(switch.grpc_address, default_deadline_s=20)
    try:
        yield Stack(sim, collector, pb_grpc.CallControlStub(channel), node_id)
    finally:
        await channel.close()
        await consumer.stop()
        await switch.stop()
        await sim.stop()


async def test_call_events_flow_and_call_control_works(stack: Stack) -> None:
    call_id = stack.sim.place_call(NUMBER, "+15551230001")
    arrived = await stack.wait_type(call_id, "switchboard.call.arrived.v1")
    assert arrived.tenant == "acme"
    assert arrived.data["node_id"] == stack.node_id
    assert arrived.data["caller_number"] == "+15551230001"
    ref = pb.CallRef(tenant_id="acme", call_id=call_id)

    await stack.stub.Answer(ref)
    await stack.wait_type(call_id, "switchboard.call.answered.v1")

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.stub.Hold(pb.CallRef(tenant_id="globex", call_id=call_id))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    busy = await stack.stub.Bridge(
        pb.BridgeRequest(call=ref, endpoint="user/1002@acme.example", ring_timeout_s=5)
    )
    assert busy.outcome == pb.BRIDGE_OUTCOME_BUSY

    bridged = await stack.stub.Bridge(
        pb.BridgeRequest(
            call=ref,
            endpoint="user/1001@acme.example",
            ring_timeout_s=10,
            variables={"sb_agent": "agent-1"},
        )
    )
    assert bridged.outcome == pb.BRIDGE_OUTCOME_ANSWERED
    event = await stack.wait_type(call_id, "switchboard.call.bridged.v1")
    assert event.data["other_call_id"] == bridged.agent_call_id

    await stack.stub.Hold(ref)
    await stack.wait_type(call_id, "switchboard.call.held.v1")
    await stack.stub.Unhold(ref)
    await stack.wait_type(call_id, "switchboard.call.resumed.v1")

    info_reply = await stack.stub.GetCall(ref)
    assert info_reply.other_call_id == bridged.agent_call_id

    await stack.stub.Hangup(pb.HangupRequest(call=ref))
    ended = await stack.wait_type(call_id, "switchboard.call.ended.v1")
    assert ended.data["hangup_cause"] == "NORMAL_CLEARING"
    assert ended.data["lost"] is False
    order = [e.type.split(".")[2] for e in stack.events_of(call_id)]
    assert order.index("arrived") < order.index("answered") < order.index("bridged")
    assert order[-1] == "ended"


async def test_a_caller_marked_to_return_stays_when_the_agent_hangs_up(stack: Stack) -> None:
    call_id = stack.sim.place_call(NUMBER, "+15551230003")
    await stack.wait_type(call_id, "switchboard.call.arrived.v1")
    ref = pb.CallRef(tenant_id="acme", call_id=call_id)
    await stack.stub.Answer(ref)
    await stack.stub.SetVariables(
        pb.SetVariablesRequest(call=ref, variables={"park_after_bridge": "true"})
    )
    bridged = await stack.stub.Bridge(
        pb.BridgeRequest(call=ref, endpoint="user/1001@acme.example", ring_timeout_s=10)
    )
    assert bridged.outcome == pb.BRIDGE_OUTCOME_ANSWERED
    agent = pb.CallRef(tenant_id="acme", call_id=bridged.agent_call_id)
    await stack.stub.Mute(pb.MuteRequest(call=agent, muted=True))
    assert stack.sim.world.channels[bridged.agent_call_id].read_muted is True
    await stack.stub.Mute(pb.MuteRequest(call=agent, muted=False))
    assert stack.sim.world.channels[bridged.agent_call_id].read_muted is False

    await stack.stub.Hangup(pb.HangupRequest(call=agent))
    await stack.wait_type(call_id, "switchboard.call.unbridged.v1")
    info = await stack.stub.GetCall(ref)
    for _ in range(100):
        if info.state == "parked":
            break
        await asyncio.sleep(0.02)
        info = await stack.stub.GetCall(ref)
    assert (info.state, info.other_call_id) == ("parked", "")
    await stack.stub.Hangup(pb.HangupRequest(call=ref))
    await stack.wait_type(call_id, "switchboard.call.ended.v1")


async def test_ring_all_bridge_connects_whichever_agent_answers_first(stack: Stack) -> None:
    call_id = stack.sim.place_call(NUMBER, "+15551230002")
    await stack.wait_type(call_id, "switchboard.call.arrived.v1")
    ref = pb.CallRef(tenant_id="acme", call_id=call_id)
    await stack.stub.Answer(ref)

    all_busy = await stack.stub.Bridge(
        pb.BridgeRequest(
            call=ref,
            endpoint="user/1002@acme.example,user/1006@acme.example,user/1005@acme.example",
            ring_timeout_s=5,
        )
    )
    assert (all_busy.outcome, all_busy.cause) == (pb.BRIDGE_OUTCOME_BUSY, "USER_BUSY")
    assert all_busy.answered_endpoint == ""

    bridged = await stack.stub.Bridge(
        pb.BridgeRequest(
            call=ref,
            endpoint="user/1003@acme.example,user/1002@acme.example,user/1004@acme.example",
            ring_timeout_s=10,
            variables={"sb_queue": "sales"},
        )
    )
    assert bridged.outcome == pb.BRIDGE_OUTCOME_ANSWERED
    assert bridged.answered_endpoint == "user/1004@acme.example"
    event = await stack.wait_type(call_id, "switchboard.call.bridged.v1")
    assert event.data["other_call_id"] == bridged.agent_call_id
    winner = stack.sim.world.channels[bridged.agent_call_id]
    assert winner.name == "sofia/internal/1004@acme.example"
    agents = stack.sim.stats()["agents"]
    assert agents["1003@acme.example"]["failed"] == {"LOSE_RACE": 1}
    assert agents["1002@acme.example"]["failed"]["USER_BUSY"] >= 1

    await stack.stub.Hangup(pb.HangupRequest(call=ref))
    await stack.wait_type(call_id, "switchboard.call.ended.v1")


async def test_unknown_call_is_not_found_and_bad_input_is_invalid(stack: Stack) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.stub.Answer(pb.CallRef(tenant_id="acme", call_id=str(uuid.uuid4())))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    call_id = stack.sim.place_call(NUMBER)
    await stack.wait_type(call_id, "switchboard.call.arrived.v1")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stack.stub.SendDtmf(
            pb.SendDtmfRequest(call=pb.CallRef(tenant_id="acme", call_id=call_id), digits="1;bad")
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await stack.stub.Hangup(pb.HangupRequest(call=pb.CallRef(tenant_id="acme", call_id=call_id)))
    await stack.wait_type(call_id, "switchboard.call.ended.v1")


async def test_simulator_restart_reports_lost_calls_as_ended(stack: Stack) -> None:
    call_id = stack.sim.place_call(NUMBER)
    await stack.wait_type(call_id, "switchboard.call.arrived.v1")
    port = stack.sim.esl_port
    await stack.sim.stop()
    restarted = Simulator(SimulatorConfig(world=world(), esl_port=port, start_traffic=False))
    await restarted.start()
    try:
        ended = await stack.wait_type(call_id, "switchboard.call.ended.v1", timeout_s=10)
        assert ended.data["lost"] is True
    finally:
        stack.sim = restarted
