"""Agent events published by the cti service on `switchboard.agents.v1` (subject: agent id)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.events import topics
from switchboard_common.events.envelope import EventPayload, register


class AgentState(StrEnum):
    """Tenant-wide state of an agent, as the agent state machine in cti reports it."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ON_CALL = "on_call"
    ON_HOLD = "on_hold"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


class AgentSkill(BaseModel):
    """One skill of an agent and how good the agent is at it (1 = novice, 100 = expert)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    proficiency: int = Field(ge=1, le=100)


@register
class AgentStateChanged(EventPayload):
    EVENT_TYPE = "switchboard.agent.state_changed.v1"
    TOPIC = topics.AGENTS
    DESCRIPTION = (
        "An agent changed state (or skills / queues). Carries the agent's full routing profile "
        "so that a consumer can rebuild availability from the latest event alone."
    )

    agent_id: str = Field(min_length=1, max_length=128)
    state: AgentState
    reason: str = Field(default="", max_length=128, description="e.g. 'break', 'missed'")
    previous_state: AgentState | None = None
    duration_in_previous_state_s: float = Field(default=0.0, ge=0)
    skills: list[AgentSkill] = Field(default_factory=list)
    queues: list[str] = Field(default_factory=list, description="ids of the queues served")
    changed_at: datetime


@register
class AgentWrapUpCompleted(EventPayload):
    """An agent filed the wrap-up of a call."""

    EVENT_TYPE = "switchboard.agent.wrap_up_completed.v1"
    TOPIC = topics.AGENTS
    DESCRIPTION = "An agent filed the disposition (and notes) of a call after it ended."

    agent_id: str = Field(min_length=1, max_length=128)
    call_id: str | None = None
    queue_id: str | None = None
    disposition: str = Field(min_length=1, max_length=40)
    notes: str = Field(default="", max_length=4000)
    wrap_up_s: float = Field(ge=0, description="time spent in wrap-up")
    completed_at: datetime
