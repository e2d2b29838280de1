"""BusinessCalendar: opening status, holidays, business-time arithmetic, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard_common.business_hours import BusinessCalendar, Holiday, OpeningInterval
from switchboard_common.errors import ValidationFailed

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office(zone: str = "Europe/Paris", holidays: tuple[Holiday, ...] = ()) -> BusinessCalendar:
    """Mon-Fri 09:00-12:30 and 13:30-18:00: 8 open hours a day."""
    return BusinessCalendar(
        timezone=zone,
        weekly={day: ("09:00-12:30", "13:30-18:00") for day in WORKDAYS},
        holidays=holidays,
    )


def paris(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=PARIS)


def new_york(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=NEW_YORK)


# -- construction and validation -------------------------------------------------------------


def test_unknown_time_zone_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        BusinessCalendar(timezone="Mars/Olympus_Mons")
    assert caught.value.details["field"] == "timezone"
    assert caught.value.error_id == "unknown-timezone"


@pytest.mark.parametrize("zone", ["", "../etc/passwd", " Europe/Paris", "Europe/Nowhere"])
def test_malformed_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        BusinessCalendar.parse({"timezone": zone})
    assert caught.value.details["field"] == "timezone"


def test_parse_reports_the_bad_interval_by_path() -> None:
    with pytest.raises(ValidationFailed) as caught:
        BusinessCalendar.parse({"timezone": "UTC", "weekly": {"tue": ["09:00-12:00", "9h-5h"]}})
    assert caught.value.details["field"] == "weekly.tue[1]"


def test_parse_refuses_unknown_weekdays_and_backwards_holidays() -> None:
    with pytest.raises(ValidationFailed):
        BusinessCalendar.parse({"timezone": "UTC", "weekly": {"monday": ["09:00-12:00"]}})
    with pytest.raises(ValidationFailed) as caught:
        BusinessCalendar.parse(
            {"timezone": "UTC", "holidays": [{"first_day": "2024-05-02", "last_day": "2024-05-01"}]}
        )
    assert caught.value.details["field"] == "holidays[0]"


def test_interval_text_and_object_forms_agree() -> None:
    assert OpeningInterval.model_validate("22:00-06:00") == OpeningInterval(
        start=time(22), end=time(6)
    )
    assert OpeningInterval.model_validate("22:00-06:00").overnight


def test_naive_datetimes_are_refused() -> None:
    calendar = office()
    naive = datetime(2024, 5, 6, 10)
    with pytest.raises(ValidationFailed) as caught:
        calendar.status_at(naive)
    assert caught.value.details["field"] == "at"
    with pytest.raises(ValidationFailed) as caught:
        calendar.add_business_time(naive, timedelta(hours=1))
    assert caught.value.details["field"] == "start"
    with pytest.raises(ValidationFailed):
        calendar.business_time_between(paris(2024, 5, 6, 10), naive)


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        office().add_business_time(paris(2024, 5, 6, 10), timedelta(minutes=-1))
    assert caught.value.details["field"] == "duration"


def test_round_trips_through_json() -> None:
    calendar = office(holidays=(Holiday(first_day=date(2024, 12, 24), closed_from=time(12)),))
    again = BusinessCalendar.model_validate_json(calendar.model_dump_json())
    assert again == calendar
    assert again.status_at(paris(2024, 12, 24, 14)) == "holiday"


# -- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (paris(2024, 5, 6, 8, 59, 59), "closed"),
        (paris(2024, 5, 6, 9), "open"),
        (paris(2024, 5, 6, 12, 29), "open"),
        (paris(2024, 5, 6, 12, 30), "closed"),
        (paris(2024, 5, 6, 13, 30), "open"),
        (paris(2024, 5, 6, 17, 59, 59), "open"),
        (paris(2024, 5, 6, 18), "closed"),
        (paris(2024, 5, 11, 10), "closed"),
    ],
)
def test_status_follows_the_weekly_intervals(at: datetime, expected: str) -> None:
    assert office().status_at(at) == expected
    assert office().is_open(at) is (expected == "open")


def test_status_accepts_instants_given_in_another_zone() -> None:
    assert office().status_at(datetime(2024, 5, 6, 7, 30, tzinfo=UTC)) == "open"  # 09:30 CEST
    assert office().status_at(datetime(2024, 5, 6, 6, 30, tzinfo=UTC)) == "closed"


def test_overnight_interval_runs_into_the_next_day() -> None:
    calendar = BusinessCalendar(timezone="America/New_York", weekly={"fri": ("22:00-06:00",)})
    assert calendar.status_at(new_york(2024, 5, 10, 21, 59)) == "closed"
    assert calendar.status_at(new_york(2024, 5, 10, 22)) == "open"
    assert calendar.status_at(new_york(2024, 5, 11, 2)) == "open"  # Saturday, from Friday
    assert calendar.status_at(new_york(2024, 5, 11, 6)) == "closed"
    assert calendar.status_at(new_york(2024, 5, 9, 2)) == "closed"  # Thursday: nothing
    assert calendar.business_time_between(
        new_york(2024, 5, 10), new_york(2024, 5, 12)
    ) == timedelta(hours=8)


def test_interval_ending_at_midnight_and_all_day_interval() -> None:
    calendar = BusinessCalendar(
        timezone="UTC", weekly={"mon": ("18:00-00:00",), "tue": ("00:00-00:00",)}
    )
    monday = datetime(2024, 5, 6, tzinfo=UTC)
    assert calendar.business_time_between(monday, monday + timedelta(days=7)) == timedelta(hours=30)
    assert calendar.status_at(monday + timedelta(hours=23, minutes=59)) == "open"
    assert calendar.status_at(monday + timedelta(days=1, hours=12)) == "open"
    assert calendar.status_at(monday + timedelta(days=2)) == "closed"


def test_overlapping_intervals_count_once() -> None:
    calendar = BusinessCalendar(timezone="UTC", weekly={"mon": ("09:00-12:00", "11:00-13:00")})
    monday = datetime(2024, 5, 6, tzinfo=UTC)
    assert calendar.business_time_between(monday, monday + timedelta(days=1)) == timedelta(hours=4)


def test_full_day_holiday_reports_holiday_all_day() -> None:
    calendar = office(holidays=(Holiday(name="Labour Day", first_day=date(2024, 5, 1)),))
    assert calendar.status_at(paris(2024, 5, 1, 10)) == "holiday"
    assert calendar.status_at(paris(2024, 5, 1, 3)) == "holiday"
    assert calendar.status_at(paris(2024, 5, 2, 10)) == "open"
    assert calendar.status_at(paris(2024, 4, 30, 23, 59)) == "closed"


def test_holiday_range_covers_every_day_inclusive() -> None:
    calendar = office(holidays=(Holiday(first_day=date(2024, 8, 5), last_day=date(2024, 8, 16)),))
    assert calendar.status_at(paris(2024, 8, 5, 10)) == "holiday"
    assert calendar.status_at(paris(2024, 8, 16, 17)) == "holiday"
    assert calendar.status_at(paris(2024, 8, 19, 10)) == "open"
    assert calendar.next_open(paris(2024, 8, 5, 10)) == paris(2024, 8, 19, 9)


def test_partial_day_closure_closes_only_its_window() -> None:
    calendar = office(
        holidays=(
            Holiday(first_day=date(2024, 12, 24), closed_from=time(12)),
            Holiday(first_day=date(2024, 12, 27), closed_from=time(10), closed_until=time(11)),
        )
    )
    assert calendar.status_at(paris(2024, 12, 24, 11)) == "open"
    assert calendar.status_at(paris(2024, 12, 24, 14)) == "holiday"
    assert calendar.status_at(paris(2024, 12, 27, 10, 30)) == "holiday"
    assert calendar.status_at(paris(2024, 12, 27, 11)) == "open"
    assert calendar.business_time_between(paris(2024, 12, 27), paris(2024, 12, 28)) == timedelta(
        hours=7
    )


def test_holiday_closes_an_overnight_interval_from_the_day_before() -> None:
    calendar = BusinessCalendar(
        timezone="America/New_York",
        weekly={"fri": ("22:00-06:00",)},
        holidays=(Holiday(first_day=date(2024, 5, 11)),),
    )
    assert calendar.status_at(new_york(2024, 5, 10, 23)) == "open"
    assert calendar.status_at(new_york(2024, 5, 11, 2)) == "holiday"


# -- next_open -------------------------------------------------------------------------------


def test_next_open_returns_the_instant_itself_when_open() -> None:
    assert office().next_open(paris(2024, 5, 6, 10, 15)) == paris(2024, 5, 6, 10, 15)


def test_next_open_skips_lunch_weekend_and_holidays() -> None:
    calendar = office(holidays=(Holiday(first_day=date(2024, 5, 13)),))
    assert calendar.next_open(paris(2024, 5, 6, 12, 45)) == paris(2024, 5, 6, 13, 30)
    assert calendar.next_open(paris(2024, 5, 10, 18)) == paris(2024, 5, 14, 9)
    result = calendar.next_open(paris(2024, 5, 10, 18))
    assert result is not None and result.tzinfo == PARIS


def test_never_open_calendar() -> None:
    calendar = BusinessCalendar(timezone="UTC")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert calendar.next_open(start) is None
    assert calendar.business_time_between(start, start + timedelta(days=30)) == timedelta(0)
    with pytest.raises(ValidationFailed) as caught:
        calendar.add_business_time(start, timedelta(seconds=1))
    assert caught.value.error_id == "calendar-never-open"


def test_calendar_closed_until_a_long_holiday_ends_still_opens_after_it() -> None:
    calendar = office(holidays=(Holiday(first_day=date(2024, 1, 1), last_day=date(2025, 6, 30)),))
    assert calendar.next_open(paris(2024, 3, 1, 10)) == paris(2025, 7, 1, 9)


# -- add_business_time and business_time_between ---------------------------------------------


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        (paris(2024, 5, 6, 10), timedelta(hours=1), paris(2024, 5, 6, 11)),
        (paris(2024, 5, 6, 12), timedelta(hours=1), paris(2024, 5, 6, 14)),  # over lunch
        (paris(2024, 5, 6, 12), timedelta(minutes=30), paris(2024, 5, 6, 12, 30)),  # closing
        (paris(2024, 5, 6, 7), timedelta(minutes=1), paris(2024, 5, 6, 9, 1)),  # before opening
        (paris(2024, 5, 10, 17), timedelta(hours=2), paris(2024, 5, 13, 10)),  # weekend
        (paris(2024, 5, 11, 12), timedelta(hours=8), paris(2024, 5, 13, 18)),  # from Saturday
        (paris(2024, 5, 6, 9), timedelta(hours=40), paris(2024, 5, 10, 18)),  # a whole week
        (paris(2024, 5, 11, 12), timedelta(0), paris(2024, 5, 11, 12)),
    ],
)
def test_add_business_time(start: datetime, duration: timedelta, expected: datetime) -> None:
    result = office().add_business_time(start, duration)
    assert result == expected
    assert result.tzinfo == PARIS


def test_add_business_time_skips_holidays() -> None:
    calendar = office(
        holidays=(
            Holiday(first_day=date(2024, 12, 25)),
            Holiday(first_day=date(2024, 12, 24), closed_from=time(12)),
        )
    )
    # Mon 23rd 17:00: 1h that day, 3h on the 24th morning, the 25th off, 1h on the 26th.
    assert calendar.add_business_time(paris(2024, 12, 23, 17), timedelta(hours=5)) == paris(
        2024, 12, 26, 10
    )


def test_business_time_between_counts_open_time_only_and_is_antisymmetric() -> None:
    calendar = office()
    a, b = paris(2024, 5, 10, 17), paris(2024, 5, 13, 10)
    assert calendar.business_time_between(a, b) == timedelta(hours=2)
    assert calendar.business_time_between(b, a) == timedelta(hours=-2)
    assert calendar.business_time_between(a, a) == timedelta(0)


def test_open_spans_lists_clipped_periods() -> None:
    spans = office().open_spans(paris(2024, 5, 6, 10), paris(2024, 5, 6, 15))
    assert spans == [
        (paris(2024, 5, 6, 10), paris(2024, 5, 6, 12, 30)),
        (paris(2024, 5, 6, 13, 30), paris(2024, 5, 6, 15)),
    ]


# -- daylight saving time --------------------------------------------------------------------


def test_paris_round_the_clock_days_are_23_and_25_hours_long_at_dst_changes() -> None:
    calendar = BusinessCalendar(
        timezone="Europe/Paris", weekly={day: ("00:00-00:00",) for day in (*WORKDAYS, "sat", "sun")}
    )
    assert calendar.business_time_between(paris(2024, 3, 31), paris(2024, 4, 1)) == timedelta(
        hours=23
    )
    assert calendar.business_time_between(paris(2024, 10, 27), paris(2024, 10, 28)) == timedelta(
        hours=25
    )
    # 24 real hours from Saturday noon land at 13:00 on Sunday, wall time.
    assert calendar.add_business_time(paris(2024, 3, 30, 12), timedelta(hours=24)) == paris(
        2024, 3, 31, 13
    )


def test_paris_office_due_time_across_spring_forward_weekend() -> None:
    due = office().add_business_time(paris(2024, 3, 29, 16), timedelta(hours=4))
    assert due == paris(2024, 4, 1, 11)
    assert due.utcoffset() == timedelta(hours=2)
    assert due.astimezone(UTC) == datetime(2024, 4, 1, 9, tzinfo=UTC)


def test_new_york_office_due_time_across_fall_back_weekend() -> None:
    calendar = office("America/New_York")
    due = calendar.add_business_time(new_york(2024, 11, 1, 17), timedelta(hours=3))
    assert due == new_york(2024, 11, 4, 11)
    assert due.astimezone(UTC) == datetime(2024, 11, 4, 16, tzinfo=UTC)


def test_interval_spanning_the_skipped_hour_is_shorter() -> None:
    calendar = BusinessCalendar(timezone="America/New_York", weekly={"sun": ("01:00-04:00",)})
    spring = new_york(2024, 3, 10)
    assert calendar.business_time_between(spring, spring + timedelta(days=1)) == timedelta(hours=2)
    autumn = new_york(2024, 11, 3)
    assert calendar.business_time_between(autumn, autumn + timedelta(days=1)) == timedelta(hours=4)
    normal = new_york(2024, 5, 5)
    assert calendar.business_time_between(normal, normal + timedelta(days=1)) == timedelta(hours=3)


def test_interval_inside_the_skipped_hour_does_not_exist() -> None:
    calendar = BusinessCalendar(timezone="Europe/Paris", weekly={"sun": ("02:00-03:00",)})
    assert calendar.business_time_between(paris(2024, 3, 31), paris(2024, 4, 1)) == timedelta(0)
    assert calendar.business_time_between(paris(2024, 4, 7), paris(2024, 4, 8)) == timedelta(
        hours=1
    )


def test_weekly_opening_lost_to_a_dst_gap_does_not_end_the_search() -> None:
    calendar = BusinessCalendar(timezone="Europe/Paris", weekly={"sun": ("02:00-03:00",)})
    assert calendar.next_open(paris(2024, 3, 25)) == paris(2024, 4, 7, 2)


def test_interval_in_the_repeated_hour_starts_at_its_first_occurrence() -> None:
    calendar = BusinessCalendar(timezone="Europe/Paris", weekly={"sun": ("02:30-03:00",)})
    # 02:30 happens twice on 27 Oct 2024; the interval starts at the first one (00:30 UTC,
    # CEST) and ends at 03:00 CET (02:00 UTC): an hour and a half.
    assert calendar.status_at(datetime(2024, 10, 27, 0, 29, tzinfo=UTC)) == "closed"
    assert calendar.status_at(datetime(2024, 10, 27, 0, 45, tzinfo=UTC)) == "open"
    assert calendar.status_at(datetime(2024, 10, 27, 1, 45, tzinfo=UTC)) == "open"
    assert calendar.status_at(datetime(2024, 10, 27, 2, 0, tzinfo=UTC)) == "closed"
    assert calendar.business_time_between(paris(2024, 10, 27), paris(2024, 10, 28)) == timedelta(
        minutes=90
    )


# -- properties ------------------------------------------------------------------------------

CALENDARS = [
    office(),
    office("America/New_York", holidays=(Holiday(first_day=date(2024, 7, 4)),)),
    BusinessCalendar(
        timezone="America/New_York",
        weekly={"fri": ("22:00-06:00",), "sat": ("10:00-14:00",), "sun": ("01:00-04:00",)},
    ),
    BusinessCalendar(
        timezone="Europe/Paris",
        weekly={day: ("00:00-00:00",) for day in (*WORKDAYS, "sat", "sun")},
        holidays=(Holiday(first_day=date(2024, 3, 31), closed_from=time(1), closed_until=time(4)),),
    ),
]

starts = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=300))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CALENDARS), starts, durations)
def test_business_time_between_inverts_add_business_time(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    end = calendar.add_business_time(start, duration)
    assert end >= start
    assert calendar.business_time_between(start, end) == duration


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CALENDARS), starts, durations, durations)
def test_add_business_time_is_monotonic(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    shorter, longer = sorted((first, second))
    assert calendar.add_business_time(start, shorter) <= calendar.add_business_time(start, longer)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CALENDARS), starts, durations, durations)
def test_adding_in_two_steps_equals_adding_once(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    via_middle = calendar.add_business_time(calendar.add_business_time(start, first), second)
    once = calendar.add_business_time(start, first + second)
    # Stepping may stop at a closing time where adding at once goes on to the next opening,
    # so the instants can differ only by closed time.
    assert calendar.business_time_between(min(via_middle, once), max(via_middle, once)) == (
        timedelta(0)
    )


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CALENDARS), starts)
def test_next_open_is_open_and_nothing_before_it_is(
    calendar: BusinessCalendar, at: datetime
) -> None:
    opening = calendar.next_open(at)
    assert opening is not None
    assert calendar.is_open(opening)
    assert calendar.business_time_between(at, opening) == timedelta(0)
