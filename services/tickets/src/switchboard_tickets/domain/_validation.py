"""Turning pydantic validation errors into the house `ValidationFailed` error."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from switchboard_common.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """('phones', 2) -> 'phones[2]'; ('page', 'size') -> 'page.size'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def as_validation_failed(
    exc: ValidationError, what: str, *, skip: int = 0, root_field: str | None = None
) -> ValidationFailed:
    """The first error as ValidationFailed; `skip` drops leading loc parts (a union's tag),
    `root_field` names errors about the whole object (an unknown union tag)."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    first = errors[0]
    loc = tuple(first["loc"])
    field = field_path(loc[skip:]) if loc else root_field
    return ValidationFailed(
        f"invalid {what}: {first['msg']}", field=field, details={"errors": errors}
    )


def parse_model(cls: type[M], data: Mapping[str, Any], what: str) -> M:
    """`cls.model_validate(data)`, raising `ValidationFailed` naming the first bad field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise as_validation_failed(exc, what) from exc


def require_aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationFailed(
            f"{field} must be a timezone-aware datetime", field=field, error_id="naive-datetime"
        )
    return value
