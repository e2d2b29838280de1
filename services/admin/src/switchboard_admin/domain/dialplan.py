"""What FreeSWITCH should do with a dialled number: route it into the platform, reject it
because its tenant is suspended, or refuse it as an unallocated number."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Action = tuple[str, str]
Outcome = Literal["route", "suspended", "unallocated"]

LIMIT_REALM = "switchboard_calls"


@dataclass(frozen=True, slots=True)
class NumberRoute:
    """A tenant number as the dialplan needs it. `max_concurrent_calls` becomes a mod_limit
    check, so a tenant over its quota gets USER_BUSY at the switch."""

    tenant_id: str
    tenant_status: str
    number: str
    target_kind: str
    target_id: str
    timezone: str
    max_concurrent_calls: int


@dataclass(frozen=True, slots=True)
class DialplanDecision:
    outcome: Outcome
    extension: str
    expression: str
    actions: tuple[Action, ...]
    tenant_id: str | None = None


def destination_expression(destination: str) -> str:
    """A regular expression matching exactly the dialled digits."""
    return "^" + re.escape(destination) + "$"


def decide(
    destination: str, route: NumberRoute | None, *, suspended_announcement: str = ""
) -> DialplanDecision:
    expression = destination_expression(destination)
    if route is None:
        return DialplanDecision(
            outcome="unallocated",
            extension="sb_unallocated_number",
            expression=expression,
            actions=(
                ("set", "sb_reject_reason=unallocated-number"),
                ("respond", "404 Not Found"),
                ("hangup", "UNALLOCATED_NUMBER"),
            ),
        )
    if route.tenant_status != "active":
        announcement: tuple[Action, ...] = ()
        if suspended_announcement:
            announcement = (("pre_answer", ""), ("playback", suspended_announcement))
        return DialplanDecision(
            outcome="suspended",
            extension="sb_tenant_suspended",
            expression=expression,
            actions=(
                ("set", "sb_reject_reason=tenant-suspended"),
                *announcement,
                ("hangup", "CALL_REJECTED"),
            ),
            tenant_id=route.tenant_id,
        )
    return DialplanDecision(
        outcome="route",
        extension=f"sb_number_{route.number.lstrip('+')}",
        expression=expression,
        actions=(
            ("set", f"sb_tenant={route.tenant_id}"),
            ("set", f"sb_number={route.number}"),
            ("set", f"sb_target_kind={route.target_kind}"),
            ("set", f"sb_target_id={route.target_id}"),
            ("set", f"sb_timezone={route.timezone}"),
            (
                "limit",
                f"hash {LIMIT_REALM} {route.tenant_id} {route.max_concurrent_calls} !USER_BUSY",
            ),
            ("park", ""),
        ),
        tenant_id=route.tenant_id,
    )
