"""Per-tenant cti settings: not-ready reasons, disposition codes, what wrap-up requires,
how long wrap-up lasts when the queue does not say, and which recording controls agents get."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard_cti.domain.states import DISCONNECTED_REASON, MISSED_REASON, SUPERVISOR_REASON

RecordingControl = Literal["none", "pause_resume", "full"]
"""none: agents cannot touch recording; pause_resume: pause/resume only (e.g. while a card
number is read out); full: also start and stop."""

SYSTEM_REASONS = (MISSED_REASON, SUPERVISOR_REASON, DISCONNECTED_REASON)
_CODE = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class TenantPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    not_ready_reasons: tuple[str, ...] = Field(
        default=("break", "lunch", "training", "meeting"),
        min_length=1,
        max_length=50,
        description="reasons an agent may pick; 'missed', 'supervisor' and 'desktop-lost' "
        "are set by the system",
    )
    dispositions: tuple[str, ...] = Field(
        default=("resolved", "follow-up", "escalated", "callback", "no-action"),
        min_length=1,
        max_length=100,
    )
    disposition_required: bool = True
    notes_required: bool = False
    default_wrap_up_s: float = Field(
        default=30.0, ge=0, le=3600, description="wrap-up timer of calls from no known queue"
    )
    recording_control: RecordingControl = "pause_resume"

    @field_validator("not_ready_reasons", "dispositions")
    @classmethod
    def _codes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for value in values:
            if not re.match(_CODE, value):
                raise ValueError(f"{value!r}: lower-case letters, digits, - and _ (1-40)")
            if value in seen:
                raise ValueError(f"{value!r} listed twice")
            seen.add(value)
        return values

    @field_validator("not_ready_reasons")
    @classmethod
    def _no_system_reason(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if value in SYSTEM_REASONS:
                raise ValueError(f"{value!r} is a system reason")
        return values

    def recording_allowed(self, action: str) -> bool:
        if self.recording_control == "full":
            return True
        if self.recording_control == "pause_resume":
            return action in ("pause", "resume")
        return False
