"""The routing engine (ACD) of one tenant: queues, agents, waiting calls and offers.

Event-driven and pure: every method takes `now` (epoch seconds) and returns what happened;
nothing here reads a clock, sleeps or does I/O. The adapters call:

- `configure_queue` / `delete_queue` on config events,
- `enqueue` on `CallEnqueued`, `caller_hung_up` on call end, `remove_call` when ivr takes a
  caller out,
- `agent_changed` on `AgentStateChanged`,
- `next_offers` after any of the above (it only looks at queues something happened to),
- `offer_result` when switch reports the bridge outcome,
- `tick` about once a second for timers (overflow after T, max wait, announcements, skill
  relaxation, sticky fallback, wrap-up end, lost offer outcomes),
- `snapshot` / `RoutingEngine.restore` when partitions move.

Waiting calls are ordered by effective priority = base + wait / aging_seconds. Because every
call of a queue ages at the same rate, the order only depends on
`entered_at - base * aging_seconds`, a constant: calls are kept in a sorted index under that
key and never re-sorted as time passes.
"""

from __future__ import annotations

import heapq
import math
import random
from enum import IntEnum

from switchboard_common.errors import NotFound, PreconditionFailed, ValidationFailed
from switchboard_common.events.agents import AgentState
from switchboard_routing.domain.config import (
    OverflowCondition,
    OverflowTarget,
    QueueConfig,
    Strategy,
    TargetKind,
)
from switchboard_routing.domain.decide import Decider, Evaluation, preferred_agent, requirements
from switchboard_routing.domain.model import (
    AgentUpdate,
    Announcement,
    CallLeft,
    CallRequest,
    EnqueueResult,
    LeaveReason,
    Offer,
    OfferOutcome,
    OfferResolution,
    Overflow,
    OverflowReason,
    QueueStatus,
    RoutingDecision,
    TickResult,
    WaitingCallStatus,
)
from switchboard_routing.domain.records import AgentRecord, QueueState, WaitingCall
from switchboard_routing.domain.snapshot import EngineSnapshot, Reservation
from switchboard_routing.domain.strategies import Requirements, ranking_key

RESERVATION_GRACE_SECONDS = 10.0
"""An offer whose outcome has not arrived ring timeout + this long after it began expires."""
SCAN_LIMIT_PER_QUEUE = 256
"""Unmatched calls looked at per queue in one `next_offers` round (the head comes first)."""
DEFAULT_FALLBACK = OverflowTarget(TargetKind.VOICEMAIL)
MISSED_REASON = "missed"
STAFFED_STATES = frozenset(
    {
        AgentState.AVAILABLE,
        AgentState.RESERVED,
        AgentState.ON_CALL,
        AgentState.ON_HOLD,
        AgentState.WRAP_UP,
    }
)
WORK_STATES = frozenset({AgentState.ON_CALL, AgentState.ON_HOLD})
FAILED_OUTCOMES = frozenset({OfferOutcome.NO_ANSWER, OfferOutcome.BUSY, OfferOutcome.FAILED})
REPORTABLE_OUTCOMES = FAILED_OUTCOMES | {OfferOutcome.ANSWERED}


class _Timer(IntEnum):
    ANNOUNCE = 0
    OVERFLOW_RULE = 1
    MAX_WAIT = 2
    REEVALUATE = 3
    RESERVATION = 4
    WRAP_UP_END = 5


_TimerEntry = tuple[float, int, _Timer, str, int, int]
"""(due, seq, kind, call/reservation/agent id, call generation, overflow rule index)."""


def _by_seq(call: WaitingCall) -> int:
    return call.seq


class RoutingEngine:
    """All routing state of one tenant, owned by one routing instance at a time (`epoch`)."""

    def __init__(
        self,
        tenant_id: str,
        *,
        epoch: int,
        rng: random.Random | None = None,
        fallback_target: OverflowTarget = DEFAULT_FALLBACK,
        runner_ups: int = 2,
        explain_limit: int = 50,
    ) -> None:
        if not tenant_id:
            raise ValidationFailed("tenant_id is empty", field="tenant_id")
        if epoch < 0:
            raise ValidationFailed("epoch must be >= 0", field="epoch")
        if fallback_target.kind is TargetKind.QUEUE:
            raise ValidationFailed("the fallback target cannot be a queue", field="fallback_target")
        self.tenant_id = tenant_id
        self.epoch = epoch
        self._fallback = fallback_target
        self._queues: dict[str, QueueState] = {}
        self._members: dict[str, set[str]] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._calls: dict[str, WaitingCall] = {}
        self._reservations: dict[str, Reservation] = {}
        self._timers: list[_TimerEntry] = []
        self._dirty: set[str] = set()
        self._no_agents_check: set[str] = set()
        self._seq = 0
        self._decider = Decider(
            agents=self._agents,
            members=self._members,
            rng=rng if rng is not None else random.Random(0),
            runner_ups=max(0, runner_ups),
            explain_limit=max(0, explain_limit),
        )

    # ------------------------------------------------------------------ read side

    @property
    def queue_ids(self) -> list[str]:
        return sorted(self._queues)

    def queue_config(self, queue_id: str) -> QueueConfig:
        return self._queue(queue_id).config

    def agent_state(self, agent_id: str) -> AgentState | None:
        agent = self._agents.get(agent_id)
        return agent.state if agent else None

    def agent_reservation(self, agent_id: str) -> str | None:
        agent = self._agents.get(agent_id)
        return agent.reservation_id if agent else None

    def reservations(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Live reservations: id -> (call id, agent ids)."""
        return {r.reservation_id: (r.call_id, r.agent_ids) for r in self._reservations.values()}

    def waiting_call_ids(self, queue_id: str) -> list[str]:
        """Calls waiting in a queue, best first (not counting calls being offered)."""
        return list(self._queue(queue_id).waiting)

    def call_queue(self, call_id: str) -> str | None:
        call = self._calls.get(call_id)
        return call.queue_id if call else None

    def is_call_ringing(self, call_id: str) -> bool:
        call = self._calls.get(call_id)
        return call is not None and call.reservation_id is not None

    def estimated_wait(self, queue_id: str) -> float | None:
        """Estimated wait in seconds for a caller entering now (None: nobody staffed)."""
        q = self._queue(queue_id)
        return self._estimated_wait(q, len(q.waiting))

    def queue_status(self, queue_id: str, now: float) -> QueueStatus:
        q = self._queue(queue_id)
        waiting = []
        for position, call_id in enumerate(q.waiting, start=1):
            call = self._calls[call_id]
            waiting.append(
                WaitingCallStatus(
                    call_id=call_id,
                    position=position,
                    waited_seconds=max(0.0, now - call.entered_at),
                    effective_priority=self._effective_priority(q.config, call, now),
                    vip_level=call.request.vip_level,
                )
            )
        ringing = sum(1 for r in self._reservations.values() if r.queue_id == queue_id)
        longest = max((w.waited_seconds for w in waiting), default=0.0)
        finished = q.answered + q.abandoned
        return QueueStatus(
            queue_id=queue_id,
            strategy=q.config.strategy,
            waiting=tuple(waiting),
            ringing=ringing,
            longest_wait_seconds=longest,
            agents_by_state={state.value: n for state, n in q.state_counts.items()},
            logged_in_agents=q.logged_in,
            available_agents=len(q.available),
            estimated_wait_seconds=self._estimated_wait(q, len(q.waiting)),
            average_handle_seconds=q.average_handle_seconds(),
            answered=q.answered,
            answered_within_service_level=q.answered_within_service_level,
            abandoned=q.abandoned,
            overflowed=q.overflowed,
            service_level=q.answered_within_service_level / finished if finished else None,
        )

    def explain(self, call_id: str, now: float) -> RoutingDecision:
        """What routing would decide for a call now, looking at every member of its queue.
        Changes nothing (random draws start at the front)."""
        call = self._call(call_id)
        q = self._queue(call.queue_id)
        evaluation = self._decider.evaluate(q, call, now, exhaustive=True)
        return self._decision(f"explain-{call_id}", q, call, evaluation, now)

    # ------------------------------------------------------------------ configuration

    def configure_queue(self, config: QueueConfig, now: float) -> None:
        """Create a queue or replace its configuration (calls keep their place in time)."""
        q = self._queues.get(config.queue_id)
        if q is None:
            q = QueueState(config)
            self._queues[config.queue_id] = q
            for agent_id in self._members.get(config.queue_id, ()):
                q.state_counts[self._agents[agent_id].state] += 1
        else:
            q.config = config
            q.order_pos = {agent: i for i, agent in enumerate(config.top_down_order)}
        self._rebuild_available(q)
        calls = [self._calls[call_id] for call_id in q.waiting]
        q.waiting.clear()
        for call in calls:
            self._set_call_key(q, call)
            q.waiting.add(call.call_id, call.key)
            self._schedule_call(call, q, now)
        if q.logged_in == 0:
            self._no_agents_check.add(q.queue_id)
        self._dirty.add(q.queue_id)

    def delete_queue(self, queue_id: str, now: float) -> tuple[Overflow, ...]:
        """Remove a queue; its waiting calls go to its exit target, else to its first overflow
        rule's target, else to the tenant fallback. Calls being offered follow when their
        offer fails."""
        q = self._queues.pop(queue_id, None)
        if q is None:
            raise NotFound(
                f"no queue {queue_id}", error_id="no-such-queue", details={"field": "queue_id"}
            )
        self._dirty.discard(queue_id)
        self._no_agents_check.discard(queue_id)
        target = q.config.exit_target
        if target is None and q.config.overflow_rules:
            target = q.config.overflow_rules[0].target
        target = target or self._fallback
        overflows: list[Overflow] = []
        for call_id in list(q.waiting):
            call = self._calls[call_id]
            q.waiting.discard(call_id)
            overflows.extend(self._overflow(call, OverflowReason.QUEUE_DELETED, target, now))
        for reservation in self._reservations.values():
            if reservation.queue_id == queue_id:
                self._calls[reservation.call_id].exit_target = target
        return tuple(overflows)

    # ------------------------------------------------------------------ calls

    def enqueue(self, request: CallRequest, now: float) -> EnqueueResult:
        if request.call_id in self._calls:
            raise ValidationFailed(
                f"call {request.call_id} is already queued",
                field="call_id",
                error_id="call-already-queued",
            )
        q = self._queue(request.queue_id)
        call = WaitingCall(request, seq=self._next_seq(), now=now)
        self._calls[request.call_id] = call
        overflows = self._admit(call, q, now)
        queued = request.call_id in self._calls
        final = self._queues.get(call.queue_id) if queued else None
        position = ahead = None
        if final is not None:
            position = final.waiting.index_of(call.call_id) + 1
            ahead = position - 1
        return EnqueueResult(
            call_id=request.call_id,
            queue_id=call.queue_id,
            queued=queued,
            position=position,
            estimated_wait_seconds=(
                self._estimated_wait(final, ahead)
                if final is not None and ahead is not None
                else None
            ),
            music_on_hold=final.config.music_on_hold if final is not None else "",
            overflows=tuple(overflows),
        )

    def caller_hung_up(self, call_id: str, now: float) -> CallLeft | None:
        """The caller left while waiting or ringing. None when the call is not (any more) ours,
        e.g. already answered: every call end can be passed in."""
        return self._leave(call_id, now, LeaveReason.ABANDONED)

    def remove_call(self, call_id: str, now: float) -> CallLeft | None:
        """Take a call out of its queue (the caller chose another option in ivr)."""
        return self._leave(call_id, now, LeaveReason.REMOVED)

    # ------------------------------------------------------------------ agents

    def agent_changed(self, update: AgentUpdate, now: float) -> bool:
        """Apply an agent's latest profile. False when it is older than what we know."""
        agent = self._agents.get(update.agent_id)
        if agent is None:
            agent = AgentRecord(update.agent_id, now=update.changed_at)
            self._agents[update.agent_id] = agent
        elif update.changed_at < agent.last_update_at:
            return False
        self._set_queues(agent, frozenset(update.queues))
        agent.skills = dict(update.skills)
        if update.previous_state in WORK_STATES and update.previous_state is not update.state:
            agent.talk_seconds += update.duration_in_previous_s
        self._track_call_end(agent, update, now)
        agent.reported_state = update.state
        agent.last_update_at = update.changed_at
        if agent.reservation_id is None:
            if update.state is AgentState.AVAILABLE and agent.state is not AgentState.AVAILABLE:
                agent.idle_since = update.changed_at
            agent.reason = update.reason
            self._set_state(agent, update.state)
        self._reindex(agent)
        return True

    # ------------------------------------------------------------------ offers

    def next_offers(self, now: float) -> list[Offer]:
        """Match waiting calls with available agents in the queues something happened to.

        Calls are taken by queue priority, then effective priority, then time in queue, so
        an agent serving several queues gets the call that should go first."""
        heads: list[tuple[int, float, float, int, str, str]] = []
        for queue_id in self._dirty:
            q = self._queues.get(queue_id)
            first = q.waiting.first() if q is not None else None
            if q is not None and first is not None and len(q.available):
                heads.append(self._head(q, self._calls[first], now))
        self._dirty.clear()
        heapq.heapify(heads)
        offers: list[Offer] = []
        failed: set[tuple[str, Requirements, str | None]] = set()
        misses: dict[str, int] = {}
        while heads:
            *_, queue_id, call_id = heapq.heappop(heads)
            q = self._queues[queue_id]
            call = self._calls[call_id]
            following = q.waiting.next_after(call.key, call_id)
            required, _ = requirements(q.config, call, now)
            signature = (queue_id, required, preferred_agent(q.config, call, now))
            matched = False
            if signature not in failed:
                evaluation = self._decider.evaluate(q, call, now, exhaustive=False)
                if evaluation.chosen:
                    offers.append(self._reserve(q, call, evaluation, now))
                    matched = True
                else:
                    failed.add(signature)
            if not matched:
                misses[queue_id] = misses.get(queue_id, 0) + 1
                if misses[queue_id] >= SCAN_LIMIT_PER_QUEUE:
                    self._dirty.add(queue_id)
                    continue
            if following is not None and len(q.available):
                heapq.heappush(heads, self._head(q, self._calls[following], now))
        return offers

    def offer_result(
        self,
        reservation_id: str,
        outcome: OfferOutcome,
        now: float,
        *,
        epoch: int,
        answered_by: str | None = None,
    ) -> OfferResolution:
        """The bridge outcome of an offer. answered: the call is connected and leaves the
        queue; no_answer / busy / failed: the agent goes not ready ('missed') and the call
        goes back to the head of its queue (ring-all agents are released, not penalised)."""
        self.check_epoch(epoch)
        reservation = self._reservations.get(reservation_id)
        if reservation is None:
            raise NotFound(
                f"no reservation {reservation_id}",
                error_id="no-such-reservation",
                details={"field": "reservation_id"},
            )
        if reservation.epoch != epoch:
            raise PreconditionFailed(
                "reservation made under another epoch",
                error_id="stale-epoch",
                details={"field": "epoch"},
            )
        if outcome not in REPORTABLE_OUTCOMES:
            raise ValidationFailed(f"{outcome} is not a bridge outcome", field="outcome")
        winner = None
        if outcome is OfferOutcome.ANSWERED:
            winner = answered_by
            if winner is None and len(reservation.agent_ids) == 1:
                winner = reservation.agent_ids[0]
            if winner not in reservation.agent_ids:
                raise ValidationFailed(
                    "answered_by must be one of the agents offered",
                    field="answered_by",
                    error_id="agent-not-offered",
                )
        return self._end_offer(reservation, outcome, now, winner)

    def check_epoch(self, epoch: int) -> None:
        """Reject a message from another partition owner generation."""
        if epoch < self.epoch:
            raise PreconditionFailed(
                f"epoch {epoch} is older than {self.epoch}",
                error_id="stale-epoch",
                details={"field": "epoch"},
            )
        if epoch > self.epoch:
            raise PreconditionFailed(
                f"epoch {epoch} is newer than this owner's {self.epoch}",
                error_id="epoch-fenced",
                details={"field": "epoch"},
            )

    def set_round_robin_cursor(self, queue_id: str, agent_id: str | None) -> None:
        """Rebuild the round-robin position (from the last `RoutingDecisionMade`)."""
        self._queue(queue_id).round_robin_cursor = agent_id

    # ------------------------------------------------------------------ timers

    def tick(self, now: float) -> TickResult:
        overflows: list[Overflow] = []
        announcements: list[Announcement] = []
        expired: list[OfferResolution] = []
        while self._timers and self._timers[0][0] <= now:
            due, _, kind, ref, generation, rule_index = heapq.heappop(self._timers)
            if kind is _Timer.RESERVATION:
                reservation = self._reservations.get(ref)
                if reservation is not None and reservation.expires_at <= now:
                    expired.append(self._end_offer(reservation, OfferOutcome.EXPIRED, now, None))
                continue
            if kind is _Timer.WRAP_UP_END:
                agent = self._agents.get(ref)
                if agent is not None and agent.routable:
                    self._dirty.update(agent.queues)
                continue
            call = self._calls.get(ref)
            if call is None or call.generation != generation or call.reservation_id is not None:
                continue
            q = self._queues.get(call.queue_id)
            if q is None:
                continue
            if kind is _Timer.ANNOUNCE:
                announcements.append(self._announce(q, call, due, now))
            elif kind is _Timer.OVERFLOW_RULE:
                rule = q.config.overflow_rules[rule_index]
                overflows.extend(self._overflow(call, OverflowReason.AFTER_WAIT, rule.target, now))
            elif kind is _Timer.MAX_WAIT:
                target = q.config.exit_target or self._fallback
                overflows.extend(self._overflow(call, OverflowReason.MAX_WAIT, target, now))
            else:
                self._dirty.add(q.queue_id)
        overflows.extend(self._overflow_unstaffed(now))
        return TickResult(
            overflows=tuple(overflows),
            announcements=tuple(announcements),
            expired_offers=tuple(expired),
        )

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> EngineSnapshot:
        """Everything needed to rebuild this engine elsewhere (see `restore`)."""
        return EngineSnapshot(
            tenant_id=self.tenant_id,
            epoch=self.epoch,
            seq=self._seq,
            queues=tuple(q.to_snapshot() for q in self._queues.values()),
            agents=tuple(a.to_snapshot() for a in self._agents.values()),
            calls=tuple(c.to_snapshot() for c in sorted(self._calls.values(), key=_by_seq)),
            reservations=tuple(self._reservations.values()),
        )

    @classmethod
    def restore(
        cls,
        snapshot: EngineSnapshot,
        *,
        epoch: int,
        now: float,
        rng: random.Random | None = None,
        fallback_target: OverflowTarget = DEFAULT_FALLBACK,
        runner_ups: int = 2,
        explain_limit: int = 50,
    ) -> tuple[RoutingEngine, tuple[OfferResolution, ...]]:
        """Rebuild an engine under a newer epoch. Offers the previous owner had in flight are
        revoked (agents released, calls back at the head of their queue): the adapter must
        cancel those bridges; their late outcomes are refused as stale."""
        if epoch <= snapshot.epoch:
            raise PreconditionFailed(
                f"epoch {epoch} must be newer than the snapshot's {snapshot.epoch}",
                error_id="stale-epoch",
                details={"field": "epoch"},
            )
        engine = cls(
            snapshot.tenant_id,
            epoch=epoch,
            rng=rng,
            fallback_target=fallback_target,
            runner_ups=runner_ups,
            explain_limit=explain_limit,
        )
        engine._load(snapshot, now)
        revoked = [
            engine._end_offer(r, OfferOutcome.REVOKED, now, None)
            for r in list(engine._reservations.values())
        ]
        return engine, tuple(revoked)

    def _load(self, snapshot: EngineSnapshot, now: float) -> None:
        self._seq = snapshot.seq
        for saved_queue in snapshot.queues:
            q = QueueState.from_snapshot(saved_queue)
            self._queues[q.queue_id] = q
        for saved_agent in snapshot.agents:
            agent = AgentRecord.from_snapshot(saved_agent)
            self._agents[agent.agent_id] = agent
            self._set_queues(agent, frozenset(saved_agent.queues))
            if agent.wrap_up_until > now:
                self._push_timer(agent.wrap_up_until, _Timer.WRAP_UP_END, agent.agent_id)
        self._reservations = {r.reservation_id: r for r in snapshot.reservations}
        for saved_call in snapshot.calls:
            call = WaitingCall.from_snapshot(saved_call)
            self._calls[call.call_id] = call
            home = self._queues.get(call.queue_id)
            if home is None:
                continue
            self._set_call_key(home, call)
            if call.reservation_id is None:
                home.waiting.add(call.call_id, call.key)
                self._schedule_call(call, home, now)
        self._check_snapshot()
        for q in self._queues.values():
            self._rebuild_available(q)
            if q.logged_in == 0:
                self._no_agents_check.add(q.queue_id)
        self._dirty.update(self._queues)

    def _check_snapshot(self) -> None:
        for reservation in self._reservations.values():
            call = self._calls.get(reservation.call_id)
            if (
                call is None
                or call.reservation_id != reservation.reservation_id
                or any(
                    self._agents.get(a) is None
                    or self._agents[a].reservation_id != reservation.reservation_id
                    for a in reservation.agent_ids
                )
            ):
                raise ValidationFailed(
                    "snapshot reservations do not match calls and agents",
                    field="reservations",
                    error_id="bad-routing-snapshot",
                )
        for call in self._calls.values():
            if call.reservation_id is None and call.queue_id not in self._queues:
                raise ValidationFailed(
                    f"call {call.call_id} waits in an unknown queue",
                    field="calls",
                    error_id="bad-routing-snapshot",
                )

    # ------------------------------------------------------------------ internals: calls

    def _queue(self, queue_id: str) -> QueueState:
        q = self._queues.get(queue_id)
        if q is None:
            raise NotFound(
                f"no queue {queue_id}", error_id="no-such-queue", details={"field": "queue_id"}
            )
        return q

    def _call(self, call_id: str) -> WaitingCall:
        call = self._calls.get(call_id)
        if call is None:
            raise NotFound(
                f"no call {call_id} in any queue",
                error_id="no-such-call",
                details={"field": "call_id"},
            )
        return call

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _admit(self, call: WaitingCall, q: QueueState, now: float) -> list[Overflow]:
        """Put a call (new, or overflowing from another queue) into `q`, unless an entry rule
        sends it on at once."""
        cfg = q.config
        call.queue_id = q.queue_id
        call.entered_at = now
        call.tier = 1
        call.visited = (*call.visited, q.queue_id)
        call.next_announcement_at = None
        self._set_call_key(q, call)
        if cfg.max_length is not None and len(q.waiting) >= cfg.max_length:
            return self._overflow(
                call, OverflowReason.MAX_LENGTH, cfg.exit_target or self._fallback, now
            )
        for rule in cfg.overflow_rules:
            if rule.condition is OverflowCondition.NO_AGENTS_LOGGED_IN and q.logged_in == 0:
                return self._overflow(call, OverflowReason.NO_AGENTS_LOGGED_IN, rule.target, now)
            if rule.condition is OverflowCondition.ESTIMATED_WAIT_ABOVE:
                estimate = self._estimated_wait(q, len(q.waiting))
                threshold = rule.threshold_seconds or 0.0
                if estimate is None or estimate > threshold:
                    return self._overflow(
                        call, OverflowReason.ESTIMATED_WAIT_ABOVE, rule.target, now
                    )
        q.waiting.add(call.call_id, call.key)
        self._schedule_call(call, q, now)
        self._dirty.add(q.queue_id)
        return []

    def _overflow(
        self, call: WaitingCall, reason: OverflowReason, target: OverflowTarget, now: float
    ) -> list[Overflow]:
        from_queue = call.queue_id
        q = self._queues.get(from_queue)
        if q is not None:
            q.waiting.discard(call.call_id)
            q.overflowed += 1
        call.generation += 1
        waited = max(0.0, now - call.entered_at)
        note = ""
        if target.kind is TargetKind.QUEUE:
            destination = self._queues.get(target.destination)
            if destination is not None and target.destination not in call.visited:
                moved = Overflow(
                    call.call_id,
                    call.request.node_id,
                    from_queue,
                    reason,
                    target,
                    waited,
                    moved=True,
                    at=now,
                )
                return [moved, *self._admit(call, destination, now)]
            note = (
                f"queue {target.destination} already visited"
                if destination is not None
                else f"queue {target.destination} does not exist"
            )
            target = self._fallback
        self._forget(call)
        return [
            Overflow(
                call.call_id,
                call.request.node_id,
                from_queue,
                reason,
                target,
                waited,
                moved=False,
                at=now,
                note=note,
            )
        ]

    def _overflow_unstaffed(self, now: float) -> list[Overflow]:
        overflows: list[Overflow] = []
        for queue_id in sorted(self._no_agents_check):
            q = self._queues.get(queue_id)
            if q is None or q.logged_in:
                continue
            rule = next(
                (
                    r
                    for r in q.config.overflow_rules
                    if r.condition is OverflowCondition.NO_AGENTS_LOGGED_IN
                ),
                None,
            )
            if rule is None:
                continue
            for call_id in list(q.waiting):
                overflows.extend(
                    self._overflow(
                        self._calls[call_id], OverflowReason.NO_AGENTS_LOGGED_IN, rule.target, now
                    )
                )
        self._no_agents_check.clear()
        return overflows

    def _leave(self, call_id: str, now: float, reason: LeaveReason) -> CallLeft | None:
        call = self._calls.get(call_id)
        if call is None:
            return None
        released: list[str] = []
        reservation_id = call.reservation_id
        if reservation_id is not None:
            reservation = self._reservations.pop(reservation_id)
            for agent_id in reservation.agent_ids:
                self._release(self._agents[agent_id])
                released.append(agent_id)
        q = self._queues.get(call.queue_id)
        if q is not None and reason is LeaveReason.ABANDONED:
            q.abandoned += 1
        self._forget(call)
        return CallLeft(
            call_id=call_id,
            queue_id=call.queue_id,
            node_id=call.request.node_id,
            reason=reason,
            waited_seconds=max(0.0, now - call.entered_at),
            while_ringing=reservation_id is not None,
            cancelled_reservation_id=reservation_id,
            released_agent_ids=tuple(released),
            at=now,
        )

    def _forget(self, call: WaitingCall) -> None:
        q = self._queues.get(call.queue_id)
        if q is not None:
            q.waiting.discard(call.call_id)
        call.generation += 1
        del self._calls[call.call_id]

    def _base_priority(self, cfg: QueueConfig, request: CallRequest) -> float:
        base = float(request.priority + request.vip_level * cfg.vip_weight)
        required = {req.skill for req in request.required_skills}
        for rule in cfg.priority_rules:
            if rule.min_vip_level is not None and request.vip_level < rule.min_vip_level:
                continue
            if rule.caller_number_prefix and not request.caller_number.startswith(
                rule.caller_number_prefix
            ):
                continue
            if rule.required_skill and rule.required_skill not in required:
                continue
            base += rule.boost
        return base

    def _set_call_key(self, q: QueueState, call: WaitingCall) -> None:
        cfg = q.config
        call.base_priority = self._base_priority(cfg, call.request)
        if cfg.aging_seconds is not None:
            call.key = (
                call.tier,
                call.entered_at - call.base_priority * cfg.aging_seconds,
                0.0,
                call.seq,
            )
        else:
            call.key = (call.tier, -call.base_priority, call.entered_at, call.seq)

    @staticmethod
    def _effective_priority(cfg: QueueConfig, call: WaitingCall, now: float) -> float:
        if cfg.aging_seconds is None:
            return call.base_priority
        return call.base_priority + max(0.0, now - call.entered_at) / cfg.aging_seconds

    def _head(
        self, q: QueueState, call: WaitingCall, now: float
    ) -> tuple[int, float, float, int, str, str]:
        return (
            -q.config.priority,
            -self._effective_priority(q.config, call, now),
            call.entered_at,
            call.seq,
            q.queue_id,
            call.call_id,
        )

    def _estimated_wait(self, q: QueueState, ahead: int) -> float | None:
        staffed = sum(q.state_counts[state] for state in STAFFED_STATES)
        if staffed == 0:
            return None
        free = len(q.available)
        if ahead < free:
            return 0.0
        return (ahead - free + 1) * q.average_handle_seconds() / staffed

    def _announce(self, q: QueueState, call: WaitingCall, due: float, now: float) -> Announcement:
        policy = q.config.announcements
        position = q.waiting.index_of(call.call_id) + 1
        interval = policy.interval_seconds or math.inf
        following = due + interval
        while following <= now:
            following += interval
        call.next_announcement_at = following
        self._push_timer(following, _Timer.ANNOUNCE, call.call_id, call.generation)
        return Announcement(
            call_id=call.call_id,
            node_id=call.request.node_id,
            queue_id=q.queue_id,
            position=position if policy.announce_position else None,
            estimated_wait_seconds=(
                self._estimated_wait(q, position - 1) if policy.announce_estimated_wait else None
            ),
            at=now,
        )

    def _schedule_call(self, call: WaitingCall, q: QueueState, now: float) -> None:
        """(Re)arm a waiting call's timers; earlier ones die with the old generation."""
        call.generation += 1
        cfg, start, generation = q.config, call.entered_at, call.generation
        for index, rule in enumerate(cfg.overflow_rules):
            if rule.condition is OverflowCondition.AFTER_WAIT:
                self._push_timer(
                    start + (rule.threshold_seconds or 0.0),
                    _Timer.OVERFLOW_RULE,
                    call.call_id,
                    generation,
                    index,
                )
        if cfg.max_wait_seconds is not None:
            self._push_timer(
                start + cfg.max_wait_seconds, _Timer.MAX_WAIT, call.call_id, generation
            )
        wakeups = [start + step.after_seconds for step in cfg.skill_relaxation]
        if cfg.strategy is Strategy.STICKY and call.request.preferred_agent_id:
            wakeups.append(start + cfg.sticky_fallback_seconds)
        for at in wakeups:
            if at > now:
                self._push_timer(at, _Timer.REEVALUATE, call.call_id, generation)
        interval = cfg.announcements.interval_seconds
        if interval is not None:
            if call.next_announcement_at is None:
                first = cfg.announcements.first_after_seconds
                call.next_announcement_at = start + (interval if first is None else first)
            self._push_timer(
                max(call.next_announcement_at, now), _Timer.ANNOUNCE, call.call_id, generation
            )

    def _push_timer(
        self, due: float, kind: _Timer, ref: str, generation: int = 0, rule_index: int = 0
    ) -> None:
        heapq.heappush(self._timers, (due, self._next_seq(), kind, ref, generation, rule_index))

    # ------------------------------------------------------------------ internals: agents

    def _set_queues(self, agent: AgentRecord, queues: frozenset[str]) -> None:
        if queues == agent.queues:
            return
        for queue_id in agent.queues - queues:
            self._members[queue_id].discard(agent.agent_id)
            q = self._queues.get(queue_id)
            if q is not None:
                q.state_counts[agent.state] -= 1
                q.available.discard(agent.agent_id)
                if q.logged_in == 0:
                    self._no_agents_check.add(queue_id)
        for queue_id in queues - agent.queues:
            self._members.setdefault(queue_id, set()).add(agent.agent_id)
            q = self._queues.get(queue_id)
            if q is not None:
                q.state_counts[agent.state] += 1
        agent.queues = queues

    def _set_state(self, agent: AgentRecord, state: AgentState) -> None:
        old = agent.state
        if old is state:
            return
        agent.state = state
        for queue_id in agent.queues:
            q = self._queues.get(queue_id)
            if q is None:
                continue
            q.state_counts[old] -= 1
            q.state_counts[state] += 1
            if state is AgentState.LOGGED_OUT and q.logged_in == 0:
                self._no_agents_check.add(queue_id)

    def _reindex(self, agent: AgentRecord) -> None:
        routable = agent.routable
        for queue_id in agent.queues:
            q = self._queues.get(queue_id)
            if q is None:
                continue
            if routable:
                q.available.add(
                    agent.agent_id, ranking_key(q.ranking_strategy, agent, q.config, q.order_pos)
                )
                if len(q.waiting):
                    self._dirty.add(queue_id)
            else:
                q.available.discard(agent.agent_id)

    def _rebuild_available(self, q: QueueState) -> None:
        q.available.clear()
        strategy = q.ranking_strategy
        for agent_id in self._members.get(q.queue_id, ()):
            agent = self._agents[agent_id]
            if agent.routable:
                q.available.add(agent_id, ranking_key(strategy, agent, q.config, q.order_pos))

    def _track_call_end(self, agent: AgentRecord, update: AgentUpdate, now: float) -> None:
        """Wrap-up gate and handle time of a call the agent answered from a queue."""
        queue_id = agent.call_queue_id
        if queue_id is None or update.state in WORK_STATES:
            return
        q = self._queues.get(queue_id)
        if agent.call_ended_at is None:
            agent.call_ended_at = update.changed_at
            wrap = q.config.wrap_up_seconds if q is not None else 0.0
            if wrap > 0:
                agent.wrap_up_until = update.changed_at + wrap
                self._push_timer(max(agent.wrap_up_until, now), _Timer.WRAP_UP_END, agent.agent_id)
        if update.state is AgentState.WRAP_UP:
            return
        if q is not None:
            q.handle_samples.append(max(0.0, update.changed_at - agent.answered_at))
        agent.call_queue_id = None
        agent.call_ended_at = None

    def _release(self, agent: AgentRecord) -> None:
        """End an agent's reservation without blame: back to what cti last reported."""
        agent.reservation_id = None
        reported = agent.reported_state
        self._set_state(
            agent,
            AgentState.AVAILABLE
            if reported in (AgentState.AVAILABLE, AgentState.RESERVED)
            else reported,
        )
        self._reindex(agent)

    # ------------------------------------------------------------------ internals: decisions

    def _decision(
        self,
        decision_id: str,
        q: QueueState,
        call: WaitingCall,
        evaluation: Evaluation,
        now: float,
        cursor: str | None = None,
    ) -> RoutingDecision:
        unavailable = {
            state.value: n
            for state, n in q.state_counts.items()
            if n and state is not AgentState.AVAILABLE
        }
        return RoutingDecision(
            decision_id=decision_id,
            call_id=call.call_id,
            queue_id=q.queue_id,
            strategy=evaluation.strategy,
            chosen_agent_ids=tuple(evaluation.chosen),
            candidates=tuple(evaluation.candidates),
            skipped=tuple(evaluation.skipped),
            skipped_not_listed=evaluation.skipped_not_listed,
            unavailable_by_state=unavailable,
            effective_priority=self._effective_priority(q.config, call, now),
            waited_seconds=max(0.0, now - call.entered_at),
            proficiency_relaxed_by=evaluation.relaxed_by,
            decided_at=now,
            note=evaluation.note,
            round_robin_cursor=cursor,
        )

    def _reserve(
        self, q: QueueState, call: WaitingCall, evaluation: Evaluation, now: float
    ) -> Offer:
        seq = self._next_seq()
        reservation_id = f"r-{self.tenant_id}-{self.epoch}-{seq}"
        cursor = None
        if evaluation.strategy is Strategy.ROUND_ROBIN:
            cursor = q.round_robin_cursor = evaluation.chosen[0]
        decision = self._decision(
            f"d-{self.tenant_id}-{self.epoch}-{seq}", q, call, evaluation, now, cursor
        )
        ring_timeout = q.config.ring_timeout_seconds
        reservation = Reservation(
            reservation_id=reservation_id,
            epoch=self.epoch,
            call_id=call.call_id,
            queue_id=q.queue_id,
            agent_ids=tuple(evaluation.chosen),
            ring_all=evaluation.strategy is Strategy.RING_ALL,
            created_at=now,
            expires_at=now + ring_timeout + RESERVATION_GRACE_SECONDS,
            decision_id=decision.decision_id,
        )
        self._reservations[reservation_id] = reservation
        for agent_id in reservation.agent_ids:
            agent = self._agents[agent_id]
            agent.reservation_id = reservation_id
            self._set_state(agent, AgentState.RESERVED)
            self._reindex(agent)
        q.waiting.discard(call.call_id)
        call.reservation_id = reservation_id
        call.generation += 1
        self._push_timer(reservation.expires_at, _Timer.RESERVATION, reservation_id)
        return Offer(
            reservation_id=reservation_id,
            epoch=self.epoch,
            call_id=call.call_id,
            queue_id=q.queue_id,
            node_id=call.request.node_id,
            agent_ids=reservation.agent_ids,
            decision=decision,
            offered_at=now,
            ring_timeout_seconds=ring_timeout,
            expires_at=reservation.expires_at,
        )

    def _end_offer(
        self, reservation: Reservation, outcome: OfferOutcome, now: float, winner: str | None
    ) -> OfferResolution:
        del self._reservations[reservation.reservation_id]
        call = self._calls[reservation.call_id]
        call.reservation_id = None
        penalise = outcome in FAILED_OUTCOMES and not reservation.ring_all
        missed: list[str] = []
        released: list[str] = []
        for agent_id in reservation.agent_ids:
            agent = self._agents[agent_id]
            if agent_id == winner:
                agent.reservation_id = None
                agent.calls_handled += 1
                agent.call_queue_id = reservation.queue_id
                agent.answered_at = now
                agent.call_ended_at = None
                agent.last_update_at = max(agent.last_update_at, now)
                self._set_state(agent, AgentState.ON_CALL)
                self._reindex(agent)
            elif penalise and agent.reported_state is not AgentState.LOGGED_OUT:
                agent.reservation_id = None
                agent.reason = MISSED_REASON
                agent.last_update_at = max(agent.last_update_at, now)
                self._set_state(agent, AgentState.NOT_READY)
                self._reindex(agent)
                missed.append(agent_id)
            else:
                self._release(agent)
                released.append(agent_id)
        waited = max(0.0, now - call.entered_at)
        q = self._queues.get(reservation.queue_id)
        if winner is not None:
            if q is not None:
                q.answered += 1
                if waited <= q.config.service_level_seconds:
                    q.answered_within_service_level += 1
            self._forget(call)
            return OfferResolution(
                reservation.reservation_id,
                call.call_id,
                reservation.queue_id,
                outcome,
                winner,
                (),
                tuple(released),
                requeued=False,
                waited_seconds=waited,
                at=now,
            )
        if q is None:
            overflows = self._overflow(
                call, OverflowReason.QUEUE_DELETED, call.exit_target or self._fallback, now
            )
        else:
            call.tier = 0
            self._set_call_key(q, call)
            q.waiting.add(call.call_id, call.key)
            self._schedule_call(call, q, now)
            self._dirty.add(q.queue_id)
            if q.logged_in == 0:
                self._no_agents_check.add(q.queue_id)
            overflows = []
        return OfferResolution(
            reservation.reservation_id,
            call.call_id,
            reservation.queue_id,
            outcome,
            None,
            tuple(missed),
            tuple(released),
            requeued=not overflows,
            waited_seconds=waited,
            at=now,
            overflows=tuple(overflows),
        )
