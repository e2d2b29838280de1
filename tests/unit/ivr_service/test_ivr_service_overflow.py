"""CallsService.call_overflowed: routing overflowed a waiting call; ivr carries it to voicemail,
a callback offer or an external number, over the scripted media layer."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from switchboard_common.events import Envelope
from switchboard_common.events.calls import CallArrived, CallEnded
from switchboard_common.events.ivr import (
    CallbackRequested,
    IvrCompleted,
    IvrNodeEntered,
    IvrStarted,
    VoicemailLeft,
)
from switchboard_common.events.queues import CallOverflowed, TargetKind
from switchboard_ivr.consumers import CallEventsHandler
from switchboard_ivr.domain import StaticBlacklist, parse_flow
from switchboard_ivr.notifier import IvrStats
from switchboard_ivr.overflow import (
    CALLBACK_END_NODE,
    TRANSFER_NODE,
    VOICEMAIL_NODE,
    caller_country,
)
from switchboard_ivr.runner import CallRun
from switchboard_ivr.services import (
    CallsOptions,
    CallsService,
    Route,
    TenantConfig,
    TenantPrompts,
)

TENANT = "acme"
NUMBER = "+33142685300"
WITH_POST_CALL = "+33142685301"
CALLER = "+33612345678"
EXTERNAL = "+33142685399"
NOW = datetime.fromisoformat("2026-11-23T10:00:00+00:00")
PROMPTS = frozenset(
    {
        "thanks",
        "overflow_voicemail",
        "overflow_callback",
        "overflow_callback_confirm",
        "overflow_callback_readback",
    }
)


def queue_flow(*, post_call: bool) -> Any:
    queue: dict[str, Any] = {"id": "queue", "kind": "queue", "queue": "sales"}
    nodes: list[dict[str, Any]] = [queue]
    if post_call:
        queue["post_call"] = "thanks"
        nodes += [
            {
                "id": "thanks",
                "kind": "play",
                "items": [{"type": "prompt", "prompt": "thanks"}],
                "next": "bye",
            },
            {"id": "bye", "kind": "hangup"},
        ]
    return parse_flow({"id": "sales-line", "start": "queue", "nodes": nodes})


class MemoryDirectory:
    def __init__(self) -> None:
        prompts = TenantPrompts({prompt: {"*": f"/prompts/{prompt}.wav"} for prompt in PROMPTS})
        self.config_ = TenantConfig(
            TENANT, prompts=prompts, blacklist=StaticBlacklist({TENANT: frozenset()})
        )
        self.routes = {
            NUMBER: Route(queue_flow(post_call=False), 2),
            WITH_POST_CALL: Route(queue_flow(post_call=True), 3),
        }

    async def config(self, tenant_id: str) -> TenantConfig:
        return self.config_

    async def route(self, tenant_id: str, number: str) -> Route | None:
        return self.routes.get(number)


@pytest.fixture
def calls(harness: Any) -> CallsService:
    return CallsService(
        MemoryDirectory(),
        control=harness.control,
        announcer=harness.announcer,
        webhooks=harness.webhooks,
        stats=IvrStats(),
        options=CallsOptions(liveness_interval_s=0.02, shutdown_grace_s=1.0),
        clock=lambda: NOW,
    )


def arrived(call_id: str, number: str) -> CallArrived:
    return CallArrived(
        call_id=call_id,
        node_id="fs1",
        caller_number=CALLER,
        destination_number=number,
        tenant_number=number,
        arrived_at=NOW,
    )


def overflowed(call_id: str, kind: TargetKind, target: str = "") -> CallOverflowed:
    return CallOverflowed(
        call_id=call_id,
        queue_id="sales",
        node_id="fs1",
        reason="after_wait",
        target_kind=kind,
        target=target,
        waited_s=42.0,
        overflowed_at=NOW,
    )


def of_call(harness: Any, kind: type[Any], call_id: str = "c1") -> list[Any]:
    return [p for p in harness.announcer.payloads(kind) if p.call_id == call_id]


async def waiting_in_queue(
    harness: Any, calls: CallsService, *, post_call: bool, entries: list[str | None] | None = None
) -> CallRun:
    """Call c1 arrives and is handed to routing (run waiting, or run done and call held)."""
    harness.control.add_caller("c1", entries or [])
    run = await calls.call_arrived(TENANT, arrived("c1", WITH_POST_CALL if post_call else NUMBER))
    assert run is not None
    if post_call:
        await harness.until(lambda: run.status == "handed_over")
    else:
        await harness.until(lambda: calls.run("c1") is None)
    assert calls.calls_in_progress(TENANT) == 1
    return run


def stop_recording_soon(harness: Any, calls: CallsService) -> None:
    """The caller speaks a little, then presses # (the recording has some length)."""

    def started(call_id: str) -> None:
        run = calls.run(call_id)
        assert run is not None
        asyncio.get_running_loop().call_later(0.02, run.dtmf, "#")

    harness.control.on_record_start = started


@pytest.mark.parametrize("post_call", [False, True])
async def test_overflow_to_voicemail_records_a_message_and_ends_the_call(
    harness: Any, calls: CallsService, post_call: bool
) -> None:
    first = await waiting_in_queue(harness, calls, post_call=post_call)
    stop_recording_soon(harness, calls)

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "voicemail", "mb-sales"))

    assert run is not None
    await harness.finished(run)
    await harness.finished(first)
    names = [c.name for c in harness.control.of("c1")]
    assert names[-4:] == ["play", "record_start", "record_stop", "hangup"]
    greeting = harness.control.of("c1", "play")[-1].args[0]
    assert greeting[0] == "/prompts/overflow_voicemail.wav"
    path = harness.control.of("c1", "record_start")[0].args[0]
    assert "/acme/mb-sales/c1.wav" in path
    [left] = of_call(harness, VoicemailLeft)
    assert (left.mailbox, left.caller_number, left.recording_path) == ("mb-sales", CALLER, path)
    assert left.duration_ms > 0 and left.open_ticket
    last = of_call(harness, IvrCompleted)[-1]
    assert (last.exit_reason, last.last_node, last.flow_id) == (
        "overflow_voicemail",
        VOICEMAIL_NODE,
        "sales-line",
    )
    assert len(of_call(harness, IvrStarted)) == 1
    entered = [e.node_id for e in of_call(harness, IvrNodeEntered)]
    assert "thanks" not in entered
    assert calls.calls_in_progress(TENANT) == 0


async def test_overflow_to_voicemail_without_a_mailbox_uses_the_queue_s(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)
    stop_recording_soon(harness, calls)

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "voicemail"))

    assert run is not None
    await harness.finished(run)
    assert [left.mailbox for left in of_call(harness, VoicemailLeft)] == ["sales"]


async def test_overflow_to_a_callback_offer_confirms_the_number_and_requests_it(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False, entries=["1"])

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "callback", "cb-queue"))

    assert run is not None
    await harness.finished(run)
    [request] = harness.control.of("c1", "collect_digits")
    assert request.args[0].prompt.startswith("file_string:///prompts/overflow_callback_readback")
    [callback] = of_call(harness, CallbackRequested)
    assert (callback.callback_number, callback.queue_id) == (CALLER, "cb-queue")
    last = of_call(harness, IvrCompleted)[-1]
    assert (last.exit_reason, last.last_node) == ("overflow_callback", CALLBACK_END_NODE)
    assert harness.control.of("c1", "hangup")[-1].args == ("NORMAL_CLEARING",)


async def test_a_callback_offer_the_caller_refuses_ends_without_a_request(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False, entries=["9", "9", "9"])

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "callback"))

    assert run is not None
    await harness.finished(run)
    assert of_call(harness, CallbackRequested) == []
    assert of_call(harness, IvrCompleted)[-1].last_node == CALLBACK_END_NODE


@pytest.mark.parametrize("post_call", [False, True])
async def test_overflow_to_an_external_number_transfers_the_call(
    harness: Any, calls: CallsService, post_call: bool
) -> None:
    await waiting_in_queue(harness, calls, post_call=post_call)

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "external", EXTERNAL))

    assert run is not None
    await harness.finished(run)
    [transfer] = harness.control.of("c1", "transfer")
    assert transfer.args == (f"bridge:sofia/gateway/pstn/{EXTERNAL}", "inline")
    last = of_call(harness, IvrCompleted)[-1]
    assert (last.exit_reason, last.transferred_to, last.last_node) == (
        "overflow_external",
        EXTERNAL,
        TRANSFER_NODE,
    )
    await harness.until(lambda: calls.calls_in_progress(TENANT) == 0)


async def test_an_external_target_that_is_not_e164_gets_the_apology_and_a_hang_up(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "external", "0800 123"))

    assert run is None
    await harness.until(lambda: calls.calls_in_progress(TENANT) == 0)
    assert harness.control.of("c1", "transfer") == []
    assert [c.name for c in harness.control.of("c1")][-2:] == ["play", "hangup"]
    assert harness.control.of("c1", "hangup")[-1].args == ("NORMAL_TEMPORARY_FAILURE",)
    last = of_call(harness, IvrCompleted)[-1]
    assert (last.exit_reason, last.hangup_cause) == ("error", "NORMAL_TEMPORARY_FAILURE")


async def test_a_failing_command_during_the_overflow_apologises_and_hangs_up(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)
    harness.control.failures["transfer"] = RuntimeError("switch unreachable")

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "external", EXTERNAL))

    assert run is not None
    await harness.finished(run)
    assert harness.control.of("c1", "hangup")[-1].args == ("NORMAL_TEMPORARY_FAILURE",)
    assert of_call(harness, IvrCompleted)[-1].exit_reason == "error"


@pytest.mark.parametrize("post_call", [False, True])
async def test_a_call_already_gone_is_left_alone(
    harness: Any, calls: CallsService, post_call: bool
) -> None:
    await waiting_in_queue(harness, calls, post_call=post_call)
    harness.control.hang_up("c1")
    commands = len(harness.control.of("c1"))
    completed = len(of_call(harness, IvrCompleted))

    run = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "voicemail"))

    assert run is None
    await harness.until(lambda: calls.calls_in_progress(TENANT) == 0)
    assert len(harness.control.of("c1")) == commands
    assert of_call(harness, VoicemailLeft) == []
    assert of_call(harness, IvrCompleted)[completed:] == []


async def test_a_call_that_ended_before_the_event_is_not_ours_any_more(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)
    calls.call_ended(
        TENANT,
        CallEnded(
            call_id="c1",
            node_id="fs1",
            hangup_cause="NORMAL_CLEARING",
            ended_at=NOW,
            duration_s=1.0,
            billable_s=1.0,
        ),
    )
    commands = len(harness.control.of("c1"))

    assert await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "voicemail")) is None
    assert len(harness.control.of("c1")) == commands


async def test_the_same_event_delivered_twice_is_carried_out_once(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)
    event = overflowed("c1", "external", EXTERNAL)

    runs = await asyncio.gather(
        calls.call_overflowed(TENANT, "ev-1", event), calls.call_overflowed(TENANT, "ev-1", event)
    )
    again = await calls.call_overflowed(TENANT, "ev-1", event)

    assert sum(run is not None for run in runs) == 1 and again is None
    started = next(run for run in runs if run is not None)
    await harness.finished(started)
    assert len(harness.control.of("c1", "transfer")) == 1


async def test_a_second_overflow_of_the_same_call_is_ignored(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=True)

    first = await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "external", EXTERNAL))
    second = await calls.call_overflowed(TENANT, "ev-2", overflowed("c1", "voicemail"))

    assert first is not None and second is None
    await harness.finished(first)
    assert harness.control.of("c1", "record_start") == []


async def test_a_queue_target_is_left_to_routing_and_the_call_still_waits(
    harness: Any, calls: CallsService
) -> None:
    waiting = await waiting_in_queue(harness, calls, post_call=True)
    commands = len(harness.control.of("c1"))

    assert await calls.call_overflowed(TENANT, "ev-1", overflowed("c1", "queue", "q2")) is None

    assert waiting.status == "handed_over"
    assert len(harness.control.of("c1")) == commands
    later = await calls.call_overflowed(TENANT, "ev-2", overflowed("c1", "external", EXTERNAL))
    assert later is not None


async def test_another_tenant_s_call_or_an_unknown_call_is_not_touched(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)

    assert await calls.call_overflowed("globex", "ev-1", overflowed("c1", "voicemail")) is None
    assert await calls.call_overflowed(TENANT, "ev-2", overflowed("c9", "voicemail")) is None
    assert calls.calls_in_progress(TENANT) == 1


async def test_the_consumer_hands_the_event_and_its_id_to_the_service(
    harness: Any, calls: CallsService
) -> None:
    await waiting_in_queue(harness, calls, post_call=False)
    envelope = Envelope.wrap(
        overflowed("c1", "external", EXTERNAL), source="routing", tenant=TENANT, subject="c1"
    )
    handler = CallEventsHandler(calls)

    await handler(envelope)
    await handler(envelope)

    await harness.until(lambda: calls.calls_in_progress(TENANT) == 0)
    assert len(harness.control.of("c1", "transfer")) == 1


@pytest.mark.parametrize(
    ("caller", "country"),
    [
        ("+33612345678", "FR"),
        ("+14155550123", "US"),
        ("anonymous", "US"),
        ("+4930123456", "DE"),
        ("+99912345", "US"),
    ],
)
def test_the_callback_country_is_the_caller_s(caller: str, country: str) -> None:
    assert caller_country(caller) == country
