"""Saying numbers, digits, dates, times and money as sound files, in English and French."""

from __future__ import annotations

import pytest

from switchboard_ivr.domain.say import say_files


def words(files: list[str]) -> list[str]:
    return [f.removeprefix("digits/").removeprefix("currency/").removesuffix(".wav") for f in files]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, ["0"]),
        (13, ["13"]),
        (42, ["40", "2"]),
        (115, ["1", "hundred", "15"]),
        (2000, ["2", "thousand"]),
        (
            1_234_567,
            ["1", "million", "2", "hundred", "30", "4", "thousand", "5", "hundred", "60", "7"],
        ),
        (-7, ["negative", "7"]),
        ("  19 ", ["19"]),
    ],
)
def test_english_numbers(value: int | str, expected: list[str]) -> None:
    assert words(say_files("number", value, "en")) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (16, ["16"]),
        (17, ["10", "7"]),
        (21, ["20", "et", "1"]),
        (70, ["60", "10"]),
        (71, ["60", "et", "11"]),
        (77, ["60", "10", "7"]),
        (80, ["80"]),
        (81, ["80", "1"]),
        (91, ["80", "11"]),
        (100, ["hundred"]),
        (301, ["3", "hundred", "1"]),
        (1000, ["thousand"]),
        (2001, ["2", "thousand", "1"]),
        (1_000_000, ["1", "million"]),
        (3_000_000, ["3", "millions"]),
    ],
)
def test_french_numbers(value: int, expected: list[str]) -> None:
    assert words(say_files("number", value, "fr")) == expected


def test_digits_say_each_key() -> None:
    assert words(say_files("digits", "+33 1*#", "en")) == ["3", "3", "1", "star", "pound"]


def test_money_in_both_languages() -> None:
    assert words(say_files("money", "1.01", "en", "USD")) == [
        "1",
        "dollar",
        "and",
        "1",
        "cent",
    ]
    assert words(say_files("money", 0.5, "fr", "EUR")) == ["50", "centimes"]
    assert words(say_files("money", "-20", "en", "GBP")) == ["negative", "20", "pounds"]


def test_dates_and_times() -> None:
    assert say_files("date", "2024-03-05", "en") == [
        "time/day-2.wav",
        "time/mon-2.wav",
        "digits/h-5.wav",
        "digits/2.wav",
        "digits/thousand.wav",
        "digits/20.wav",
        "digits/4.wav",
    ]
    assert say_files("date", "2024-03-01", "fr")[:3] == [
        "time/day-5.wav",
        "digits/h-1.wav",
        "time/mon-2.wav",
    ]
    assert words(say_files("time", "14:05", "en")) == ["2", "oh", "5", "time/p-m"]
    assert words(say_files("time", "09:00", "en")) == ["9", "oclock", "time/a-m"]
    assert words(say_files("time", "2024-03-05T21:30:00", "fr")) == [
        "20",
        "et",
        "1",
        "time/hours",
        "30",
    ]


@pytest.mark.parametrize(
    ("kind", "value", "language"),
    [
        ("number", "abc", "en"),
        ("number", "1.5", "en"),
        ("number", 10**13, "en"),
        ("digits", "abc", "en"),
        ("date", "tomorrow", "en"),
        ("time", "25:00", "en"),
        ("money", "lots", "fr"),
        ("number", 1, "de"),
    ],
)
def test_unsayable_values_are_refused(kind: str, value: object, language: str) -> None:
    with pytest.raises(ValueError):
        say_files(kind, value, language)  # type: ignore[arg-type]
