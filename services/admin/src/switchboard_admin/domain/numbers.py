"""Phone numbers: E.164 normalisation of what admins type and of what FreeSWITCH dials."""

from __future__ import annotations

import re

import phonenumbers

from switchboard_common.errors import ValidationFailed

_DIALLED = re.compile(r"^\+?[0-9]{3,20}$")
_MAX_INPUT = 40


def normalize_e164(raw: str, *, field: str = "number") -> str:
    """`+33 1 23 45 67 89` -> `+33123456789`; 422 `invalid-number` unless it is a valid
    international number (the leading + is required: numbers belong to the whole platform)."""
    text = raw.strip()
    if len(text) > _MAX_INPUT or not text.startswith("+"):
        raise _invalid(raw, field, "write the number in international form, starting with +")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise _invalid(raw, field, str(exc)) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise _invalid(raw, field, "not a valid number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def dialled_to_e164(destination: str) -> str | None:
    """The E.164 form of a dialled destination (`+15551234567` or `15551234567`), or None."""
    text = destination.strip()
    if not _DIALLED.match(text):
        return None
    candidate = text if text.startswith("+") else f"+{text}"
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _invalid(raw: str, field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"{raw!r} is not a valid E.164 number: {reason}",
        field=field,
        error_id="invalid-number",
        details={"value": raw[:_MAX_INPUT]},
    )
