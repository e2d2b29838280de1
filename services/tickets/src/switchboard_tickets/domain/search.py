"""Ticket search: filters, and pagination by page/size or by an opaque cursor.

Results are ordered newest first (`created_at` desc, then `id` desc). A cursor names the
last ticket of the previous page, so paging stays stable while new tickets arrive.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard_common.errors import ValidationFailed
from switchboard_tickets.domain._validation import parse_model
from switchboard_tickets.domain.workflow import TicketStatus

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class TicketCursor(BaseModel):
    """Where the previous page ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    created_at: datetime
    ticket_id: str = Field(min_length=1, max_length=64)

    def encode(self) -> str:
        raw = orjson.dumps({"c": self.created_at.astimezone(UTC).isoformat(), "i": self.ticket_id})
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, token: str) -> TicketCursor:
        """Raise ValidationFailed `invalid-cursor` (field `cursor`) for anything not ours."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = orjson.loads(raw)
            cursor = cls(created_at=data["c"], ticket_id=data["i"])
        except (binascii.Error, ValueError, TypeError, KeyError, ValidationError) as exc:
            raise ValidationFailed(
                "the cursor is not one this API returned", field="cursor", error_id="invalid-cursor"
            ) from exc
        if cursor.created_at.tzinfo is None or not _utc_representable(cursor.created_at):
            raise ValidationFailed(
                "the cursor is not one this API returned", field="cursor", error_id="invalid-cursor"
            )
        return cursor


def _utc_representable(value: datetime) -> bool:
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True


class TicketSearchQuery(BaseModel):
    """Filters are ANDed; `status` matches any of the listed statuses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: str | None = Field(default=None, min_length=1, max_length=32)
    customer_id: str | None = Field(default=None, min_length=1, max_length=64)
    status: tuple[TicketStatus, ...] = ()
    department_id: str | None = Field(default=None, min_length=1, max_length=64)
    assignee_id: str | None = Field(default=None, min_length=1, max_length=64)
    unassigned: bool = False
    category: str | None = Field(default=None, min_length=1, max_length=64)
    created_from: datetime | None = Field(default=None, description="inclusive")
    created_to: datetime | None = Field(default=None, description="exclusive")
    text: str | None = Field(default=None, description="words in subject or description")
    cursor: str | None = Field(default=None, max_length=512)
    page: int | None = Field(default=None, ge=1, le=10_000)
    size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("status", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("number", "text", mode="before")
    @classmethod
    def _stripped(cls, value: Any) -> Any:
        if isinstance(value, str):
            stripped = value.strip()
            return stripped or None
        return value

    @field_validator("number")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @field_validator("text")
    @classmethod
    def _text_length(cls, value: str | None) -> str | None:
        if value is not None and not 2 <= len(value) <= 200:
            raise ValueError("search text must be 2 to 200 characters")
        return value

    @field_validator("created_from", "created_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError("must be timezone-aware")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range once in UTC") from None

    @model_validator(mode="after")
    def _coherent(self) -> TicketSearchQuery:
        if self.cursor is not None and self.page is not None:
            raise ValidationFailed(
                "give either a cursor or a page, not both", field="page", error_id="cursor-and-page"
            )
        if self.unassigned and self.assignee_id is not None:
            raise ValidationFailed(
                "unassigned and assignee_id exclude each other", field="assignee_id"
            )
        if (
            self.created_from is not None
            and self.created_to is not None
            and self.created_to <= self.created_from
        ):
            raise ValidationFailed(
                "created_to must be after created_from",
                field="created_to",
                error_id="empty-time-range",
            )
        return self

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> TicketSearchQuery:
        """Validate query parameters; ValidationFailed names the first field at fault
        (a bad cursor: `cursor`, error id `invalid-cursor`)."""
        query = parse_model(cls, params, "ticket search")
        if query.cursor is not None:
            TicketCursor.decode(query.cursor)
        return query

    @property
    def after(self) -> TicketCursor | None:
        return TicketCursor.decode(self.cursor) if self.cursor is not None else None

    @property
    def offset(self) -> int:
        """Rows to skip in page mode (0 in cursor mode)."""
        return (self.page - 1) * self.size if self.page is not None else 0
