"""Queues REST API against PostgreSQL: CRUD with versions, validation naming the field,
announcements through the outbox, live status, explanations, staffing (Erlang C as the
domain computes it), deletion overflowing waiting calls, the internal stats."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from routing_it_support import READ, ClientFactory, SkillMaker, new_tenant

from switchboard_common.events import Envelope
from switchboard_common.events.queues import CallEnqueued
from switchboard_routing import models
from switchboard_routing.domain.staffing import (
    agents_for_service_level,
    erlang_a_agents_for_service_level,
    traffic_erlangs,
)
from switchboard_routing.main import RoutingApp


async def outbox_types(service: RoutingApp, tenant_id: str) -> list[str]:
    async with service.store.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(models.outbox.c.payload)
            .where(models.outbox.c.key == tenant_id)
            .order_by(models.outbox.c.id)
        )
        return [Envelope.model_validate_json(bytes(row.payload)).type for row in rows]


def enqueued(call_id: str, queue_id: str) -> CallEnqueued:
    return CallEnqueued(
        call_id=call_id, queue_id=queue_id, node_id="fs1", enqueued_at=datetime.now(UTC)
    )


async def test_queue_lifecycle_with_versions_and_config_events(
    make_client: ClientFactory, service: RoutingApp, add_skill: SkillMaker
) -> None:
    tenant = new_tenant()
    await add_skill(tenant, "french")
    http = make_client(tenant)
    created = await http.post(
        "/v1/queues",
        json={
            "id": "sales",
            "name": "Sales",
            "strategy": "skills-based",
            "required_skills": [{"skill": "french", "min_proficiency": 3}],
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == "/v1/queues/sales"
    body = created.json()
    assert body["version"] == 1
    assert body["config"]["strategy"] == "skills-based"
    assert body["config"]["ring_timeout_seconds"] == 20.0

    duplicate = await http.post("/v1/queues", json={"id": "sales"})
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "queue-exists"

    replaced = await http.put("/v1/queues/sales", json={"name": "Sales FR", "strategy": "random"})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert replaced.json()["config"]["required_skills"] == []
    stale = await http.patch(
        "/v1/queues/sales", json={"wrap_up_seconds": 5}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 409 and stale.json()["error"] == "version-mismatch"
    patched = await http.patch(
        "/v1/queues/sales", json={"wrap_up_seconds": 5}, headers={"If-Match": '"2"'}
    )
    assert patched.status_code == 200
    assert patched.json()["config"]["wrap_up_seconds"] == 5
    assert patched.json()["config"]["strategy"] == "random"
    assert [q["id"] for q in (await http.get("/v1/queues")).json()] == ["sales"]
    engine = service.routing.tenant(tenant).engine  # type: ignore[union-attr]
    assert engine.queue_config("sales").wrap_up_seconds == 5

    assert (await http.delete("/v1/queues/sales")).status_code == 204
    assert (await http.get("/v1/queues/sales")).status_code == 404
    assert (await http.get("/v1/queues")).json() == []
    assert engine.queue_ids == []
    again = await http.post("/v1/queues", json={"id": "sales"})
    assert again.json()["version"] == 5
    assert await outbox_types(service, tenant) == [
        "switchboard.queue.config_changed.v1",
        "switchboard.queue.config_changed.v1",
        "switchboard.queue.config_changed.v1",
        "switchboard.queue.deleted.v1",
        "switchboard.queue.config_changed.v1",
    ]


async def test_bad_input_is_refused_naming_the_field(
    make_client: ClientFactory, add_skill: SkillMaker
) -> None:
    tenant = new_tenant()
    await add_skill(tenant, "french")
    http = make_client(tenant)
    assert (await http.post("/v1/queues", json={"id": "backup"})).status_code == 201
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"required_skills": [{"skill": "german"}]},
            "required_skills[0].skill",
            "unknown-skill",
        ),
        (
            {"priority_rules": [{"boost": 5, "required_skill": "klingon"}]},
            "priority_rules[0].required_skill",
            "unknown-skill",
        ),
        ({"strategy": "loudest-first"}, "strategy", "unknown-strategy"),
        ({"ring_timeout_seconds": -5}, "ring_timeout_seconds", "invalid-queue-config"),
        ({"wrap_up_seconds": -1}, "wrap_up_seconds", "invalid-queue-config"),
        (
            {
                "overflow_rules": [
                    {
                        "condition": "after_wait",
                        "threshold_seconds": 60,
                        "target": {"kind": "queue", "destination": "sales"},
                    }
                ]
            },
            "overflow_rules[0].target.destination",
            "overflow-to-self",
        ),
        (
            {"exit_target": {"kind": "queue", "destination": "nowhere"}},
            "exit_target.destination",
            "unknown-queue",
        ),
        ({"stratgy": "random"}, "stratgy", "unknown-field"),
        (
            {"announcements": {"intervall_seconds": 5}},
            "announcements.intervall_seconds",
            "unknown-field",
        ),
        ({"id": "bad id!"}, "id", "invalid-id"),
    ]
    for document, field, error_id in cases:
        response = await http.post("/v1/queues", json={"id": "sales", **document})
        assert response.status_code == 422, (document, response.text)
        body = response.json()
        assert (body["error"], body["details"]["field"]) == (error_id, field), body
    assert [q["id"] for q in (await http.get("/v1/queues")).json()] == ["backup"]

    referencing = await http.post(
        "/v1/queues",
        json={"id": "sales", "exit_target": {"kind": "queue", "destination": "backup"}},
    )
    assert referencing.status_code == 201
    in_use = await http.delete("/v1/queues/backup")
    assert in_use.status_code == 409
    assert in_use.json()["error"] == "queue-in-use"
    assert in_use.json()["details"]["queues"] == ["sales"]


async def test_permissions_are_checked(make_client: ClientFactory) -> None:
    tenant = new_tenant()
    reader = make_client(tenant, permissions=[READ])
    assert (await reader.get("/v1/queues")).status_code == 200
    refused = await reader.post("/v1/queues", json={"id": "q"})
    assert refused.status_code == 403
    assert refused.json()["details"]["permission"] == "queues:write"
    assert (await make_client(None).get("/v1/queues")).status_code == 401


async def test_status_and_explain_show_the_live_queue(
    make_client: ClientFactory, service: RoutingApp
) -> None:
    tenant = new_tenant()
    http = make_client(tenant)
    await http.post("/v1/queues", json={"id": "support", "default_handle_seconds": 100})
    await service.routing.call_enqueued(tenant, enqueued("call-1", "support"))
    await service.routing.call_enqueued(tenant, enqueued("call-2", "support"))

    status = await http.get("/v1/queues/support/status")
    assert status.status_code == 200, status.text
    body = status.json()
    assert [w["call_id"] for w in body["waiting"]] == ["call-1", "call-2"]
    assert body["logged_in_agents"] == 0
    assert body["estimated_wait_s"] is None
    assert body["epoch"] == service.routing.tenant(tenant).engine.epoch  # type: ignore[union-attr]

    explained = await http.get("/v1/calls/call-2/explain")
    assert explained.status_code == 200
    assert explained.json()["source"] == "live"
    assert explained.json()["decision"]["queue_id"] == "support"
    assert (await http.get("/v1/calls/nope/explain")).status_code == 404


async def test_an_answered_calls_decision_is_explained_from_storage(
    make_client: ClientFactory, service: RoutingApp
) -> None:
    from switchboard_common.events.agents import AgentState, AgentStateChanged

    tenant = new_tenant()
    http = make_client(tenant)
    await http.post("/v1/queues", json={"id": "support"})
    await service.routing.agent_changed(
        tenant,
        AgentStateChanged(
            agent_id="a1",
            state=AgentState.AVAILABLE,
            queues=["support"],
            changed_at=datetime.now(UTC),
        ),
    )
    await service.routing.call_enqueued(tenant, enqueued("call-9", "support"))
    await service.routing.wait_for_offers(5.0)
    await service.routing.persist(snapshots=False)
    state = service.routing.tenant(tenant)
    assert state is not None
    state.decisions.clear()

    explained = await http.get("/v1/calls/call-9/explain")
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["source"] == "offer"
    assert body["decision"]["chosen_agent_ids"] == ["a1"]
    assert body["decision"]["candidates"][0]["agent_id"] == "a1"


async def test_staffing_from_given_figures_matches_erlang_c(
    make_client: ClientFactory,
) -> None:
    tenant = new_tenant()
    http = make_client(tenant)
    await http.post("/v1/queues", json={"id": "sales", "service_level_seconds": 20})
    response = await http.get(
        "/v1/queues/sales/staffing",
        params={
            "interval": "30m",
            "calls": 360,
            "aht": 240,
            "service_level": 0.8,
            "shrinkage": 0.3,
            "patience": 120,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    traffic = traffic_erlangs(360, 1800, 240)
    plan = agents_for_service_level(
        traffic, handle_seconds=240, target_seconds=20, service_level=0.8, shrinkage=0.3
    )
    assert body["source"] == "given" and body["aht_source"] == "given"
    assert math.isclose(body["traffic_erlangs"], traffic)
    assert body["erlang_c"]["agents"] == plan.agents
    assert body["erlang_c"]["scheduled_agents"] == plan.scheduled_agents
    assert math.isclose(body["erlang_c"]["service_level"], plan.figures.service_level)
    assert math.isclose(
        body["erlang_c"]["average_speed_of_answer_s"], plan.figures.average_speed_of_answer
    )
    erlang_a = erlang_a_agents_for_service_level(
        arrival_rate=360 / 1800,
        handle_seconds=240,
        patience_seconds=120,
        target_seconds=20,
        service_level=0.8,
    )
    assert body["erlang_a"]["agents"] == erlang_a.agents
    assert body["erlang_a"]["agents"] <= body["erlang_c"]["agents"]

    bad = await http.get("/v1/queues/sales/staffing", params={"interval": "30 minutes"})
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "interval"
    too_high = await http.get("/v1/queues/sales/staffing", params={"service_level": 1.5})
    assert too_high.status_code == 422
    assert too_high.json()["details"]["field"] == "service_level"


async def test_staffing_from_recorded_traffic(
    make_client: ClientFactory, service: RoutingApp
) -> None:
    tenant = new_tenant()
    http = make_client(tenant)
    await http.post("/v1/queues", json={"id": "sales", "default_handle_seconds": 200})
    for index in range(6):
        await service.routing.call_enqueued(tenant, enqueued(f"rec-{index}", "sales"))
    await service.routing.persist(snapshots=False)

    response = await http.get(
        "/v1/queues/sales/staffing", params={"interval": "15m", "lookback": "1h"}
    )
    body = response.json()
    assert body["source"] == "recorded"
    assert body["lookback_s"] == 3600
    assert math.isclose(body["calls"], 6 * 900 / 3600)
    assert (body["aht_s"], body["aht_source"]) == (200, "queue_default")
    expected = agents_for_service_level(
        traffic_erlangs(1.5, 900, 200), handle_seconds=200, target_seconds=20, service_level=0.8
    )
    assert body["erlang_c"]["agents"] == expected.agents
    assert body["erlang_a"] is None


async def test_deleting_a_queue_with_waiting_calls_overflows_them(
    make_client: ClientFactory, service: RoutingApp
) -> None:
    tenant = new_tenant()
    http = make_client(tenant)
    await http.post(
        "/v1/queues",
        json={"id": "sales", "exit_target": {"kind": "voicemail", "destination": "sales-box"}},
    )
    await service.routing.call_enqueued(tenant, enqueued("waiting-1", "sales"))
    assert (await http.delete("/v1/queues/sales")).status_code == 204
    await service.routing.persist(snapshots=False)
    types = await outbox_types(service, tenant)
    assert "switchboard.queue.call_overflowed.v1" in types
    assert types.index("switchboard.queue.deleted.v1") < types.index(
        "switchboard.queue.call_overflowed.v1"
    )
    engine = service.routing.tenant(tenant).engine  # type: ignore[union-attr]
    assert engine.queue_ids == []
    assert engine.call_queue("waiting-1") is None


async def test_internal_stats_need_no_credentials(
    make_client: ClientFactory, service: RoutingApp
) -> None:
    tenant = new_tenant()
    await make_client(tenant).post("/v1/queues", json={"id": "q"})
    await service.routing.call_enqueued(tenant, enqueued("s-1", "q"))
    response = await make_client(None).get("/v1/internal/stats")
    assert response.status_code == 200
    body = response.json()
    assert body["calls_enqueued"] >= 1
    assert set(body) >= {
        "calls_enqueued",
        "calls_offered",
        "calls_answered",
        "calls_abandoned",
        "calls_overflowed",
    }
    assert body["owned_partitions"] == [0]
