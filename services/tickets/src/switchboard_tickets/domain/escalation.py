"""Reminders before an SLA due time and escalation levels after it.

A policy says when to remind (at a share of the target, counted in business time) and whom
to escalate to once the due time has passed. `plan_checkpoints` turns it into concrete
instants when an SLA clock is armed; the instants are kept on the clock so that the
scheduler (`scheduler.due_actions`) needs neither the policy nor the calendar.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_common.business_hours import BusinessCalendar

ClockKind = Literal["response", "resolution"]
CheckpointKind = Literal["reminder", "escalation"]
Recipient = Literal["assignee", "department_lead", "tenant_admin"]


class EscalationLevel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    level: int = Field(ge=1, le=9)
    notify: Recipient
    after_due: timedelta = Field(default=timedelta(0), description="delay after the due time")
    business_time: bool = Field(
        default=True, description="count `after_due` in open hours of the SLA calendar"
    )

    @model_validator(mode="after")
    def _not_negative(self) -> EscalationLevel:
        if self.after_due < timedelta(0):
            raise ValueError("after_due must not be negative")
        return self


def _default_levels() -> tuple[EscalationLevel, ...]:
    return (
        EscalationLevel(level=1, notify="assignee"),
        EscalationLevel(level=2, notify="department_lead", after_due=timedelta(hours=1)),
        EscalationLevel(level=3, notify="tenant_admin", after_due=timedelta(hours=4)),
    )


class EscalationPolicy(BaseModel):
    """Reminders at `reminder_percents` of the target; levels in increasing order after due."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reminder_percents: tuple[int, ...] = (75, 90)
    reminder_recipient: Recipient = "assignee"
    levels: tuple[EscalationLevel, ...] = Field(default_factory=_default_levels)
    clocks: tuple[ClockKind, ...] = ("response", "resolution")

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        percents = self.reminder_percents
        if any(not 0 < p < 100 for p in percents) or list(percents) != sorted(set(percents)):
            raise ValueError("reminder_percents must be increasing, each between 1 and 99")
        numbers = [level.level for level in self.levels]
        if numbers != sorted(set(numbers)):
            raise ValueError("escalation levels must be listed once each, in increasing order")
        for lower, higher in zip(self.levels, self.levels[1:], strict=False):
            if higher.business_time == lower.business_time and higher.after_due < lower.after_due:
                raise ValueError("a higher escalation level cannot come before a lower one")
        return self


class Checkpoint(BaseModel):
    """One planned reminder or escalation of an armed SLA clock."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CheckpointKind
    level: int = Field(description="reminder: percent of the target; escalation: level number")
    notify: Recipient
    fire_at: datetime

    @property
    def stage(self) -> tuple[int, int]:
        """Orders checkpoints: every reminder before every escalation, then by level."""
        return (0 if self.kind == "reminder" else 1, self.level)


class Action(BaseModel):
    """Something the timer must do now; `key` is stable, so fire each key at most once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    ticket_id: str
    clock: ClockKind
    kind: CheckpointKind
    level: int
    notify: Recipient
    fire_at: datetime
    due_at: datetime
    due_version: int


def action_key(ticket_id: str, clock: ClockKind, checkpoint: Checkpoint, due_version: int) -> str:
    """`<ticket>:<clock>:<kind>:<level>:v<due version>`; a new due time gives new keys."""
    return f"{ticket_id}:{clock}:{checkpoint.kind}:{checkpoint.level}:v{due_version}"


def plan_checkpoints(
    policy: EscalationPolicy,
    calendar: BusinessCalendar,
    *,
    clock: ClockKind,
    target: timedelta,
    consumed: timedelta,
    running_since: datetime,
    due_at: datetime,
) -> tuple[Checkpoint, ...]:
    """Instants of the reminders still ahead and of every escalation level.

    A reminder whose share of the target was already used up when the clock was armed is
    left out, so that pausing, resuming or re-targeting a clock never repeats a reminder.
    A level never fires before the one below it (a wall-time delay may otherwise overtake
    a business-time one).
    """
    if clock not in policy.clocks:
        return ()
    planned: list[Checkpoint] = []
    for percent in policy.reminder_percents:
        point = target * percent / 100
        if point <= consumed:
            continue
        planned.append(
            Checkpoint(
                kind="reminder",
                level=percent,
                notify=policy.reminder_recipient,
                fire_at=calendar.add_business_time(running_since, point - consumed).astimezone(UTC),
            )
        )
    previous = due_at.astimezone(UTC)
    for level in policy.levels:
        if level.business_time:
            fire_at = calendar.add_business_time(due_at, level.after_due).astimezone(UTC)
        else:
            fire_at = due_at.astimezone(UTC) + level.after_due
        fire_at = previous = max(fire_at, previous)
        planned.append(
            Checkpoint(kind="escalation", level=level.level, notify=level.notify, fire_at=fire_at)
        )
    return tuple(planned)
