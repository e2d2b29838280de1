"""Builders shared by the ivr service's unit tests: runs against the scripted media layer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard_ivr.callcontrol import CallRef
from switchboard_ivr.domain import (
    DEMO_PROMPTS,
    CallContext,
    Flow,
    Interpreter,
    StaticBlacklist,
    TemplatePromptCatalog,
    demo_calendar,
    parse_flow,
)
from switchboard_ivr.runner import CallRun, CallSetup, RunOptions
from switchboard_ivr.testing import CannedWebhooks, RecordingAnnouncer, ScriptedCallControl

TENANT = "acme"
CALLER = "+33612345678"
TENANT_NUMBER = "+33142685300"
MONDAY_10_UTC = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SUNDAY_10_UTC = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PROMPT_TEMPLATE = "prompts/{language}/{prompt}.wav"
WEBHOOK = "https://crm.example/ivr"
SECRET = "a-webhook-secret-of-some-length"
EXTRA_PROMPTS = frozenset(
    {"greeting", "menu", "ask_account", "bad", "balance_is", "sorry", "bye", "busy", "apology"}
)
KNOWN_PROMPTS = DEMO_PROMPTS | EXTRA_PROMPTS


def prompt_file(prompt: str, language: str = "en") -> str:
    return PROMPT_TEMPLATE.format(language=language, prompt=prompt)


def interpreter(*, blocked: frozenset[str] = frozenset()) -> Interpreter:
    return Interpreter(
        calendar=demo_calendar(),
        blacklist=StaticBlacklist({TENANT: blocked}),
        prompts=TemplatePromptCatalog(PROMPT_TEMPLATE, KNOWN_PROMPTS),
    )


def lookup_flow() -> Flow:
    """answer -> greeting -> menu (1 account look-up, 2 transfer, 9 hang-up) -> ..."""
    return parse_flow(
        {
            "id": "lookup",
            "start": "answer",
            "nodes": [
                {"id": "answer", "kind": "answer", "next": "greeting"},
                {
                    "id": "greeting",
                    "kind": "play",
                    "items": [{"type": "prompt", "prompt": "greeting"}],
                    "next": "menu",
                },
                {
                    "id": "menu",
                    "kind": "menu",
                    "prompt": "menu",
                    "options": {"1": "account", "2": "transfer", "9": "bye"},
                    "invalid_prompt": "bad",
                    "retries": 1,
                    "default": "bye",
                },
                {
                    "id": "account",
                    "kind": "collect",
                    "prompt": "ask_account",
                    "variable": "account",
                    "min_length": 4,
                    "max_length": 8,
                    "invalid_prompt": "bad",
                    "next": "lookup",
                    "failure": "bye",
                },
                {
                    "id": "lookup",
                    "kind": "http",
                    "url": WEBHOOK,
                    "send": ["account"],
                    "map": {"balance": "account.balance"},
                    "next": "tell",
                    "fallback": "sorry",
                },
                {
                    "id": "tell",
                    "kind": "play",
                    "items": [
                        {"type": "prompt", "prompt": "balance_is"},
                        {"type": "say", "say": "number", "value": "${balance}"},
                    ],
                    "next": "bye",
                },
                {
                    "id": "sorry",
                    "kind": "play",
                    "items": [{"type": "prompt", "prompt": "sorry"}],
                    "next": "bye",
                },
                {"id": "transfer", "kind": "transfer", "number": "+33142685301"},
                {
                    "id": "bye",
                    "kind": "play",
                    "items": [{"type": "prompt", "prompt": "bye"}],
                    "next": "end",
                },
                {"id": "end", "kind": "hangup"},
            ],
        }
    )


def context(call_id: str = "call-1", *, flow_version: int | None = 3) -> CallContext:
    return CallContext(
        tenant_id=TENANT,
        call_id=call_id,
        caller_number=CALLER,
        called_number=TENANT_NUMBER,
        webhook_url=WEBHOOK,
        webhook_secret=SECRET,
        flow_version=flow_version,
    )


class Harness:
    """A scripted media layer, an announcer and webhooks, and runs built over them; also
    the shared constants and helpers of these tests."""

    tenant = TENANT
    caller = CALLER
    tenant_number = TENANT_NUMBER
    monday_10 = MONDAY_10_UTC
    sunday_10 = SUNDAY_10_UTC
    webhook = WEBHOOK
    secret = SECRET
    known_prompts = KNOWN_PROMPTS
    prompt_file = staticmethod(prompt_file)
    interpreter = staticmethod(interpreter)
    lookup_flow = staticmethod(lookup_flow)
    context = staticmethod(context)

    def __init__(self) -> None:
        self.control = ScriptedCallControl()
        self.announcer = RecordingAnnouncer()
        self.webhooks = CannedWebhooks()
        self.options = RunOptions(liveness_interval_s=0.02, shutdown_grace_s=1.0)

    def run(
        self,
        flow: Flow,
        entries: list[str | None] | None = None,
        *,
        call_id: str = "call-1",
        hang_up_at: int | None = None,
        now: datetime = MONDAY_10_UTC,
        blocked: frozenset[str] = frozenset(),
        **options: Any,
    ) -> CallRun:
        self.control.add_caller(call_id, entries or [], hang_up_at=hang_up_at)
        run_options = replace(self.options, **options)
        return CallRun(
            CallSetup(
                CallRef(TENANT, call_id, "fs1"),
                flow,
                context(call_id),
                interpreter(blocked=blocked),
            ),
            control=self.control,
            announcer=self.announcer,
            webhooks=self.webhooks,
            options=run_options,
            clock=lambda: now,
        )

    @staticmethod
    async def finished(run: CallRun, timeout_s: float = 5.0) -> None:
        assert run.task is not None
        await asyncio.wait_for(asyncio.shield(run.task), timeout_s)

    @staticmethod
    async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Let the loop run until `condition` holds (fails the test after `timeout_s`)."""
        async with asyncio.timeout(timeout_s):
            while not condition():  # noqa: ASYNC110 - the runs signal nothing to wait on
                await asyncio.sleep(0.001)


@pytest.fixture
def harness() -> Harness:
    return Harness()
