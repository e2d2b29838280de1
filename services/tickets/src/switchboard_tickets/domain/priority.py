"""Ticket priority from urgency and impact, through a per-tenant matrix."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, model_validator


class Urgency(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Impact(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(StrEnum):
    """P1 is the most pressing."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        return int(self.value[1:])


_DEFAULT_CELLS: dict[Impact, dict[Urgency, Priority]] = {
    Impact.HIGH: {Urgency.HIGH: Priority.P1, Urgency.MEDIUM: Priority.P2, Urgency.LOW: Priority.P3},
    Impact.MEDIUM: {
        Urgency.HIGH: Priority.P2,
        Urgency.MEDIUM: Priority.P3,
        Urgency.LOW: Priority.P4,
    },
    Impact.LOW: {Urgency.HIGH: Priority.P3, Urgency.MEDIUM: Priority.P4, Urgency.LOW: Priority.P4},
}


class PriorityMatrix(BaseModel):
    """impact -> urgency -> priority; every one of the nine cells must be given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cells: dict[Impact, dict[Urgency, Priority]]

    @model_validator(mode="after")
    def _complete(self) -> PriorityMatrix:
        missing = [
            f"{impact.value}/{urgency.value}"
            for impact in Impact
            for urgency in Urgency
            if urgency not in self.cells.get(impact, {})
        ]
        if missing:
            raise ValueError(f"priority matrix misses cells {', '.join(missing)}")
        return self

    @classmethod
    def default(cls) -> PriorityMatrix:
        return cls(cells={impact: dict(row) for impact, row in _DEFAULT_CELLS.items()})

    def priority_for(self, urgency: Urgency, impact: Impact) -> Priority:
        return self.cells[impact][urgency]
