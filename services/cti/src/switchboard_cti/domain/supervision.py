"""The supervisor's live view: agents and calls per queue, computed from agent snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from switchboard_common.events.agents import AgentState

_STAFFED = {
    AgentState.AVAILABLE.value,
    AgentState.RESERVED.value,
    AgentState.ON_CALL.value,
    AgentState.ON_HOLD.value,
    AgentState.WRAP_UP.value,
    AgentState.NOT_READY.value,
}


def queue_summaries(
    agents: Iterable[Mapping[str, Any]], queue_names: Mapping[str, str], now: float
) -> list[dict[str, Any]]:
    """One entry per queue: agents by state, calls in progress (with how long) and members.

    An agent serves the queues of its profile; a call counts for the queue it came from."""
    summaries: dict[str, dict[str, Any]] = {
        queue_id: _empty(queue_id, name) for queue_id, name in queue_names.items()
    }
    for agent in agents:
        state = str(agent["state"])
        for queue_id in agent.get("queues", ()):
            summary = summaries.setdefault(queue_id, _empty(queue_id, queue_id))
            summary["agents"].append(agent["agent_id"])
            if state in _STAFFED:
                summary["by_state"][state] = summary["by_state"].get(state, 0) + 1
        call = agent.get("call")
        if call is not None and call.get("queue_id"):
            summary = summaries.setdefault(call["queue_id"], _empty(call["queue_id"], ""))
            answered = call.get("answered_at")
            summary["calls"].append(
                {
                    "call_id": call["call_id"],
                    "agent_id": agent["agent_id"],
                    "caller_number": call.get("caller_number", ""),
                    "held": bool(call.get("held")),
                    "talk_s": round(now - answered, 1) if answered else 0.0,
                }
            )
    return [summaries[key] for key in sorted(summaries)]


def _empty(queue_id: str, name: str) -> dict[str, Any]:
    return {
        "queue_id": queue_id,
        "name": name or queue_id,
        "by_state": {},
        "calls": [],
        "agents": [],
    }
