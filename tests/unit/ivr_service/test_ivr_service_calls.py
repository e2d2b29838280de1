"""CallsService: admission (quota, busy message), routing of call events to the runs, hand-over
counting, shutdown; over an in-memory tenant directory and the scripted media layer."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from switchboard_common.business_hours import BusinessCalendar
from switchboard_common.events.calls import CallArrived, CallDtmf, CallEnded, CallUnbridged
from switchboard_common.events.ivr import IvrCompleted, SurveyCompleted, VoicemailLeft
from switchboard_common.events.queues import QueueCallAnswered
from switchboard_ivr.domain import DEMO_PROMPTS, StaticBlacklist, demo_flow, parse_flow
from switchboard_ivr.domain.say import TONES
from switchboard_ivr.notifier import IvrStats
from switchboard_ivr.services import (
    CallsOptions,
    CallsService,
    Route,
    TenantCalendars,
    TenantConfig,
    TenantPrompts,
)
from switchboard_ivr.testing import MediaTimes

TENANT = "acme"
OTHER = "globex"
NUMBER = "+33142685300"
NOW = datetime.fromisoformat("2026-11-23T10:00:00+00:00")


def prompt_paths(ids: frozenset[str]) -> dict[str, dict[str, str]]:
    return {prompt: {"*": f"/prompts/{prompt}.wav"} for prompt in ids}


def tenant_config(tenant: str = TENANT, **changes: Any) -> TenantConfig:
    calendar = BusinessCalendar.parse(
        {"timezone": "UTC", "weekly": {day: ["09:00-18:00"] for day in ("mon", "tue", "wed")}}
    )
    values: dict[str, Any] = {
        "prompts": TenantPrompts(prompt_paths(DEMO_PROMPTS | {"busy"})),
        "calendars": TenantCalendars({"cal-1": calendar}, {"business-hours": "cal-1"}),
        "blacklist": StaticBlacklist({tenant: frozenset()}),
    }
    values.update(changes)
    return TenantConfig(tenant, **values)


class MemoryDirectory:
    def __init__(self) -> None:
        self.configs: dict[str, TenantConfig] = {
            TENANT: tenant_config(),
            OTHER: tenant_config(OTHER),
        }
        self.routes: dict[tuple[str, str], Route] = {
            (TENANT, NUMBER): Route(demo_flow(), 4),
            (OTHER, NUMBER): Route(demo_flow(), 1),
        }

    async def config(self, tenant_id: str) -> TenantConfig:
        return self.configs[tenant_id]

    async def route(self, tenant_id: str, number: str) -> Route | None:
        return self.routes.get((tenant_id, number))


class Clock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def directory() -> MemoryDirectory:
    return MemoryDirectory()


@pytest.fixture
def monotonic() -> Clock:
    return Clock()


@pytest.fixture
def calls(harness: Any, directory: MemoryDirectory, monotonic: Clock) -> CallsService:
    return CallsService(
        directory,
        control=harness.control,
        announcer=harness.announcer,
        webhooks=harness.webhooks,
        stats=IvrStats(),
        options=CallsOptions(
            liveness_interval_s=0.02,
            shutdown_grace_s=1.0,
            handover_max_age_s=60.0,
            return_wait_s=0.1,
        ),
        clock=lambda: NOW,
        monotonic=monotonic,
    )


def arrived(call_id: str, *, number: str = NUMBER, **changes: Any) -> CallArrived:
    values: dict[str, Any] = {
        "call_id": call_id,
        "node_id": "fs1",
        "caller_number": "+33612345678",
        "destination_number": number,
        "tenant_number": number,
        "arrived_at": NOW,
    }
    values.update(changes)
    return CallArrived(**values)


def ended(call_id: str) -> CallEnded:
    return CallEnded(
        call_id=call_id,
        node_id="fs1",
        hangup_cause="NORMAL_CLEARING",
        ended_at=NOW,
        duration_s=1.0,
        billable_s=1.0,
    )


def completions(harness: Any) -> list[IvrCompleted]:
    found: list[IvrCompleted] = harness.announcer.payloads(IvrCompleted)
    return found


async def test_an_arriving_call_runs_the_published_flow_of_its_number(
    harness: Any, calls: CallsService
) -> None:
    harness.control.add_caller("c1", ["2"])
    run = await calls.call_arrived(TENANT, arrived("c1"))

    assert run is not None
    await harness.until(lambda: run.status == "handed_over")
    assert run.setup.context.flow_version == 4
    assert run.setup.context.called_number == NUMBER
    assert calls.calls_in_progress(TENANT) == 1
    assert calls.stats.calls_arrived == calls.stats.runs_started == 1
    assert [view.call_id for view in calls.live_calls(TENANT)] == ["c1"]
    assert calls.live_calls(OTHER) == []


async def test_over_quota_the_caller_hears_busy_and_is_hung_up(
    harness: Any, calls: CallsService, directory: MemoryDirectory
) -> None:
    directory.configs[TENANT] = tenant_config(max_concurrent_calls=1)
    harness.control.playback_gate = asyncio.Event()
    harness.control.add_caller("c1", ["2"])
    first = await calls.call_arrived(TENANT, arrived("c1"))
    harness.control.add_caller("c2", ["2"])

    second = await calls.call_arrived(TENANT, arrived("c2"))
    harness.control.playback_gate.set()
    await harness.until(lambda: bool(harness.control.of("c2", "hangup")))

    assert first is not None and second is None
    assert [c.name for c in harness.control.of("c2")] == ["play", "hangup"]
    assert harness.control.of("c2", "play")[0].args == (("/prompts/busy.wav",),)
    assert harness.control.of("c2", "hangup")[0].args == ("USER_BUSY",)
    refused = [c for c in completions(harness) if c.call_id == "c2"]
    assert [(c.exit_reason, c.hangup_cause) for c in refused] == [("over_quota", "USER_BUSY")]
    assert calls.stats.over_quota == 1

    calls.call_ended(TENANT, ended("c1"))
    await harness.until(lambda: calls.calls_in_progress(TENANT) == 0)
    harness.control.add_caller("c3", ["2"])
    assert await calls.call_arrived(TENANT, arrived("c3")) is not None


async def test_another_tenant_s_calls_do_not_count_against_the_quota(
    harness: Any, calls: CallsService, directory: MemoryDirectory
) -> None:
    directory.configs[TENANT] = tenant_config(max_concurrent_calls=1)
    harness.control.add_caller("o1", ["2"])
    await calls.call_arrived(OTHER, arrived("o1"))
    harness.control.add_caller("c1", ["2"])

    assert await calls.call_arrived(TENANT, arrived("c1")) is not None


async def test_without_a_busy_prompt_the_busy_tone_is_played(
    harness: Any, calls: CallsService, directory: MemoryDirectory
) -> None:
    directory.configs[TENANT] = tenant_config(
        max_concurrent_calls=0, prompts=TenantPrompts(prompt_paths(DEMO_PROMPTS))
    )
    harness.control.add_caller("c1")

    assert await calls.call_arrived(TENANT, arrived("c1")) is None
    await harness.until(lambda: bool(harness.control.of("c1", "hangup")))
    assert harness.control.of("c1", "play")[0].args == ((TONES["busy"],),)


async def test_a_suspended_tenant_takes_no_call(
    harness: Any, calls: CallsService, directory: MemoryDirectory
) -> None:
    directory.configs[TENANT] = tenant_config(status="suspended")
    harness.control.add_caller("c1")

    assert await calls.call_arrived(TENANT, arrived("c1")) is None
    await harness.until(lambda: bool(harness.control.of("c1", "hangup")))
    assert completions(harness)[0].exit_reason == "over_quota"


async def test_a_number_leading_nowhere_gets_the_apology_not_silence(
    harness: Any, calls: CallsService
) -> None:
    harness.control.add_caller("c1")

    assert await calls.call_arrived(TENANT, arrived("c1", number="+33142685399")) is None
    await harness.until(lambda: bool(harness.control.of("c1", "hangup")))
    assert [c.name for c in harness.control.of("c1")] == ["play", "hangup"]
    assert harness.control.of("c1", "hangup")[0].args == ("UNALLOCATED_NUMBER",)
    assert calls.stats.unrouted == 1


async def test_a_failed_flow_look_up_still_apologises_to_the_caller(
    harness: Any, calls: CallsService, directory: MemoryDirectory
) -> None:
    async def broken(tenant_id: str, number: str) -> Route | None:
        raise ConnectionError("database away")

    directory.route = broken  # type: ignore[method-assign]
    harness.control.add_caller("c1")

    assert await calls.call_arrived(TENANT, arrived("c1")) is None
    await harness.until(lambda: bool(harness.control.of("c1", "hangup")))
    assert [c.name for c in harness.control.of("c1")] == ["play", "hangup"]
    assert harness.control.of("c1", "hangup")[0].args == ("NORMAL_TEMPORARY_FAILURE",)
    assert calls.stats.arrival_errors == 1


async def test_duplicates_outbound_calls_and_calls_without_a_tenant_number_are_ignored(
    harness: Any, calls: CallsService
) -> None:
    harness.control.add_caller("c1", ["2"])
    assert await calls.call_arrived(TENANT, arrived("c1")) is not None
    assert await calls.call_arrived(TENANT, arrived("c1")) is None
    assert await calls.call_arrived(TENANT, arrived("c2", direction="outbound")) is None
    assert await calls.call_arrived(TENANT, arrived("c3", tenant_number="")) is None
    assert calls.stats.runs_started == 1


async def test_a_late_arrival_of_a_call_already_gone_is_not_run(
    harness: Any, calls: CallsService
) -> None:
    late = arrived("c1", arrived_at=NOW - timedelta(minutes=5))
    ancient = arrived("c2", arrived_at=NOW - timedelta(hours=5))
    harness.control.add_caller("c2", ["2"])

    assert await calls.call_arrived(TENANT, late) is None
    assert await calls.call_arrived(TENANT, ancient) is None
    assert harness.control.commands == []
    harness.control.add_caller("c3", ["2"])
    alive = arrived("c3", arrived_at=NOW - timedelta(minutes=1))
    assert await calls.call_arrived(TENANT, alive) is not None


async def test_a_call_handed_to_routing_counts_until_it_ends(
    harness: Any, calls: CallsService, directory: MemoryDirectory, monotonic: Clock
) -> None:
    directory.routes[(TENANT, NUMBER)] = Route(
        parse_flow(
            {"id": "q", "start": "q", "nodes": [{"id": "q", "kind": "queue", "queue": "sales"}]}
        ),
        1,
    )
    harness.control.add_caller("c1")
    harness.control.add_caller("c2")
    run = await calls.call_arrived(TENANT, arrived("c1"))
    assert run is not None
    await harness.finished(run)
    await calls.call_arrived(TENANT, arrived("c2"))
    await harness.until(lambda: calls.run("c2") is None)

    assert calls.calls_in_progress(TENANT) == 2
    calls.call_ended(TENANT, ended("c1"))
    assert calls.calls_in_progress(TENANT) == 1
    monotonic.seconds += 61
    assert calls.calls_in_progress(TENANT) == 0


async def test_the_agent_hanging_up_starts_the_survey_with_the_agent_named(
    harness: Any, calls: CallsService
) -> None:
    harness.control.add_caller("c1", ["2", "4", "2"])
    run = await calls.call_arrived(TENANT, arrived("c1"))
    assert run is not None
    await harness.until(lambda: run.status == "handed_over")
    assert harness.control.variables["c1"] == {"park_after_bridge": "true"}

    calls.queue_call_answered(
        TENANT,
        QueueCallAnswered(
            call_id="c1",
            queue_id="support",
            agent_id="agent-9",
            reservation_id="r1",
            waited_s=3.0,
            answered_at=NOW,
        ),
    )
    calls.call_unbridged(
        OTHER, CallUnbridged(call_id="c1", node_id="fs1", other_call_id="a1", unbridged_at=NOW)
    )
    await asyncio.sleep(0.01)
    assert run.status == "handed_over"
    calls.call_unbridged(
        TENANT, CallUnbridged(call_id="c1", node_id="fs1", other_call_id="a1", unbridged_at=NOW)
    )
    await harness.finished(run)

    survey = harness.announcer.payloads(SurveyCompleted)[0]
    assert survey.agent_id == "agent-9"
    assert [a.value for a in survey.answers] == [4, False]
    assert calls.calls_in_progress(TENANT) == 0


async def test_call_ended_reaches_the_run_and_frees_the_quota(
    harness: Any, calls: CallsService
) -> None:
    harness.control.playback_gate = asyncio.Event()
    harness.control.add_caller("c1", ["1"])
    run = await calls.call_arrived(TENANT, arrived("c1"))
    assert run is not None
    await harness.until(lambda: bool(harness.control.of("c1", "play")))

    calls.call_ended(OTHER, ended("c1"))
    assert run.in_progress
    calls.call_ended(TENANT, ended("c1"))
    await harness.finished(run)

    assert completions(harness)[-1].last_node == "greeting"
    assert calls.calls_in_progress(TENANT) == 0 and calls.run("c1") is None


async def test_the_hash_key_ends_a_voicemail(harness: Any, calls: CallsService) -> None:
    harness.control.add_caller("c1", ["9"])
    harness.control.on_record_start = lambda call_id: asyncio.get_running_loop().call_later(
        0.02, calls.dtmf, TENANT, CallDtmf(call_id=call_id, node_id="fs1", digit="#")
    )
    run = await calls.call_arrived(TENANT, arrived("c1"))
    assert run is not None
    await harness.finished(run)

    assert harness.announcer.payloads(VoicemailLeft)[0].mailbox == "general"
    assert [c.name for c in harness.control.of("c1")][-2:] == ["record_stop", "hangup"]


async def test_stopping_apologises_to_callers_in_the_ivr_and_leaves_hand_overs(
    harness: Any, calls: CallsService
) -> None:
    harness.control.times = MediaTimes(caller_thinks_s=30.0)
    harness.control.add_caller("c1", ["2"])
    in_ivr = await calls.call_arrived(TENANT, arrived("c1"))
    assert in_ivr is not None
    await harness.until(lambda: bool(harness.control.of("c1", "collect_digits")))

    await calls.stop()

    assert [c.name for c in harness.control.of("c1")][-2:] == ["play", "hangup"]
    assert completions(harness)[-1].exit_reason == "error"
    assert not in_ivr.in_progress


async def test_a_survey_credits_the_agent_named_after_the_unbridge(
    harness: Any, calls: CallsService
) -> None:
    harness.control.add_caller("c2", ["2", "5", "1"])
    run = await calls.call_arrived(TENANT, arrived("c2"))
    assert run is not None
    await harness.until(lambda: run.status == "handed_over")

    calls.call_unbridged(
        TENANT, CallUnbridged(call_id="c2", node_id="fs1", other_call_id="a2", unbridged_at=NOW)
    )
    await asyncio.sleep(0.01)
    calls.queue_call_answered(
        TENANT,
        QueueCallAnswered(
            call_id="c2",
            queue_id="support",
            agent_id="agent-4",
            reservation_id="r2",
            waited_s=1.0,
            answered_at=NOW,
        ),
    )
    await harness.finished(run)

    survey = harness.announcer.payloads(SurveyCompleted)[0]
    assert survey.agent_id == "agent-4"


async def test_a_caller_transferred_by_the_agent_gets_the_survey_only_once_back(
    harness: Any, calls: CallsService
) -> None:
    harness.control.add_caller("c3", ["2", "3", "1"])
    run = await calls.call_arrived(TENANT, arrived("c3"))
    assert run is not None
    await harness.until(lambda: run.status == "handed_over")
    calls.queue_call_answered(
        TENANT,
        QueueCallAnswered(
            call_id="c3",
            queue_id="support",
            agent_id="agent-1",
            reservation_id="r3",
            waited_s=1.0,
            answered_at=NOW,
        ),
    )

    harness.control.states["c3"] = "answered"
    calls.call_unbridged(
        TENANT, CallUnbridged(call_id="c3", node_id="fs1", other_call_id="a3", unbridged_at=NOW)
    )
    await asyncio.sleep(0.3)
    assert run.status == "handed_over", "a transferred caller does not hear the survey"

    harness.control.states["c3"] = "parked"
    calls.call_unbridged(
        TENANT, CallUnbridged(call_id="c3", node_id="fs1", other_call_id="b3", unbridged_at=NOW)
    )
    await harness.finished(run)
    survey = harness.announcer.payloads(SurveyCompleted)[0]
    assert [a.value for a in survey.answers] == [3, True]
