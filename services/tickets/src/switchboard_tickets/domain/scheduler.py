"""Which reminders and escalations are due for a ticket, and when to look again.

The timer that drives this keeps the set of action keys it already fired (persisted with
the ticket or in its own table). Keys carry the SLA clock's due version, so a timer that
survives a restart never fires an action twice, and a changed due time re-arms everything.
Only running clocks fire: nothing happens while a ticket waits for the customer, nor once
the target is met.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from datetime import UTC, datetime

from switchboard_tickets.domain._validation import require_aware
from switchboard_tickets.domain.escalation import Action, Checkpoint, action_key
from switchboard_tickets.domain.sla import SlaClock
from switchboard_tickets.domain.tickets import Ticket


def due_actions(ticket: Ticket, now: datetime, already_fired: Set[str]) -> list[Action]:
    """Actions whose time has come and that were not fired yet, earliest first.

    When several reminders of one clock are late at once, only the most advanced one is
    returned, and a reminder is dropped once a later reminder or an escalation of the
    same arming has fired. Escalation levels are never dropped: each recipient is told.
    """
    instant = require_aware(now, "now").astimezone(UTC)
    actions: list[Action] = []
    for clock in _running(ticket):
        ready = [
            checkpoint
            for checkpoint in _pending(ticket, clock, already_fired)
            if checkpoint.fire_at <= instant
        ]
        latest = max((checkpoint.stage for checkpoint in ready), default=None)
        for checkpoint in ready:
            if checkpoint.kind == "reminder" and latest is not None and checkpoint.stage < latest:
                continue
            actions.append(_action(ticket, clock, checkpoint))
    actions.sort(
        key=lambda action: (action.fire_at, action.clock, action.kind == "escalation", action.level)
    )
    return actions


def next_wakeup(ticket: Ticket, fired: Set[str]) -> datetime | None:
    """When the timer should next call `due_actions` (possibly already past); None if never."""
    upcoming = [
        checkpoint.fire_at
        for clock in _running(ticket)
        for checkpoint in _pending(ticket, clock, fired)
    ]
    return min(upcoming, default=None)


def _running(ticket: Ticket) -> Iterator[SlaClock]:
    for clock in ticket.sla_clocks:
        if clock.state == "running" and clock.due_at is not None:
            yield clock


def _pending(ticket: Ticket, clock: SlaClock, fired: Set[str]) -> list[Checkpoint]:
    """Checkpoints of the clock's current arming still to fire (reminders overtaken by a
    fired later stage never will)."""
    done = [
        c
        for c in clock.schedule
        if action_key(ticket.id, clock.kind, c, clock.due_version) in fired
    ]
    furthest = max((c.stage for c in done), default=None)
    return [
        checkpoint
        for checkpoint in clock.schedule
        if checkpoint not in done
        and not (
            checkpoint.kind == "reminder" and furthest is not None and checkpoint.stage < furthest
        )
    ]


def _action(ticket: Ticket, clock: SlaClock, checkpoint: Checkpoint) -> Action:
    if clock.due_at is None:
        raise ValueError("a running clock always has a due time")
    return Action(
        key=action_key(ticket.id, clock.kind, checkpoint, clock.due_version),
        ticket_id=ticket.id,
        clock=clock.kind,
        kind=checkpoint.kind,
        level=checkpoint.level,
        notify=checkpoint.notify,
        fire_at=checkpoint.fire_at,
        due_at=clock.due_at,
        due_version=clock.due_version,
    )
