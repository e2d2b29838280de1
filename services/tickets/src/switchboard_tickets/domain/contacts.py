"""A customer's contact history: calls, surveys and tickets, newest first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from switchboard_tickets.domain._validation import as_validation_failed


class _Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    tenant_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    at: datetime

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError("must be timezone-aware")
        return value.astimezone(UTC)


class CallContact(_Contact):
    kind: Literal["call"] = "call"
    call_id: str = Field(min_length=1, max_length=64)
    direction: Literal["inbound", "outbound"] = "inbound"
    queue_id: str | None = None
    agent_id: str | None = None
    duration: timedelta = Field(default=timedelta(0), ge=timedelta(0))
    disposition: str | None = Field(default=None, max_length=64, description="wrap-up code")
    recording_id: str | None = None


class SurveyContact(_Contact):
    kind: Literal["survey"] = "survey"
    survey_id: str = Field(min_length=1, max_length=64)
    call_id: str | None = None
    score: int | None = Field(default=None, ge=0, le=10)
    comment: str = Field(default="", max_length=2000)


class TicketContact(_Contact):
    kind: Literal["ticket"] = "ticket"
    ticket_id: str = Field(min_length=1, max_length=64)
    ticket_number: str = Field(min_length=1, max_length=32)
    event: Literal["created", "resolved", "closed", "reopened"]


ContactHistoryEntry = Annotated[
    CallContact | SurveyContact | TicketContact, Field(discriminator="kind")
]

_ENTRY = TypeAdapter[CallContact | SurveyContact | TicketContact](ContactHistoryEntry)


def parse_contact(data: Mapping[str, Any]) -> CallContact | SurveyContact | TicketContact:
    """One history entry from plain data (its `kind` picks the model); ValidationFailed if bad."""
    try:
        return _ENTRY.validate_python(data)
    except ValidationError as exc:
        raise as_validation_failed(exc, "contact history entry", skip=1, root_field="kind") from exc


def newest_first(
    entries: Iterable[CallContact | SurveyContact | TicketContact],
) -> list[CallContact | SurveyContact | TicketContact]:
    """Newest first; entries at the same instant in a stable order (by id)."""
    ordered = sorted(entries, key=lambda entry: entry.id, reverse=True)
    return sorted(ordered, key=lambda entry: entry.at, reverse=True)


def move_to_customer(
    entries: Iterable[CallContact | SurveyContact | TicketContact],
    *,
    from_customer_id: str,
    to_customer_id: str,
) -> list[CallContact | SurveyContact | TicketContact]:
    """After a merge: the merged customer's entries now belong to the survivor."""
    return [
        entry.model_copy(update={"customer_id": to_customer_id})
        if entry.customer_id == from_customer_id
        else entry
        for entry in entries
    ]
