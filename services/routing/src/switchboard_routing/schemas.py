"""What the REST API (and the gRPC API, through conversions) shows of routing."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.events.queues import RoutingDecisionMade
from switchboard_routing.domain import QueueStatus
from switchboard_routing.domain.translate import from_epoch

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
ExplanationSource = Literal["offer", "live"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class QueuePublic(_Out):
    id: str
    name: str
    version: int = Field(description="goes up by one with every change")
    config: dict[str, Any] = Field(
        description="the full queue configuration (strategy, skills, timers, overflow, ...)"
    )
    created_at: datetime
    updated_at: datetime


class WaitingCallPublic(_Out):
    call_id: str
    position: int
    waited_s: float
    effective_priority: float
    vip_level: int


class QueueStatusPublic(_Out):
    queue_id: str
    strategy: str
    waiting: list[WaitingCallPublic] = Field(description="calls waiting, best first")
    ringing: int = Field(description="calls being offered to an agent now")
    longest_wait_s: float
    agents_by_state: dict[str, int]
    logged_in_agents: int
    available_agents: int
    estimated_wait_s: float | None = Field(description="for a caller entering now")
    average_handle_s: float
    answered: int
    answered_within_service_level: int
    abandoned: int
    overflowed: int
    service_level: float | None
    as_of: datetime
    epoch: int = Field(description="partition-owner epoch of the instance that answered")

    @classmethod
    def of(cls, status: QueueStatus, *, at: float, epoch: int) -> QueueStatusPublic:
        return cls(
            queue_id=status.queue_id,
            strategy=status.strategy.value,
            waiting=[
                WaitingCallPublic(
                    call_id=w.call_id,
                    position=w.position,
                    waited_s=w.waited_seconds,
                    effective_priority=w.effective_priority,
                    vip_level=w.vip_level,
                )
                for w in status.waiting
            ],
            ringing=status.ringing,
            longest_wait_s=status.longest_wait_seconds,
            agents_by_state=dict(status.agents_by_state),
            logged_in_agents=status.logged_in_agents,
            available_agents=status.available_agents,
            estimated_wait_s=status.estimated_wait_seconds,
            average_handle_s=status.average_handle_seconds,
            answered=status.answered,
            answered_within_service_level=status.answered_within_service_level,
            abandoned=status.abandoned,
            overflowed=status.overflowed,
            service_level=status.service_level,
            as_of=from_epoch(at),
            epoch=epoch,
        )


class ExplanationPublic(_Out):
    call_id: str
    source: ExplanationSource = Field(
        description="offer: the decision behind the call's latest offer; live: the call was "
        "never offered, this is what routing would decide for it now"
    )
    decision: RoutingDecisionMade


class ErlangCFigures(_Out):
    agents: int = Field(description="agents needed on the phones")
    scheduled_agents: int = Field(description="agents to schedule, shrinkage included")
    probability_of_waiting: float
    service_level: float
    average_speed_of_answer_s: float | None = Field(description="null when understaffed")
    occupancy: float


class ErlangAFigures(_Out):
    patience_s: float
    agents: int
    scheduled_agents: int
    probability_of_waiting: float
    probability_of_abandon: float
    service_level: float
    average_wait_s: float
    occupancy: float


class StaffingPublic(_Out):
    queue_id: str
    interval_s: float
    source: Literal["recorded", "given"] = Field(
        description="recorded: calls measured over `lookback_s`, scaled to the interval"
    )
    lookback_s: float | None
    calls: float = Field(description="calls arriving per interval")
    aht_s: float = Field(description="average handle time used")
    aht_source: Literal["measured", "given", "queue_default"]
    traffic_erlangs: float
    target_service_level: float
    target_answer_s: float
    shrinkage: float
    max_occupancy: float
    erlang_c: ErlangCFigures
    erlang_a: ErlangAFigures | None = Field(
        description="with callers abandoning (Erlang A), when `patience` is given and calls > 0"
    )


class RoutingStatsPublic(_Out):
    """Counts since this instance started (for `switchboard up`'s summary)."""

    calls_enqueued: int
    calls_offered: int
    calls_answered: int
    calls_abandoned: int
    calls_overflowed: int
    offers_failed: int
    results_refused: int
    calls_in_progress: int
    owned_partitions: list[int]
