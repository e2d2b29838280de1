"""SLA targets per tenant and the SLA clocks of a ticket.

A tenant's `SlaPolicy` gives, for a (category, priority), a response and a resolution target
counted in business time of the policy's calendar. Each ticket carries one `SlaClock` per
target. A clock runs, pauses (the ticket waits for the customer) and resumes, and is met
once (first response, resolution). Its due time is recomputed whenever it is armed; the
`due_version` only moves when the due time really changes, which is what re-arms reminders
and escalations (see `escalation.action_key`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_common.business_hours import BusinessCalendar
from switchboard_tickets.domain.escalation import (
    Checkpoint,
    ClockKind,
    EscalationPolicy,
    plan_checkpoints,
)
from switchboard_tickets.domain.priority import Priority

ClockState = Literal["running", "paused", "met"]


class SlaTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    response: timedelta
    resolution: timedelta

    @model_validator(mode="after")
    def _positive(self) -> SlaTarget:
        if self.response <= timedelta(0) or self.resolution <= timedelta(0):
            raise ValueError("SLA targets must be positive durations")
        return self

    def for_clock(self, clock: ClockKind) -> timedelta:
        return self.response if clock == "response" else self.resolution


class SlaRule(BaseModel):
    """Targets for a category and/or a priority; None matches any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: str | None = None
    priority: Priority | None = None
    target: SlaTarget

    @property
    def specificity(self) -> int:
        return (2 if self.category is not None else 0) + (1 if self.priority is not None else 0)

    def matches(self, category: str, priority: Priority) -> bool:
        return (self.category is None or self.category == category) and (
            self.priority is None or self.priority == priority
        )


class SlaPolicy(BaseModel):
    """A tenant's SLA rules, their business calendar and escalation policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    calendar: BusinessCalendar
    rules: tuple[SlaRule, ...] = ()
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)

    @model_validator(mode="after")
    def _no_duplicate_rules(self) -> SlaPolicy:
        seen = {(rule.category, rule.priority) for rule in self.rules}
        if len(seen) != len(self.rules):
            raise ValueError("two SLA rules have the same category and priority")
        return self

    def target_for(self, category: str, priority: Priority) -> SlaTarget | None:
        """The most specific matching rule: category+priority, then category, then priority,
        then a catch-all; None when no rule applies (the ticket has no SLA)."""
        matching = [rule for rule in self.rules if rule.matches(category, priority)]
        if not matching:
            return None
        return max(matching, key=lambda rule: rule.specificity).target


class SlaClock(BaseModel):
    """Business time owed on one target: running, paused or met. Instants are kept in UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ClockKind
    target: timedelta
    started_at: datetime
    consumed: timedelta = Field(
        default=timedelta(0), description="business time used up to `running_since` (or to now)"
    )
    running_since: datetime | None = None
    due_at: datetime | None = Field(default=None, description="due time of the last arming")
    due_version: int = 0
    met_at: datetime | None = None
    breached: bool = Field(default=False, description="met after the target was used up")
    schedule: tuple[Checkpoint, ...] = ()

    @property
    def state(self) -> ClockState:
        if self.met_at is not None:
            return "met"
        return "running" if self.running_since is not None else "paused"

    def used(self, at: datetime, calendar: BusinessCalendar) -> timedelta:
        """Business time used on this target by `at`."""
        if self.running_since is None or at <= self.running_since:
            return self.consumed
        return self.consumed + calendar.business_time_between(self.running_since, at)

    def is_overdue(self, at: datetime, calendar: BusinessCalendar) -> bool:
        if self.met_at is not None:
            return self.breached
        return self.used(at, calendar) > self.target


def start_clock(
    kind: ClockKind,
    target: timedelta,
    at: datetime,
    calendar: BusinessCalendar,
    escalation: EscalationPolicy,
) -> SlaClock:
    clock = SlaClock(kind=kind, target=target, started_at=at, running_since=at)
    return _arm(clock, calendar, escalation)


def pause_clock(clock: SlaClock, at: datetime, calendar: BusinessCalendar) -> SlaClock:
    """Stop counting; nothing fires while paused. A paused or met clock is left as it is."""
    if clock.state != "running":
        return clock
    return clock.model_copy(update={"consumed": clock.used(at, calendar), "running_since": None})


def resume_clock(
    clock: SlaClock, at: datetime, calendar: BusinessCalendar, escalation: EscalationPolicy
) -> SlaClock:
    """Count again from `at` and re-arm; a running or met clock is left as it is."""
    if clock.state != "paused":
        return clock
    return _arm(clock.model_copy(update={"running_since": at}), calendar, escalation)


def meet_clock(clock: SlaClock, at: datetime, calendar: BusinessCalendar) -> SlaClock:
    """The target is met at `at` (first response, resolution); met clocks stay met."""
    if clock.state == "met":
        return clock
    used = clock.used(at, calendar)
    return clock.model_copy(
        update={
            "consumed": used,
            "running_since": None,
            "met_at": at,
            "breached": used > clock.target,
        }
    )


def reopen_clock(
    clock: SlaClock, at: datetime, calendar: BusinessCalendar, escalation: EscalationPolicy
) -> SlaClock:
    """Count again from `at` on a met clock, keeping the business time already used."""
    if clock.state != "met":
        return clock
    reopened = clock.model_copy(update={"met_at": None, "breached": False, "running_since": at})
    return _arm(reopened, calendar, escalation)


def retarget_clock(
    clock: SlaClock,
    target: timedelta,
    at: datetime,
    calendar: BusinessCalendar,
    escalation: EscalationPolicy,
) -> SlaClock:
    """Apply a new target (priority or category changed); met clocks keep their outcome."""
    if clock.state == "met" or target == clock.target:
        return clock
    if clock.state == "paused":
        return clock.model_copy(update={"target": target})
    moved = clock.model_copy(
        update={"target": target, "consumed": clock.used(at, calendar), "running_since": at}
    )
    return _arm(moved, calendar, escalation)


def _arm(clock: SlaClock, calendar: BusinessCalendar, escalation: EscalationPolicy) -> SlaClock:
    """Compute the due time from the running start and plan the checkpoints."""
    running_since = clock.running_since
    if running_since is None:
        raise ValueError("only a running clock can be armed")
    remaining = clock.target - clock.consumed
    if remaining > timedelta(0):
        due_at = _utc(calendar.add_business_time(running_since, remaining))
    elif clock.due_at is not None and clock.due_at <= running_since:
        due_at = _utc(clock.due_at)
    else:
        due_at = _utc(running_since)
    version = clock.due_version
    if clock.due_at is None or _utc(clock.due_at) != due_at or version == 0:
        version += 1
    schedule = plan_checkpoints(
        escalation,
        calendar,
        clock=clock.kind,
        target=clock.target,
        consumed=clock.consumed,
        running_since=running_since,
        due_at=due_at,
    )
    return clock.model_copy(update={"due_at": due_at, "due_version": version, "schedule": schedule})


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
