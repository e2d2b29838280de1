"""Calls run from what PostgreSQL holds: admin's config events (numbers, quotas, calendars),
the published flow, the tenant's prompts and webhook; and the flow tester agrees with them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from switchboard_common.events.calls import CallArrived
from switchboard_common.events.config import (
    NumberAssigned,
    NumberReleased,
    TenantCreated,
    TenantDeleted,
    TenantQuotas,
    TenantSuspended,
    TenantUpdated,
)
from switchboard_common.events.ivr import IvrCompleted, IvrStarted
from switchboard_common.events.queues import CallEnqueued
from switchboard_ivr.domain import SIGNATURE_HEADER, demo_flow, verify

NUMBER = "+33142685300"
PROMPTS = ("hello", "menu")
FLOW: dict[str, Any] = {
    "id": "line",
    "start": "answer",
    "nodes": [
        {"id": "answer", "kind": "answer", "next": "hello"},
        {
            "id": "hello",
            "kind": "play",
            "items": [{"type": "prompt", "prompt": "hello"}],
            "next": "lookup",
        },
        {
            "id": "lookup",
            "kind": "http",
            "map": {"tier": "tier"},
            "next": "menu",
            "fallback": "menu",
        },
        {"id": "menu", "kind": "menu", "prompt": "menu", "options": {"1": "sales", "2": "bye"}},
        {"id": "sales", "kind": "queue", "queue": "sales", "skills": ["fr"]},
        {"id": "bye", "kind": "hangup"},
    ],
}


def now() -> datetime:
    return datetime.now(UTC)


def arrived(call_id: str, number: str = NUMBER) -> CallArrived:
    return CallArrived(
        call_id=call_id,
        node_id="fs-7",
        caller_number="+33612345678",
        destination_number=number,
        tenant_number=number,
        arrived_at=now(),
    )


def tenant_event(tenant: str, max_calls: int, cls: Any = TenantCreated) -> Any:
    return cls(
        tenant_id=tenant,
        slug=tenant,
        name=tenant,
        sip_domain=f"{tenant}.sip",
        timezone="Europe/Paris",
        status="active",
        quotas=TenantQuotas(
            max_concurrent_calls=max_calls, max_agents=5, max_queues=5, recording_retention_days=30
        ),
    )


async def setup_tenant(ivr: Any, *, max_calls: int = 10, document: Any = None) -> str:
    tenant: str = ivr.new_tenant()
    headers = ivr.headers(tenant)
    for prompt in PROMPTS:
        await ivr.http.put(
            f"/v1/ivr/prompts/{prompt}",
            json={"paths": {"*": f"/sounds/{tenant}/{prompt}.wav"}},
            headers=headers,
        )
    created = await ivr.http.post("/v1/flows", json=document or FLOW, headers=headers)
    assert created.status_code == 201, created.text
    flow_id = created.json()["id"]
    published = await ivr.http.post(f"/v1/flows/{flow_id}/publish", headers=headers)
    assert published.status_code == 200, published.text
    config = ivr.ivr.config
    await config.apply(tenant, tenant_event(tenant, max_calls))
    await config.apply(
        tenant,
        NumberAssigned(number_id="n1", number=NUMBER, target_kind="ivr_flow", target_id=flow_id),
    )
    return tenant


async def until(condition: Any, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - runs signal nothing to wait on
            await asyncio.sleep(0.005)


async def test_a_call_to_an_assigned_number_runs_the_published_flow(ivr: Any) -> None:
    tenant = await setup_tenant(ivr)
    headers = ivr.headers(tenant)
    await ivr.http.put(
        "/v1/ivr/settings",
        json={"webhook_url": "https://crm.example/hook", "webhook_secret": "s3cret-s3cret-s3cret"},
        headers=headers,
    )
    ivr.webhooks.answers = {"https://crm.example/hook": {"tier": "gold"}}
    ivr.control.add_caller("c1", ["1"])
    gate = ivr.control.playback_gate = asyncio.Event()

    run = await ivr.ivr.calls.call_arrived(tenant, arrived("c1"))
    assert run is not None
    await until(lambda: bool(ivr.control.of("c1", "play")))
    live = await ivr.http.get("/v1/ivr/calls", headers=headers)
    assert [(c["call_id"], c["node_id"], c["flow_version"]) for c in live.json()] == [
        ("c1", "hello", 1)
    ]
    gate.set()
    assert run.task is not None
    await asyncio.wait_for(run.task, 5)

    assert ivr.control.of("c1", "play")[0].args == ((f"/sounds/{tenant}/hello.wav",),)
    request = ivr.webhooks.requests[0]
    assert verify(request.body, "s3cret-s3cret-s3cret", dict(request.headers)[SIGNATURE_HEADER])
    started = await ivr.events(IvrStarted)
    assert (started[0].flow_id, started[0].flow_version) == ("line", 1)
    enqueued = await ivr.events(CallEnqueued)
    assert [(e.queue_id, e.node_id, [s.skill for s in e.required_skills]) for e in enqueued] == [
        ("sales", "fs-7", ["fr"])
    ]
    assert (await ivr.http.get("/v1/ivr/calls", headers=headers)).json() == []
    stats = (await ivr.http.get("/v1/internal/stats")).json()
    assert stats["ivr_completed"] >= 1 and stats["calls_arrived"] >= 1


async def test_the_quota_from_admin_s_events_turns_callers_away_with_busy(ivr: Any) -> None:
    tenant = await setup_tenant(ivr, max_calls=1)
    ivr.control.playback_gate = asyncio.Event()
    ivr.control.add_caller("c1", ["2"])
    ivr.control.add_caller("c2", ["2"])
    first = await ivr.ivr.calls.call_arrived(tenant, arrived("c1"))
    second = await ivr.ivr.calls.call_arrived(tenant, arrived("c2"))
    ivr.control.playback_gate.set()

    assert first is not None and second is None
    await until(lambda: bool(ivr.control.of("c2", "hangup")))
    assert ivr.control.of("c2", "hangup")[0].args == ("USER_BUSY",)
    refused = [e for e in await ivr.events(IvrCompleted) if e.call_id == "c2"]
    assert refused[0].exit_reason == "over_quota"

    await ivr.ivr.config.apply(tenant, tenant_event(tenant, 5, TenantUpdated))
    ivr.control.add_caller("c3", ["2"])
    assert await ivr.ivr.calls.call_arrived(tenant, arrived("c3")) is not None
    await ivr.ivr.config.apply(tenant, TenantSuspended(tenant_id=tenant, suspended_at=now()))
    ivr.control.add_caller("c4", ["2"])
    assert await ivr.ivr.calls.call_arrived(tenant, arrived("c4")) is None


async def test_released_and_queue_numbers(ivr: Any) -> None:
    tenant = await setup_tenant(ivr)
    config = ivr.ivr.config
    await config.apply(
        tenant,
        NumberAssigned(
            number_id="n2", number="+33142685301", target_kind="queue", target_id="support"
        ),
    )
    ivr.control.add_caller("q1")
    run = await ivr.ivr.calls.call_arrived(tenant, arrived("q1", "+33142685301"))
    assert run is not None
    await until(lambda: not run.in_progress)
    enqueued = [e for e in await ivr.events(CallEnqueued) if e.call_id == "q1"]
    assert enqueued[0].queue_id == "support"
    assert [c.name for c in ivr.control.of("q1")] == ["answer"]

    await config.apply(tenant, NumberReleased(number_id="n1", number=NUMBER))
    ivr.control.add_caller("c9")
    assert await ivr.ivr.calls.call_arrived(tenant, arrived("c9")) is None
    await until(lambda: bool(ivr.control.of("c9", "hangup")))
    assert ivr.control.of("c9", "hangup")[0].args == ("UNALLOCATED_NUMBER",)

    await config.apply(tenant, TenantDeleted(tenant_id=tenant, deleted_at=now()))
    flows = await ivr.http.get("/v1/flows", headers=ivr.headers(tenant))
    assert flows.json() == []


async def test_the_flow_tester_agrees_with_a_call_on_the_same_input(ivr: Any) -> None:
    document = demo_flow().model_dump(mode="json", by_alias=True)
    tenant = ivr.new_tenant()
    headers = ivr.headers(tenant)
    for prompt in demo_flow().prompt_ids():
        await ivr.http.put(
            f"/v1/ivr/prompts/{prompt}",
            json={"paths": {"*": f"/sounds/{prompt}.wav"}},
            headers=headers,
        )
    await ivr.http.post("/v1/flows", json=document, headers=headers)
    await ivr.http.post("/v1/flows/demo-main-line/publish", headers=headers)
    await ivr.ivr.config.apply(
        tenant,
        NumberAssigned(
            number_id="n", number=NUMBER, target_kind="ivr_flow", target_id="demo-main-line"
        ),
    )
    scripts = [["7", "1", "4", "1"], ["1", None, "2"], ["9"], [None, None, None]]
    for index, script in enumerate(scripts):
        at = now()
        simulated = await ivr.http.post(
            "/v1/flows/demo-main-line/simulate",
            json={"caller_number": "+33612345678", "at": at.isoformat(), "dtmf": script},
            headers=headers,
        )
        assert simulated.status_code == 200, simulated.text
        call_id = f"agree-{index}"
        ivr.control.add_caller(call_id, script)
        ivr.control.on_record_start = lambda cid: asyncio.get_running_loop().call_later(
            0.02, ivr.ivr.calls.run(cid).dtmf, "#"
        )
        run = await ivr.ivr.calls.call_arrived(tenant, arrived(call_id))
        assert run is not None
        async with asyncio.timeout(5):
            while run.in_progress:
                if run.status == "handed_over":
                    run.agent_call_ended("agent-1")
                await asyncio.sleep(0.005)
        assert run.state is not None
        assert list(run.state.path) == simulated.json()["path"], script
        assert run.transcript == simulated.json()["prompts"], script
