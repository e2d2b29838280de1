"""What the REST API reads and writes, and the records the repository hands to services.

Request models refuse text that PostgreSQL cannot store (NUL characters, lone surrogates)
with 422 `invalid-text` naming the field, so that no odd input reaches the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from switchboard_common.business_hours import BusinessCalendar
from switchboard_common.errors import ValidationFailed
from switchboard_tickets.domain import (
    ContactHistoryEntry,
    CustomerDraft,
    CustomerPatch,
    EscalationPolicy,
    Impact,
    MergeReport,
    Priority,
    PriorityMatrix,
    SlaClock,
    SlaPolicy,
    SlaRule,
    Ticket,
    TicketDraft,
    TicketNumberFormat,
    TicketStatus,
    Urgency,
    VipLevel,
)
from switchboard_tickets.domain._validation import parse_model
from switchboard_tickets.domain.customers import ConflictPolicy, Side

ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"
CATEGORY_PATTERN = r"^[a-z0-9][a-z0-9_\-.]{0,63}$"
FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"

EntityId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
AgentId = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]
CallId = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]
Lifecycle = Literal["lead", "customer"]

MAX_SLA_TARGET = timedelta(days=90)
MAX_AFTER_DUE = timedelta(days=30)
MIN_WEEKLY_OPEN = timedelta(hours=1)


def check_storable(value: Any, path: str = "") -> None:
    """Raise 422 `invalid-text` for strings PostgreSQL cannot store, naming the field."""
    if isinstance(value, str):
        bad = "\x00" in value
        if not bad:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad = True
        if bad:
            raise ValidationFailed(
                "text must be valid UTF-8 without NUL characters",
                field=path or None,
                error_id="invalid-text",
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_storable(key, path)
            check_storable(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_storable(item, f"{path}[{index}]")


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields refused, text checked for storability."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        check_storable(data)
        return data


class PublicModel(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- customers ------------------------------------------------------------------------------


class CustomerCreate(RequestModel):
    name: str = Field(default="", max_length=200)
    company: str = Field(default="", max_length=200)
    lifecycle: Lifecycle = "customer"
    phones: tuple[str, ...] = Field(default=(), max_length=20)
    emails: tuple[str, ...] = Field(default=(), max_length=20)
    tags: tuple[str, ...] = Field(default=(), max_length=50)
    vip_level: VipLevel = VipLevel.NONE
    owner_agent_id: AgentId | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict, max_length=200)

    def draft(self) -> CustomerDraft:
        return parse_model(
            CustomerDraft, self.model_dump(exclude={"company", "lifecycle"}), "customer"
        )


class CustomerUpdate(RequestModel):
    """A partial update based on `version`; fields left out are unchanged."""

    version: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    lifecycle: Lifecycle | None = None
    phones: tuple[str, ...] | None = Field(default=None, max_length=20)
    emails: tuple[str, ...] | None = Field(default=None, max_length=20)
    tags: tuple[str, ...] | None = Field(default=None, max_length=50)
    vip_level: VipLevel | None = None
    owner_agent_id: AgentId | None = None
    clear_owner: bool = False
    custom_fields: dict[str, Any] | None = Field(default=None, max_length=200)

    def patch(self) -> CustomerPatch:
        return parse_model(
            CustomerPatch,
            self.model_dump(exclude={"version", "company", "lifecycle"}),
            "customer change",
        )


class CustomerPublic(PublicModel):
    id: str
    name: str
    company: str
    lifecycle: Lifecycle
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    tags: tuple[str, ...]
    vip_level: VipLevel
    owner_agent_id: str | None
    custom_fields: dict[str, bool | int | float | str]
    created_at: datetime
    updated_at: datetime
    version: int


class CustomerPage(PublicModel):
    items: list[CustomerPublic]
    next_cursor: str | None = None


class MergeRequest(RequestModel):
    """Merge two records of one customer; the older one survives and keeps its id."""

    customer_ids: tuple[EntityId, EntityId]
    conflict_policy: ConflictPolicy = "keep_survivor"
    resolutions: dict[str, Side] = Field(default_factory=dict, max_length=200)


class MergeOutcome(PublicModel):
    survivor: CustomerPublic
    report: MergeReport


class NoteCreate(RequestModel):
    body: str = Field(min_length=1, max_length=10_000)

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a note must not be blank")
        return value


class NotePublic(PublicModel):
    id: str
    customer_id: str
    author_id: str | None
    body: str
    created_at: datetime


class CustomFieldBody(RequestModel):
    """A custom field definition; its key is in the path."""

    label: str = Field(default="", max_length=200)
    type: Literal["string", "number", "bool", "date", "enum"]
    required: bool = False
    choices: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = Field(
        default=(), max_length=200
    )
    max_length: int = Field(default=1000, ge=1, le=100_000)


class ContactPage(PublicModel):
    items: list[ContactHistoryEntry]
    next_cursor: str | None = None


class DispositionUpdate(RequestModel):
    disposition: str = Field(min_length=1, max_length=64)


class CustomerCard(PublicModel):
    """What routing and the screen pop need to know about a caller."""

    id: str
    name: str
    company: str
    lifecycle: Lifecycle
    vip_level: VipLevel
    owner_agent_id: str | None
    tags: tuple[str, ...]


class OpenTicketSummary(PublicModel):
    id: str
    number: str
    subject: str
    status: TicketStatus
    priority: Priority
    due_at: datetime | None = Field(description="the nearest due time of a running SLA clock")


class CustomerLookup(PublicModel):
    phone_number: str = Field(description="the number looked up, in E.164")
    found: bool
    customer: CustomerCard | None = None
    open_tickets: list[OpenTicketSummary] = Field(default_factory=list)
    recent_contacts: list[ContactHistoryEntry] = Field(default_factory=list)


# -- tickets --------------------------------------------------------------------------------


class TicketCreate(RequestModel):
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    category: str = Field(default="general", pattern=CATEGORY_PATTERN)
    customer_id: EntityId | None = None
    department_id: EntityId | None = None
    assignee_id: AgentId | None = None
    urgency: Urgency = Urgency.MEDIUM
    impact: Impact = Impact.MEDIUM
    priority: Priority | None = None
    origin_call_id: CallId | None = Field(default=None, description="the call it was opened from")

    @field_validator("subject")
    @classmethod
    def _subject_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("subject must not be blank")
        return value

    def draft(self, *, customer_id: str | None) -> TicketDraft:
        return parse_model(TicketDraft, {**self.model_dump(), "customer_id": customer_id}, "ticket")


class TicketUpdate(RequestModel):
    version: int = Field(ge=1, le=2**31 - 1)
    subject: str | None = Field(default=None, min_length=1, max_length=200)

    description: str | None = Field(default=None, max_length=20_000)
    category: str | None = Field(default=None, pattern=CATEGORY_PATTERN)
    department_id: EntityId | None = None
    customer_id: EntityId | None = None
    urgency: Urgency | None = None
    impact: Impact | None = None
    priority: Priority | None = None

    @field_validator("subject")
    @classmethod
    def _subject_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("subject must not be blank")
        return value


class TransitionRequest(RequestModel):
    status: TicketStatus
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    resolution: str | None = Field(default=None, max_length=20_000)
    assignee_id: AgentId | None = None
    during_call_id: CallId | None = Field(
        default=None, description="the call the agent is on (first-contact resolution)"
    )


class AssignRequest(RequestModel):
    assignee_id: AgentId
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class SlaClockPublic(PublicModel):
    kind: Literal["response", "resolution"]
    state: Literal["running", "paused", "met"]
    target: timedelta
    consumed: timedelta
    due_at: datetime | None
    met_at: datetime | None
    breached: bool

    @classmethod
    def of(cls, clock: SlaClock) -> SlaClockPublic:
        return cls(
            kind=clock.kind,
            state=clock.state,
            target=clock.target,
            consumed=clock.consumed,
            due_at=clock.due_at,
            met_at=clock.met_at,
            breached=clock.breached,
        )


class TicketPublic(PublicModel):
    id: str
    number: str
    subject: str
    description: str
    category: str
    customer_id: str | None
    department_id: str | None
    assignee_id: str | None
    urgency: Urgency
    impact: Impact
    priority: Priority
    priority_overridden: bool
    status: TicketStatus
    created_at: datetime
    updated_at: datetime
    version: int
    origin_call_id: str | None
    first_response_at: datetime | None
    resolution: str | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    first_contact_resolution: bool
    sla: list[SlaClockPublic]

    @classmethod
    def of(cls, ticket: Ticket) -> TicketPublic:
        return cls(
            id=ticket.id,
            number=ticket.number,
            subject=ticket.subject,
            description=ticket.description,
            category=ticket.category,
            customer_id=ticket.customer_id,
            department_id=ticket.department_id,
            assignee_id=ticket.assignee_id,
            urgency=ticket.urgency,
            impact=ticket.impact,
            priority=ticket.priority,
            priority_overridden=ticket.priority_overridden,
            status=ticket.status,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            version=ticket.version,
            origin_call_id=ticket.origin_call_id,
            first_response_at=ticket.first_response_at,
            resolution=ticket.resolution,
            resolved_at=ticket.resolved_at,
            closed_at=ticket.closed_at,
            reopen_count=ticket.reopen_count,
            first_contact_resolution=ticket.first_contact_resolution,
            sla=[SlaClockPublic.of(clock) for clock in ticket.sla_clocks],
        )


class TicketPage(PublicModel):
    items: list[TicketPublic]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for more")
    has_more: bool
    page: int | None = None
    size: int


class CommentCreate(RequestModel):
    body: str = Field(min_length=1, max_length=20_000)
    internal: bool = Field(
        default=False, description="internal notes are not a response to the customer"
    )

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a comment must not be blank")
        return value


class CommentPublic(PublicModel):
    id: str
    ticket_id: str
    author_id: str | None
    body: str
    internal: bool
    created_at: datetime


class AttachmentCreate(RequestModel):
    """A recording of a call, or a link (http or https)."""

    kind: Literal["recording", "link"]
    recording_id: str | None = Field(default=None, min_length=1, max_length=512)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    title: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _coherent(self) -> AttachmentCreate:
        if self.kind == "recording":
            if self.recording_id is None:
                raise ValidationFailed(
                    "a recording attachment needs recording_id", field="recording_id"
                )
            if self.url is not None:
                raise ValidationFailed("a recording attachment has no url", field="url")
        else:
            if self.url is None:
                raise ValidationFailed("a link attachment needs url", field="url")
            if self.recording_id is not None:
                raise ValidationFailed(
                    "a link attachment has no recording_id", field="recording_id"
                )
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValidationFailed(
                    "url must be an http or https address", field="url", error_id="invalid-url"
                )
        return self


class AttachmentPublic(PublicModel):
    id: str
    ticket_id: str
    kind: Literal["recording", "link"]
    recording_id: str | None
    url: str | None
    title: str
    created_by: str | None
    created_at: datetime


class NotificationPublic(PublicModel):
    """A reminder or escalation addressed to someone (recipient_id None: the tenant admins)."""

    id: str
    ticket_id: str
    kind: Literal["reminder", "escalation"]
    clock: Literal["response", "resolution"]
    level: int
    notify: Literal["assignee", "department_lead", "tenant_admin"]
    recipient_id: str | None
    due_at: datetime
    fire_at: datetime
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


# -- tenant configuration ----------------------------------------------------------------------


class DepartmentCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    lead_agent_id: AgentId | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value.strip()


class DepartmentUpdate(RequestModel):
    version: int = Field(ge=1, le=2**31 - 1)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    lead_agent_id: AgentId | None = None
    clear_lead: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("name must not be blank")
        return value.strip() if value is not None else None


class DepartmentPublic(PublicModel):
    id: str
    name: str
    description: str
    lead_agent_id: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class CategoryCreate(RequestModel):
    key: str = Field(pattern=CATEGORY_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    parent_key: str | None = Field(
        default=None, pattern=CATEGORY_PATTERN, description="set for a sub-category"
    )
    active: bool = True


class CategoryUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class CategoryPublic(PublicModel):
    key: str
    name: str
    parent_key: str | None
    active: bool
    created_at: datetime


def _check_region(value: str | None) -> str | None:
    if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("not a region phonenumbers knows (ISO 3166 alpha-2, e.g. FR)")
    return value


class TicketSettingsUpdate(RequestModel):
    """Replace the tenant's ticket settings; `version` is the one read (0: never saved)."""

    version: int = Field(ge=0, le=2**31 - 1)
    numbering: TicketNumberFormat = Field(default_factory=TicketNumberFormat)
    priority_matrix: PriorityMatrix = Field(default_factory=PriorityMatrix.default)
    reopen_window: timedelta = Field(default=timedelta(days=7))
    default_region: str | None = Field(
        default=None, description="region of numbers dialled without +, e.g. FR"
    )

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        return _check_region(value)

    @field_validator("reopen_window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if not timedelta(0) <= value <= timedelta(days=365):
            raise ValueError("reopen_window must be between 0 and 365 days")
        return value


class SlaPolicyUpdate(RequestModel):
    """Replace the tenant's SLA policy; `version` is the settings version read."""

    version: int = Field(ge=0, le=2**31 - 1)
    calendar: BusinessCalendar
    rules: tuple[SlaRule, ...] = Field(default=(), max_length=200)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)

    @model_validator(mode="after")
    def _bounded(self) -> SlaPolicyUpdate:
        for index, rule in enumerate(self.rules):
            for name in ("response", "resolution"):
                if getattr(rule.target, name) > MAX_SLA_TARGET:
                    raise ValidationFailed(
                        f"SLA targets are at most {MAX_SLA_TARGET.days} days of business time",
                        field=f"rules[{index}].target.{name}",
                        error_id="sla-target-too-long",
                    )
        for index, level in enumerate(self.escalation.levels):
            if level.after_due > MAX_AFTER_DUE:
                raise ValidationFailed(
                    f"escalations come at most {MAX_AFTER_DUE.days} days after the due time",
                    field=f"escalation.levels[{index}].after_due",
                    error_id="escalation-too-late",
                )
        weekly_open = sum(
            (
                _interval_length(interval.start, interval.end)
                for intervals in self.calendar.weekly.values()
                for interval in intervals
            ),
            timedelta(0),
        )
        if weekly_open < MIN_WEEKLY_OPEN:
            raise ValidationFailed(
                "an SLA calendar must be open at least one hour a week",
                field="calendar.weekly",
                error_id="calendar-too-closed",
            )
        for index, holiday in enumerate(self.calendar.holidays):
            if holiday.until_day.year > 2200 or holiday.first_day.year < 1970:
                raise ValidationFailed(
                    "holidays must lie between 1970 and 2200",
                    field=f"calendar.holidays[{index}]",
                    error_id="holiday-out-of-range",
                )
            if (holiday.until_day - holiday.first_day).days > 366:
                raise ValidationFailed(
                    "a holiday lasts at most a year",
                    field=f"calendar.holidays[{index}]",
                    error_id="holiday-too-long",
                )
        return self

    def policy(self) -> SlaPolicy:
        try:
            return SlaPolicy(calendar=self.calendar, rules=self.rules, escalation=self.escalation)
        except ValueError as exc:
            raise ValidationFailed(str(exc), field="rules") from exc


def _interval_length(start: Any, end: Any) -> timedelta:
    base = datetime(2000, 1, 3)
    opened = datetime.combine(base.date(), start)
    closed = datetime.combine(base.date(), end)
    if closed <= opened:
        closed += timedelta(days=1)
    return closed - opened


class TicketSettingsPublic(PublicModel):
    numbering: TicketNumberFormat
    priority_matrix: PriorityMatrix
    reopen_window: timedelta
    default_region: str | None
    sla: SlaPolicy | None
    version: int = Field(description="0 until the settings are first saved")
    updated_at: datetime | None


def normalize_text_query(text: str) -> list[str]:
    """Words of a free-text search, lower-cased (letters and digits only)."""
    return [word.lower() for word in re.findall(r"\w+", text)][:16]
