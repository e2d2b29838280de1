"""Desktop and supervisor WebSocket sessions end to end: a real cti on a free port, the real
broker for events, fake CallControl / customer cards / tickets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
import websockets

from switchboard.cti.v1 import agents_pb2 as pb
from switchboard_common.bus import BrokerEndpoint, EventConsumer
from switchboard_common.events import Envelope, topics
from switchboard_common.events.agents import AgentState, AgentStateChanged
from switchboard_common.events.calls import CallBridged, CallEnded
from switchboard_common.events.queues import CallOfferFailed, QueueConfigChanged
from switchboard_common.testing.kafka import EventCollector
from switchboard_cti.domain.calls import AgentCall
from tests.integration.cti.harness import (
    SUPERVISOR_PERMISSIONS,
    Desktop,
    Harness,
    connect,
    eventually,
    fetched_eventually,
    running_cti,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def cti(
    kafka_broker: BrokerEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Harness]:
    workdir = tmp_path_factory.mktemp("cti")
    async with running_cti(kafka_broker, workdir, desktop_lost_grace_s=60.0) as harness:
        harness.cards.cards["+15550142"] = {
            "id": "cust-1",
            "name": "Ada Lovelace",
            "vip_level": "gold",
            "open_tickets": [{"number": "ACME-000007", "title": "Router down"}],
            "recent_contacts": [],
        }
        await harness.publish(
            QueueConfigChanged(
                queue_id="q-sales",
                version=1,
                config={"name": "Sales", "wrap_up_seconds": 30},
                changed_at=datetime.now(UTC),
            )
        )
        for _ in range(200):
            if harness.service.directory.queue(harness.tenant, "q-sales") is not None:
                break
            await asyncio.sleep(0.05)
        yield harness


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def agent_events(kafka_broker: BrokerEndpoint) -> AsyncIterator[EventCollector]:
    collector = EventCollector()
    consumer = EventConsumer(
        kafka_broker.consumer_settings(f"cti-events-{uuid.uuid4().hex[:8]}"),
        [topics.AGENTS],
        collector,
    )
    await consumer.start()
    await consumer.wait_for_assignment(60.0)
    yield collector
    await consumer.stop()


def states_of(collector: EventCollector, tenant: str, agent_id: str) -> list[str]:
    return [
        e.data["state"]
        for e in collector.events
        if e.tenant == tenant and e.type == AgentStateChanged.EVENT_TYPE and e.subject == agent_id
    ]


async def call_bridged(cti: Harness, call_id: str, agent_leg: str) -> Envelope:
    return await cti.publish(
        CallBridged(
            call_id=call_id, node_id="node-1", other_call_id=agent_leg, bridged_at=datetime.now(UTC)
        ),
        call_id,
    )


async def on_a_call(
    cti: Harness, desk: Desktop, agent_id: str, call_id: str, *, queue_id: str = "q-sales"
) -> str:
    """The logged-in desk goes available, is offered `call_id` (the pop) and the call is
    bridged to the agent's phone; the agent's leg once the desk shows on_call."""
    await desk.send("set_state", state="available")
    await cti.offer(call_id, agent_id, queue_id=queue_id)
    await desk.next("pop", call_id=call_id)
    agent_leg = call_id.replace("call-", "agent-leg-")
    await call_bridged(cti, call_id, agent_leg)
    await desk.state("on_call")
    return agent_leg


async def call_ended(cti: Harness, call_id: str) -> Envelope:
    return await cti.publish(
        CallEnded(
            call_id=call_id,
            node_id="node-1",
            hangup_cause="NORMAL_CLEARING",
            ended_at=datetime.now(UTC),
            duration_s=60,
            billable_s=50,
        ),
        call_id,
    )


async def test_agent_works_a_call_from_pop_to_wrap_up(
    cti: Harness, agent_events: EventCollector
) -> None:
    async with connect(cti.ws_url("/v1/agents/ws", cti.token("alice"))) as desk:
        hello = await desk.next("hello")
        assert hello["agent"]["state"] == "logged_out"
        assert "break" in hello["policy"]["not_ready_reasons"]
        reply = await desk.send("set_state", state="available")
        assert reply["ok"] and reply["result"]["agent"]["state"] == "available"

        await cti.offer("call-1", "alice")
        pop = await desk.next("pop", call_id="call-1")
        assert pop["customer"]["name"] == "Ada Lovelace"
        assert pop["queue"] == {"id": "q-sales", "name": "Sales"}
        assert pop["caller"]["number"] == "+15550142"
        await desk.state("reserved")

        await call_bridged(cti, "call-1", "agent-leg-1")
        agent = await desk.state("on_call")
        assert agent["call"]["agent_leg_id"] == "agent-leg-1"

        held = await desk.send("hold")
        assert held["ok"], held
        assert held["result"]["agent"]["state"] == "on_hold"
        assert ("hold", ("call-1",)) in cti.callcontrol.commands
        assert (await desk.send("unhold"))["result"]["agent"]["state"] == "on_call"
        muted = await desk.send("mute")
        assert muted["ok"] and muted["result"]["agent"]["call"]["muted"] is True
        assert ("mute", ("agent-leg-1",)) in cti.callcontrol.commands
        assert (await desk.send("unmute"))["result"]["agent"]["call"]["muted"] is False

        # bad input gets an error for this desktop and disturbs nothing
        unknown = await desk.send("transfer", target_kind="agent", target="nobody")
        assert unknown["error"]["error"] == "unknown-transfer-target"
        elsewhere = await desk.send("hold", call_id="someone-elses-call")
        assert elsewhere["error"]["error"] == "no-such-call"
        await desk.raw('{"id": "x1", "cmd": "hold", "call_id": 42}')
        malformed = await desk.next("reply", id="x1")
        assert malformed["error"]["error"] == "malformed-message"
        assert malformed["error"]["details"]["field"] == "call_id"
        await desk.raw("garbage")
        garbage = await desk.next("reply")
        assert garbage["error"]["error"] == "malformed-message"
        assert (await desk.send("ping"))["ok"]

        dtmf = await desk.send("dtmf", digits="12#")
        assert dtmf["ok"] and ("dtmf", ("call-1", "12#")) in cti.callcontrol.commands
        refused = await desk.send("record", action="start")
        assert refused["error"]["error"] == "recording-not-allowed"

        ticket = await desk.send("create_ticket", subject="Router still down")
        assert ticket["result"]["ticket"]["number"] == "ACME-000001"
        token, body = cti.tickets.created[-1]
        assert body["origin_call_id"] == "call-1" and body["customer_id"] == "cust-1"
        assert token.count(".") == 2, "the agent's own JWT is forwarded to tickets"

        await call_ended(cti, "call-1")
        wrap = await desk.state("wrap_up")
        assert wrap["wrap_up_until"] is not None and not wrap["disposition_done"]
        assert wrap["call"] is None
        missing = await desk.send("wrap_up", notes="no code")
        assert missing["error"]["error"] == "disposition-required"
        done = await desk.send("wrap_up", disposition="resolved", notes="fixed")
        assert done["result"]["agent"]["state"] == "available"

    await agent_events.wait_for(
        lambda _: (
            states_of(agent_events, cti.tenant, "alice")[-1:] == ["available"]
            and len(states_of(agent_events, cti.tenant, "alice")) >= 6
        )
    )
    assert states_of(agent_events, cti.tenant, "alice") == [
        "available",
        "reserved",
        "on_call",
        "on_hold",
        "on_call",
        "wrap_up",
        "available",
    ]
    changed = next(
        e
        for e in agent_events.events
        if e.tenant == cti.tenant and e.subject == "alice" and e.data.get("state") == "wrap_up"
    )
    assert changed.data["previous_state"] == "on_call"
    assert changed.data["queues"] == ["q-sales"]
    await agent_events.wait_for(
        lambda events: any(
            e.tenant == cti.tenant and e.type == "switchboard.agent.wrap_up_completed.v1"
            for e in events
        )
    )
    wrapped = [
        e
        for e in agent_events.events
        if e.tenant == cti.tenant and e.type == "switchboard.agent.wrap_up_completed.v1"
    ]
    assert wrapped[0].data["disposition"] == "resolved"
    assert wrapped[0].data["call_id"] == "call-1"


async def test_second_desktop_takes_over_and_state_survives(cti: Harness) -> None:
    token = cti.token("bob")
    async with connect(cti.ws_url("/v1/agents/ws", token)) as first:
        await first.next("hello")
        await first.send("set_state", state="not_ready", reason="lunch")
        async with connect(cti.ws_url("/v1/agents/ws", token)) as second:
            hello = await second.next("hello")
            assert (hello["agent"]["state"], hello["agent"]["reason"]) == ("not_ready", "lunch")
            takeover = await first.next("takeover")
            assert "another desktop" in takeover["reason"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await first.next("never")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            assert (await second.send("ping"))["ok"]


async def test_vanished_desktop_does_not_hold_the_state(cti: Harness) -> None:
    token = cti.token("carol")
    async with connect(cti.ws_url("/v1/agents/ws", token)) as desk:
        await desk.next("hello")
        await on_a_call(cti, desk, "carol", "call-2")
    record = cti.service.agents.require(cti.tenant, "carol")
    assert record.status.state.value == "on_call", "losing the desktop changes nothing"
    await call_ended(cti, "agent-leg-2")
    for _ in range(400):
        if record.status.state.value != "on_call":
            break
        await asyncio.sleep(0.05)
    assert record.status.state.value == "wrap_up"
    async with connect(cti.ws_url("/v1/agents/ws", token)) as again:
        hello = await again.next("hello")
        assert hello["agent"]["state"] == "wrap_up" and hello["agent"]["call"] is None


async def test_missed_offer_makes_the_agent_not_ready(cti: Harness) -> None:
    async with connect(cti.ws_url("/v1/agents/ws", cti.token("dave"))) as desk:
        await desk.next("hello")
        await desk.send("set_state", state="available")
        await cti.offer("call-3", "dave")
        await desk.next("pop", call_id="call-3")
        await cti.publish(
            CallOfferFailed(
                call_id="call-3",
                queue_id="q-sales",
                reservation_id="r-call-3",
                outcome="no_answer",
                missed_agent_ids=["dave"],
                failed_at=datetime.now(UTC),
            ),
            "call-3",
        )
        withdrawn = await desk.next("offer_withdrawn", call_id="call-3")
        assert withdrawn["missed"] is True
        agent = await desk.state("not_ready")
        assert agent["reason"] == "missed"


async def test_refused_credentials_are_told_then_closed(cti: Harness) -> None:
    async with connect(cti.ws_url("/v1/agents/ws", "not-a-jwt")) as desk:
        error = await desk.next("error")
        assert error["error"]["error"] == "unauthenticated"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await desk.next("never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    no_rights = cti.token("eve", permissions=("tickets:read",))
    async with connect(cti.ws_url("/v1/agents/ws", no_rights)) as desk:
        assert (await desk.next("error"))["error"]["details"]["permission"] == "calls:control"


async def test_supervisor_sees_agents_and_forces_states_with_audit(cti: Harness) -> None:
    boss = cti.token("boss", permissions=SUPERVISOR_PERMISSIONS)
    async with connect(cti.ws_url("/v1/agents/ws", cti.token("frank"))) as desk:
        await desk.next("hello")
        await desk.send("set_state", state="available")
        async with connect(cti.ws_url("/v1/supervisor/ws", boss)) as screen:
            snapshot = await screen.next("snapshot")
            assert "frank" in {a["agent_id"] for a in snapshot["agents"]}
            forced = await screen.send("force_state", agent_id="frank", state="not_ready")
            assert forced["result"]["agent"]["reason"] == "supervisor"
            told = await desk.next("forced")
            assert told["by"] == "boss"
            await desk.send("set_state", state="available")
            await cti.offer("call-5", "frank")
            await desk.next("pop", call_id="call-5")
            await call_bridged(cti, "call-5", "agent-leg-5")
            await screen.next("agent", agent__agent_id="frank", agent__state="on_call")
            illegal = await screen.send("force_state", agent_id="frank", state="logged_out")
            assert illegal["error"]["error"] == "illegal-agent-transition"
            assert illegal["error"]["details"]["current_state"] == "on_call"
            listen = await screen.send(
                "eavesdrop", agent_id="frank", mode="listen", endpoint="user/2001"
            )
            assert listen["result"]["supervisor_call_id"] == "sup-leg"
            barge = await screen.send(
                "eavesdrop", agent_id="frank", mode="barge", endpoint="user/2001"
            )
            assert barge["error"]["error"] == "forbidden"
    async with httpx.AsyncClient(base_url=cti.base_url) as client:
        audit = await client.get(
            "/v1/agents/frank/audit", headers={"Authorization": f"Bearer {boss}"}
        )
        assert audit.status_code == 200, audit.text
        entries: list[dict[str, Any]] = audit.json()
        assert [(e["actor"], e["to_state"], e["source"]) for e in entries] == [
            ("boss", "not_ready", "supervisor-ws")
        ]
        page = await client.get("/desktop/")
        assert page.status_code == 200 and 'data-testid="pop"' in page.text


async def test_grpc_agent_service(cti: Harness) -> None:
    servicer = cti.service.servicer
    await cti.service.agents.set_state(cti.tenant, "gina", AgentState.AVAILABLE)
    agent = await servicer.GetAgent(pb.GetAgentRequest(tenant_id=cti.tenant, agent_id="gina"), None)
    assert agent.state == pb.AGENT_STATE_AVAILABLE
    listed = await servicer.ListAgents(
        pb.ListAgentsRequest(tenant_id=cti.tenant, states=[pb.AGENT_STATE_AVAILABLE]), None
    )
    assert "gina" in [a.agent_id for a in listed.agents]
    forced = await servicer.SetState(
        pb.SetStateRequest(
            tenant_id=cti.tenant, agent_id="gina", state=pb.AGENT_STATE_NOT_READY, actor="routing"
        ),
        None,
    )
    assert (forced.state, forced.reason) == (pb.AGENT_STATE_NOT_READY, "supervisor")


async def test_synthetic_agents_work_through_the_websocket(
    kafka_broker: BrokerEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    async with running_cti(
        kafka_broker,
        tmp_path_factory.mktemp("synthetic"),
        synthetic_agents=2,
        synthetic_tenants=[tenant],
        synthetic_talk_wrap_s=(0.1, 0.3),
    ) as cti:
        cti.tenant = tenant
        agents = cti.service.agents

        async def state_of(agent_id: str, wanted: str) -> None:
            async with asyncio.timeout(30):
                while True:
                    record = agents.find(tenant, agent_id)
                    if record is not None and record.status.state.value == wanted:
                        return
                    await asyncio.sleep(0.05)

        await state_of("synthetic-1", "available")
        await state_of("synthetic-2", "available")
        assert agents.hub.has_desktop((tenant, "synthetic-1")), "it came in over the WebSocket"
        await cti.offer("call-s1", "synthetic-1")
        await state_of("synthetic-1", "reserved")
        await call_bridged(cti, "call-s1", "agent-leg-s1")
        await state_of("synthetic-1", "on_call")
        await call_ended(cti, "call-s1")
        await state_of("synthetic-1", "available")
        assert cti.service.synthetic is not None
        member = next(m for m in cti.service.synthetic.members if m.agent_id == "synthetic-1")
        assert (member.calls_taken, member.wrap_ups) == (1, 1)
        filed = await fetched_eventually(
            lambda: cti.service.repository.list_wrap_ups(tenant, "call-s1")
        )
        assert filed[0]["disposition"] in agents.directory.policy(tenant).dispositions

        async with connect(cti.ws_url("/v1/agents/ws", cti.token("synthetic-2"))) as person:
            await person.next("hello")
            member = next(m for m in cti.service.synthetic.members if m.agent_id == "synthetic-2")
            await eventually(lambda: member.stood_down)
            await asyncio.sleep(1.0)
            assert (await person.send("ping"))["ok"], "the synthetic agent did not take it back"


async def test_consult_swap_conference_and_transfers(cti: Harness) -> None:
    agents = cti.service.agents
    await agents.update_profile(cti.tenant, "ivy", display_name="Ivy", extension="1010")
    async with connect(cti.ws_url("/v1/agents/ws", cti.token("hank"))) as desk:
        await desk.next("hello")
        await desk.send("set_state", state="available")
        await cti.offer("call-6", "hank")
        await desk.next("pop", call_id="call-6")
        early = await desk.send("consult", target_kind="number", target="+15550100")
        assert early["error"]["error"] == "call-state-conflict", "not answered yet"
        await call_bridged(cti, "call-6", "agent-leg-6")
        await desk.state("on_call")

        busy = await desk.send("consult", target_kind="agent", target="ivy")
        assert busy["ok"], "consulting needs no idle target"
        consult = busy["result"]["agent"]["call"]["consult"]
        assert consult["target"] == {"kind": "agent", "value": "ivy"}
        assert busy["result"]["agent"]["state"] == "on_call", "talking to the consulted agent"
        leg = busy["result"]["consult_call_id"]
        assert ("originate", ("user/1010@acme.example", leg)) in cti.callcontrol.commands
        assert cti.callcontrol.commands[-1][0] == "conference"
        assert set(cti.callcontrol.commands[-1][1][0]) == {"call-6", "agent-leg-6", leg}
        again = await desk.send("consult", target_kind="number", target="+15550100")
        assert again["error"]["error"] == "call-state-conflict"

        swapped = await desk.send("consult_swap")
        assert swapped["result"]["agent"]["call"]["consult"]["talking_to_consult"] is False
        assert cti.callcontrol.commands[-2:] == [("hold", (leg,)), ("unhold", ("call-6",))]
        cancelled = await desk.send("consult_cancel")
        assert cancelled["result"]["agent"]["call"]["consult"] is None
        assert ("hangup", (leg, "")) in cti.callcontrol.commands

        merged = await desk.send("conference", target_kind="number", target="(202) 555-0147")
        assert merged["ok"], merged
        assert "sofia/gateway/pstn/+12025550147" in [
            args[0] for name, args in cti.callcontrol.commands if name == "originate"
        ]
        third = merged["result"]["conference_call_id"]
        await call_ended(cti, third)
        await desk.next("agent", agent__call__conference_legs=[])

        bad_number = await desk.send("transfer", target_kind="number", target="12")
        assert bad_number["error"]["error"] == "invalid-transfer-target"
        no_queue = await desk.send("transfer", target_kind="queue", target="q-nowhere")
        assert no_queue["error"]["error"] == "unknown-transfer-target"
        ivy_busy = await desk.send("transfer", target_kind="agent", target="ivy")
        assert ivy_busy["error"]["error"] == "transfer-target-busy"

        async with httpx.AsyncClient(base_url=cti.base_url) as client:
            boss = cti.token("boss", permissions=SUPERVISOR_PERMISSIONS)
            policy = await client.put(
                "/v1/cti/policy",
                json={"recording_control": "full", "disposition_required": False},
                headers={"Authorization": f"Bearer {boss}"},
            )
            assert policy.status_code == 200, policy.text
            bad = await client.put(
                "/v1/cti/policy",
                json={"not_ready_reasons": ["missed"]},
                headers={"Authorization": f"Bearer {boss}"},
            )
            assert bad.status_code == 422 and bad.json()["error"] == "invalid-policy"
        started = await desk.send("record", action="start")
        assert started["result"]["agent"]["call"]["recording"] == "on"
        paused = await desk.send("record", action="pause")
        assert paused["result"]["agent"]["call"]["recording"] == "paused"

        to_queue = await desk.send("transfer", target_kind="queue", target="q-sales")
        assert to_queue["result"]["transferred_to"] == {"kind": "queue", "target": "q-sales"}
        assert ("park", ("call-6",)) in cti.callcontrol.commands
        assert to_queue["result"]["agent"]["state"] == "wrap_up"
        assert to_queue["result"]["agent"]["disposition_done"] is True


async def test_wrap_up_timer_from_the_queue_releases_the_agent(cti: Harness) -> None:
    await cti.service.directory.set_policy(cti.tenant, {"disposition_required": False})
    await cti.service.directory.queue_changed(
        cti.tenant, "q-fast", 1, {"name": "Fast", "wrap_up_seconds": 0.5}
    )
    async with connect(cti.ws_url("/v1/agents/ws", cti.token("jo"))) as desk:
        await desk.next("hello")
        await on_a_call(cti, desk, "jo", "call-7", queue_id="q-fast")
        hung_up = await desk.send("hangup")
        assert hung_up["ok"] and ("hangup", ("call-7", "")) in cti.callcontrol.commands
        wrap = hung_up["result"]["agent"]
        assert wrap["state"] == "wrap_up" and wrap["disposition_done"] is True
        released = await desk.state("available", timeout_s=10)
        assert released["since"] >= wrap["wrap_up_until"]


async def test_a_consulted_colleague_is_reserved_while_ringing_and_freed_after(
    cti: Harness,
) -> None:
    agents = cti.service.agents
    await agents.update_profile(cti.tenant, "jade", display_name="Jade", extension="1020")
    await agents.set_state(cti.tenant, "jade", AgentState.AVAILABLE)
    async with connect(cti.ws_url("/v1/agents/ws", cti.token("kim"))) as desk:
        await desk.next("hello")
        await on_a_call(cti, desk, "kim", "call-9")

        cti.callcontrol.unanswered.add("user/1020@acme.example")
        refused = await desk.send("consult", target_kind="agent", target="jade")
        assert refused["error"]["error"] == "callcontrol-refused", refused
        jade = agents.find(cti.tenant, "jade")
        assert jade is not None and jade.status.state is AgentState.AVAILABLE
        assert jade.call is None

        cti.callcontrol.unanswered.clear()
        consult = await desk.send("consult", target_kind="agent", target="jade")
        assert consult["ok"], consult
        leg = consult["result"]["consult_call_id"]
        assert jade.status.state is AgentState.ON_CALL
        assert jade.call is not None and (jade.call.call_id, jade.call.internal_from) == (
            leg,
            "kim",
        )
        await cti.offer("call-10", "jade")
        await asyncio.sleep(0.5)
        assert jade.call.call_id == leg, "routing's offer meets an agent on a call"
        await call_ended(cti, leg)
        await eventually(lambda: jade.status.state is AgentState.AVAILABLE)
        assert jade.call is None and jade.wrapping == (None, None), "no wrap-up after a colleague"
        await desk.next("agent", agent__call__consult=None)


async def test_a_colleague_ringing_when_cti_stopped_is_available_after_the_restart(
    kafka_broker: BrokerEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("restart")
    async with running_cti(kafka_broker, workdir) as cti:
        agents = cti.service.agents
        await agents.set_state(cti.tenant, "lou", AgentState.AVAILABLE)
        ringing = AgentCall(call_id="colleague-x", node_id="node-1", internal_from="max")
        assert await agents.colleague_ringing(cti.tenant, "lou", ringing, {"type": "t"})
        tenant = cti.tenant
    async with running_cti(kafka_broker, workdir) as again:
        lou = again.service.agents.find(tenant, "lou")
        assert lou is not None and lou.call is None
        assert lou.status.state is AgentState.AVAILABLE
