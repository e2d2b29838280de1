"""The life of a flow's versions: draft → published → retired, rollback, and discarding.

A tenant flow has numbered versions. At most one is a draft (the one being edited) and at
most one is published (the one calls run). Publishing retires the previously published
version; rolling back publishes a retired version again. Every operation returns a new
`FlowHistory`; the repository stores it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from switchboard_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from switchboard_ivr.domain.model import Flow, is_e164


class FlowVersionState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"
    DISCARDED = "discarded"


ALLOWED_TRANSITIONS: dict[FlowVersionState, frozenset[FlowVersionState]] = {
    FlowVersionState.DRAFT: frozenset({FlowVersionState.PUBLISHED, FlowVersionState.DISCARDED}),
    FlowVersionState.PUBLISHED: frozenset({FlowVersionState.RETIRED}),
    FlowVersionState.RETIRED: frozenset({FlowVersionState.PUBLISHED}),
    FlowVersionState.DISCARDED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class FlowVersion:
    number: int
    state: FlowVersionState
    definition: Flow
    created_at: datetime
    published_at: datetime | None = None

    def transition(self, to: FlowVersionState, at: datetime) -> FlowVersion:
        """This version in state `to`; PreconditionFailed when the move is not allowed."""
        if to not in ALLOWED_TRANSITIONS[self.state]:
            raise PreconditionFailed(
                f"flow version {self.number} cannot go from {self.state} to {to}",
                error_id="illegal-flow-version-transition",
                details={"field": "state", "version": self.number, "from": self.state, "to": to},
            )
        published_at = at if to is FlowVersionState.PUBLISHED else self.published_at
        return replace(self, state=to, published_at=published_at)


@dataclass(frozen=True, slots=True)
class FlowHistory:
    """All versions of one tenant flow, oldest first."""

    tenant_id: str
    flow_id: str
    versions: tuple[FlowVersion, ...] = ()

    def version(self, number: int) -> FlowVersion:
        for version in self.versions:
            if version.number == number:
                return version
        raise NotFound(
            f"flow {self.flow_id} has no version {number}",
            error_id="no-such-flow-version",
            details={"field": "version", "version": number},
        )

    def _in(self, state: FlowVersionState) -> FlowVersion | None:
        return next((v for v in reversed(self.versions) if v.state is state), None)

    @property
    def draft(self) -> FlowVersion | None:
        return self._in(FlowVersionState.DRAFT)

    @property
    def published(self) -> FlowVersion | None:
        return self._in(FlowVersionState.PUBLISHED)

    def active(self) -> FlowVersion:
        """The version calls run; NotFound when nothing is published."""
        version = self.published
        if version is None:
            raise NotFound(
                f"flow {self.flow_id} has no published version", error_id="flow-not-published"
            )
        return version

    def _with(self, *changed: FlowVersion) -> FlowHistory:
        by_number = {version.number: version for version in changed}
        versions = tuple(by_number.pop(v.number, v) for v in self.versions)
        return replace(self, versions=versions + tuple(by_number.values()))

    def _check_definition(self, definition: Flow) -> None:
        if definition.id != self.flow_id:
            raise ValidationFailed(
                f"the definition is for flow {definition.id}, not {self.flow_id}",
                error_id="flow-id-mismatch",
                field="id",
            )

    def save_draft(self, definition: Flow, at: datetime) -> FlowHistory:
        """Replace the open draft's definition, or open a new draft numbered after the last."""
        self._check_definition(definition)
        draft = self.draft
        if draft is not None:
            return self._with(replace(draft, definition=definition, created_at=at))
        number = max((v.number for v in self.versions), default=0) + 1
        return self._with(FlowVersion(number, FlowVersionState.DRAFT, definition, at))

    def publish(self, number: int, at: datetime) -> FlowHistory:
        """Publish a draft (or a retired version); the published one is retired."""
        target = self.version(number)
        if target.state is FlowVersionState.PUBLISHED:
            raise Conflict(
                f"version {number} is already published",
                error_id="flow-version-already-published",
                details={"field": "version", "version": number},
            )
        changed = [target.transition(FlowVersionState.PUBLISHED, at)]
        current = self.published
        if current is not None:
            changed.append(current.transition(FlowVersionState.RETIRED, at))
        return self._with(*changed)

    def rollback(self, at: datetime, to: int | None = None) -> FlowHistory:
        """Publish again version `to`, or the retired version published most recently."""
        if to is None:
            retired = [
                v for v in self.versions if v.state is FlowVersionState.RETIRED and v.published_at
            ]
            if not retired:
                raise PreconditionFailed(
                    f"flow {self.flow_id} has no earlier published version",
                    error_id="nothing-to-roll-back-to",
                )
            to = max(retired, key=lambda v: (v.published_at, v.number)).number
        target = self.version(to)
        if target.state is not FlowVersionState.RETIRED:
            raise PreconditionFailed(
                f"version {to} is {target.state}; only a retired version can be rolled back to",
                error_id="illegal-flow-version-transition",
                details={"field": "version", "version": to},
            )
        return self.publish(to, at)

    def discard_draft(self, at: datetime) -> FlowHistory:
        draft = self.draft
        if draft is None:
            raise NotFound(f"flow {self.flow_id} has no draft", error_id="no-draft")
        return self._with(draft.transition(FlowVersionState.DISCARDED, at))


@dataclass(frozen=True, slots=True)
class NumberBinding:
    """A tenant number (E.164) pointing at a flow; calls to it run the flow's published version."""

    tenant_id: str
    number: str
    flow_id: str


def bind_number(history: FlowHistory, number: str) -> NumberBinding:
    """Point `number` at the flow; the flow must have a published version to take calls."""
    if not is_e164(number):
        raise ValidationFailed(
            f"{number!r} is not an E.164 number", error_id="invalid-number", field="number"
        )
    if history.published is None:
        raise PreconditionFailed(
            f"flow {history.flow_id} has no published version",
            error_id="flow-not-published",
            details={"field": "flow_id"},
        )
    return NumberBinding(history.tenant_id, number, history.flow_id)
