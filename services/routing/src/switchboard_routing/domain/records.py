"""Mutable bookkeeping the engine keeps per agent, waiting call, queue and reservation."""

from __future__ import annotations

from collections import deque

from switchboard_common.events.agents import AgentState
from switchboard_routing.domain.config import OverflowTarget, QueueConfig, Strategy
from switchboard_routing.domain.model import CallRequest
from switchboard_routing.domain.ranked import RankedSet, SortKey
from switchboard_routing.domain.snapshot import AgentSnapshot, CallSnapshot, QueueSnapshot

HANDLE_SAMPLES = 100
"""How many recent handle times the estimated wait averages."""


class AgentRecord:
    """The engine's view of an agent. `state` is the reported state, overridden locally while
    the engine holds a reservation (RESERVED) or has just resolved one (ON_CALL, NOT_READY)."""

    __slots__ = (
        "agent_id",
        "answered_at",
        "call_ended_at",
        "call_queue_id",
        "calls_handled",
        "idle_since",
        "last_update_at",
        "queues",
        "reason",
        "reported_state",
        "reservation_id",
        "skills",
        "state",
        "talk_seconds",
        "wrap_up_until",
    )

    def __init__(self, agent_id: str, *, now: float) -> None:
        self.agent_id = agent_id
        self.state = AgentState.LOGGED_OUT
        self.reported_state = AgentState.LOGGED_OUT
        self.reason = ""
        self.skills: dict[str, int] = {}
        self.queues: frozenset[str] = frozenset()
        self.last_update_at = now
        self.idle_since = now
        self.calls_handled = 0
        self.talk_seconds = 0.0
        self.wrap_up_until = 0.0
        self.reservation_id: str | None = None
        self.call_queue_id: str | None = None
        """Queue of the call the agent answered from routing, until its handle time is known."""
        self.answered_at = 0.0
        self.call_ended_at: float | None = None

    @property
    def routable(self) -> bool:
        return self.state is AgentState.AVAILABLE and self.reservation_id is None

    def to_snapshot(self) -> AgentSnapshot:
        return AgentSnapshot(
            agent_id=self.agent_id, state=self.state, reported_state=self.reported_state,
            last_update_at=self.last_update_at, idle_since=self.idle_since, reason=self.reason,
            skills=dict(self.skills), queues=tuple(sorted(self.queues)),
            calls_handled=self.calls_handled, talk_seconds=self.talk_seconds,
            wrap_up_until=self.wrap_up_until, reservation_id=self.reservation_id,
            call_queue_id=self.call_queue_id, answered_at=self.answered_at,
            call_ended_at=self.call_ended_at,
        )  # fmt: skip

    @classmethod
    def from_snapshot(cls, saved: AgentSnapshot) -> AgentRecord:
        """The agent without its queues (the engine sets those, to count members)."""
        agent = cls(saved.agent_id, now=saved.last_update_at)
        agent.state, agent.reported_state, agent.reason = (
            saved.state, saved.reported_state, saved.reason)  # fmt: skip
        agent.skills = dict(saved.skills)
        agent.idle_since, agent.calls_handled = saved.idle_since, saved.calls_handled
        agent.talk_seconds, agent.wrap_up_until = saved.talk_seconds, saved.wrap_up_until
        agent.reservation_id, agent.call_queue_id = saved.reservation_id, saved.call_queue_id
        agent.answered_at, agent.call_ended_at = saved.answered_at, saved.call_ended_at
        return agent


class WaitingCall:
    """A call the engine holds: waiting in `queue_id` (reservation_id None) or being offered."""

    __slots__ = (
        "base_priority",
        "entered_at",
        "exit_target",
        "first_enqueued_at",
        "generation",
        "key",
        "next_announcement_at",
        "queue_id",
        "request",
        "reservation_id",
        "seq",
        "tier",
        "visited",
    )

    def __init__(self, request: CallRequest, *, seq: int, now: float) -> None:
        self.request = request
        self.seq = seq
        self.queue_id = request.queue_id
        self.first_enqueued_at = now
        self.entered_at = now
        self.base_priority = 0.0
        self.tier = 1
        """0 for a call back from a failed offer: it goes ahead of every tier-1 call."""
        self.key: SortKey = ()
        self.generation = 0
        """Bumped whenever the call's timers are rescheduled; older timers are ignored."""
        self.next_announcement_at: float | None = None
        self.visited: tuple[str, ...] = ()
        self.reservation_id: str | None = None
        self.exit_target: OverflowTarget | None = None
        """Set when the call's queue was deleted while the call was being offered."""

    @property
    def call_id(self) -> str:
        return self.request.call_id

    def to_snapshot(self) -> CallSnapshot:
        return CallSnapshot(
            request=self.request, queue_id=self.queue_id, seq=self.seq,
            first_enqueued_at=self.first_enqueued_at, entered_at=self.entered_at,
            tier=self.tier, next_announcement_at=self.next_announcement_at,
            visited=self.visited, reservation_id=self.reservation_id,
            exit_target=self.exit_target,
        )  # fmt: skip

    @classmethod
    def from_snapshot(cls, saved: CallSnapshot) -> WaitingCall:
        """The call without its sort key (the engine computes it from its queue)."""
        call = cls(saved.request, seq=saved.seq, now=saved.first_enqueued_at)
        call.queue_id, call.entered_at, call.tier = saved.queue_id, saved.entered_at, saved.tier
        call.next_announcement_at, call.visited = saved.next_announcement_at, saved.visited
        call.reservation_id, call.exit_target = saved.reservation_id, saved.exit_target
        return call


class QueueState:
    __slots__ = (
        "abandoned",
        "answered",
        "answered_within_service_level",
        "available",
        "config",
        "handle_samples",
        "order_pos",
        "overflowed",
        "round_robin_cursor",
        "state_counts",
        "waiting",
    )

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self.available = RankedSet()
        """Members that are available and not reserved, in the strategy's order."""
        self.waiting = RankedSet()
        """Calls waiting (not being offered), best first."""
        self.order_pos = {agent: i for i, agent in enumerate(config.top_down_order)}
        self.state_counts = dict.fromkeys(AgentState, 0)
        self.round_robin_cursor: str | None = None
        self.handle_samples: deque[float] = deque(maxlen=HANDLE_SAMPLES)
        self.answered = 0
        self.answered_within_service_level = 0
        self.abandoned = 0
        self.overflowed = 0

    @property
    def queue_id(self) -> str:
        return self.config.queue_id

    @property
    def ranking_strategy(self) -> Strategy:
        """The strategy the available index is ordered for (sticky ranks by its fallback)."""
        strategy = self.config.strategy
        return self.config.sticky_fallback_strategy if strategy is Strategy.STICKY else strategy

    @property
    def logged_in(self) -> int:
        return sum(self.state_counts.values()) - self.state_counts[AgentState.LOGGED_OUT]

    def to_snapshot(self) -> QueueSnapshot:
        return QueueSnapshot(
            config=self.config, round_robin_cursor=self.round_robin_cursor,
            handle_samples=tuple(self.handle_samples), answered=self.answered,
            answered_within_service_level=self.answered_within_service_level,
            abandoned=self.abandoned, overflowed=self.overflowed,
        )  # fmt: skip

    @classmethod
    def from_snapshot(cls, saved: QueueSnapshot) -> QueueState:
        """The queue without its agent index and waiting calls (the engine rebuilds those)."""
        q = cls(saved.config)
        q.round_robin_cursor = saved.round_robin_cursor
        q.handle_samples.extend(saved.handle_samples)
        q.answered, q.abandoned, q.overflowed = saved.answered, saved.abandoned, saved.overflowed
        q.answered_within_service_level = saved.answered_within_service_level
        return q

    def average_handle_seconds(self) -> float:
        if not self.handle_samples:
            return self.config.default_handle_seconds
        return sum(self.handle_samples) / len(self.handle_samples)
