"""Ring-all offers: one Bridge rings every chosen agent's endpoint at once, and the agent
whose endpoint answered is the one credited with the call."""

from __future__ import annotations

from routing_service_fakes import (
    START,
    TENANT,
    FakeCallControl,
    FakeStore,
    ManualClock,
    agent_event,
    enqueued,
    routing,
    settle,
)

from switchboard_common.events.queues import QueueCallAnswered, RoutingDecisionMade
from switchboard_routing.domain import AgentState, OfferOutcome
from switchboard_routing.repository import Directory
from switchboard_routing.services import RoutingService

AVAILABLE = AgentState.AVAILABLE
ENDPOINTS = {
    "a1": "user/1001@acme.example",
    "a2": "user/1002@acme.example",
    "a3": "user/1003@acme.example",
}


async def _ring_all_offer(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> RoutingService:
    store.put_queue(TENANT, "sales", strategy="ring-all", ring_timeout_seconds=15)
    store.directories[TENANT] = Directory(
        "acme.example", {"a1": "1001", "a2": "1002", "a3": "1003"}
    )
    service = await routing(store, control, clock)
    for offset, agent in enumerate(("a1", "a2", "a3")):
        await service.agent_changed(
            TENANT, agent_event(agent, AVAILABLE, START - 60 + offset, "sales")
        )
    await service.call_enqueued(TENANT, enqueued("c1"))
    await settle(service)
    return service


async def test_one_bridge_rings_every_agent_and_the_one_who_answered_gets_the_call(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    service = await _ring_all_offer(store, control, clock)
    assert len(control.commands) == 1
    command = control.last()
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    offered = engine.reservations()
    assert len(offered) == 1
    ((_, agents),) = offered.values()
    assert set(agents) == {"a1", "a2", "a3"}
    assert command.endpoint.split(",") == [ENDPOINTS[a] for a in agents]

    clock.advance(3)
    control.finish(command, OfferOutcome.ANSWERED, answered_endpoint=ENDPOINTS["a2"])
    await settle(service)
    await service.persist(snapshots=False)

    assert store.events(RoutingDecisionMade)[0].strategy == "ring-all"
    assert store.events(QueueCallAnswered)[0].agent_id == "a2"
    assert engine.agent_state("a2") is AgentState.ON_CALL
    for released in ("a1", "a3"):
        assert engine.agent_state(released) is AVAILABLE
        assert engine.agent_reservation(released) is None
    assert service.stats.calls_answered == 1


async def test_nobody_answering_a_ring_all_releases_every_agent_unpenalised(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    service = await _ring_all_offer(store, control, clock)
    first = control.last()
    control.finish(first, OfferOutcome.NO_ANSWER, cause="NO_ANSWER")
    await settle(service)
    assert not store.events(QueueCallAnswered)
    assert service.stats.calls_answered == 0
    # released, not missed: the call goes back to the head and rings all three again
    assert len(control.commands) == 2
    again = control.last()
    assert again.variables["sb_reservation"] != first.variables["sb_reservation"]
    assert sorted(again.endpoint.split(",")) == sorted(ENDPOINTS.values())


async def test_an_answer_naming_no_offered_endpoint_still_ends_the_reservation(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    service = await _ring_all_offer(store, control, clock)
    command = control.last()
    first = command.variables["sb_agent"]
    control.finish(command, OfferOutcome.ANSWERED)
    await settle(service)
    engine = service.tenant(TENANT).engine  # type: ignore[union-attr]
    assert engine.reservations() == {}
    assert engine.agent_state(first) is AgentState.ON_CALL
