"""How each strategy orders a queue's available agents, and how it scores a candidate.

The ranking key is what the queue's available-agent index is sorted by, so picking an agent
is a walk from the front of the index (from the cursor for round-robin, from a random index
for random) that stops at the first eligible agent: O(log n) to keep, O(k) to pick, k being
the number of agents skipped on the way.
"""

from __future__ import annotations

from switchboard_routing.domain.config import QueueConfig, Strategy
from switchboard_routing.domain.model import Candidate
from switchboard_routing.domain.ranked import SortKey
from switchboard_routing.domain.records import AgentRecord

Requirements = tuple[tuple[str, int], ...]
"""(skill, minimum proficiency) pairs, sorted by skill."""


def order_position(config_order: dict[str, int], agent_id: str) -> int:
    """Place of an agent in the queue's top-down order; unlisted agents come last (by id)."""
    return config_order.get(agent_id, len(config_order))


def skill_score(agent: AgentRecord, skills: tuple[str, ...]) -> int:
    return sum(agent.skills.get(skill, 0) for skill in skills)


def ranking_key(
    strategy: Strategy, agent: AgentRecord, config: QueueConfig, config_order: dict[str, int]
) -> SortKey:
    """Sort key of an available agent (lower is offered first; ties broken by agent id)."""
    if strategy is Strategy.LONGEST_IDLE:
        return (agent.idle_since,)
    if strategy is Strategy.FEWEST_CALLS:
        return (agent.calls_handled, agent.idle_since)
    if strategy is Strategy.LEAST_TALK_TIME:
        return (agent.talk_seconds, agent.idle_since)
    if strategy in (Strategy.TOP_DOWN, Strategy.ROUND_ROBIN):
        return (order_position(config_order, agent.agent_id),)
    if strategy is Strategy.SKILLS_BASED:
        skills = tuple(req.skill for req in config.required_skills)
        return (-skill_score(agent, skills), agent.idle_since)
    return ()


def score(
    strategy: Strategy,
    agent: AgentRecord,
    *,
    now: float,
    offset: int,
    config_order: dict[str, int],
    requirements: Requirements,
) -> Candidate:
    """Explain an eligible agent's rank; `offset` is its distance from where the walk began."""
    if strategy is Strategy.LONGEST_IDLE:
        idle = max(0.0, now - agent.idle_since)
        return Candidate(agent.agent_id, idle, f"idle {idle:.0f}s")
    if strategy is Strategy.FEWEST_CALLS:
        return Candidate(
            agent.agent_id, -float(agent.calls_handled), f"{agent.calls_handled} calls handled"
        )
    if strategy is Strategy.LEAST_TALK_TIME:
        talk = agent.talk_seconds
        return Candidate(agent.agent_id, -talk, f"talk time {talk:.0f}s")
    if strategy is Strategy.TOP_DOWN:
        position = order_position(config_order, agent.agent_id)
        listed = "unlisted" if position == len(config_order) else f"order position {position + 1}"
        return Candidate(agent.agent_id, -float(position), listed)
    if strategy is Strategy.ROUND_ROBIN:
        return Candidate(agent.agent_id, -float(offset), f"{offset + 1} after the cursor")
    if strategy is Strategy.RANDOM:
        return Candidate(agent.agent_id, -float(offset), f"{offset + 1} from the random draw")
    if strategy is Strategy.RING_ALL:
        return Candidate(agent.agent_id, 0.0, "rung with every eligible agent")
    skills = tuple(skill for skill, _ in requirements)
    total = skill_score(agent, skills)
    detail = ", ".join(f"{skill} {agent.skills.get(skill, 0)}" for skill in skills)
    return Candidate(agent.agent_id, float(total), f"proficiency {total} ({detail})")
