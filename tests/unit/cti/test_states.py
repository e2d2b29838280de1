"""The agent state machine, as pure functions."""

from __future__ import annotations

import pytest

from switchboard_common.events.agents import AgentState
from switchboard_cti.domain import states
from switchboard_cti.domain.states import AgentStatus, IllegalAgentTransition, WrapUpIncomplete

REASONS = ("break", "lunch")


def at(state: AgentState, since: float = 100.0, **kwargs: object) -> AgentStatus:
    return AgentStatus(state=state, since=since, **kwargs)  # type: ignore[arg-type]


def test_login_then_break_then_available_records_durations() -> None:
    change = states.request(at(AgentState.LOGGED_OUT), AgentState.AVAILABLE, 110.0)
    assert change.after.state is AgentState.AVAILABLE
    assert change.previous_state is AgentState.LOGGED_OUT
    assert change.duration_in_previous_s == 10.0
    pause = states.request(
        change.after, AgentState.NOT_READY, 130.0, reason="lunch", not_ready_reasons=REASONS
    )
    assert (pause.after.state, pause.after.reason, pause.after.since) == (
        AgentState.NOT_READY,
        "lunch",
        130.0,
    )
    assert pause.duration_in_previous_s == 20.0


def test_unknown_not_ready_reason_is_refused_naming_the_field() -> None:
    with pytest.raises(Exception) as caught:
        states.request(
            at(AgentState.AVAILABLE),
            AgentState.NOT_READY,
            1.0,
            reason="nap",
            not_ready_reasons=REASONS,
        )
    assert getattr(caught.value, "error_id", "") == "unknown-not-ready-reason"
    assert caught.value.details["field"] == "reason"  # type: ignore[attr-defined]


@pytest.mark.parametrize("state", [AgentState.RESERVED, AgentState.ON_CALL, AgentState.ON_HOLD])
@pytest.mark.parametrize("target", [AgentState.AVAILABLE, AgentState.LOGGED_OUT])
def test_agent_cannot_leave_a_call_by_asking(state: AgentState, target: AgentState) -> None:
    with pytest.raises(IllegalAgentTransition) as caught:
        states.request(at(state), target, 200.0)
    assert caught.value.error_id == "illegal-agent-transition"
    assert caught.value.details["current_state"] == state.value
    assert state.value in caught.value.message


@pytest.mark.parametrize("target", [AgentState.ON_CALL, AgentState.RESERVED, AgentState.WRAP_UP])
def test_call_states_cannot_be_requested(target: AgentState) -> None:
    with pytest.raises(IllegalAgentTransition):
        states.request(at(AgentState.AVAILABLE), target, 1.0)


def test_same_state_request_changes_nothing() -> None:
    status = at(AgentState.AVAILABLE, since=5.0)
    change = states.request(status, AgentState.AVAILABLE, 50.0)
    assert not change.changed
    assert change.after.since == 5.0
    assert change.duration_in_previous_s == 0.0


def test_full_call_cycle_with_wrap_up_timer() -> None:
    available = at(AgentState.AVAILABLE)
    reserved = states.offered(available, 101.0).after
    assert reserved.state is AgentState.RESERVED
    talking = states.answered(reserved, 103.0).after
    assert talking.state is AgentState.ON_CALL
    held = states.held(talking, 110.0).after
    assert held.state is AgentState.ON_HOLD
    back = states.resumed(held, 120.0).after
    ended = states.call_ended(back, 150.0, wrap_up_s=30.0, disposition_required=True)
    wrap = ended.after
    assert wrap.state is AgentState.WRAP_UP
    assert wrap.wrap_up_until == 180.0
    assert not wrap.disposition_done
    assert ended.duration_in_previous_s == 30.0
    # the timer runs out before the disposition: the agent stays in wrap-up
    expired = states.wrap_up_expired(wrap, 181.0).after
    assert expired.state is AgentState.WRAP_UP and expired.wrap_up_until is None
    with pytest.raises(WrapUpIncomplete):
        states.request(expired, AgentState.AVAILABLE, 182.0)
    done = states.wrap_up_submitted(expired, 185.0).after
    assert done.state is AgentState.AVAILABLE and done.disposition_done


def test_wrap_up_timer_releases_when_no_disposition_is_required() -> None:
    ended = states.call_ended(
        at(AgentState.ON_CALL), 10.0, wrap_up_s=5.0, disposition_required=False
    ).after
    assert states.wrap_up_expired(ended, 14.9).after.state is AgentState.WRAP_UP
    assert states.wrap_up_expired(ended, 15.0).after.state is AgentState.AVAILABLE


def test_no_timer_and_no_disposition_means_straight_back_to_available() -> None:
    change = states.call_ended(
        at(AgentState.ON_HOLD), 10.0, wrap_up_s=0, disposition_required=False
    )
    assert change.after.state is AgentState.AVAILABLE


def test_call_ending_while_ringing_returns_the_agent_to_available() -> None:
    change = states.call_ended(
        at(AgentState.RESERVED), 5.0, wrap_up_s=30, disposition_required=True
    )
    assert change.after.state is AgentState.AVAILABLE


def test_missed_offer_makes_the_agent_not_ready_missed_and_release_does_not() -> None:
    missed = states.offer_failed(at(AgentState.RESERVED), 9.0, missed=True).after
    assert (missed.state, missed.reason) == (AgentState.NOT_READY, states.MISSED_REASON)
    released = states.offer_failed(at(AgentState.RESERVED), 9.0, missed=False).after
    assert released.state is AgentState.AVAILABLE
    assert not states.offer_failed(at(AgentState.ON_CALL), 9.0, missed=True).changed


@pytest.mark.parametrize(
    "state", [AgentState.LOGGED_OUT, AgentState.RESERVED, AgentState.ON_CALL, AgentState.ON_HOLD]
)
def test_offer_refused_outside_idle_states(state: AgentState) -> None:
    with pytest.raises(IllegalAgentTransition):
        states.offered(at(state), 1.0)


def test_hold_only_on_a_call() -> None:
    with pytest.raises(IllegalAgentTransition):
        states.held(at(AgentState.AVAILABLE), 1.0)
    with pytest.raises(IllegalAgentTransition):
        states.resumed(at(AgentState.WRAP_UP), 1.0)


def test_supervisor_force_skips_disposition_but_not_calls() -> None:
    wrap = at(AgentState.WRAP_UP, disposition_done=False)
    forced = states.force(wrap, AgentState.NOT_READY, 5.0).after
    assert (forced.state, forced.reason, forced.disposition_done) == (
        AgentState.NOT_READY,
        states.SUPERVISOR_REASON,
        True,
    )
    with pytest.raises(IllegalAgentTransition) as caught:
        states.force(at(AgentState.ON_CALL), AgentState.LOGGED_OUT, 5.0)
    assert caught.value.details["current_state"] == "on_call"


def test_wrap_up_submission_to_a_break() -> None:
    wrap = at(AgentState.WRAP_UP, disposition_done=False)
    after = states.wrap_up_submitted(
        wrap, 3.0, next_state=AgentState.NOT_READY, reason="break", not_ready_reasons=REASONS
    ).after
    assert (after.state, after.reason) == (AgentState.NOT_READY, "break")
    with pytest.raises(IllegalAgentTransition):
        states.wrap_up_submitted(at(AgentState.AVAILABLE), 3.0)


def test_lost_desktop_only_moves_an_available_agent() -> None:
    assert states.desktop_lost(at(AgentState.AVAILABLE), 2.0).after.reason == "desktop-lost"
    for state in (AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.NOT_READY):
        assert not states.desktop_lost(at(state), 2.0).changed
