"""The demo flow shipped with the service, with the prompts and business hours it expects."""

from __future__ import annotations

from importlib import resources

from switchboard_ivr.domain.model import Flow
from switchboard_ivr.domain.ports import OpeningHours, WeeklyCalendar
from switchboard_ivr.domain.validation import check_flow

DEMO_PROMPTS: frozenset[str] = frozenset(
    {
        "call_refused",
        "welcome",
        "main_menu",
        "invalid_choice",
        "no_input",
        "closed",
        "holiday",
        "voicemail_greeting",
        "survey_intro",
        "survey_satisfaction",
        "survey_resolved",
        "survey_thanks",
    }
)
"""Prompt ids a tenant needs in its catalog to publish the demo flow."""

DEMO_CALENDAR_ID = "business-hours"
DEMO_OPENING_HOURS = OpeningHours.parse(
    {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["10:00-13:00"]}
)


def demo_flow_text() -> str:
    return (
        resources.files("switchboard_ivr.domain")
        .joinpath("demo_flow.json")
        .read_text(encoding="utf-8")
    )


def demo_flow() -> Flow:
    """The demo flow, parsed and validated against DEMO_PROMPTS."""
    return check_flow(demo_flow_text(), DEMO_PROMPTS)


def demo_calendar() -> WeeklyCalendar:
    return WeeklyCalendar({DEMO_CALENDAR_ID: DEMO_OPENING_HOURS})
