"""The flow tester tells the truth: for the same caller input, `simulate` and a call driven by
the runner through the media layer take the same path and play the same prompts."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from switchboard_common.events.ivr import IvrCompleted
from switchboard_ivr.domain import (
    HANG_UP,
    HttpFailed,
    HttpResponse,
    StaticBlacklist,
    TemplatePromptCatalog,
    demo_calendar,
    demo_flow,
    parse_flow,
    simulate,
)

CALLBACK_FLOW = {
    "id": "callback",
    "start": "answer",
    "nodes": [
        {"id": "answer", "kind": "answer", "next": "cb"},
        {
            "id": "cb",
            "kind": "callback",
            "prompt": "ask_account",
            "confirm_prompt": "menu",
            "readback_prompt": "balance_is",
            "invalid_prompt": "bad",
            "offer_caller_number": True,
            "country": "FR",
            "retries": 1,
            "next": "bye",
            "failure": "bye",
        },
        {
            "id": "bye",
            "kind": "play",
            "items": [{"type": "prompt", "prompt": "bye"}],
            "next": "end",
        },
        {"id": "end", "kind": "hangup"},
    ],
}

CASES: list[tuple[str, list[str | None], dict[str, Any]]] = [
    ("demo", ["1", "5", "1"], {}),
    ("demo", ["1", "4", "2"], {"crm": {"vip_level": 3}}),
    ("demo", ["9"], {}),
    ("demo", ["7", "8", "0"], {}),
    ("demo", [None, None, None, "5"], {}),
    ("demo", [HANG_UP], {}),
    ("demo", [], {}),
    ("demo", ["2", "6", None, "3"], {}),
    ("demo", ["2"], {"sunday": True}),
    ("demo", ["2"], {"blocked": True}),
    ("lookup", ["1", "1234#"], {"http": {"account": {"balance": 1234}}}),
    ("lookup", ["1", "1234#"], {"http": HttpResponse(503, b"")}),
    ("lookup", ["1", "1234#"], {"http": HttpFailed("refused")}),
    ("lookup", ["1", "12", "12#", "1"], {}),
    ("lookup", ["3", "3"], {}),
    ("lookup", ["2"], {}),
    ("callback", ["2", "0612345678#", "1"], {}),
    ("callback", ["1"], {}),
    ("callback", ["2", "12#", "7", "9"], {}),
]


async def _runner_call(
    harness: Any, flow: Any, script: list[str | None], options: dict[str, Any], now: datetime
) -> Any:
    http = options.get("http")
    if http is not None:
        harness.webhooks.answers = {harness.webhook: http}
    blocked = frozenset({harness.caller}) if options.get("blocked") else frozenset()
    run = harness.run(flow, list(script), now=now, blocked=blocked)
    if options.get("crm"):
        from dataclasses import replace

        run.setup = replace(run.setup, context=replace(run.setup.context, crm=options["crm"]))
    harness.control.on_record_start = lambda _call: asyncio.get_running_loop().call_later(
        0.01, run.dtmf, "#"
    )
    run.start()
    async with asyncio.timeout(5):
        while run.in_progress:
            if run.status == "handed_over":
                run.agent_call_ended("agent-1")
            await asyncio.sleep(0.001)
    return run


@pytest.mark.parametrize(("flow_name", "script", "options"), CASES)
async def test_the_flow_tester_and_a_real_run_agree(
    harness: Any, flow_name: str, script: list[str | None], options: dict[str, Any]
) -> None:
    flow = {
        "demo": demo_flow,
        "lookup": harness.lookup_flow,
        "callback": lambda: parse_flow(CALLBACK_FLOW),
    }[flow_name]()
    now = harness.sunday_10 if options.get("sunday") else harness.monday_10
    stubs = {}
    if "http" in options:
        stubs = {"lookup": options["http"]}
    blocked = frozenset({harness.caller}) if options.get("blocked") else frozenset()

    simulated = simulate(
        flow,
        harness.caller,
        now,
        list(script),
        stubs,
        demo_calendar(),
        options.get("crm", {}),
        prompts=TemplatePromptCatalog("prompts/{language}/{prompt}.wav", harness.known_prompts),
        blacklist=StaticBlacklist({harness.tenant: blocked}),
        tenant_id=harness.tenant,
        called_number=harness.tenant_number,
        webhook_url=harness.webhook,
        webhook_secret=harness.secret,
    )
    run = await _runner_call(harness, flow, script, options, now)

    assert run.state is not None
    assert list(run.state.path) == simulated.path
    assert run.transcript == simulated.prompts
    ends = harness.announcer.payloads(IvrCompleted)
    assert simulated.outcome is not None
    assert (ends[-1].exit_reason, ends[-1].last_node) == (
        simulated.outcome.exit_reason,
        simulated.outcome.last_node,
    )
