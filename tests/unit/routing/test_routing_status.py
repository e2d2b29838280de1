"""Queue status, estimated wait, handle time, wrap-up, configuration changes."""

from __future__ import annotations

from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_routing.domain import (
    AgentState,
    OfferOutcome,
    QueueConfig,
    RoutingEngine,
    SkipReason,
    Strategy,
)


def answer(engine: RoutingEngine, now: float) -> str:
    offer = only_offer(engine, now)
    engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, now, epoch=1)
    return offer.agent_id


def test_status_lists_waiting_calls_and_agents_by_state() -> None:
    engine = make_engine(QueueConfig("q", default_handle_seconds=100))
    set_agent(engine, "a", "q", at=0, state=AgentState.ON_CALL)
    set_agent(engine, "b", "q", at=0, state=AgentState.ON_CALL)
    set_agent(engine, "c", "q", at=0, state=AgentState.NOT_READY)
    set_agent(engine, "d", "q", at=0, state=AgentState.LOGGED_OUT)
    engine.enqueue(call("c1", "q"), 10)
    engine.enqueue(call("c2", "q", vip_level=1), 40)
    status = engine.queue_status("q", 70)
    assert [(w.call_id, w.position, w.waited_seconds) for w in status.waiting] == [
        ("c2", 1, 30),
        ("c1", 2, 60),
    ]
    assert status.longest_wait_seconds == 60
    assert status.agents_by_state["on_call"] == 2
    assert status.agents_by_state["not_ready"] == 1
    assert (status.logged_in_agents, status.available_agents) == (3, 0)
    assert status.estimated_wait_seconds == (2 + 1) * 100 / 2
    assert status.service_level is None


def test_estimated_wait_is_zero_while_agents_are_free_and_none_when_unstaffed() -> None:
    engine = make_engine(QueueConfig("q"))
    assert engine.estimated_wait("q") is None
    set_agent(engine, "a", "q", at=0)
    assert engine.estimated_wait("q") == 0.0


def test_handle_time_feeds_the_estimated_wait() -> None:
    engine = make_engine(QueueConfig("q", default_handle_seconds=999))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("c1", "q"), 10)
    answer(engine, 10)
    set_agent(
        engine,
        "a",
        "q",
        at=100,
        state=AgentState.WRAP_UP,
        previous=AgentState.ON_CALL,
        previous_for=90,
    )
    set_agent(engine, "a", "q", at=130, previous=AgentState.WRAP_UP, previous_for=30)
    assert engine.queue_status("q", 130).average_handle_seconds == 120
    set_agent(engine, "a", "q", at=131, state=AgentState.ON_CALL)
    engine.enqueue(call("c2", "q"), 132)
    assert engine.estimated_wait("q") == 2 * 120


def test_queue_wrap_up_keeps_the_agent_off_calls_after_a_call() -> None:
    engine = make_engine(QueueConfig("q", wrap_up_seconds=30))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("c1", "q"), 10)
    answer(engine, 10)
    set_agent(engine, "a", "q", at=100, previous=AgentState.ON_CALL, previous_for=90)
    engine.enqueue(call("c2", "q"), 110)
    assert engine.next_offers(110) == []
    assert engine.explain("c2", 110).skipped[0].reason is SkipReason.WRAP_UP
    engine.tick(129)
    assert engine.next_offers(129) == []
    engine.tick(130)
    assert only_offer(engine, 130).agent_id == "a"


def test_service_level_counts_answers_within_the_threshold_over_answers_and_abandons() -> None:
    engine = make_engine(QueueConfig("q", service_level_seconds=20))
    set_agent(engine, "a", "q", at=0)
    engine.enqueue(call("fast", "q"), 0)
    answer(engine, 5)
    set_agent(engine, "a", "q", at=6, state=AgentState.ON_CALL)
    engine.enqueue(call("slow", "q"), 10)
    engine.enqueue(call("gave-up", "q"), 10)
    engine.caller_hung_up("gave-up", 15)
    set_agent(engine, "a", "q", at=50)
    answer(engine, 50)
    status = engine.queue_status("q", 50)
    assert (status.answered, status.answered_within_service_level, status.abandoned) == (2, 1, 1)
    assert status.service_level == 1 / 3


def test_reconfiguring_a_queue_keeps_calls_and_applies_the_new_strategy() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.LONGEST_IDLE))
    set_agent(engine, "first", "q", at=0)
    set_agent(engine, "second", "q", at=5)
    engine.enqueue(call("c1", "q"), 10)
    engine.enqueue(call("c2", "q", priority=1), 11)
    engine.configure_queue(
        QueueConfig(
            "q", strategy=Strategy.TOP_DOWN, top_down_order=("second", "first"), aging_seconds=None
        ),
        12,
    )
    assert engine.waiting_call_ids("q") == ["c2", "c1"]
    offers = engine.next_offers(12)
    assert [(o.call_id, o.agent_id) for o in offers] == [("c2", "second"), ("c1", "first")]


def test_agents_seen_before_their_queue_is_configured_are_counted() -> None:
    engine = make_engine()
    set_agent(engine, "early", "later", at=0)
    engine.configure_queue(QueueConfig("later"), 1)
    engine.enqueue(call("c1", "later"), 2)
    assert engine.queue_status("later", 2).logged_in_agents == 1
    assert only_offer(engine, 2).agent_id == "early"


def test_leaving_a_queue_stops_offers_from_it() -> None:
    engine = make_engine(QueueConfig("q"), QueueConfig("r"))
    set_agent(engine, "a", "q", "r", at=0, state=AgentState.ON_CALL)
    engine.enqueue(call("c1", "q"), 1)
    set_agent(engine, "a", "r", at=2)
    assert engine.next_offers(2) == []
    assert engine.queue_status("q", 2).logged_in_agents == 0
