"""The ticket and its life: creation, assignment, status changes, SLA clocks, reopening.

Every operation is a pure function taking the current ticket and returning the next one
(frozen models), with `version` bumped and `updated_at` set. Instants are stored in UTC.
The tenant's settings come in as one `TicketPolicy`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from switchboard_common.errors import PreconditionFailed, ValidationFailed
from switchboard_tickets.domain._validation import as_validation_failed, require_aware
from switchboard_tickets.domain.escalation import ClockKind
from switchboard_tickets.domain.numbering import TicketNumberFormat
from switchboard_tickets.domain.priority import Impact, Priority, PriorityMatrix, Urgency
from switchboard_tickets.domain.sla import (
    SlaClock,
    SlaPolicy,
    meet_clock,
    pause_clock,
    reopen_clock,
    resume_clock,
    retarget_clock,
    start_clock,
)
from switchboard_tickets.domain.workflow import (
    COUNTS_AS_RESPONSE,
    NEEDS_ASSIGNEE,
    OPEN_STATUSES,
    TicketStatus,
    check_transition,
)

_CATEGORY = r"^[a-z0-9][a-z0-9_\-.]{0,63}$"


class TicketPolicy(BaseModel):
    """A tenant's ticket settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    numbering: TicketNumberFormat = Field(default_factory=TicketNumberFormat)
    priority_matrix: PriorityMatrix = Field(default_factory=PriorityMatrix.default)
    sla: SlaPolicy | None = None
    reopen_window: timedelta = Field(
        default=timedelta(days=7), description="how long after closing a ticket may reopen"
    )


class TicketDraft(BaseModel):
    """What a client (agent desktop, REST, wrap-up) sends to open a ticket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    category: str = Field(default="general", pattern=_CATEGORY)
    customer_id: str | None = None
    department_id: str | None = None
    assignee_id: str | None = None
    urgency: Urgency = Urgency.MEDIUM
    impact: Impact = Impact.MEDIUM
    priority: Priority | None = Field(
        default=None, description="overrides the urgency x impact matrix when given"
    )
    origin_call_id: str | None = Field(default=None, description="the call it was opened from")

    @field_validator("subject")
    @classmethod
    def _subject_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("subject must not be blank")
        return value.strip()


class Ticket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    tenant_id: str = Field(min_length=1, max_length=64)
    sequence: int = Field(ge=1)
    number: str
    subject: str
    description: str = ""
    category: str
    customer_id: str | None = None
    department_id: str | None = None
    assignee_id: str | None = None
    urgency: Urgency
    impact: Impact
    priority: Priority
    priority_overridden: bool = False
    status: TicketStatus = TicketStatus.NEW
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1, ge=1)
    origin_call_id: str | None = None
    origin_call_ended_at: datetime | None = None
    first_response_at: datetime | None = None
    resolution: str | None = None
    resolved_at: datetime | None = None
    resolved_during_call_id: str | None = None
    closed_at: datetime | None = None
    reopen_count: int = Field(default=0, ge=0)
    response_clock: SlaClock | None = None
    resolution_clock: SlaClock | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def sla_clocks(self) -> tuple[SlaClock, ...]:
        return tuple(c for c in (self.response_clock, self.resolution_clock) if c is not None)

    @property
    def first_contact_resolution(self) -> bool:
        """Resolved, never reopened, on the call that opened it: while that call was still up,
        or by an agent who said they were on that same call."""
        if self.origin_call_id is None or self.resolved_at is None or self.reopen_count:
            return False
        if self.resolved_during_call_id == self.origin_call_id:
            return True
        return self.origin_call_ended_at is None or self.resolved_at <= self.origin_call_ended_at


def open_ticket(
    draft: TicketDraft,
    *,
    ticket_id: str,
    tenant_id: str,
    sequence: int,
    at: datetime,
    policy: TicketPolicy,
) -> Ticket:
    """A new ticket: numbered, prioritised, SLA clocks started; `assigned` if given an agent."""
    now = _instant(at)
    overridden = draft.priority is not None
    priority = draft.priority or policy.priority_matrix.priority_for(draft.urgency, draft.impact)
    ticket = Ticket(
        id=ticket_id,
        tenant_id=tenant_id,
        sequence=sequence,
        number=policy.numbering.format(sequence),
        subject=draft.subject.strip(),
        description=draft.description,
        category=draft.category,
        customer_id=draft.customer_id,
        department_id=draft.department_id,
        assignee_id=draft.assignee_id,
        urgency=draft.urgency,
        impact=draft.impact,
        priority=priority,
        priority_overridden=overridden,
        status=TicketStatus.ASSIGNED if draft.assignee_id else TicketStatus.NEW,
        created_at=now,
        updated_at=now,
        origin_call_id=draft.origin_call_id,
    )
    sla = policy.sla
    target = sla.target_for(ticket.category, priority) if sla is not None else None
    if sla is None or target is None:
        return ticket
    return ticket.model_copy(
        update={
            "response_clock": start_clock(
                "response", target.response, now, sla.calendar, sla.escalation
            ),
            "resolution_clock": start_clock(
                "resolution", target.resolution, now, sla.calendar, sla.escalation
            ),
        }
    )


def change_status(
    ticket: Ticket,
    target: TicketStatus,
    *,
    at: datetime,
    policy: TicketPolicy,
    assignee_id: str | None = None,
    resolution: str | None = None,
    during_call_id: str | None = None,
) -> Ticket:
    """Move a ticket along the workflow, applying its rules.

    - only the moves in `workflow.ALLOWED_TRANSITIONS` (else PreconditionFailed
      `illegal-transition`);
    - `assigned` takes `assignee_id` (or keeps the current one), `new` drops the assignee,
      `in_progress` and `pending_customer` need an assignee (`ticket-unassigned`);
    - `resolved` needs a `resolution` and records it with `resolved_at` and the call the
      agent was on (`during_call_id`), from which first-contact resolution is derived;
    - `closed` records `closed_at`; `reopened` from `closed` only within the tenant's
      reopen window (`reopen-window-expired`) and clears the resolution;
    - SLA: entering in_progress, pending_customer or resolved meets the response target,
      pending_customer pauses the resolution clock and leaving it resumes it, resolved
      meets it, reopened starts it again from the business time already used.
    """
    now = _at_or_after(ticket, at)
    check_transition(ticket.status, target)
    update: dict[str, Any] = {"status": target}

    if target == TicketStatus.ASSIGNED:
        agent = assignee_id or ticket.assignee_id
        if not agent:
            raise ValidationFailed(
                "assigning needs an agent", field="assignee_id", error_id="assignee-required"
            )
        update["assignee_id"] = agent
    elif target == TicketStatus.NEW:
        update["assignee_id"] = None
    elif target in NEEDS_ASSIGNEE and ticket.assignee_id is None:
        raise PreconditionFailed(
            f"an unassigned ticket cannot be {target.value}",
            error_id="ticket-unassigned",
            details={"status": ticket.status.value, "to": target.value},
        )
    if target == TicketStatus.RESOLVED:
        text = (resolution or "").strip()
        if not text:
            raise ValidationFailed(
                "resolving needs a resolution", field="resolution", error_id="resolution-required"
            )
        update.update(resolution=text, resolved_at=now, resolved_during_call_id=during_call_id)
    elif target == TicketStatus.CLOSED:
        update["closed_at"] = now
    elif target == TicketStatus.REOPENED:
        if ticket.status == TicketStatus.CLOSED and ticket.closed_at is not None:
            deadline = ticket.closed_at + policy.reopen_window
            if now > deadline:
                raise PreconditionFailed(
                    "the ticket was closed too long ago to reopen; open a new one",
                    error_id="reopen-window-expired",
                    details={
                        "closed_at": ticket.closed_at.isoformat(),
                        "reopen_until": deadline.isoformat(),
                    },
                )
        update.update(
            resolution=None,
            resolved_at=None,
            resolved_during_call_id=None,
            closed_at=None,
            reopen_count=ticket.reopen_count + 1,
        )
    if target in COUNTS_AS_RESPONSE and ticket.first_response_at is None:
        update["first_response_at"] = now

    changed = _changed(ticket, update, now)
    if changed is ticket:
        return ticket
    return _with_clocks_for(changed, previous=ticket.status, at=now, policy=policy)


def assign(ticket: Ticket, agent_id: str, *, at: datetime, policy: TicketPolicy) -> Ticket:
    """Give the ticket to an agent; its status becomes `assigned`."""
    return change_status(ticket, TicketStatus.ASSIGNED, at=at, policy=policy, assignee_id=agent_id)


def unassign(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    return change_status(ticket, TicketStatus.NEW, at=at, policy=policy)


def start_work(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    return change_status(ticket, TicketStatus.IN_PROGRESS, at=at, policy=policy)


def wait_for_customer(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    """`pending_customer`: the resolution clock stops until the customer answers."""
    return change_status(ticket, TicketStatus.PENDING_CUSTOMER, at=at, policy=policy)


def resolve(
    ticket: Ticket,
    resolution: str,
    *,
    at: datetime,
    policy: TicketPolicy,
    during_call_id: str | None = None,
) -> Ticket:
    return change_status(
        ticket,
        TicketStatus.RESOLVED,
        at=at,
        policy=policy,
        resolution=resolution,
        during_call_id=during_call_id,
    )


def close(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    return change_status(ticket, TicketStatus.CLOSED, at=at, policy=policy)


def reopen(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    return change_status(ticket, TicketStatus.REOPENED, at=at, policy=policy)


def record_first_response(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    """An agent answered the customer (reply, call-back): meets the response target."""
    now = _at_or_after(ticket, at)
    if ticket.first_response_at is not None:
        return ticket
    changed = _changed(ticket, {"first_response_at": now}, now)
    return _with_clocks_for(changed, previous=ticket.status, at=now, policy=policy)


def record_call_ended(ticket: Ticket, *, call_id: str, ended_at: datetime) -> Ticket:
    """Note when the originating call hung up (for first-contact resolution)."""
    require_aware(ended_at, "ended_at")
    if call_id != ticket.origin_call_id or ticket.origin_call_ended_at is not None:
        return ticket
    ended = ended_at.astimezone(UTC)
    return _changed(ticket, {"origin_call_ended_at": ended}, max(ended, ticket.updated_at))


def update_details(
    ticket: Ticket,
    *,
    at: datetime,
    policy: TicketPolicy,
    subject: str | None = None,
    description: str | None = None,
    category: str | None = None,
    department_id: str | None = None,
    customer_id: str | None = None,
    urgency: Urgency | None = None,
    impact: Impact | None = None,
    priority: Priority | None = None,
) -> Ticket:
    """Edit descriptive fields; a new category, urgency, impact or priority re-targets the SLA.

    A priority given explicitly overrides the matrix from then on; urgency or impact
    changes recompute it from the matrix unless it was overridden.
    """
    now = _at_or_after(ticket, at)
    try:
        checked = TicketDraft(
            subject=subject if subject is not None else ticket.subject,
            description=description if description is not None else ticket.description,
            category=category if category is not None else ticket.category,
            urgency=urgency or ticket.urgency,
            impact=impact or ticket.impact,
            priority=priority,
        )
    except ValidationError as exc:
        raise as_validation_failed(exc, "ticket details") from exc
    update: dict[str, Any] = {
        "subject": checked.subject.strip(),
        "description": checked.description,
        "category": checked.category,
        "urgency": checked.urgency,
        "impact": checked.impact,
    }
    if department_id is not None:
        update["department_id"] = department_id
    if customer_id is not None:
        update["customer_id"] = customer_id
    if priority is not None:
        update.update(priority=priority, priority_overridden=True)
    elif not ticket.priority_overridden:
        update["priority"] = policy.priority_matrix.priority_for(checked.urgency, checked.impact)
    changed = _changed(ticket, update, now)
    if changed is ticket:
        return ticket
    return _retargeted(changed, at=now, policy=policy)


# -- internals -----------------------------------------------------------------------------


def _instant(at: datetime) -> datetime:
    return require_aware(at, "at").astimezone(UTC)


def _at_or_after(ticket: Ticket, at: datetime) -> datetime:
    now = _instant(at)
    if now < ticket.updated_at:
        raise ValidationFailed(
            "a change cannot predate the ticket's last change",
            field="at",
            error_id="at-before-last-change",
            details={"at": now.isoformat(), "updated_at": ticket.updated_at.isoformat()},
        )
    return now


def _changed(ticket: Ticket, update: dict[str, Any], now: datetime) -> Ticket:
    """The ticket with `update` applied and a new version, or the same ticket if no change."""
    if all(getattr(ticket, key) == value for key, value in update.items()):
        return ticket
    return ticket.model_copy(update={**update, "updated_at": now, "version": ticket.version + 1})


ClockStep = Callable[[SlaClock], SlaClock]


def _with_clocks_for(
    ticket: Ticket, *, previous: TicketStatus, at: datetime, policy: TicketPolicy
) -> Ticket:
    sla = policy.sla
    if sla is None or not ticket.sla_clocks:
        return ticket
    calendar, escalation = sla.calendar, sla.escalation
    steps: dict[ClockKind, list[ClockStep]] = {"response": [], "resolution": []}
    if ticket.first_response_at is not None:
        steps["response"].append(lambda clock: meet_clock(clock, at, calendar))
    status = ticket.status
    if status == TicketStatus.RESOLVED:
        steps["resolution"].append(lambda clock: meet_clock(clock, at, calendar))
    elif status == TicketStatus.PENDING_CUSTOMER:
        steps["resolution"].append(lambda clock: pause_clock(clock, at, calendar))
    elif status == TicketStatus.REOPENED:
        steps["resolution"].append(lambda clock: reopen_clock(clock, at, calendar, escalation))
    elif previous == TicketStatus.PENDING_CUSTOMER:
        steps["resolution"].append(lambda clock: resume_clock(clock, at, calendar, escalation))
    update: dict[str, SlaClock] = {}
    for clock in ticket.sla_clocks:
        stepped = clock
        for step in steps[clock.kind]:
            stepped = step(stepped)
        if stepped is not clock:
            update[f"{clock.kind}_clock"] = stepped
    return ticket.model_copy(update=update) if update else ticket


def _retargeted(ticket: Ticket, *, at: datetime, policy: TicketPolicy) -> Ticket:
    sla = policy.sla
    if sla is None:
        return ticket
    target = sla.target_for(ticket.category, ticket.priority)
    if target is None:
        return ticket
    if not ticket.sla_clocks:
        return _started_late(
            ticket, response=target.response, resolution=target.resolution, at=at, policy=policy
        )
    update = {
        f"{clock.kind}_clock": retarget_clock(
            clock, target.for_clock(clock.kind), at, sla.calendar, sla.escalation
        )
        for clock in ticket.sla_clocks
    }
    return ticket.model_copy(update=update)


def _started_late(
    ticket: Ticket,
    *,
    response: timedelta,
    resolution: timedelta,
    at: datetime,
    policy: TicketPolicy,
) -> Ticket:
    """Clocks for a ticket that had no SLA until an edit gave it one, counted from `at`."""
    sla = policy.sla
    if sla is None or not ticket.is_open:
        return ticket
    started = ticket.model_copy(
        update={
            "response_clock": start_clock("response", response, at, sla.calendar, sla.escalation),
            "resolution_clock": start_clock(
                "resolution", resolution, at, sla.calendar, sla.escalation
            ),
        }
    )
    return _with_clocks_for(started, previous=TicketStatus.NEW, at=at, policy=policy)
