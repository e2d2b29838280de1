"""What the interpreter asks the outside world, and small in-memory answers to it.

The ports are synchronous: the adapter keeps tenant calendars, blacklists and prompt
catalogs in memory (refreshed on config events) so that a run never waits on a lookup.
The in-memory implementations serve the flow tester, the demo and the tests.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal, Protocol

OpenState = Literal["open", "closed", "holiday"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarPort(Protocol):
    def is_open(self, calendar_id: str, at: datetime) -> OpenState:
        """Whether the calendar is open at `at` (already in the tenant's time zone)."""
        ...


class BlacklistPort(Protocol):
    def is_blocked(self, tenant_id: str, number: str) -> bool: ...


class PromptCatalog(Protocol):
    def path_for(self, prompt_id: str, language: str) -> str | None:
        """The file to play for a tenant prompt, or None when the tenant has no such file."""
        ...


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """Weekly opening ranges (weekday 0 = Monday, [start, end) local times) and holidays."""

    weekly: Mapping[int, tuple[tuple[time, time], ...]]
    holidays: frozenset[date] = frozenset()

    @classmethod
    def parse(
        cls, weekly: Mapping[str, Iterable[str]], holidays: Iterable[str] = ()
    ) -> OpeningHours:
        """From `{"mon": ["09:00-12:00", "14:00-18:00"], ...}` and ISO holiday dates."""
        ranges: dict[int, tuple[tuple[time, time], ...]] = {}
        for day, spans in weekly.items():
            parsed = []
            for span in spans:
                start, _, end = span.partition("-")
                parsed.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
            ranges[WEEKDAYS.index(day.lower()[:3])] = tuple(parsed)
        return cls(ranges, frozenset(date.fromisoformat(day) for day in holidays))

    def state_at(self, at: datetime) -> OpenState:
        if at.date() in self.holidays:
            return "holiday"
        now = at.time().replace(tzinfo=None)
        for start, end in self.weekly.get(at.weekday(), ()):
            if start <= now < end:
                return "open"
        return "closed"


@dataclass(frozen=True, slots=True)
class WeeklyCalendar:
    """CalendarPort over in-memory opening hours; an unknown calendar is always closed."""

    calendars: Mapping[str, OpeningHours]

    def is_open(self, calendar_id: str, at: datetime) -> OpenState:
        hours = self.calendars.get(calendar_id)
        return hours.state_at(at) if hours is not None else "closed"


@dataclass(frozen=True, slots=True)
class StaticBlacklist:
    """BlacklistPort over a set of E.164 numbers per tenant (`"*"`: every tenant)."""

    numbers: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def is_blocked(self, tenant_id: str, number: str) -> bool:
        return number in self.numbers.get(tenant_id, frozenset()) or number in self.numbers.get(
            "*", frozenset()
        )


@dataclass(frozen=True, slots=True)
class TemplatePromptCatalog:
    """PromptCatalog that builds paths from a template with `{language}` and `{prompt}`.

    With `known`, only those prompt ids exist; without it every id resolves.
    """

    template: str = "prompts/{language}/{prompt}.wav"
    known: Collection[str] | None = None

    def path_for(self, prompt_id: str, language: str) -> str | None:
        if self.known is not None and prompt_id not in self.known:
            return None
        return self.template.format(language=language, prompt=prompt_id)
