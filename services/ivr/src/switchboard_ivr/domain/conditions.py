"""Evaluating branch conditions and `${name}` templates against what a run knows."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from switchboard_ivr.domain.model import Condition
from switchboard_ivr.domain.webhook import MISSING

Lookup = Callable[[str], Any]
"""Resolves a variable, call fact, `crm.*` or `time.*` name; MISSING when unknown."""

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def values_equal(left: Any, right: Any) -> bool:
    """Numbers compare as numbers when either side is a JSON number ("3" == 3), else as text."""
    if left is MISSING:
        return False
    if left is None or right is None:
        return left is right
    if _is_number(left) or _is_number(right):
        a, b = _as_number(left), _as_number(right)
        if a is not None and b is not None:
            return a == b
    if isinstance(left, str | bool | int | float) and isinstance(right, str | bool | int | float):
        return _text(left) == _text(right)
    return bool(left == right)


def _order(left: Any, right: Any) -> tuple[float, float] | tuple[str, str] | None:
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        return a, b
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    return None


def evaluate(condition: Condition, value: Any) -> bool:
    """Whether `condition` holds for the looked-up `value` (MISSING when unknown)."""
    op, expected = condition.op, condition.value
    if op == "exists":
        return value is not MISSING and value is not None
    if op == "==":
        return values_equal(value, expected)
    if op == "!=":
        return not values_equal(value, expected)
    if value is MISSING or value is None:
        return False
    if op == "in":
        return isinstance(expected, list) and any(values_equal(value, item) for item in expected)
    if op == "matches":
        try:
            return isinstance(expected, str) and re.search(expected, str(value)) is not None
        except re.error:
            return False
    if op == "starts_with":
        return str(value).startswith(str(expected))
    pair = _order(value, expected)
    if pair is None:
        return False
    return _COMPARE[op](pair[0], pair[1])


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def holds(conditions: list[Condition], lookup: Lookup) -> bool:
    return all(evaluate(condition, lookup(condition.var)) for condition in conditions)


def render(value: Any, lookup: Lookup) -> Any:
    """`"${name}"` alone gives the raw value; placeholders inside text are replaced as text."""
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        found = lookup(whole.group(1).strip())
        return None if found is MISSING else found

    def text_of(match: re.Match[str]) -> str:
        found = lookup(match.group(1).strip())
        return "" if found is MISSING or found is None else str(found)

    return _PLACEHOLDER.sub(text_of, value)
