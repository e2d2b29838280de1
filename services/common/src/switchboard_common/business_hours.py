"""Business-hours calendars: weekly opening intervals, holidays, business-time arithmetic.

A `BusinessCalendar` describes when a tenant (or one of its queues, an IVR schedule node, an
SLA policy) is open, in one IANA time zone. Open time is the union of the weekly intervals
minus the holiday closures, both read in local wall time. All arithmetic runs on UTC
instants, one local day at a time (never minute by minute), so it stays exact across DST
transitions.

Local wall times that do not exist (spring-forward gap) are shifted forward by the length of
the gap, and ambiguous ones (autumn fold) take their first occurrence, as `zoneinfo` does
with ``fold=0``: an interval 01:00-03:00 on the day Paris skips 02:00-03:00 lasts one real
hour, and 01:00-04:00 on the day it repeats 02:00-03:00 lasts four.

Only timezone-aware datetimes are accepted; results come back in the calendar's zone.
Compare results as instants (`.astimezone(UTC)`): Python compares two datetimes of the
same zone by wall time, which is ambiguous in the repeated autumn hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from switchboard_common.errors import ValidationFailed

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CalendarStatus = Literal["open", "closed", "holiday"]

_INTERVAL_TEXT = re.compile(r"^\s*(\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*(\d{1,2}:\d{2}(?::\d{2})?)\s*$")
_DAY_CACHE_LIMIT = 4096
_QUIET_DAYS_BEFORE_GIVING_UP = 15  # two weeks: a DST gap can empty one weekday, not two

Span = tuple[datetime, datetime]


class OpeningInterval(BaseModel):
    """One opening interval of a weekday, in local wall time.

    `end` at or before `start` means the interval runs past midnight into the next day
    (22:00-06:00); 09:00-00:00 ends at midnight and 00:00-00:00 is open all day. Also
    accepts the text form ``"09:00-12:30"``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = _INTERVAL_TEXT.match(value)
            if match is None:
                raise ValueError("an interval reads HH:MM-HH:MM")
            return {"start": match.group(1), "end": match.group(2)}
        return value

    @field_validator("start", "end")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("interval times are local wall times, without a zone")
        return value

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


class Holiday(BaseModel):
    """A closure on one date or a range of dates (inclusive), all day or part of each day.

    With `closed_from` and/or `closed_until` only that part of each date is closed
    (`closed_until` None means until midnight).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="", max_length=200)
    first_day: date
    last_day: date | None = None
    closed_from: time | None = None
    closed_until: time | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Holiday:
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        for value in (self.closed_from, self.closed_until):
            if value is not None and value.tzinfo is not None:
                raise ValueError("closure times are local wall times, without a zone")
        if (
            self.closed_from is not None
            and self.closed_until is not None
            and self.closed_until <= self.closed_from
        ):
            raise ValueError("closed_until must be after closed_from")
        return self

    @property
    def until_day(self) -> date:
        return self.last_day if self.last_day is not None else self.first_day

    @property
    def full_day(self) -> bool:
        return self.closed_from is None and self.closed_until is None

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.until_day


class BusinessCalendar(BaseModel):
    """When something is open: weekly intervals minus holidays, in one IANA time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = Field(description="IANA time zone, e.g. Europe/Paris")
    weekly: dict[Weekday, tuple[OpeningInterval, ...]] = Field(default_factory=dict)
    holidays: tuple[Holiday, ...] = ()

    _zone: ZoneInfo = PrivateAttr()
    _days: dict[date, tuple[Span, ...]] = PrivateAttr(default_factory=dict)
    _closures: dict[date, tuple[Span, ...]] = PrivateAttr(default_factory=dict)
    _last_holiday: date | None = PrivateAttr(default=None)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _load_zone(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._zone = _load_zone(self.timezone)
        self._last_holiday = max((h.until_day for h in self.holidays), default=None)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> BusinessCalendar:
        """Validate plain data (JSON from an admin API) and raise `ValidationFailed` on errors."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _as_validation_failed(exc) from exc

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    # -- queries -----------------------------------------------------------------------------

    def status_at(self, at: datetime) -> CalendarStatus:
        """'holiday' inside a holiday closure, else 'open' inside opening hours, else 'closed'."""
        instant = _utc(at, "at")
        day = instant.astimezone(self._zone).date()
        for candidate in (day - timedelta(days=1), day, day + timedelta(days=1)):
            if _contains(self._closures_on(candidate), instant):
                return "holiday"
        for candidate in (day - timedelta(days=1), day, day + timedelta(days=1)):
            if _contains(self._open_on(candidate), instant):
                return "open"
        return "closed"

    def is_open(self, at: datetime) -> bool:
        return self.status_at(at) == "open"

    def next_open(self, at: datetime) -> datetime | None:
        """`at` itself when open, else the start of the next opening; None if it never opens."""
        for start, _ in self._spans_from(_utc(at, "at")):
            return start.astimezone(self._zone)
        return None

    def open_spans(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open periods between two instants (clipped), as (start, end) in the local zone."""
        low, high = _utc(start, "start"), _utc(end, "end")
        spans: list[tuple[datetime, datetime]] = []
        for span_start, span_end in self._spans_from(low):
            if span_start >= high:
                break
            spans.append(
                (span_start.astimezone(self._zone), min(span_end, high).astimezone(self._zone))
            )
        return spans

    def add_business_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of open time has passed since `start`.

        A zero duration gives `start` back; a duration that runs out exactly at a closing
        time gives that closing time. Raises ValidationFailed (`calendar-never-open`) when
        the calendar has no open time left to count.
        """
        origin = _utc(start, "start")
        if duration < timedelta(0):
            raise ValidationFailed("duration must not be negative", field="duration")
        if duration == timedelta(0):
            return origin.astimezone(self._zone)
        remaining = duration
        for span_start, span_end in self._spans_from(origin):
            available = span_end - span_start
            if remaining <= available:
                return (span_start + remaining).astimezone(self._zone)
            remaining -= available
        raise ValidationFailed(
            "the calendar has no open time left to count",
            field="weekly",
            error_id="calendar-never-open",
            details={"timezone": self.timezone},
        )

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time between two instants; negative when `b` is before `a`."""
        low, high = _utc(a, "a"), _utc(b, "b")
        if high < low:
            return -self.business_time_between(b, a)
        total = timedelta(0)
        for span_start, span_end in self._spans_from(low):
            if span_start >= high:
                break
            total += min(span_end, high) - span_start
        return total

    # -- day-by-day machinery ----------------------------------------------------------------

    def _spans_from(self, origin: datetime) -> Iterator[Span]:
        """Open spans ending after `origin` (the first one clipped to it), in time order.

        Stops once every weekday has been seen closed after the last holiday, which means
        the calendar never opens again.
        """
        day = origin.astimezone(self._zone).date() - timedelta(days=1)
        quiet_days = 0
        while True:
            spans = self._open_on(day)
            found = False
            for span_start, span_end in spans:
                if span_end > origin:
                    found = True
                    yield (max(span_start, origin), span_end)
            past_holidays = self._last_holiday is None or day > self._last_holiday
            quiet_days = 0 if found or not past_holidays else quiet_days + 1
            if quiet_days > _QUIET_DAYS_BEFORE_GIVING_UP:
                return
            day += timedelta(days=1)

    def _open_on(self, day: date) -> tuple[Span, ...]:
        """Open spans (UTC, sorted, disjoint) that lie within local date `day`."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        window_start = self._instant(day, time(0))
        window_end = self._instant(day + timedelta(days=1), time(0))
        raw: list[Span] = []
        for source_day in (day - timedelta(days=1), day):
            for interval in self.weekly.get(WEEKDAYS[source_day.weekday()], ()):
                span_start = self._instant(source_day, interval.start)
                end_day = source_day + timedelta(days=1) if interval.overnight else source_day
                span_end = self._instant(end_day, interval.end)
                clipped = (max(span_start, window_start), min(span_end, window_end))
                if clipped[0] < clipped[1]:
                    raw.append(clipped)
        result = tuple(_subtract(_union(raw), self._closures_on(day)))
        _remember(self._days, day, result)
        return result

    def _closures_on(self, day: date) -> tuple[Span, ...]:
        cached = self._closures.get(day)
        if cached is not None:
            return cached
        raw: list[Span] = []
        for holiday in self.holidays:
            if not holiday.covers(day):
                continue
            start = self._instant(day, holiday.closed_from or time(0))
            if holiday.closed_until is None:
                end = self._instant(day + timedelta(days=1), time(0))
            else:
                end = self._instant(day, holiday.closed_until)
            if start < end:
                raw.append((start, end))
        result = tuple(_union(raw))
        _remember(self._closures, day, result)
        return result

    def _instant(self, day: date, wall: time) -> datetime:
        return datetime.combine(day, wall, tzinfo=self._zone).astimezone(UTC)


def _load_zone(name: str) -> ZoneInfo:
    try:
        if not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValidationFailed(
            f"unknown time zone {name!r}",
            field="timezone",
            error_id="unknown-timezone",
            details={"value": name},
        ) from exc


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationFailed(
            f"{field} must be a timezone-aware datetime", field=field, error_id="naive-datetime"
        )
    return value.astimezone(UTC)


def _contains(spans: Iterable[Span], instant: datetime) -> bool:
    return any(start <= instant < end for start, end in spans)


def _union(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(spans: list[Span], holes: Iterable[Span]) -> list[Span]:
    result = spans
    for hole_start, hole_end in holes:
        pieces: list[Span] = []
        for start, end in result:
            if end <= hole_start or start >= hole_end:
                pieces.append((start, end))
                continue
            if start < hole_start:
                pieces.append((start, hole_start))
            if end > hole_end:
                pieces.append((hole_end, end))
        result = pieces
    return result


def _remember(cache: dict[date, tuple[Span, ...]], day: date, spans: tuple[Span, ...]) -> None:
    if len(cache) >= _DAY_CACHE_LIMIT:
        cache.clear()
    cache[day] = spans


def _field_path(loc: tuple[int | str, ...]) -> str:
    """('weekly', 'mon', 0) -> 'weekly.mon[0]'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _as_validation_failed(exc: ValidationError) -> ValidationFailed:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return ValidationFailed("invalid calendar")
    first = errors[0]
    return ValidationFailed(
        f"invalid calendar: {first['msg']}",
        field=_field_path(tuple(first["loc"])) or None,
        details={"errors": errors},
    )
