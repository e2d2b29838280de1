"""Each routing strategy picks the agent it promises, and explains the pick."""

from __future__ import annotations

import random
from collections import Counter

from routing_helpers import call, make_engine, only_offer, set_agent

from switchboard_routing.domain import (
    AgentState,
    OfferOutcome,
    QueueConfig,
    RoutingEngine,
    SkillRelaxationStep,
    SkillRequirement,
    SkipReason,
    Strategy,
)


def answer_and_free(engine: RoutingEngine, now: float, queue: str = "q") -> str:
    """Offer the next call, answer it and make the agent available again at once."""
    offer = only_offer(engine, now)
    engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, now, epoch=engine.epoch)
    set_agent(
        engine, offer.agent_id, queue, at=now + 0.5, previous=AgentState.ON_CALL, previous_for=0.5
    )
    return offer.agent_id


def test_longest_idle_offers_the_agent_available_for_longest() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.LONGEST_IDLE))
    set_agent(engine, "b", "q", at=2)
    set_agent(engine, "a", "q", at=5)
    set_agent(engine, "c", "q", at=1)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    assert offer.agent_ids == ("c",)
    assert [c.agent_id for c in offer.decision.candidates] == ["c", "b", "a"]
    assert offer.decision.candidates[0].score == 9.0
    engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, 10, epoch=1)
    set_agent(engine, "c", "q", at=20, previous=AgentState.ON_CALL, previous_for=10)
    engine.enqueue(call("c2", "q"), 21)
    assert only_offer(engine, 21).agent_ids == ("b",)


def test_round_robin_cycles_through_agents_in_order() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.ROUND_ROBIN))
    for agent in ("c", "a", "b"):
        set_agent(engine, agent, "q", at=1)
    picks = []
    for i in range(5):
        engine.enqueue(call(f"c{i}", "q"), 10 + i)
        picks.append(answer_and_free(engine, 10 + i))
    assert picks == ["a", "b", "c", "a", "b"]


def test_round_robin_skips_busy_agents_and_keeps_its_place() -> None:
    engine = make_engine(
        QueueConfig("q", strategy=Strategy.ROUND_ROBIN, top_down_order=("x", "y", "z"))
    )
    for agent in ("x", "y", "z"):
        set_agent(engine, agent, "q", at=1)
    engine.enqueue(call("c1", "q"), 10)
    assert answer_and_free(engine, 10) == "x"
    set_agent(engine, "y", "q", at=11, state=AgentState.NOT_READY)
    engine.enqueue(call("c2", "q"), 12)
    offer = only_offer(engine, 12)
    assert offer.agent_ids == ("z",)
    assert offer.decision.round_robin_cursor == "z"


def test_round_robin_never_picks_the_same_agent_twice_at_once() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.ROUND_ROBIN))
    for agent in ("a", "b"):
        set_agent(engine, agent, "q", at=1)
    for i in range(3):
        engine.enqueue(call(f"c{i}", "q"), 10)
    offers = engine.next_offers(10)
    assert sorted(o.agent_id for o in offers) == ["a", "b"]
    assert engine.waiting_call_ids("q") == ["c2"]


def test_round_robin_cursor_can_be_rebuilt_from_the_last_decision() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.ROUND_ROBIN))
    for agent in ("a", "b", "c"):
        set_agent(engine, agent, "q", at=1)
    engine.set_round_robin_cursor("q", "b")
    engine.enqueue(call("c1", "q"), 10)
    assert only_offer(engine, 10).agent_id == "c"


def test_fewest_calls_prefers_the_agent_with_fewer_answered_calls() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.FEWEST_CALLS))
    set_agent(engine, "busy", "q", at=1)
    for i in range(2):
        engine.enqueue(call(f"warm{i}", "q"), 2 + i)
        assert answer_and_free(engine, 2 + i) == "busy"
    set_agent(engine, "fresh", "q", at=5)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    assert offer.agent_id == "fresh"
    assert {c.agent_id: c.score for c in offer.decision.candidates} == {"fresh": 0.0, "busy": -2.0}


def test_least_talk_time_prefers_the_agent_who_talked_least() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.LEAST_TALK_TIME))
    set_agent(engine, "chatty", "q", at=1)
    set_agent(
        engine,
        "chatty",
        "q",
        at=2,
        state=AgentState.ON_CALL,
        previous=AgentState.AVAILABLE,
        previous_for=1,
    )
    set_agent(engine, "chatty", "q", at=600, previous=AgentState.ON_CALL, previous_for=598)
    set_agent(engine, "brief", "q", at=700)
    set_agent(engine, "brief", "q", at=710, state=AgentState.ON_CALL)
    set_agent(engine, "brief", "q", at=740, previous=AgentState.ON_CALL, previous_for=30)
    engine.enqueue(call("c1", "q"), 800)
    offer = only_offer(engine, 800)
    assert offer.agent_id == "brief"
    assert offer.decision.candidates[1].basis == "talk time 598s"


def test_random_uses_the_injected_generator() -> None:
    def picks(seed: int) -> list[str]:
        engine = make_engine(QueueConfig("q", strategy=Strategy.RANDOM), rng=random.Random(seed))
        for agent in "abcdef":
            set_agent(engine, agent, "q", at=1)
        chosen = []
        for i in range(40):
            engine.enqueue(call(f"c{i}", "q"), 10 + i)
            chosen.append(answer_and_free(engine, 10 + i))
        return chosen

    first = picks(7)
    assert first == picks(7)
    assert first != picks(8)
    assert set(Counter(first)) == set("abcdef")


def test_top_down_always_hunts_from_the_top_of_the_list() -> None:
    engine = make_engine(
        QueueConfig("q", strategy=Strategy.TOP_DOWN, top_down_order=("c", "a", "b"))
    )
    for agent in ("a", "b", "c", "unlisted"):
        set_agent(engine, agent, "q", at=1)
    engine.enqueue(call("c1", "q"), 10)
    assert answer_and_free(engine, 10) == "c"
    engine.enqueue(call("c2", "q"), 11)
    assert answer_and_free(engine, 11) == "c"
    set_agent(engine, "c", "q", at=12, state=AgentState.NOT_READY)
    engine.enqueue(call("c3", "q"), 13)
    offer = only_offer(engine, 13)
    assert offer.agent_id == "a"
    assert offer.decision.candidates[-1].basis == "unlisted"


def test_ring_all_rings_every_eligible_agent_and_first_answer_wins() -> None:
    engine = make_engine(
        QueueConfig("q", strategy=Strategy.RING_ALL, required_skills=(SkillRequirement("es"),))
    )
    for agent in ("a", "b", "c"):
        set_agent(engine, agent, "q", at=1, skills={"es": 5})
    set_agent(engine, "mono", "q", at=1)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    assert offer.agent_ids == ("a", "b", "c")
    assert [s.agent_id for s in offer.decision.skipped] == ["mono"]
    assert all(engine.agent_state(a) is AgentState.RESERVED for a in "abc")
    resolution = engine.offer_result(
        offer.reservation_id, OfferOutcome.ANSWERED, 15, epoch=1, answered_by="b"
    )
    assert resolution.answered_by == "b"
    assert resolution.released_agent_ids == ("a", "c")
    assert engine.agent_state("b") is AgentState.ON_CALL
    assert engine.agent_state("a") is AgentState.AVAILABLE


def test_ring_all_no_answer_releases_everyone_without_penalty() -> None:
    engine = make_engine(QueueConfig("q", strategy=Strategy.RING_ALL))
    for agent in ("a", "b"):
        set_agent(engine, agent, "q", at=1)
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    resolution = engine.offer_result(offer.reservation_id, OfferOutcome.NO_ANSWER, 30, epoch=1)
    assert resolution.missed_agent_ids == ()
    assert resolution.requeued
    assert only_offer(engine, 30).agent_ids == ("a", "b")


def test_skills_based_picks_the_best_proficiency() -> None:
    engine = make_engine(
        QueueConfig(
            "q", strategy=Strategy.SKILLS_BASED, required_skills=(SkillRequirement("de", 3),)
        )
    )
    set_agent(engine, "good", "q", at=1, skills={"de": 7})
    set_agent(engine, "best", "q", at=5, skills={"de": 9})
    set_agent(engine, "weak", "q", at=0, skills={"de": 2})
    set_agent(engine, "none", "q", at=0, skills={"en": 9})
    engine.enqueue(call("c1", "q"), 10)
    offer = only_offer(engine, 10)
    assert offer.agent_id == "best"
    assert offer.decision.candidates[0].basis == "proficiency 9 (de 9)"
    reasons = {s.agent_id: s.reason for s in offer.decision.skipped}
    assert reasons == {"weak": SkipReason.LOW_PROFICIENCY, "none": SkipReason.MISSING_SKILL}


def test_skills_based_ranks_on_the_call_own_skills_too() -> None:
    engine = make_engine(
        QueueConfig(
            "q", strategy=Strategy.SKILLS_BASED, required_skills=(SkillRequirement("billing"),)
        )
    )
    set_agent(engine, "a", "q", at=1, skills={"billing": 9, "fr": 3})
    set_agent(engine, "b", "q", at=1, skills={"billing": 4, "fr": 9})
    set_agent(engine, "c", "q", at=1, skills={"billing": 9})
    engine.enqueue(call("c1", "q", required_skills=(SkillRequirement("fr", 2),)), 10)
    offer = only_offer(engine, 10)
    assert offer.agent_id == "b"
    assert [c.agent_id for c in offer.decision.candidates] == ["b", "a"]


def test_proficiency_requirements_relax_as_the_wait_grows() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            strategy=Strategy.SKILLS_BASED,
            required_skills=(SkillRequirement("it", 8),),
            skill_relaxation=(SkillRelaxationStep(30, 2), SkillRelaxationStep(60, 4)),
        )
    )
    set_agent(engine, "junior", "q", at=0, skills={"it": 5})
    engine.enqueue(call("c1", "q"), 0)
    assert engine.next_offers(0) == []
    engine.tick(30)
    assert engine.next_offers(30) == []
    assert engine.explain("c1", 30).skipped[0].detail == "it 5 < 6"
    engine.tick(60)
    offer = only_offer(engine, 60)
    assert offer.agent_id == "junior"
    assert offer.decision.proficiency_relaxed_by == 4


def test_relaxation_never_drops_the_skill_itself() -> None:
    engine = make_engine(
        QueueConfig(
            "q",
            required_skills=(SkillRequirement("it", 3),),
            skill_relaxation=(SkillRelaxationStep(10, 50),),
        )
    )
    set_agent(engine, "none", "q", at=0, skills={"sales": 9})
    engine.enqueue(call("c1", "q"), 0)
    engine.tick(100)
    assert engine.next_offers(100) == []
    assert engine.explain("c1", 100).skipped[0].reason is SkipReason.MISSING_SKILL


def sticky_engine() -> RoutingEngine:
    engine = make_engine(
        QueueConfig(
            "q",
            strategy=Strategy.STICKY,
            sticky_fallback_seconds=30,
            sticky_fallback_strategy=Strategy.LONGEST_IDLE,
            sticky_lookback_days=7,
        )
    )
    set_agent(engine, "idle", "q", at=0)
    set_agent(engine, "owner", "q", at=50)
    return engine


def test_sticky_offers_the_preferred_agent_first() -> None:
    engine = sticky_engine()
    engine.enqueue(call("c1", "q", preferred_agent_id="owner"), 100)
    offer = only_offer(engine, 100)
    assert offer.agent_id == "owner"
    assert offer.decision.strategy is Strategy.STICKY


def test_sticky_waits_for_a_busy_preferred_agent_then_falls_back() -> None:
    engine = sticky_engine()
    set_agent(engine, "owner", "q", at=90, state=AgentState.ON_CALL)
    engine.enqueue(call("c1", "q", preferred_agent_id="owner"), 100)
    assert engine.next_offers(100) == []
    explained = engine.explain("c1", 110)
    assert explained.skipped[0].agent_id == "owner"
    assert explained.skipped[0].reason is SkipReason.STATE
    assert {s.agent_id: s.reason for s in explained.skipped[1:]} == {
        "idle": SkipReason.NOT_PREFERRED
    }
    engine.tick(129)
    assert engine.next_offers(129) == []
    engine.tick(130)
    offer = only_offer(engine, 130)
    assert offer.agent_id == "idle"
    assert offer.decision.strategy is Strategy.LONGEST_IDLE


def test_sticky_ignores_a_last_agent_older_than_the_lookback() -> None:
    engine = sticky_engine()
    day = 86400.0
    engine.enqueue(
        call("c1", "q", preferred_agent_id="owner", preferred_agent_last_contact_at=100 - 8 * day),
        100,
    )
    assert only_offer(engine, 100).agent_id == "idle"
    engine.enqueue(
        call("c2", "q", preferred_agent_id="owner", preferred_agent_last_contact_at=100 - 6 * day),
        100,
    )
    assert only_offer(engine, 100).agent_id == "owner"


def test_sticky_falls_back_at_once_when_the_preferred_agent_is_not_in_the_queue() -> None:
    engine = sticky_engine()
    set_agent(engine, "elsewhere", "other", at=0)
    engine.enqueue(call("c1", "q", preferred_agent_id="elsewhere"), 100)
    offer = only_offer(engine, 100)
    assert offer.agent_id == "idle"
    assert offer.decision.skipped[0].reason is SkipReason.NOT_IN_QUEUE
