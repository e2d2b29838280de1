"""Ticket statuses and the table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum

from switchboard_common.errors import PreconditionFailed


class TicketStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    PENDING_CUSTOMER = "pending_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


_S = TicketStatus

ALLOWED_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    _S.NEW: frozenset({_S.ASSIGNED, _S.RESOLVED}),
    _S.ASSIGNED: frozenset({_S.ASSIGNED, _S.NEW, _S.IN_PROGRESS, _S.PENDING_CUSTOMER, _S.RESOLVED}),
    _S.IN_PROGRESS: frozenset({_S.ASSIGNED, _S.NEW, _S.PENDING_CUSTOMER, _S.RESOLVED}),
    _S.PENDING_CUSTOMER: frozenset({_S.ASSIGNED, _S.IN_PROGRESS, _S.RESOLVED}),
    _S.RESOLVED: frozenset({_S.CLOSED, _S.REOPENED}),
    _S.CLOSED: frozenset({_S.REOPENED}),
    _S.REOPENED: frozenset({_S.ASSIGNED, _S.NEW, _S.IN_PROGRESS, _S.PENDING_CUSTOMER, _S.RESOLVED}),
}
"""from -> the statuses it may move to. ASSIGNED -> ASSIGNED is a reassignment, -> NEW an
unassignment; CLOSED is final but for a reopen within the tenant's window."""

OPEN_STATUSES: frozenset[TicketStatus] = frozenset(
    {_S.NEW, _S.ASSIGNED, _S.IN_PROGRESS, _S.PENDING_CUSTOMER, _S.REOPENED}
)
"""Statuses in which work is still owed to the customer."""

NEEDS_ASSIGNEE: frozenset[TicketStatus] = frozenset(
    {_S.ASSIGNED, _S.IN_PROGRESS, _S.PENDING_CUSTOMER}
)

COUNTS_AS_RESPONSE: frozenset[TicketStatus] = frozenset(
    {_S.IN_PROGRESS, _S.PENDING_CUSTOMER, _S.RESOLVED}
)
"""Entering one of these meets the response SLA if nothing met it before."""


def allowed_targets(current: TicketStatus) -> frozenset[TicketStatus]:
    return ALLOWED_TRANSITIONS[current]


def check_transition(current: TicketStatus, target: TicketStatus) -> None:
    """Raise PreconditionFailed `illegal-transition` unless the table allows current -> target."""
    allowed = ALLOWED_TRANSITIONS[current]
    if target not in allowed:
        raise PreconditionFailed(
            f"a ticket cannot go from {current.value} to {target.value}",
            error_id="illegal-transition",
            details={
                "from": current.value,
                "to": target.value,
                "allowed": sorted(status.value for status in allowed),
            },
        )
