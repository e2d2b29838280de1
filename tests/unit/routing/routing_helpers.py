"""Builders shared by the routing unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchboard_routing.domain import (
    AgentState,
    AgentUpdate,
    CallRequest,
    Offer,
    QueueConfig,
    RoutingEngine,
)

TENANT = "acme"


def make_engine(
    *queues: QueueConfig, epoch: int = 1, now: float = 0.0, **kwargs: Any
) -> RoutingEngine:
    engine = RoutingEngine(TENANT, epoch=epoch, **kwargs)
    for config in queues:
        engine.configure_queue(config, now)
    return engine


def set_agent(
    engine: RoutingEngine,
    agent_id: str,
    *queues: str,
    at: float,
    state: AgentState = AgentState.AVAILABLE,
    skills: Mapping[str, int] | None = None,
    previous: AgentState | None = None,
    previous_for: float = 0.0,
    reason: str = "",
) -> bool:
    return engine.agent_changed(
        AgentUpdate(
            agent_id=agent_id,
            state=state,
            changed_at=at,
            reason=reason,
            skills=dict(skills or {}),
            queues=queues,
            previous_state=previous,
            duration_in_previous_s=previous_for,
        ),
        at,
    )


def call(call_id: str, queue_id: str, **kwargs: Any) -> CallRequest:
    return CallRequest(call_id=call_id, queue_id=queue_id, node_id="fs1", **kwargs)


def only_offer(engine: RoutingEngine, now: float) -> Offer:
    offers = engine.next_offers(now)
    assert len(offers) == 1, offers
    return offers[0]
