"""Reminders and escalations driven by a controllable clock: order, once only, re-arming."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard_common.errors import ValidationFailed
from switchboard_common.events.tickets import TicketEscalated, TicketReminderDue
from switchboard_tickets.domain import (
    Action,
    EscalationLevel,
    EscalationPolicy,
    Impact,
    Ticket,
    TicketDraft,
    TicketPolicy,
    Urgency,
    due_actions,
    next_wakeup,
    open_ticket,
    resolve,
    start_work,
    update_details,
    wait_for_customer,
)
from switchboard_tickets.domain.events import action_event

PARIS = ZoneInfo("Europe/Paris")
MakeTicket = Callable[..., Ticket]


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


class Timer:
    """A restart-proof timer: remembers fired keys, wakes when `next_wakeup` says."""

    def __init__(self) -> None:
        self.fired: set[str] = set()
        self.log: list[tuple[datetime, Action]] = []

    def tick(self, ticket: Ticket, now: datetime) -> list[Action]:
        actions = due_actions(ticket, now, self.fired)
        for action in actions:
            assert action.key not in self.fired, "fired twice"
            self.fired.add(action.key)
            self.log.append((now, action))
        return actions

    def run_until(self, ticket: Ticket, until: datetime, start: datetime) -> None:
        """Sleep to each wake-up and fire, as a real timer loop would."""
        now = start
        while True:
            wakeup = next_wakeup(ticket, self.fired)
            if wakeup is None or wakeup > until:
                return
            now = max(now, wakeup)
            assert self.tick(ticket, now), "woken up for nothing"

    def labels(self) -> list[str]:
        return [f"{action.kind}:{action.level}" for _, action in self.log]


def test_checkpoints_of_a_fresh_p1_ticket(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-1")  # Mon 6 May 09:00, due 14:00
    clock = ticket.resolution_clock
    assert clock is not None
    planned = {(c.kind, c.level): c.fire_at for c in clock.schedule}
    assert planned == {
        ("reminder", 75): paris(2024, 5, 6, 12),  # 3h of 4h
        ("reminder", 90): paris(2024, 5, 6, 13, 36),  # 3h36: 3h30 then lunch, then 6 min
        ("escalation", 1): paris(2024, 5, 6, 14),
        ("escalation", 2): paris(2024, 5, 6, 15),  # +1h of business time
        ("escalation", 3): paris(2024, 5, 6, 18),  # +4h of wall time
    }
    assert ticket.response_clock is not None and ticket.response_clock.schedule == ()


def test_reminders_then_levels_in_order_each_once(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    timer = Timer()
    timer.run_until(ticket, paris(2024, 5, 8), start=paris(2024, 5, 6, 9))
    assert timer.labels() == [
        "reminder:75",
        "reminder:90",
        "escalation:1",
        "escalation:2",
        "escalation:3",
    ]
    assert [when for when, _ in timer.log] == [
        paris(2024, 5, 6, 12),
        paris(2024, 5, 6, 13, 36),
        paris(2024, 5, 6, 14),
        paris(2024, 5, 6, 15),
        paris(2024, 5, 6, 18),
    ]
    assert [action.notify for _, action in timer.log][2:] == [
        "assignee",
        "department_lead",
        "tenant_admin",
    ]
    assert next_wakeup(ticket, timer.fired) is None


def test_polling_timer_fires_each_action_once(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    timer = Timer()
    now = paris(2024, 5, 6, 9)
    while now < paris(2024, 5, 7, 9):
        timer.tick(ticket, now)
        now += timedelta(minutes=7)
    assert len(timer.log) == 5
    assert len({action.key for _, action in timer.log}) == 5
    for when, action in timer.log:
        assert action.fire_at <= when < action.fire_at + timedelta(minutes=7)


def test_a_restarted_timer_with_its_fired_keys_fires_nothing_again(
    make_ticket: MakeTicket,
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    first = Timer()
    first.run_until(ticket, paris(2024, 5, 6, 14, 30), start=paris(2024, 5, 6, 9))
    assert first.labels() == ["reminder:75", "reminder:90", "escalation:1"]

    restarted = Timer()
    restarted.fired = set(first.fired)  # as loaded from storage
    assert due_actions(ticket, paris(2024, 5, 6, 14, 30), restarted.fired) == []
    restarted.run_until(ticket, paris(2024, 5, 8), start=paris(2024, 5, 6, 14, 30))
    assert restarted.labels() == ["escalation:2", "escalation:3"]


def test_keys_are_stable_and_name_ticket_kind_level_and_due_version(
    make_ticket: MakeTicket,
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    late = paris(2024, 5, 6, 14)
    first = due_actions(ticket, late, set())
    again = due_actions(ticket.model_copy(), late, set())
    assert [a.key for a in first] == [a.key for a in again]
    assert first[-1].key == f"{ticket.id}:resolution:escalation:1:v1"


def test_a_late_timer_sends_only_the_furthest_reminder(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    timer = Timer()
    timer.tick(ticket, paris(2024, 5, 6, 13, 50))
    assert timer.labels() == ["reminder:90"]
    timer.run_until(ticket, paris(2024, 5, 6, 14, 30), start=paris(2024, 5, 6, 13, 50))
    assert timer.labels() == ["reminder:90", "escalation:1"]


def test_after_a_long_outage_every_level_is_told_but_no_reminder(
    make_ticket: MakeTicket,
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    timer = Timer()
    timer.tick(ticket, paris(2024, 5, 7, 9))
    assert timer.labels() == ["escalation:1", "escalation:2", "escalation:3"]
    assert next_wakeup(ticket, timer.fired) is None


def test_changed_due_time_re_arms(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    timer = Timer()
    timer.run_until(ticket, paris(2024, 5, 6, 12, 10), start=paris(2024, 5, 6, 9))
    assert timer.labels() == ["reminder:75"]

    # Lowered to P3 at 12:10: 24h target, 3h10 used; 20h50 left: due Wednesday 18:00 (v2).
    lowered = update_details(
        ticket, at=paris(2024, 5, 6, 12, 10), policy=policy, urgency=Urgency.LOW
    )
    clock = lowered.resolution_clock
    assert clock is not None and clock.due_version == 2
    assert clock.due_at == paris(2024, 5, 8, 18)
    assert due_actions(lowered, paris(2024, 5, 6, 13, 36), timer.fired) == []
    wakeup = next_wakeup(lowered, timer.fired)
    assert wakeup == paris(2024, 5, 8, 11)  # 75% of 24h = 18h: 14h50 more
    timer.run_until(lowered, paris(2024, 5, 13), start=paris(2024, 5, 6, 12, 10))
    assert timer.labels() == [
        "reminder:75",
        "reminder:75",
        "reminder:90",
        "escalation:1",
        "escalation:2",
        "escalation:3",
    ]
    assert [action.due_version for _, action in timer.log] == [1, 2, 2, 2, 2, 2]
    # L3 (+4h of wall time: Wed 22:00) waits for L2 (+1h of business time: Thu 10:00).
    assert [when for when, _ in timer.log][-2:] == [paris(2024, 5, 9, 10)] * 2


def test_reminders_already_passed_when_re_armed_are_not_repeated(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1", urgency="low")  # P3: 24h, due Wed 18:00
    timer = Timer()
    raised = update_details(
        ticket, at=paris(2024, 5, 6, 12, 30), policy=policy, urgency=Urgency.HIGH
    )
    # P1 now: 4h target, 3h30 already used (87.5%): due at 14:00, the 75% mark is gone.
    clock = raised.resolution_clock
    assert clock is not None and clock.due_at == paris(2024, 5, 6, 14)
    timer.run_until(raised, paris(2024, 5, 7), start=paris(2024, 5, 6, 12, 30))
    assert timer.labels() == ["reminder:90", "escalation:1", "escalation:2", "escalation:3"]


def test_nothing_fires_while_waiting_for_the_customer(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    timer = Timer()
    timer.run_until(ticket, paris(2024, 5, 6, 12), start=paris(2024, 5, 6, 9))
    paused = wait_for_customer(ticket, at=paris(2024, 5, 6, 12, 15), policy=policy)
    assert due_actions(paused, paris(2024, 5, 10), timer.fired) == []
    assert next_wakeup(paused, timer.fired) is None

    # Resumed next morning with 45 min left: due 09:45, version 2, 90% at 09:21.
    resumed = start_work(paused, at=paris(2024, 5, 7, 9), policy=policy)
    clock = resumed.resolution_clock
    assert clock is not None and clock.due_at == paris(2024, 5, 7, 9, 45)
    timer.run_until(resumed, paris(2024, 5, 8), start=paris(2024, 5, 7, 9))
    assert timer.labels() == [
        "reminder:75",
        "reminder:90",
        "escalation:1",
        "escalation:2",
        "escalation:3",
    ]
    assert timer.log[1][0] == paris(2024, 5, 7, 9, 21)
    assert timer.log[-1][0] == paris(2024, 5, 7, 13, 45)


def test_resolved_tickets_fire_nothing(make_ticket: MakeTicket, policy: TicketPolicy) -> None:
    ticket = make_ticket(assignee_id="agent-1")
    resolved = resolve(ticket, "done", at=paris(2024, 5, 6, 10), policy=policy)
    assert due_actions(resolved, paris(2024, 5, 9), set()) == []
    assert next_wakeup(resolved, set()) is None


def test_both_clocks_escalate_with_distinct_keys(
    make_ticket: MakeTicket, policy: TicketPolicy
) -> None:
    assert policy.sla is not None
    both = policy.model_copy(
        update={"sla": policy.sla.model_copy(update={"escalation": EscalationPolicy()})}
    )
    ticket = open_ticket(
        TicketDraft(subject="x", urgency=Urgency.HIGH, impact=Impact.HIGH),
        ticket_id="t-both",
        tenant_id="acme",
        sequence=7,
        at=paris(2024, 5, 6, 9),
        policy=both,
    )
    actions = due_actions(ticket, paris(2024, 5, 6, 10), set())
    assert [(a.clock, a.kind, a.level) for a in actions] == [("response", "escalation", 1)]
    timer = Timer()
    timer.run_until(ticket, paris(2024, 5, 8), start=paris(2024, 5, 6, 9))
    keys = [action.key for _, action in timer.log]
    assert len(keys) == len(set(keys)) == 10


def test_action_events(make_ticket: MakeTicket) -> None:
    ticket = make_ticket(assignee_id="agent-1", department_id="support")
    reminder, *_ = due_actions(ticket, paris(2024, 5, 6, 12), set())
    event = action_event(ticket, reminder, paris(2024, 5, 6, 12))
    assert isinstance(event, TicketReminderDue) and event.percent == 75
    level_one = due_actions(ticket, paris(2024, 5, 6, 14), {reminder.key})[-1]
    escalated = action_event(ticket, level_one, paris(2024, 5, 6, 14))
    assert isinstance(escalated, TicketEscalated)
    assert (escalated.level, escalated.target, escalated.idempotency_key) == (
        1,
        "assignee",
        level_one.key,
    )


def test_escalation_policy_validation() -> None:
    with pytest.raises(ValueError, match="reminder_percents"):
        EscalationPolicy(reminder_percents=(90, 75))
    with pytest.raises(ValueError, match="reminder_percents"):
        EscalationPolicy(reminder_percents=(0,))
    with pytest.raises(ValueError, match="before a lower"):
        EscalationPolicy(
            levels=(
                EscalationLevel(level=1, notify="assignee", after_due=timedelta(hours=2)),
                EscalationLevel(level=2, notify="department_lead", after_due=timedelta(hours=1)),
            )
        )


def test_due_actions_refuses_naive_now(make_ticket: MakeTicket) -> None:
    with pytest.raises(ValidationFailed):
        due_actions(make_ticket(), datetime(2024, 5, 6, 12), set())
    assert due_actions(make_ticket(), datetime(2024, 5, 6, 7, 30, tzinfo=UTC), set()) == []
