"""Tenant isolation: every tenant route with a path id, discovered from the OpenAPI document,
answers 404 to another tenant; PostgreSQL row-level security confines the application role;
the migrations go up, down and up again."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from routing_it_support import ClientFactory, new_tenant

from switchboard_common import db
from switchboard_common.events.queues import CallEnqueued
from switchboard_common.outbox import Outbox
from switchboard_routing import models
from switchboard_routing.main import RoutingApp
from switchboard_routing.repository import QueueRecord, RoutingStore

NOT_TENANT_SCOPED_TAGS = {"internal", "ops"}

# path template -> (which seeded object fills the id, request body per method)
ROUTE_FIXTURES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "/v1/queues/{queue_id}": (
        "queue",
        {"put": {"name": "Mallory was here"}, "patch": {"name": "Mallory was here"}},
    ),
    "/v1/queues/{queue_id}/status": ("queue", {}),
    "/v1/queues/{queue_id}/staffing": ("queue", {}),
    "/v1/calls/{call_id}/explain": ("call", {}),
}


async def test_every_tenant_route_with_a_path_id_answers_404_to_another_tenant(
    make_client: ClientFactory, service: RoutingApp
) -> None:
    owner, intruder = new_tenant(), new_tenant()
    owner_http, intruder_http = make_client(owner), make_client(intruder)
    created = await owner_http.post("/v1/queues", json={"id": "sales", "name": "Sales"})
    assert created.status_code == 201
    await service.routing.call_enqueued(
        owner,
        CallEnqueued(
            call_id="owner-call", queue_id="sales", node_id="fs1", enqueued_at=datetime.now(UTC)
        ),
    )
    objects = {"queue": "sales", "call": "owner-call"}
    assert (await owner_http.get("/v1/calls/owner-call/explain")).status_code == 200

    checked: list[str] = []
    uncovered: list[str] = []
    for path, operations in service.app.openapi()["paths"].items():
        if "{" not in path:
            continue
        for method, operation in operations.items():
            if set(operation.get("tags", ())) & NOT_TENANT_SCOPED_TAGS:
                continue
            if path not in ROUTE_FIXTURES:
                uncovered.append(f"{method.upper()} {path}")
                continue
            kind, bodies = ROUTE_FIXTURES[path]
            url = re.sub(r"\{[^}]+\}", objects[kind], path)
            response = await intruder_http.request(method.upper(), url, json=bodies.get(method))
            assert response.status_code == 404, (method, url, response.text)
            checked.append(f"{method.upper()} {path}")
    assert not uncovered, f"tenant routes without an isolation fixture: {uncovered}"
    assert len(checked) == 7

    assert (await intruder_http.get("/v1/queues")).json() == []
    after = (await owner_http.get("/v1/queues/sales")).json()
    assert (after["version"], after["name"]) == (1, "Sales")


async def test_row_level_security_confines_each_tenant_to_its_rows(fresh_pg_url: str) -> None:
    await db.upgrade("routing", "switchboard_routing", fresh_pg_url)
    await asyncio.to_thread(db.downgrade_sync, "routing", "switchboard_routing", fresh_pg_url)
    await db.upgrade("routing", "switchboard_routing", fresh_pg_url)
    engine = db.create_engine(fresh_pg_url, pool_size=2)
    try:
        store = RoutingStore(engine, Outbox(models.outbox), role="switchboard_app")
        at = datetime.now(UTC)
        for tenant in ("alpha", "beta"):
            async with store.tenant(tenant) as repo:
                await repo.save_queue(
                    QueueRecord(tenant, f"{tenant}-q", "q", 1, {}, at, at), insert=True
                )
        async with store.tenant("alpha") as repo:
            rows = await repo.session.execute(sa.text("SELECT tenant_id FROM routing_queues"))
            assert [tenant for (tenant,) in rows] == ["alpha"]
            refused = False
            try:
                async with repo.session.begin_nested():
                    await repo.session.execute(
                        sa.text(
                            "INSERT INTO routing_queues (tenant_id, queue_id, name, version, "
                            "config, created_at, updated_at) VALUES ('beta', 'x', 'x', 1, "
                            "'{}', now(), now())"
                        )
                    )
            except sa.exc.DBAPIError:
                refused = True
            assert refused, "a row of another tenant cannot be written"
        async with store.platform() as platform:
            rows = await platform.session.execute(
                sa.text("SELECT tenant_id FROM routing_queues ORDER BY tenant_id")
            )
            assert [tenant for (tenant,) in rows] == ["alpha", "beta"]
    finally:
        await engine.dispose()
