"""The ivr REST API on PostgreSQL: flows (JSON and YAML, validation, versions, publish,
rollback, discard, tester), numbers, prompts, blacklist, settings, permissions, figures."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import httpx
import sqlalchemy as sa
import yaml

from switchboard_common.events.config import CalendarChanged
from switchboard_ivr import models
from switchboard_ivr.domain import demo_flow, flow_json_schema

SMALL_FLOW: dict[str, Any] = {
    "id": "small",
    "name": "Small line",
    "start": "answer",
    "nodes": [
        {"id": "answer", "kind": "answer", "next": "hello"},
        {
            "id": "hello",
            "kind": "play",
            "items": [{"type": "prompt", "prompt": "hello"}],
            "next": "menu",
        },
        {"id": "menu", "kind": "menu", "prompt": "menu", "options": {"1": "sales", "2": "bye"}},
        {"id": "sales", "kind": "queue", "queue": "sales"},
        {"id": "bye", "kind": "hangup"},
    ],
}


def flow(**changes: Any) -> dict[str, Any]:
    return {**SMALL_FLOW, **changes}


async def put_prompts(ivr: Any, tenant: str, prompts: set[str] | frozenset[str]) -> None:
    for prompt in sorted(prompts):
        response = await ivr.http.put(
            f"/v1/ivr/prompts/{prompt}",
            json={"paths": {"*": f"/sounds/{tenant}/{prompt}.wav"}},
            headers=ivr.headers(tenant),
        )
        assert response.status_code == 200, response.text


async def test_a_flow_is_created_from_json_and_lists_the_prompts_it_lacks(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    response = await ivr.http.post("/v1/flows", json=SMALL_FLOW, headers=ivr.headers(tenant))

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["id"], body["draft_version"], body["published_version"]) == ("small", 1, None)
    assert body["draft"]["nodes"][1]["items"][0]["prompt"] == "hello"
    assert {(w["node"], w["field"]) for w in body["warnings"]} == {
        ("hello", "items[0].prompt"),
        ("menu", "prompt"),
    }

    again = await ivr.http.post("/v1/flows", json=SMALL_FLOW, headers=ivr.headers(tenant))
    assert (again.status_code, again.json()["error"]) == (409, "flow-exists")


async def test_a_draft_is_accepted_in_yaml(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    response = await ivr.http.put(
        "/v1/flows/small",
        content=yaml.safe_dump(flow(name="From YAML")),
        headers={**ivr.headers(tenant), "Content-Type": "application/yaml"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "From YAML"
    got = await ivr.http.get("/v1/flows/small", headers=ivr.headers(tenant))
    assert got.json()["draft"]["name"] == "From YAML"


async def test_an_invalid_flow_is_refused_naming_node_and_field(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    broken = flow()
    broken["nodes"] = [dict(node) for node in SMALL_FLOW["nodes"]]
    broken["nodes"][2] = {**broken["nodes"][2], "options": {"1": "nowhere"}, "timeout_ms": 10}

    response = await ivr.http.post("/v1/flows", json=broken, headers=ivr.headers(tenant))

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid-flow"
    assert (body["details"]["node"], body["details"]["field"]) == ("menu", "timeout_ms")
    mismatch = await ivr.http.put("/v1/flows/other", json=SMALL_FLOW, headers=ivr.headers(tenant))
    assert (mismatch.status_code, mismatch.json()["error"]) == (422, "flow-id-mismatch")
    garbage = await ivr.http.post("/v1/flows", content=b"{not: [valid", headers=ivr.headers(tenant))
    assert (garbage.status_code, garbage.json()["error"]) == (422, "invalid-flow")
    cross = flow(
        nodes=[
            *SMALL_FLOW["nodes"][:2],
            {**SMALL_FLOW["nodes"][2], "default": "gone"},
            *SMALL_FLOW["nodes"][3:],
        ]
    )
    graph = await ivr.http.post("/v1/flows", json=cross, headers=ivr.headers(tenant))
    assert graph.status_code == 422
    assert graph.json()["details"]["problems"] == [
        {"node": "menu", "field": "default", "problem": "target gone does not exist"}
    ]


async def test_publishing_needs_every_prompt_then_announces_through_the_outbox(
    ivr: Any,
) -> None:
    tenant = ivr.new_tenant()
    await ivr.http.post("/v1/flows", json=SMALL_FLOW, headers=ivr.headers(tenant))

    refused = await ivr.http.post("/v1/flows/small/publish", headers=ivr.headers(tenant))
    assert refused.status_code == 422
    assert refused.json()["details"]["node"] == "hello"
    assert refused.json()["details"]["field"] == "items[0].prompt"

    await put_prompts(ivr, tenant, {"hello", "menu"})
    published = await ivr.http.post("/v1/flows/small/publish", headers=ivr.headers(tenant))
    assert published.status_code == 200, published.text
    assert (published.json()["published_version"], published.json()["draft_version"]) == (1, None)

    async with ivr.engine.connect() as connection:
        rows = (
            await connection.execute(sa.select(models.outbox.c.payload, models.outbox.c.key))
        ).all()
    announced = [json.loads(row.payload) for row in rows if row.key == tenant]
    assert [(e["type"], e["data"]["flow_id"], e["data"]["version"]) for e in announced] == [
        ("switchboard.ivr.flow_published.v1", "small", 1)
    ]
    assert announced[0]["data"]["published_by"] == f"user-of-{tenant}"


async def test_versions_publish_rollback_and_discard(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    headers = ivr.headers(tenant)
    await put_prompts(ivr, tenant, {"hello", "menu"})
    await ivr.http.post("/v1/flows", json=SMALL_FLOW, headers=headers)
    await ivr.http.post("/v1/flows/small/publish", headers=headers)
    await ivr.http.put("/v1/flows/small", json=flow(name="Second"), headers=headers)
    second = await ivr.http.post("/v1/flows/small/publish", json={"version": 2}, headers=headers)
    assert second.json()["published"]["name"] == "Second"

    back = await ivr.http.post("/v1/flows/small/rollback", headers=headers)
    assert back.status_code == 200, back.text
    assert back.json()["published_version"] == 1

    versions = (await ivr.http.get("/v1/flows/small/versions", headers=headers)).json()
    assert [(v["number"], v["state"]) for v in versions] == [(1, "published"), (2, "retired")]
    assert versions[0]["definition"] is None
    one = (await ivr.http.get("/v1/flows/small/versions/2", headers=headers)).json()
    assert one["definition"]["name"] == "Second"

    await ivr.http.put("/v1/flows/small", json=flow(name="Third"), headers=headers)
    discarded = await ivr.http.delete("/v1/flows/small/draft", headers=headers)
    assert discarded.status_code == 200
    assert discarded.json()["draft_version"] is None
    no_draft = await ivr.http.delete("/v1/flows/small/draft", headers=headers)
    assert (no_draft.status_code, no_draft.json()["error"]) == (404, "no-draft")
    nothing = await ivr.http.post("/v1/flows/small/publish", headers=headers)
    assert (nothing.status_code, nothing.json()["error"]) == (409, "no-draft")

    listed = (await ivr.http.get("/v1/flows", headers=headers)).json()
    assert [(f["id"], f["published_version"], f["version_count"]) for f in listed] == [
        ("small", 1, 3)
    ]


async def test_the_schema_is_published_and_matches_the_committed_file(ivr: Any) -> None:
    response = await ivr.http.get("/v1/flows/schema")

    assert response.status_code == 200
    assert response.json() == flow_json_schema()
    committed = resources.files("switchboard_ivr").joinpath("flow_schema.json").read_text()
    assert json.loads(committed) == response.json()


async def test_the_flow_tester_uses_the_tenant_s_calendar_blacklist_and_prompts(
    ivr: Any,
) -> None:
    tenant = ivr.new_tenant()
    headers = ivr.headers(tenant)
    await ivr.http.put(
        "/v1/flows/demo-main-line",
        json=demo_flow().model_dump(mode="json", by_alias=True),
        headers=headers,
    )
    await _calendar(ivr, tenant)
    body = {
        "caller_number": "+33612345678",
        "at": "2026-11-23T10:00:00+01:00",
        "dtmf": ["1", "5", "1"],
        "crm": {"vip_level": 2},
    }

    run = await ivr.http.post("/v1/flows/demo-main-line/simulate", json=body, headers=headers)
    assert run.status_code == 200, run.text
    result = run.json()
    assert result["version"] == 1
    assert result["path"][-4:] == ["orders", "queue_sales_vip", "survey", "goodbye"]
    assert "prompt:main_menu" in result["prompts"]
    assert any("played the default" in w["detail"] for w in result["warnings"])

    await ivr.http.put("/v1/ivr/blacklist/+33612345678", json={"reason": "abuse"}, headers=headers)
    blocked = await ivr.http.post("/v1/flows/demo-main-line/simulate", json=body, headers=headers)
    assert blocked.json()["outcome"]["exit_reason"] == "rejected"

    closed = await ivr.http.post(
        "/v1/flows/demo-main-line/simulate",
        json={**body, "caller_number": "+33612345679", "at": "2026-11-23T20:00:00+01:00"},
        headers=headers,
    )
    assert closed.json()["path"][-2:] == ["after_hours", "voicemail"]


async def _calendar(ivr: Any, tenant: str) -> None:
    await ivr.ivr.config.apply(
        tenant,
        CalendarChanged(
            calendar_id="cal-1",
            name="business-hours",
            change="created",
            calendar={
                "timezone": "Europe/Paris",
                "weekly": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                "holidays": [],
            },
        ),
    )


async def test_http_stubs_drive_the_tester_s_webhook_branches(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    headers = ivr.headers(tenant)
    lookup = {
        "id": "lookup",
        "start": "ask",
        "nodes": [
            {
                "id": "ask",
                "kind": "http",
                "url": "https://crm.example/x",
                "map": {"plan": "customer.plan"},
                "next": "gold",
                "fallback": "bye",
            },
            {
                "id": "gold",
                "kind": "branch",
                "cases": [
                    {"when": [{"var": "plan", "op": "==", "value": "gold"}], "target": "vip"}
                ],
                "default": "bye",
            },
            {"id": "vip", "kind": "queue", "queue": "vip"},
            {"id": "bye", "kind": "hangup"},
        ],
    }
    await ivr.http.post("/v1/flows", json=lookup, headers=headers)
    answers = [
        {"ask": {"body": {"customer": {"plan": "gold"}}}},
        {"ask": {"status": 500, "body": {}}},
        {"ask": {"failure": "timeout"}},
        {},
    ]
    paths = []
    for http in answers:
        response = await ivr.http.post(
            "/v1/flows/lookup/simulate",
            json={"caller_number": "+33612345678", "http": http},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        paths.append(response.json()["path"])
    assert paths == [["ask", "gold", "vip"], ["ask", "bye"], ["ask", "bye"], ["ask", "bye"]]


async def test_numbers_lead_to_published_flows_or_queues(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    headers = ivr.headers(tenant)
    await ivr.http.post("/v1/flows", json=SMALL_FLOW, headers=headers)

    early = await ivr.http.put(
        "/v1/numbers/+33142685300", json={"flow_id": "small"}, headers=headers
    )
    assert (early.status_code, early.json()["error"]) == (409, "flow-not-published")
    await put_prompts(ivr, tenant, {"hello", "menu"})
    await ivr.http.post("/v1/flows/small/publish", headers=headers)
    bound = await ivr.http.put(
        "/v1/numbers/+33142685300", json={"flow_id": "small"}, headers=headers
    )
    assert bound.status_code == 200, bound.text
    assert (bound.json()["target_kind"], bound.json()["source"]) == ("ivr_flow", "api")
    queue = await ivr.http.put(
        "/v1/numbers/+33142685301", json={"queue_id": "support"}, headers=headers
    )
    assert queue.json()["target_kind"] == "queue"

    listed = await ivr.http.get("/v1/numbers", headers=headers)
    assert [n["number"] for n in listed.json()] == ["+33142685300", "+33142685301"]
    bad = await ivr.http.put("/v1/numbers/+331", json={"queue_id": "q"}, headers=headers)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid-number")
    both = await ivr.http.put(
        "/v1/numbers/+33142685302", json={"queue_id": "q", "flow_id": "small"}, headers=headers
    )
    assert both.status_code == 422
    missing = await ivr.http.put(
        "/v1/numbers/+33142685302", json={"flow_id": "nope"}, headers=headers
    )
    assert (missing.status_code, missing.json()["error"]) == (404, "no-such-flow")

    gone = await ivr.http.delete("/v1/numbers/+33142685301", headers=headers)
    assert gone.status_code == 204
    again = await ivr.http.get("/v1/numbers/+33142685301", headers=headers)
    assert (again.status_code, again.json()["error"]) == (404, "no-such-number")


async def test_prompts_blacklist_and_settings(ivr: Any) -> None:
    tenant = ivr.new_tenant()
    headers = ivr.headers(tenant)

    prompt = await ivr.http.put(
        "/v1/ivr/prompts/welcome",
        json={"paths": {"en": "/s/en/welcome.wav", "fr": "/s/fr/bienvenue.wav"}},
        headers=headers,
    )
    assert prompt.status_code == 200
    spaced = await ivr.http.put(
        "/v1/ivr/prompts/welcome", json={"paths": {"en": "/s/a b.wav"}}, headers=headers
    )
    assert spaced.status_code == 422
    listed = (await ivr.http.get("/v1/ivr/prompts", headers=headers)).json()
    assert listed == [
        {"prompt_id": "welcome", "paths": {"en": "/s/en/welcome.wav", "fr": "/s/fr/bienvenue.wav"}}
    ]
    assert (await ivr.http.delete("/v1/ivr/prompts/welcome", headers=headers)).status_code == 204

    block = await ivr.http.put("/v1/ivr/blacklist/+33612345678", headers=headers)
    assert block.status_code == 200 and block.json()["reason"] == ""
    bad = await ivr.http.put("/v1/ivr/blacklist/12345", headers=headers)
    assert (bad.status_code, bad.json()["error"]) == (422, "invalid-number")
    assert (
        await ivr.http.delete("/v1/ivr/blacklist/+33612345678", headers=headers)
    ).status_code == 204
    absent = await ivr.http.get("/v1/ivr/blacklist/+33612345678", headers=headers)
    assert absent.json()["error"] == "not-blacklisted"

    settings = await ivr.http.put(
        "/v1/ivr/settings",
        json={
            "language": "fr",
            "webhook_url": "https://hooks.example/ivr",
            "webhook_secret": "0123456789abcdef-secret",
            "error_transfer_to": "+33142685399",
        },
        headers=headers,
    )
    assert settings.status_code == 200, settings.text
    assert settings.json()["webhook_secret_set"] is True
    assert "webhook_secret" not in settings.json()
    kept = await ivr.http.put("/v1/ivr/settings", json={"language": "en"}, headers=headers)
    assert kept.json()["webhook_secret_set"] is True
    assert kept.json()["webhook_url"] is None
    cleared = await ivr.http.put("/v1/ivr/settings", json={"webhook_secret": None}, headers=headers)
    assert cleared.json()["webhook_secret_set"] is False


async def test_credentials_and_permissions_are_checked(ivr: Any) -> None:
    tenant = ivr.new_tenant()

    anonymous = await ivr.http.get("/v1/flows")
    assert anonymous.status_code == 401
    reader = ivr.headers(tenant, "ivr:read")
    assert (await ivr.http.get("/v1/flows", headers=reader)).status_code == 200
    write = await ivr.http.post("/v1/flows", json=SMALL_FLOW, headers=reader)
    assert (write.status_code, write.json()["details"]["permission"]) == (403, "ivr:write")
    numbers = await ivr.http.get("/v1/numbers", headers=reader)
    assert numbers.status_code == 403


async def test_the_figures_are_served_on_loopback_only(ivr: Any) -> None:
    local = await ivr.http.get("/v1/internal/stats")
    assert local.status_code == 200
    assert {"ivr_completed", "surveys", "voicemails", "runs_active"} <= set(local.json())

    transport = httpx.ASGITransport(app=ivr.ivr.app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://ivr") as remote:
        response = await remote.get("/v1/internal/stats")
    assert response.status_code == 403
