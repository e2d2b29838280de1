"""Saying values as FreeSWITCH sound files, the way mod_say does, in English and French.

Files are relative to the channel's `sound_prefix` (the language's sound pack), so the same
name speaks the language of the pack: `digits/80.wav` is "eighty" in English and
"quatre-vingts" in French. What differs between languages is how a value breaks into words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Literal

SayKind = Literal["digits", "number", "date", "time", "money"]
SAY_LANGUAGES: tuple[str, ...] = ("en", "fr")
MAX_SAYABLE = 10**12

TONES: dict[str, str] = {
    "ring": "tone_stream://%(2000,4000,440,480)",
    "busy": "tone_stream://%(500,500,480,620)",
    "beep": "tone_stream://%(250,0,1000)",
    "dial": "tone_stream://%(10000,0,350,440)",
}


def silence(duration_ms: int) -> str:
    return f"silence_stream://{duration_ms}"


def _digit_file(n: int | str) -> str:
    return f"digits/{n}.wav"


# ---------------------------------------------------------------- English


def _en_below_1000(n: int) -> list[str]:
    files: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        files += [_digit_file(hundreds), "digits/hundred.wav"]
    if rest >= 20:
        files.append(_digit_file(rest // 10 * 10))
        rest %= 10
    if rest:
        files.append(_digit_file(rest))
    return files


def _en_number(n: int) -> list[str]:
    if n < 0:
        return ["currency/negative.wav", *_en_number(-n)]
    if n == 0:
        return [_digit_file(0)]
    files: list[str] = []
    for scale, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= scale:
            files += [*_en_below_1000(n // scale), f"digits/{word}.wav"]
            n %= scale
    if n:
        files += _en_below_1000(n)
    return files


# ---------------------------------------------------------------- French


def _fr_below_100(n: int) -> list[str]:
    if n <= 16:
        return [_digit_file(n)]
    if n < 20:
        return [_digit_file(10), _digit_file(n - 10)]
    if n < 70:
        tens, unit = divmod(n, 10)
        if unit == 0:
            return [_digit_file(tens * 10)]
        if unit == 1:
            return [_digit_file(tens * 10), "digits/et.wav", _digit_file(1)]
        return [_digit_file(tens * 10), _digit_file(unit)]
    if n < 80:
        if n == 71:
            return [_digit_file(60), "digits/et.wav", _digit_file(11)]
        return [_digit_file(60), *_fr_below_100(n - 60)]
    if n == 80:
        return [_digit_file(80)]
    return [_digit_file(80), *_fr_below_100(n - 80)]


def _fr_below_1000(n: int) -> list[str]:
    files: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        if hundreds > 1:
            files.append(_digit_file(hundreds))
        files.append("digits/hundred.wav")
    if rest:
        files += _fr_below_100(rest)
    return files


def _fr_number(n: int) -> list[str]:
    if n < 0:
        return ["currency/negative.wav", *_fr_number(-n)]
    if n == 0:
        return [_digit_file(0)]
    files: list[str] = []
    for scale, word in ((10**9, "billion"), (10**6, "million")):
        if n >= scale:
            count = n // scale
            plural = "s" if count > 1 else ""
            files += [*_fr_below_1000(count), f"digits/{word}{plural}.wav"]
            n %= scale
    if n >= 1000:
        count = n // 1000
        if count > 1:
            files += _fr_below_1000(count)
        files.append("digits/thousand.wav")
        n %= 1000
    if n:
        files += _fr_below_1000(n)
    return files


# ---------------------------------------------------------------- per language rules

_NUMBER: dict[str, Callable[[int], list[str]]] = {"en": _en_number, "fr": _fr_number}

_CURRENCY_WORDS: dict[str, dict[str, tuple[str, str, str, str]]] = {
    "en": {
        "USD": ("dollar", "dollars", "cent", "cents"),
        "EUR": ("euro", "euros", "cent", "cents"),
        "GBP": ("pound", "pounds", "penny", "pence"),
    },
    "fr": {
        "USD": ("dollar", "dollars", "cent", "cents"),
        "EUR": ("euro", "euros", "centime", "centimes"),
        "GBP": ("livre", "livres", "penny", "pence"),
    },
}


def _integer(value: str | int | float) -> int:
    if isinstance(value, bool):
        raise ValueError("a number is expected")
    if isinstance(value, int):
        number = value
    else:
        try:
            parsed = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a number") from exc
        if parsed != parsed.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number")
        number = int(parsed)
    if abs(number) >= MAX_SAYABLE:
        raise ValueError(f"{value!r} is too large to say")
    return number


def _say_number(value: str | int | float, language: str) -> list[str]:
    return _NUMBER[language](_integer(value))


def _say_digits(value: str | int | float, language: str) -> list[str]:
    files = []
    for char in str(value):
        if char.isdigit():
            files.append(_digit_file(char))
        elif char == "*":
            files.append("digits/star.wav")
        elif char == "#":
            files.append("digits/pound.wav")
    if not files:
        raise ValueError(f"{value!r} has no digits to say")
    return files


def _parse_date(value: str | int | float) -> date:
    text = str(value).strip()
    try:
        if "T" in text or " " in text:
            return datetime.fromisoformat(text).date()
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an ISO date") from exc


def _say_date(value: str | int | float, language: str) -> list[str]:
    day = _parse_date(value)
    weekday = f"time/day-{(day.weekday() + 1) % 7}.wav"
    month = f"time/mon-{day.month - 1}.wav"
    year = _NUMBER[language](day.year)
    if language == "fr":
        day_files = ["digits/h-1.wav"] if day.day == 1 else _fr_number(day.day)
        return [weekday, *day_files, month, *year]
    return [weekday, month, f"digits/h-{day.day}.wav", *year]


_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")


def _parse_time(value: str | int | float) -> time:
    text = str(value).strip()
    match = _CLOCK.match(text)
    try:
        if match:
            return time(int(match.group(1)), int(match.group(2)))
        return datetime.fromisoformat(text).time()
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a time of day") from exc


def _say_time(value: str | int | float, language: str) -> list[str]:
    at = _parse_time(value)
    if language == "fr":
        files = [*_fr_number(at.hour), "time/hours.wav"]
        return files + (_fr_number(at.minute) if at.minute else [])
    hour = at.hour % 12 or 12
    files = _en_number(hour)
    if at.minute == 0:
        files.append("digits/oclock.wav")
    elif at.minute < 10:
        files += ["digits/oh.wav", _digit_file(at.minute)]
    else:
        files += _en_number(at.minute)
    files.append("time/a-m.wav" if at.hour < 12 else "time/p-m.wav")
    return files


def _say_money(value: str | int | float, language: str, currency: str) -> list[str]:
    if isinstance(value, bool):
        raise ValueError("an amount is expected")
    try:
        amount = Decimal(str(value).strip()).quantize(Decimal("0.01"))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount") from exc
    if abs(amount) >= MAX_SAYABLE:
        raise ValueError(f"{value!r} is too large to say")
    words = _CURRENCY_WORDS[language].get(currency)
    if words is None:
        raise ValueError(f"currency {currency} is not supported")
    unit, units, sub, subs = words
    number = _NUMBER[language]
    files = ["currency/negative.wav"] if amount < 0 else []
    whole = int(abs(amount))
    cents = int((abs(amount) - whole) * 100)
    if whole or not cents:
        files += [*number(whole), f"currency/{unit if whole == 1 else units}.wav"]
    if cents:
        if whole:
            files.append("currency/and.wav")
        files += [*number(cents), f"currency/{sub if cents == 1 else subs}.wav"]
    return files


def say_files(
    kind: SayKind, value: str | int | float, language: str, currency: str = "USD"
) -> list[str]:
    """Sound files that speak `value`; ValueError when it cannot be said."""
    if language not in SAY_LANGUAGES:
        raise ValueError(f"language {language!r} is not supported for say")
    if kind == "number":
        return _say_number(value, language)
    if kind == "digits":
        return _say_digits(value, language)
    if kind == "date":
        return _say_date(value, language)
    if kind == "time":
        return _say_time(value, language)
    return _say_money(value, language, currency)
