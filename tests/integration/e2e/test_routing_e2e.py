"""Issue 5 end to end: calls placed in the simulator, put in queues as ivr would, reach the
agent each strategy picks through routing -> switch -> simulator; missed offers move on,
overflow works, every offer is explained on Kafka, abandoned calls free their agents."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_harness import Harness, Tenant

from switchboard_common.events.agents import AgentState
from switchboard_common.events.calls import CallBridged
from switchboard_common.events.queues import (
    CallAbandoned,
    CallOffered,
    CallOfferFailed,
    CallOverflowed,
    QueueCallAnswered,
    RoutingDecisionMade,
)
from switchboard_simulator.config import AgentEndpoint

pytestmark = pytest.mark.asyncio(loop_scope="session")

ANSWERED = QueueCallAnswered.EVENT_TYPE
DECISION = RoutingDecisionMade.EVENT_TYPE
OFFERED = CallOffered.EVENT_TYPE
FAILED = CallOfferFailed.EVENT_TYPE


async def assert_reaches(
    harness: Harness, tenant: Tenant, call_id: str, agent_id: str, *, ring_all: bool = False
) -> None:
    """The call was answered by `agent_id` (routing's account), the switch bridged the
    caller to that agent's endpoint in the simulator, and the latest decision chose that
    agent (alone, unless ring-all rang several)."""
    answered = (await harness.wait_event(call_id, ANSWERED))[0].payload_as(QueueCallAnswered)
    assert answered.agent_id == agent_id
    bridged = (await harness.wait_event(call_id, CallBridged.EVENT_TYPE))[0]
    other_leg = bridged.payload_as(CallBridged).other_call_id
    assert other_leg != call_id
    assert tenant.endpoint_key(agent_id) in harness.leg_endpoint(other_leg)
    decision = harness.events(call_id, DECISION)[-1].payload_as(RoutingDecisionMade)
    if ring_all:
        assert agent_id in decision.chosen_agent_ids
    else:
        assert decision.chosen_agent_ids == [agent_id]


def waiting(harness: Harness, tenant: Tenant, queue_id: str) -> list[str]:
    """The calls routing holds waiting in a queue."""
    state = harness.routing.routing.tenant(tenant.tenant_id)
    return [] if state is None else state.engine.waiting_call_ids(queue_id)


async def make_available_again(
    harness: Harness, tenant: Tenant, call_id: str, agent_id: str, queue_id: str
) -> None:
    """The call ends (caller hangs up) and cti reports the agent available again."""
    assert harness.sim.hangup(call_id)
    await harness.agent_state(tenant, agent_id, [queue_id])


async def test_longest_idle_picks_the_agent_idle_longest(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer", "cid": "answer"})
    await harness.create_queue(tenant, {"id": "q", "strategy": "longest-idle"})
    await harness.agent_state(tenant, "ann", ["q"], idle_s=30)
    await harness.agent_state(tenant, "bob", ["q"], idle_s=300)
    await harness.agent_state(tenant, "cid", ["q"], idle_s=60)
    call_id = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, call_id, "bob")


async def test_round_robin_moves_on_from_the_last_agent_offered(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer", "cid": "answer"})
    config = {"id": "q", "strategy": "round-robin", "top_down_order": ["ann", "bob", "cid"]}
    await harness.create_queue(tenant, config)
    await harness.agent_state(tenant, "ann", ["q"], idle_s=10)
    await harness.agent_state(tenant, "bob", ["q"], idle_s=20)
    await harness.agent_state(tenant, "cid", ["q"], idle_s=300)
    first = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, first, "ann")
    await make_available_again(harness, tenant, first, "ann", "q")
    second = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, second, "bob")


async def test_fewest_calls_prefers_the_agent_who_handled_fewer(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(tenant, {"id": "q", "strategy": "fewest-calls"})
    await harness.agent_state(tenant, "ann", ["q"])
    first = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, first, "ann")
    await make_available_again(harness, tenant, first, "ann", "q")
    await harness.agent_state(tenant, "bob", ["q"])
    second = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, second, "bob")


async def test_least_talk_time_prefers_the_agent_who_talked_least(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(tenant, {"id": "q", "strategy": "least-talk-time"})
    await harness.agent_state(tenant, "ann", ["q"], idle_s=300, talk_s=900)
    await harness.agent_state(tenant, "bob", ["q"], idle_s=5, talk_s=40)
    call_id = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, call_id, "bob")


async def test_random_reaches_the_agent_it_drew(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(tenant, {"id": "q", "strategy": "random"})
    await harness.agent_state(tenant, "ann", ["q"])
    await harness.agent_state(tenant, "bob", ["q"])
    call_id = await harness.enqueue_call(tenant, "q")
    decision = (await harness.wait_event(call_id, DECISION))[0].payload_as(RoutingDecisionMade)
    assert decision.strategy == "random"
    assert {c.agent_id for c in decision.candidates} == {"ann", "bob"}
    assert decision.chosen_agent_ids[0] in {"ann", "bob"}
    await assert_reaches(harness, tenant, call_id, decision.chosen_agent_ids[0])


async def test_top_down_hunts_in_the_configured_order(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(
        tenant, {"id": "q", "strategy": "top-down", "top_down_order": ["bob", "ann"]}
    )
    await harness.agent_state(tenant, "ann", ["q"], idle_s=300)
    await harness.agent_state(tenant, "bob", ["q"], idle_s=5)
    call_id = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, call_id, "bob")


async def test_skills_based_picks_the_most_proficient_and_explains_skips(
    harness: Harness,
) -> None:
    tenant = await harness.new_tenant(
        {"ann": "answer", "bob": "answer", "cid": "answer", "dan": "answer"}
    )
    await harness.add_skill(tenant, "french")
    config = {
        "id": "q",
        "strategy": "skills-based",
        "required_skills": [{"skill": "french", "min_proficiency": 10}],
    }
    await harness.create_queue(tenant, config)
    await harness.agent_state(tenant, "ann", ["q"], idle_s=300, skills={"french": 40})
    await harness.agent_state(tenant, "bob", ["q"], idle_s=5, skills={"french": 90})
    await harness.agent_state(tenant, "cid", ["q"], idle_s=600)
    await harness.agent_state(tenant, "dan", ["q"], idle_s=600, skills={"french": 5})
    call_id = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, call_id, "bob")
    decision = harness.events(call_id, DECISION)[0].payload_as(RoutingDecisionMade)
    assert [c.agent_id for c in decision.candidates] == ["bob", "ann"]
    assert all(c.basis for c in decision.candidates)
    skipped = {skip.agent_id: skip.reason for skip in decision.skipped}
    assert skipped == {"cid": "missing_skill", "dan": "low_proficiency"}


async def test_sticky_reaches_the_preferred_agent(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(tenant, {"id": "q", "strategy": "sticky"})
    await harness.agent_state(tenant, "ann", ["q"], idle_s=5)
    await harness.agent_state(tenant, "bob", ["q"], idle_s=300)
    call_id = await harness.enqueue_call(tenant, "q", preferred_agent_id="ann")
    await assert_reaches(harness, tenant, call_id, "ann")


async def test_ring_all_reaches_one_of_the_agents_rung(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(tenant, {"id": "q", "strategy": "ring-all"})
    await harness.agent_state(tenant, "ann", ["q"])
    await harness.agent_state(tenant, "bob", ["q"])
    call_id = await harness.enqueue_call(tenant, "q")
    answered = (await harness.wait_event(call_id, ANSWERED))[0].payload_as(QueueCallAnswered)
    assert answered.agent_id in {"ann", "bob"}
    await assert_reaches(harness, tenant, call_id, answered.agent_id, ring_all=True)
    offered = harness.events(call_id, OFFERED)[0].payload_as(CallOffered)
    assert sorted(offered.agent_ids) == ["ann", "bob"]


@pytest.mark.parametrize("outcome", ["no_answer", "busy"])
async def test_a_missed_offer_fails_and_the_call_goes_to_the_next_agent(
    harness: Harness, outcome: str
) -> None:
    tenant = await harness.new_tenant({"ann": outcome, "bob": "answer"})
    config = {"id": "q", "strategy": "longest-idle", "ring_timeout_seconds": 2}
    await harness.create_queue(tenant, config)
    await harness.agent_state(tenant, "ann", ["q"], idle_s=300)
    await harness.agent_state(tenant, "bob", ["q"], idle_s=5)
    call_id = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, call_id, "bob")

    failed = [e.payload_as(CallOfferFailed) for e in harness.events(call_id, FAILED)]
    assert len(failed) == 1
    assert failed[0].outcome == outcome
    assert failed[0].missed_agent_ids == ["ann"]
    offers = [e.payload_as(CallOffered) for e in harness.events(call_id, OFFERED)]
    assert [offer.agent_id for offer in offers] == ["ann", "bob"]
    assert failed[0].reservation_id == offers[0].reservation_id
    assert_every_offer_explained(harness, call_id, offers)
    state = harness.routing.routing.tenant(tenant.tenant_id)
    assert state is not None
    assert state.engine.agent_state("ann") is AgentState.NOT_READY


def assert_every_offer_explained(harness: Harness, call_id: str, offers: list[CallOffered]) -> None:
    """Each offer's decision is on Kafka, chose the agent offered and lists candidates."""
    decisions = {
        d.decision_id: d
        for d in (e.payload_as(RoutingDecisionMade) for e in harness.events(call_id, DECISION))
    }
    for offer in offers:
        decision = decisions[offer.decision_id]
        assert decision.chosen_agent_ids[0] == offer.agent_id
        assert offer.agent_id in {c.agent_id for c in decision.candidates}


async def test_overflow_after_wait_reaches_the_other_queues_agent(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer", "bob": "answer"})
    await harness.create_queue(tenant, {"id": "backup", "strategy": "longest-idle"})
    rule: dict[str, Any] = {
        "condition": "after_wait",
        "threshold_seconds": 1,
        "target": {"kind": "queue", "destination": "backup"},
    }
    await harness.create_queue(tenant, {"id": "main", "overflow_rules": [rule]})
    await harness.agent_state(tenant, "ann", ["main"], state=AgentState.NOT_READY)
    await harness.agent_state(tenant, "bob", ["backup"])
    call_id = await harness.enqueue_call(tenant, "main")
    overflowed = (await harness.wait_event(call_id, CallOverflowed.EVENT_TYPE))[0]
    overflow = overflowed.payload_as(CallOverflowed)
    assert (overflow.queue_id, overflow.reason) == ("main", "after_wait")
    assert (overflow.target_kind, overflow.target) == ("queue", "backup")
    assert overflow.waited_s >= 1
    await assert_reaches(harness, tenant, call_id, "bob")
    answered = harness.events(call_id, ANSWERED)[0].payload_as(QueueCallAnswered)
    assert answered.queue_id == "backup"
    assert not any(
        e.payload_as(CallOffered).queue_id == "main" for e in harness.events(call_id, OFFERED)
    )


async def test_caller_hanging_up_while_waiting_is_abandoned(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer"})
    await harness.create_queue(tenant, {"id": "q"})
    await harness.agent_state(tenant, "ann", ["q"], state=AgentState.NOT_READY)
    call_id = await harness.enqueue_call(tenant, "q")
    await harness.eventually(lambda: waiting(harness, tenant, "q") == [call_id])
    assert harness.sim.hangup(call_id)
    abandoned = (await harness.wait_event(call_id, CallAbandoned.EVENT_TYPE))[0]
    assert abandoned.payload_as(CallAbandoned).while_ringing is False
    assert harness.events(call_id, OFFERED) == []
    await harness.eventually(lambda: waiting(harness, tenant, "q") == [])


async def test_caller_hanging_up_while_ringing_leaves_no_agent_reserved(harness: Harness) -> None:
    tenant = await harness.new_tenant({"ann": "answer"})
    harness.sim.set_agent(
        AgentEndpoint(
            user=tenant.extensions["ann"],
            domain=tenant.domain,
            answer_delay_s=(15.0, 15.0),
            handle_time_mean_s=600,
        )
    )
    await harness.create_queue(tenant, {"id": "q", "ring_timeout_seconds": 30})
    await harness.agent_state(tenant, "ann", ["q"])
    call_id = await harness.enqueue_call(tenant, "q")
    await harness.wait_event(call_id, OFFERED)
    state = harness.routing.routing.tenant(tenant.tenant_id)
    assert state is not None
    assert state.engine.agent_state("ann") is AgentState.RESERVED
    assert harness.sim.hangup(call_id)
    abandoned = (await harness.wait_event(call_id, CallAbandoned.EVENT_TYPE))[0]
    assert abandoned.payload_as(CallAbandoned).while_ringing is True
    await harness.eventually(lambda: state.engine.agent_state("ann") is AgentState.AVAILABLE)
    async with harness.http(tenant) as client:
        status = (await client.get("/v1/queues/q/status")).json()
    assert status["available_agents"] == 1
    assert status["ringing"] == 0
    assert status["waiting"] == []

    harness.sim.set_agent(
        AgentEndpoint(
            user=tenant.extensions["ann"],
            domain=tenant.domain,
            answer_delay_s=(0.05, 0.1),
            handle_time_mean_s=600,
        )
    )
    next_call = await harness.enqueue_call(tenant, "q")
    await assert_reaches(harness, tenant, next_call, "ann")
