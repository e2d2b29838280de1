"""Pure building blocks of call control: FreeSWITCH command strings and result mapping."""

from __future__ import annotations

import re
from typing import Literal

from switchboard_common.errors import ValidationFailed

BridgeOutcomeName = Literal["answered", "no_answer", "busy", "failed", "caller_gone"]

_NO_ANSWER_CAUSES = frozenset(
    {
        "NO_ANSWER",
        "NO_USER_RESPONSE",
        "ALLOTTED_TIMEOUT",
        "ORIGINATOR_CANCEL",
        "RECOVERY_ON_TIMER_EXPIRE",
        "PROGRESS_TIMEOUT",
    }
)
_BUSY_CAUSES = frozenset({"USER_BUSY", "CALL_REJECTED", "NORMAL_CIRCUIT_CONGESTION"})
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:@+\-/ #*=]*$")
_SAFE_DIAL = re.compile(r"^[A-Za-z0-9_.:@+\-/]+$")
_UUID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_DTMF = re.compile(r"^[0-9A-Da-d#*wW]{1,64}$")
_CAUSE = re.compile(r"^[A-Z_]{1,48}$")


def outcome_for_cause(cause: str) -> BridgeOutcomeName:
    """How a failed agent leg is reported to routing."""
    if cause in _NO_ANSWER_CAUSES:
        return "no_answer"
    if cause in _BUSY_CAUSES:
        return "busy"
    return "failed"


def check_uuid(value: str, field: str = "call_id") -> str:
    if not _UUID.match(value):
        raise ValidationFailed(
            f"{field} is not a channel id", field=field, error_id="invalid-call-id"
        )
    return value


MAX_SIMULTANEOUS_ENDPOINTS = 64
ENDPOINT_VARIABLE = "sb_endpoint"
"""Per-leg channel variable naming the endpoint a leg of a simultaneous ring dialled."""


def split_endpoints(value: str, field: str = "endpoint") -> tuple[str, ...]:
    """The endpoints of a dial string: one, or several rung at once (`a,b,c`). Each must be
    a plain endpoint (no spaces, braces, brackets, quotes, `&`, `|` or line breaks)."""
    endpoints = tuple(value.split(",")) if value else ()
    if not endpoints or any(not _SAFE_DIAL.match(endpoint) for endpoint in endpoints):
        raise ValidationFailed(
            f"{field} {value!r} is not a dial string", field=field, error_id="invalid-endpoint"
        )
    if len(endpoints) > MAX_SIMULTANEOUS_ENDPOINTS:
        raise ValidationFailed(
            f"{field} rings more than {MAX_SIMULTANEOUS_ENDPOINTS} endpoints",
            field=field,
            error_id="invalid-endpoint",
        )
    return endpoints


def check_dial_string(value: str, field: str = "endpoint") -> str:
    split_endpoints(value, field)
    return value


def dial_string(endpoint: str) -> str:
    """The dial string FreeSWITCH gets: a single endpoint as is; for a simultaneous ring each
    leg is tagged `[sb_endpoint=<endpoint>]` so the answered leg tells which one won."""
    endpoints = split_endpoints(endpoint)
    if len(endpoints) == 1:
        return endpoints[0]
    return ",".join(f"[{ENDPOINT_VARIABLE}={leg}]{leg}" for leg in endpoints)


def check_dtmf(value: str) -> str:
    if not _DTMF.match(value):
        raise ValidationFailed(
            "digits may only hold 0-9, A-D, #, * and w pauses",
            field="digits",
            error_id="invalid-dtmf",
        )
    return value


def check_cause(value: str) -> str:
    cause = value or "NORMAL_CLEARING"
    if not _CAUSE.match(cause):
        raise ValidationFailed(
            f"{cause!r} is not a hangup cause", field="cause", error_id="invalid-hangup-cause"
        )
    return cause


def channel_variables(variables: dict[str, str]) -> str:
    """`{a=1,b=2}` for a dial string; values may not break out of the braces."""
    parts = []
    for key, value in sorted(variables.items()):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", key):
            raise ValidationFailed(
                f"bad channel variable name {key!r}", field="variables", error_id="invalid-variable"
            )
        if not _SAFE_VALUE.match(value):
            raise ValidationFailed(
                f"bad value for channel variable {key}",
                field="variables",
                error_id="invalid-variable",
            )
        parts.append(f"{key}='{value}'" if " " in value else f"{key}={value}")
    return "{" + ",".join(parts) + "}" if parts else ""


def originate_command(endpoint: str, application: str, variables: dict[str, str]) -> str:
    return f"originate {channel_variables(variables)}{dial_string(endpoint)} {application}"


def parse_job_result(body: str) -> tuple[bool, str]:
    """A BACKGROUND_JOB / api body: (+OK?, the rest of the line), e.g. `-ERR USER_BUSY`."""
    text = body.strip()
    if text.startswith("+OK"):
        return True, text[3:].strip()
    if text.startswith("-ERR"):
        return False, text[4:].strip()
    return False, text
