"""The agent state machine.

States (`AgentState`): logged_out, available, reserved (a call rings), on_call, on_hold,
wrap_up, not_ready (with a reason). Agents ask for available / not_ready / logged_out from
their desktop; supervisors may force those three; everything else follows the call: routing's
offer reserves the agent, the bridge puts it on the call, hold/unhold, the hang-up starts
wrap-up (timer from the queue; disposition and notes as the tenant requires), a missed offer
makes it not ready with reason "missed".

Every function takes the current `AgentStatus` and `now` (epoch seconds) and returns a
`StateChange`, or raises `IllegalAgentTransition` naming the current state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from switchboard_common.errors import PreconditionFailed, ValidationFailed
from switchboard_common.events.agents import AgentState

MISSED_REASON = "missed"
SUPERVISOR_REASON = "supervisor"
DISCONNECTED_REASON = "desktop-lost"

CALL_STATES = frozenset({AgentState.RESERVED, AgentState.ON_CALL, AgentState.ON_HOLD})
TALKING_STATES = frozenset({AgentState.ON_CALL, AgentState.ON_HOLD})
REQUESTABLE_STATES = frozenset({AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.LOGGED_OUT})


class IllegalAgentTransition(PreconditionFailed):
    """A change the state machine refuses; details carry the current state."""

    error_id = "illegal-agent-transition"

    def __init__(self, current: AgentState, requested: str, why: str = "") -> None:
        text = f"agent is {current.value}: cannot {requested}"
        super().__init__(
            f"{text} ({why})" if why else text,
            details={"current_state": current.value, "requested": requested},
        )


class WrapUpIncomplete(PreconditionFailed):
    """The tenant requires a disposition (and maybe notes) before leaving wrap-up."""

    error_id = "wrap-up-incomplete"


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """Where an agent is in the state machine."""

    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    since: float = 0.0
    wrap_up_until: float | None = None
    """When the wrap-up timer ends; None when no timer runs."""
    disposition_done: bool = True
    """False while a disposition the tenant requires is missing for the last call."""

    @property
    def on_a_call(self) -> bool:
        return self.state in CALL_STATES


@dataclass(frozen=True, slots=True)
class StateChange:
    before: AgentStatus
    after: AgentStatus

    @property
    def changed(self) -> bool:
        """True when the state or the reason moved (what is announced)."""
        return (self.before.state, self.before.reason) != (self.after.state, self.after.reason)

    @property
    def previous_state(self) -> AgentState:
        return self.before.state

    @property
    def duration_in_previous_s(self) -> float:
        return max(0.0, self.after.since - self.before.since) if self.changed else 0.0


def _move(
    status: AgentStatus,
    state: AgentState,
    now: float,
    *,
    reason: str = "",
    wrap_up_until: float | None = None,
    disposition_done: bool | None = None,
) -> StateChange:
    moved = (status.state, status.reason) != (state, reason)
    after = replace(
        status,
        state=state,
        reason=reason,
        since=now if moved else status.since,
        wrap_up_until=wrap_up_until,
        disposition_done=status.disposition_done if disposition_done is None else disposition_done,
    )
    return StateChange(status, after)


def _unchanged(status: AgentStatus) -> StateChange:
    return StateChange(status, status)


def check_not_ready_reason(reason: str, allowed: tuple[str, ...]) -> str:
    """The reason, if the tenant defines it; 422 `unknown-not-ready-reason` otherwise."""
    if reason not in allowed:
        raise ValidationFailed(
            f"unknown not-ready reason {reason!r}",
            field="reason",
            error_id="unknown-not-ready-reason",
            details={"allowed": list(allowed)},
        )
    return reason


def request(
    status: AgentStatus,
    target: AgentState,
    now: float,
    *,
    reason: str = "",
    not_ready_reasons: tuple[str, ...] = (),
) -> StateChange:
    """What the agent asks from the desktop: available, not_ready (reason) or logged_out."""
    if target not in REQUESTABLE_STATES:
        raise IllegalAgentTransition(
            status.state, f"go {target.value}", "only call events lead there"
        )
    if status.on_a_call:
        raise IllegalAgentTransition(status.state, f"go {target.value}", "a call is in progress")
    if target is AgentState.NOT_READY:
        check_not_ready_reason(reason, not_ready_reasons)
    if status.state is AgentState.WRAP_UP and not status.disposition_done:
        raise WrapUpIncomplete(
            "submit the wrap-up (disposition) before leaving wrap-up",
            details={"field": "disposition", "current_state": status.state.value},
        )
    return _move(status, target, now, reason=reason if target is AgentState.NOT_READY else "")


def force(status: AgentStatus, target: AgentState, now: float, *, reason: str = "") -> StateChange:
    """A supervisor's order: available, not_ready or logged_out, unless a call is on."""
    if target not in REQUESTABLE_STATES:
        raise IllegalAgentTransition(
            status.state, f"be forced {target.value}", "only call events lead there"
        )
    if status.on_a_call:
        raise IllegalAgentTransition(
            status.state, f"be forced {target.value}", "a call is in progress"
        )
    reason = (reason or SUPERVISOR_REASON) if target is AgentState.NOT_READY else ""
    return _move(status, target, now, reason=reason, disposition_done=True)


def offered(status: AgentStatus, now: float) -> StateChange:
    """Routing reserved the agent for a call: its phone is about to ring."""
    if status.state in (AgentState.LOGGED_OUT, *CALL_STATES):
        raise IllegalAgentTransition(status.state, "be offered a call")
    return _move(status, AgentState.RESERVED, now)


def answered(status: AgentStatus, now: float) -> StateChange:
    """The call was connected to the agent."""
    if status.state is AgentState.LOGGED_OUT:
        raise IllegalAgentTransition(status.state, "take a call")
    if status.state in TALKING_STATES:
        return _unchanged(status)
    return _move(status, AgentState.ON_CALL, now, disposition_done=True)


def held(status: AgentStatus, now: float) -> StateChange:
    if status.state is AgentState.ON_HOLD:
        return _unchanged(status)
    if status.state is not AgentState.ON_CALL:
        raise IllegalAgentTransition(status.state, "hold a call")
    return _move(status, AgentState.ON_HOLD, now)


def resumed(status: AgentStatus, now: float) -> StateChange:
    if status.state is AgentState.ON_CALL:
        return _unchanged(status)
    if status.state is not AgentState.ON_HOLD:
        raise IllegalAgentTransition(status.state, "resume a call")
    return _move(status, AgentState.ON_CALL, now)


def call_ended(
    status: AgentStatus, now: float, *, wrap_up_s: float, disposition_required: bool
) -> StateChange:
    """The agent's call is over: wrap-up (with a timer when `wrap_up_s` > 0); straight back
    to available when there is neither a timer nor a required disposition. A call that ends
    while still ringing (caller gone) returns the agent to available."""
    if status.state is AgentState.RESERVED:
        return _move(status, AgentState.AVAILABLE, now)
    if status.state not in TALKING_STATES:
        return _unchanged(status)
    if wrap_up_s <= 0 and not disposition_required:
        return _move(status, AgentState.AVAILABLE, now, disposition_done=True)
    return _move(
        status,
        AgentState.WRAP_UP,
        now,
        wrap_up_until=now + wrap_up_s if wrap_up_s > 0 else None,
        disposition_done=not disposition_required,
    )


def offer_failed(status: AgentStatus, now: float, *, missed: bool) -> StateChange:
    """The offer ended unanswered: not ready ('missed') when the agent let it ring out,
    available when only released. Nothing changes outside `reserved`."""
    if status.state is not AgentState.RESERVED:
        return _unchanged(status)
    if missed:
        return _move(status, AgentState.NOT_READY, now, reason=MISSED_REASON)
    return _move(status, AgentState.AVAILABLE, now)


def wrap_up_submitted(
    status: AgentStatus,
    now: float,
    *,
    next_state: AgentState = AgentState.AVAILABLE,
    reason: str = "",
    not_ready_reasons: tuple[str, ...] = (),
) -> StateChange:
    """The agent filed the wrap-up: on to `next_state` (available, or not_ready with a
    tenant reason)."""
    if status.state is not AgentState.WRAP_UP:
        raise IllegalAgentTransition(status.state, "submit a wrap-up", "not in wrap-up")
    if next_state not in (AgentState.AVAILABLE, AgentState.NOT_READY):
        raise IllegalAgentTransition(status.state, f"go {next_state.value} after wrap-up")
    if next_state is AgentState.NOT_READY:
        check_not_ready_reason(reason, not_ready_reasons)
    return _move(
        status,
        next_state,
        now,
        reason=reason if next_state is AgentState.NOT_READY else "",
        disposition_done=True,
    )


def wrap_up_expired(status: AgentStatus, now: float) -> StateChange:
    """The wrap-up timer ran out: available, unless a required disposition is missing (the
    agent then stays in wrap-up until it is filed)."""
    if status.state is not AgentState.WRAP_UP or status.wrap_up_until is None:
        return _unchanged(status)
    if now < status.wrap_up_until:
        return _unchanged(status)
    if not status.disposition_done:
        return StateChange(status, replace(status, wrap_up_until=None))
    return _move(status, AgentState.AVAILABLE, now)


def desktop_lost(status: AgentStatus, now: float) -> StateChange:
    """No desktop came back: an available agent must not be offered calls it cannot see."""
    if status.state is not AgentState.AVAILABLE:
        return _unchanged(status)
    return _move(status, AgentState.NOT_READY, now, reason=DISCONNECTED_REASON)
