"""Builders shared by the IVR domain tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard_ivr.domain import (
    CallContext,
    Flow,
    Interpreter,
    OpeningHours,
    StaticBlacklist,
    TemplatePromptCatalog,
    WeeklyCalendar,
    parse_flow,
)

TUESDAY_10_UTC = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
KNOWN_PROMPTS = frozenset(
    {"welcome", "menu", "invalid", "silence", "ask", "confirm", "you_entered", "bye", "q1", "q2"}
)
BLOCKED_CALLER = "+33612345678"

FlowFactory = Callable[..., Flow]


@pytest.fixture
def now() -> datetime:
    return TUESDAY_10_UTC


@pytest.fixture
def blocked_caller() -> str:
    return BLOCKED_CALLER


@pytest.fixture
def calendar() -> WeeklyCalendar:
    return WeeklyCalendar(
        {
            "office": OpeningHours.parse(
                {"mon": ["09:00-18:00"], "tue": ["09:00-18:00"]}, holidays=["2024-12-25"]
            )
        }
    )


@pytest.fixture
def interpreter(calendar: WeeklyCalendar) -> Interpreter:
    return Interpreter(
        calendar=calendar,
        blacklist=StaticBlacklist({"t1": frozenset({BLOCKED_CALLER})}),
        prompts=TemplatePromptCatalog("/prompts/t1/{language}/{prompt}.wav", KNOWN_PROMPTS),
    )


@pytest.fixture
def context() -> CallContext:
    return CallContext(
        tenant_id="t1",
        call_id="call-1",
        caller_number="+33142685300",
        called_number="+33170000000",
        timezone="Europe/Paris",
        crm={"vip_level": 3, "customer": {"name": "Ada"}},
        webhook_url="https://hooks.example.com/ivr",
        webhook_secret="s3cret",
    )


@pytest.fixture
def make_flow() -> FlowFactory:
    """`make_flow(node, node, ..., start=None)`: a flow of node dicts, starting at the first."""

    def build(*nodes: dict[str, Any], start: str | None = None, **extra: Any) -> Flow:
        document = {"id": "test-flow", "start": start or nodes[0]["id"], "nodes": list(nodes)}
        return parse_flow(document | extra)

    return build
