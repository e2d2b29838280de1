"""Human-friendly ticket numbers per tenant: prefix + zero-padded sequence (ACME-000123)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.errors import ValidationFailed


class TicketNumberFormat(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str = Field(default="T", pattern=r"^[A-Z][A-Z0-9]{0,11}$")
    width: int = Field(default=6, ge=1, le=12, description="digits, zero-padded")
    separator: str = Field(default="-", pattern=r"^[-_/.]?$")

    def format(self, sequence: int) -> str:
        """`ACME-000123`; a sequence wider than `width` keeps all its digits."""
        if sequence < 1:
            raise ValidationFailed(
                "ticket sequence starts at 1", field="sequence", details={"value": sequence}
            )
        return f"{self.prefix}{self.separator}{sequence:0{self.width}d}"

    def parse(self, text: str) -> int:
        """The sequence in a number typed by a person: `acme-123`, `ACME-000123` or `123`."""
        cleaned = text.strip().upper()
        pattern = rf"^(?:{re.escape(self.prefix)}{re.escape(self.separator)}?)?0*([1-9][0-9]*)$"
        match = re.match(pattern, cleaned)
        if match is None:
            raise ValidationFailed(
                f"{text!r} is not a ticket number",
                field="number",
                error_id="invalid-ticket-number",
                details={"value": text, "example": self.format(123)},
            )
        return int(match.group(1))
