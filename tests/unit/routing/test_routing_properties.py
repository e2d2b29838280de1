"""Random interleavings of everything that can happen to a routing engine.

After every step: no agent is offered two calls at once, every reserved agent belongs to a
live offer (so none stays reserved once its offer ended), and every call we were given is
either waiting in exactly one queue or ringing. At the end, with agents available again,
every call is eventually answered, overflowed out or abandoned.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from switchboard_common.errors import NotFound, PreconditionFailed
from switchboard_routing.domain import (
    AgentState,
    AgentUpdate,
    Announcements,
    CallRequest,
    EngineSnapshot,
    Offer,
    OfferOutcome,
    OfferResolution,
    Overflow,
    OverflowCondition,
    OverflowRule,
    OverflowTarget,
    QueueConfig,
    RoutingEngine,
    SkillRelaxationStep,
    SkillRequirement,
    Strategy,
    TargetKind,
)

AGENTS = ("a1", "a2", "a3", "a4", "a5")
VOICEMAIL = OverflowTarget(TargetKind.VOICEMAIL)
CONFIGS = {
    "idle": QueueConfig(
        "idle",
        strategy=Strategy.LONGEST_IDLE,
        wrap_up_seconds=5,
        max_length=5,
        exit_target=VOICEMAIL,
        overflow_rules=(
            OverflowRule(OverflowCondition.AFTER_WAIT, OverflowTarget(TargetKind.QUEUE, "rr"), 200),
        ),
    ),
    "rr": QueueConfig("rr", strategy=Strategy.ROUND_ROBIN, priority=2, max_wait_seconds=400),
    "ring": QueueConfig(
        "ring", strategy=Strategy.RING_ALL, announcements=Announcements(interval_seconds=20)
    ),
    "sticky": QueueConfig(
        "sticky",
        strategy=Strategy.STICKY,
        sticky_fallback_seconds=20,
        sticky_fallback_strategy=Strategy.RANDOM,
    ),
    "skills": QueueConfig(
        "skills",
        strategy=Strategy.SKILLS_BASED,
        required_skills=(SkillRequirement("es", 4),),
        skill_relaxation=(SkillRelaxationStep(30, 2),),
        overflow_rules=(
            OverflowRule(
                OverflowCondition.NO_AGENTS_LOGGED_IN, OverflowTarget(TargetKind.CALLBACK)
            ),
        ),
    ),
}
QUEUES = tuple(CONFIGS)
AGENT_STATES = (*[AgentState.AVAILABLE] * 6, *AgentState)
"""Mostly available, so that offers (and what can happen to them) are frequent."""
BRIDGE_OUTCOMES = (
    OfferOutcome.ANSWERED,
    OfferOutcome.NO_ANSWER,
    OfferOutcome.BUSY,
    OfferOutcome.FAILED,
)


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = RoutingEngine("prop", epoch=1, rng=random.Random(3))
        for config in CONFIGS.values():
            self.engine.configure_queue(config, 0)
        self.now = 0.0
        self.calls = 0
        self.live: set[str] = set()
        self.offers: dict[str, Offer] = {}

    # bookkeeping of what left the engine for good

    def _overflows(self, overflows: tuple[Overflow, ...] | list[Overflow]) -> None:
        for overflow in overflows:
            if not overflow.moved:
                self.live.discard(overflow.call_id)

    def _resolution(self, resolution: OfferResolution) -> None:
        for agent in (*resolution.missed_agent_ids, *resolution.released_agent_ids):
            assert self.engine.agent_reservation(agent) != resolution.reservation_id
        if resolution.answered_by is not None:
            assert self.engine.agent_state(resolution.answered_by) is AgentState.ON_CALL
            self.live.discard(resolution.call_id)
        self._overflows(resolution.overflows)

    def _advance(self, seconds: float) -> None:
        self.now += seconds

    # rules

    @rule(
        queue=st.sampled_from(QUEUES),
        priority=st.integers(0, 3),
        vip=st.integers(0, 2),
        preferred=st.sampled_from((None, *AGENTS)),
        spanish=st.booleans(),
    )
    def enqueue(
        self, queue: str, priority: int, vip: int, preferred: str | None, spanish: bool
    ) -> None:
        self._advance(1)
        self.calls += 1
        call_id = f"c{self.calls}"
        request = CallRequest(
            call_id=call_id,
            queue_id=queue,
            priority=priority,
            vip_level=vip,
            preferred_agent_id=preferred,
            required_skills=(SkillRequirement("es", 2),) if spanish else (),
        )
        self.live.add(call_id)
        self._overflows(self.engine.enqueue(request, self.now).overflows)
        self.route()

    @rule(
        agent=st.sampled_from(AGENTS),
        state=st.sampled_from(AGENT_STATES),
        queues=st.frozensets(st.sampled_from(QUEUES), min_size=1),
        spanish=st.integers(0, 6),
        delay=st.floats(0, 30),
    )
    def agent_changes(
        self, agent: str, state: AgentState, queues: frozenset[str], spanish: int, delay: float
    ) -> None:
        self._advance(delay)
        self.engine.agent_changed(
            AgentUpdate(
                agent_id=agent,
                state=state,
                changed_at=self.now,
                queues=tuple(sorted(queues)),
                skills={"es": spanish} if spanish else {},
            ),
            self.now,
        )
        self.route()

    @rule()
    def route(self) -> None:
        """What the adapters do after every event; also run at the end of each other rule."""
        for offer in self.engine.next_offers(self.now):
            assert offer.call_id in self.live
            for other in self.offers.values():
                if other.reservation_id in self.engine.reservations():
                    assert not set(offer.agent_ids) & set(other.agent_ids)
            self.offers[offer.reservation_id] = offer

    @precondition(lambda self: bool(self.offers))
    @rule(data=st.data(), outcome=st.sampled_from(BRIDGE_OUTCOMES), delay=st.floats(0, 25))
    def bridge_outcome(self, data: st.DataObject, outcome: OfferOutcome, delay: float) -> None:
        reservation_id = data.draw(st.sampled_from(sorted(self.offers)))
        offer = self.offers.pop(reservation_id)
        self._advance(delay)
        answered_by = data.draw(st.sampled_from(offer.agent_ids))
        if offer.epoch != self.engine.epoch:
            with pytest.raises(PreconditionFailed):
                self.engine.offer_result(reservation_id, outcome, self.now, epoch=offer.epoch)
            return
        if reservation_id not in self.engine.reservations():
            with pytest.raises(NotFound):
                self.engine.offer_result(reservation_id, outcome, self.now, epoch=offer.epoch)
            return
        self._resolution(
            self.engine.offer_result(
                reservation_id, outcome, self.now, epoch=offer.epoch, answered_by=answered_by
            )
        )
        self.route()

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), delay=st.floats(0, 10))
    def caller_hangs_up(self, data: st.DataObject, delay: float) -> None:
        call_id = data.draw(st.sampled_from(sorted(self.live)))
        self._advance(delay)
        left = self.engine.caller_hung_up(call_id, self.now)
        assert left is not None
        for agent in left.released_agent_ids:
            assert self.engine.agent_reservation(agent) is None
        self.live.discard(call_id)
        self.route()

    @precondition(lambda self: bool(self.engine.reservations()))
    @rule(data=st.data())
    def ringing_caller_hangs_up(self, data: st.DataObject) -> None:
        reservations = self.engine.reservations()
        reservation_id = data.draw(st.sampled_from(sorted(reservations)))
        call_id, agents = reservations[reservation_id]
        left = self.engine.caller_hung_up(call_id, self.now)
        assert left is not None
        assert left.while_ringing
        assert left.released_agent_ids == agents
        self.live.discard(call_id)
        self.route()

    @rule(delay=st.floats(0, 120))
    def time_passes(self, delay: float) -> None:
        self._advance(delay)
        result = self.engine.tick(self.now)
        self._overflows(result.overflows)
        for resolution in result.expired_offers:
            self._resolution(resolution)
        self.route()

    @rule(queue=st.sampled_from(QUEUES))
    def queue_deleted_and_recreated(self, queue: str) -> None:
        self._advance(1)
        self._overflows(self.engine.delete_queue(queue, self.now))
        self.engine.configure_queue(CONFIGS[queue], self.now)
        self.route()

    @rule()
    def partition_moves(self) -> None:
        self._advance(1)
        document = json.loads(json.dumps(self.engine.snapshot().to_dict()))
        self.engine, revoked = RoutingEngine.restore(
            EngineSnapshot.from_dict(document),
            epoch=self.engine.epoch + 1,
            now=self.now,
            rng=random.Random(5),
        )
        for resolution in revoked:
            self._resolution(resolution)
        self.route()

    # invariants

    @invariant()
    def agents_are_reserved_for_one_live_offer_at_most(self) -> None:
        holder: dict[str, str] = {}
        for reservation_id, (call_id, agents) in self.engine.reservations().items():
            assert self.engine.is_call_ringing(call_id)
            for agent in agents:
                assert agent not in holder, f"{agent} offered two calls"
                holder[agent] = reservation_id
        for agent in AGENTS:
            reservation = self.engine.agent_reservation(agent)
            assert reservation == holder.get(agent)
            if reservation is not None:
                assert self.engine.agent_state(agent) is AgentState.RESERVED

    @invariant()
    def every_live_call_is_waiting_once_or_ringing(self) -> None:
        waiting = [c for q in self.engine.queue_ids for c in self.engine.waiting_call_ids(q)]
        ringing = {call for call, _ in self.engine.reservations().values()}
        assert len(waiting) == len(set(waiting))
        assert not set(waiting) & ringing
        assert set(waiting) | ringing == self.live

    def teardown(self) -> None:
        for _ in range(60):
            if not self.live:
                break
            self._advance(45)
            for agent in AGENTS:
                if self.engine.agent_reservation(agent) is None:
                    self.engine.agent_changed(
                        AgentUpdate(
                            agent_id=agent,
                            state=AgentState.AVAILABLE,
                            changed_at=self.now,
                            queues=QUEUES,
                            skills={"es": 6},
                        ),
                        self.now,
                    )
            result = self.engine.tick(self.now)
            self._overflows(result.overflows)
            for resolution in result.expired_offers:
                self._resolution(resolution)
            for offer in self.engine.next_offers(self.now):
                self._resolution(
                    self.engine.offer_result(
                        offer.reservation_id,
                        OfferOutcome.ANSWERED,
                        self.now,
                        epoch=offer.epoch,
                        answered_by=offer.agent_ids[-1],
                    )
                )
        assert self.live == set(), f"calls never served: {sorted(self.live)}"
        assert self.engine.reservations() == {}


RoutingMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_routing_engine_invariants = RoutingMachine.TestCase
