"""One routing decision: which agents may take a call now, which one the strategy picks, and
why every other agent examined was passed over. Reads the engine's state, changes nothing
(except drawing from the random generator for the random strategy)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from switchboard_common.events.agents import AgentState
from switchboard_routing.domain.config import QueueConfig, Strategy
from switchboard_routing.domain.model import Candidate, SkippedAgent, SkipReason
from switchboard_routing.domain.ranked import SortKey
from switchboard_routing.domain.records import AgentRecord, QueueState, WaitingCall
from switchboard_routing.domain.strategies import Requirements, score

SECONDS_PER_DAY = 86400.0


@dataclass(slots=True)
class Evaluation:
    strategy: Strategy
    """The strategy that decided (a sticky queue past its window reports its fallback)."""
    chosen: list[str]
    candidates: list[Candidate]
    skipped: list[SkippedAgent]
    skipped_not_listed: int
    note: str
    relaxed_by: int


def requirements(cfg: QueueConfig, call: WaitingCall, now: float) -> tuple[Requirements, int]:
    """The queue's and the call's skills, with proficiencies relaxed for the time waited;
    also returns the relaxation applied."""
    merged = {req.skill: req.min_proficiency for req in cfg.required_skills}
    for req in call.request.required_skills:
        merged[req.skill] = max(merged.get(req.skill, 0), req.min_proficiency)
    waited = now - call.entered_at
    drop = 0
    for step in cfg.skill_relaxation:
        if waited >= step.after_seconds:
            drop = step.proficiency_drop
    return tuple(sorted((skill, max(1, level - drop)) for skill, level in merged.items())), drop


def preferred_agent(cfg: QueueConfig, call: WaitingCall, now: float) -> str | None:
    """The sticky agent to wait for, while the sticky window is open and the preference is
    recent enough."""
    preferred = call.request.preferred_agent_id
    if cfg.strategy is not Strategy.STICKY or not preferred:
        return None
    if now - call.entered_at >= cfg.sticky_fallback_seconds:
        return None
    last_contact = call.request.preferred_agent_last_contact_at
    if last_contact is not None and now - last_contact > cfg.sticky_lookback_days * SECONDS_PER_DAY:
        return None
    return preferred


def ineligible(agent: AgentRecord, required: Requirements, now: float) -> SkippedAgent | None:
    """Why an agent cannot take the call now, or None when it can."""
    if agent.reservation_id is not None:
        return SkippedAgent(agent.agent_id, SkipReason.ALREADY_RESERVED, agent.reservation_id)
    if agent.state is AgentState.WRAP_UP:
        return SkippedAgent(agent.agent_id, SkipReason.WRAP_UP, "agent in wrap-up")
    if agent.state is not AgentState.AVAILABLE:
        return SkippedAgent(agent.agent_id, SkipReason.STATE, agent.state.value)
    if agent.wrap_up_until > now:
        left = agent.wrap_up_until - now
        return SkippedAgent(agent.agent_id, SkipReason.WRAP_UP, f"queue wrap-up, {left:.0f}s left")
    for skill, minimum in required:
        level = agent.skills.get(skill)
        if level is None:
            return SkippedAgent(agent.agent_id, SkipReason.MISSING_SKILL, skill)
        if level < minimum:
            return SkippedAgent(
                agent.agent_id, SkipReason.LOW_PROFICIENCY, f"{skill} {level} < {minimum}"
            )
    return None


@dataclass(frozen=True, slots=True)
class Decider:
    agents: Mapping[str, AgentRecord]
    members: Mapping[str, set[str]]
    """Agent ids serving each queue id."""
    rng: random.Random
    runner_ups: int
    """Eligible agents after the chosen one to report as candidates."""
    explain_limit: int
    """Skipped agents listed one by one; the rest are only counted."""

    def evaluate(
        self, q: QueueState, call: WaitingCall, now: float, *, exhaustive: bool
    ) -> Evaluation:
        """Decide for `call`. exhaustive: examine every member of the queue (explain)
        instead of stopping at the strategy's pick."""
        cfg = q.config
        required, drop = requirements(cfg, call, now)
        strategy, note = cfg.strategy, ""
        skipped: list[SkippedAgent] = []
        if strategy is Strategy.STICKY:
            strategy = cfg.sticky_fallback_strategy
            preferred = preferred_agent(cfg, call, now)
            agent = self.agents.get(preferred) if preferred else None
            if preferred is None:
                note = "sticky: no current preference, fallback strategy"
            elif agent is None or q.queue_id not in agent.queues:
                note = f"sticky: preferred agent {preferred} does not serve the queue"
                skipped.append(SkippedAgent(preferred, SkipReason.NOT_IN_QUEUE))
            else:
                return self._sticky(q, agent, required, drop, now, exhaustive)
        evaluation = self._walk(q, strategy, required, now, exhaustive)
        evaluation.skipped[:0] = skipped
        evaluation.note = note
        evaluation.relaxed_by = drop
        return evaluation

    def _sticky(
        self,
        q: QueueState,
        agent: AgentRecord,
        required: Requirements,
        drop: int,
        now: float,
        exhaustive: bool,
    ) -> Evaluation:
        skip = ineligible(agent, required, now)
        others: list[SkippedAgent] = []
        if exhaustive:
            others = [
                SkippedAgent(member, SkipReason.NOT_PREFERRED)
                for member in sorted(self.members.get(q.queue_id, ()))
                if member != agent.agent_id
            ]
        if skip is None:
            candidate = Candidate(agent.agent_id, 1.0, "preferred agent")
            return Evaluation(
                Strategy.STICKY, [agent.agent_id], [candidate], others, 0,
                "sticky: preferred agent", drop,
            )  # fmt: skip
        note = f"sticky: waiting for {agent.agent_id} until the fallback time"
        return Evaluation(Strategy.STICKY, [], [], [skip, *others], 0, note, drop)

    def _walk(
        self,
        q: QueueState,
        strategy: Strategy,
        required: Requirements,
        now: float,
        exhaustive: bool,
    ) -> Evaluation:
        """Walk the queue's agents in the strategy's order and keep the eligible ones."""
        queue_skills = {req.skill for req in q.config.required_skills}
        call_specific = any(skill not in queue_skills for skill, _ in required)
        take_all = (
            exhaustive
            or strategy is Strategy.RING_ALL
            or (strategy is Strategy.SKILLS_BASED and call_specific)
        )
        eligible: list[tuple[int, AgentRecord]] = []
        skipped: list[SkippedAgent] = []
        not_listed = 0
        budget = self.runner_ups * 4 + 4
        for offset, agent_id in enumerate(self._order(q, strategy, exhaustive)):
            agent = self.agents[agent_id]
            skip = ineligible(agent, required, now)
            if skip is None:
                eligible.append((offset, agent))
            elif len(skipped) < self.explain_limit:
                skipped.append(skip)
            else:
                not_listed += 1
            if eligible and not take_all:
                budget -= 1
                if len(eligible) > self.runner_ups or budget <= 0:
                    break
        candidates = [
            score(strategy, agent, now=now, offset=offset, config_order=q.order_pos,
                  requirements=required)
            for offset, agent in eligible
        ]  # fmt: skip
        if strategy is Strategy.SKILLS_BASED:
            idle = {agent.agent_id: agent.idle_since for _, agent in eligible}
            candidates.sort(key=lambda c: (-c.score, idle[c.agent_id], c.agent_id))
        if strategy is Strategy.RING_ALL:
            chosen = [c.agent_id for c in candidates]
        else:
            chosen = [candidates[0].agent_id] if candidates else []
            candidates = candidates[: self.runner_ups + 1]
        return Evaluation(strategy, chosen, candidates, skipped, not_listed, "", 0)

    def _order(self, q: QueueState, strategy: Strategy, exhaustive: bool) -> Iterable[str]:
        """Available members from where the strategy starts (after the round-robin cursor,
        at a random draw, else the front); exhaustive adds every other member, by id."""
        index = q.available
        size = len(index)
        start = 0
        if size and strategy is Strategy.ROUND_ROBIN and q.round_robin_cursor is not None:
            cursor = q.round_robin_cursor
            cursor_key: SortKey = (q.order_pos.get(cursor, len(q.order_pos)),)
            start = index.index_after(cursor_key, cursor) % size
        elif size and strategy is Strategy.RANDOM and not exhaustive:
            start = self.rng.randrange(size)
        walk = (index.member_at((start + i) % size) for i in range(size))
        if not exhaustive:
            return walk
        ordered = list(walk)
        rest = sorted(self.members.get(q.queue_id, set()) - set(ordered))
        return [*ordered, *rest]
