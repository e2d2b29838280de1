"""Tickets over REST against PostgreSQL: opening, numbering, editing, workflow, assignment,
comments, attachments, configuration, search, and the events queued in the outbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from switchboard_tickets import repository
from switchboard_tickets.main import TicketsApp


async def _ticket(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/tickets", json={"subject": "Printer jammed", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_ticket_workflow_with_events(
    make_client: Any, tenant: str, add_agent: Any, outbox_events: Any, clock: Any
) -> None:
    client = make_client(tenant)
    await add_agent(tenant, "agent-1")
    await add_agent(tenant, "agent-2")
    ticket = await _ticket(client, urgency="high", impact="high", description="paper everywhere")
    assert ticket["number"] == "T-000001"
    assert ticket["priority"] == "P1"
    assert ticket["status"] == "new"
    ticket_id = ticket["id"]

    clock.advance(timedelta(minutes=5))
    assigned = await client.post(
        f"/v1/tickets/{ticket_id}/assign", json={"assignee_id": "agent-1", "version": 1}
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned"

    steps = [
        {"status": "in_progress"},
        {"status": "assigned", "assignee_id": "agent-2"},
        {"status": "resolved", "resolution": "replaced the drum"},
        {"status": "closed"},
        {"status": "reopened"},
    ]
    for step in steps:
        clock.advance(timedelta(minutes=5))
        moved = await client.post(f"/v1/tickets/{ticket_id}/transitions", json=step)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == step["status"]
    final = (await client.get(f"/v1/tickets/{ticket_id}")).json()
    assert final["assignee_id"] == "agent-2"
    assert final["reopen_count"] == 1
    assert final["resolution"] is None
    assert final["version"] == 7

    types = [event.type.split(".")[2] for event in await outbox_events(tenant)]
    assert types == [
        "created",
        "assigned",
        "status_changed",
        "status_changed",
        "assigned",
        "status_changed",
        "status_changed",
        "resolved",
        "status_changed",
        "closed",
        "status_changed",
    ]
    events = await outbox_events(tenant)
    assert all(event.subject == ticket_id and event.tenant == tenant for event in events)
    assert events[4].data["previous_assignee_id"] == "agent-1"


async def test_illegal_moves_and_bad_references_are_4xx_with_field(
    make_client: Any, tenant: str, other_tenant: str, add_agent: Any
) -> None:
    client = make_client(tenant)
    await add_agent(other_tenant, "stranger")
    ticket = await _ticket(client)
    ticket_id = ticket["id"]

    illegal = await client.post(f"/v1/tickets/{ticket_id}/transitions", json={"status": "closed"})
    assert illegal.status_code == 409
    assert illegal.json()["error"] == "illegal-transition"
    assert illegal.json()["details"]["allowed"] == ["assigned", "resolved"]

    unassigned = await client.post(
        f"/v1/tickets/{ticket_id}/transitions", json={"status": "assigned"}
    )
    assert unassigned.status_code == 422
    assert unassigned.json()["details"]["field"] == "assignee_id"

    foreign_agent = await client.post(
        f"/v1/tickets/{ticket_id}/assign", json={"assignee_id": "stranger"}
    )
    assert foreign_agent.status_code == 422
    assert foreign_agent.json()["error"] == "unknown-agent"
    assert foreign_agent.json()["details"]["field"] == "assignee_id"

    no_resolution = await client.post(
        f"/v1/tickets/{ticket_id}/transitions", json={"status": "resolved"}
    )
    assert no_resolution.json()["error"] == "resolution-required"

    for body, field, error in (
        ({"category": "hardware"}, "category", "unknown-category"),
        ({"department_id": "nowhere"}, "department_id", "unknown-department"),
        ({"customer_id": "nobody"}, "customer_id", "unknown-customer"),
        ({"assignee_id": "stranger"}, "assignee_id", "unknown-agent"),
        ({"category": "Bad Category!"}, "category", "invalid-input"),
        ({"subject": "   "}, "subject", "invalid-input"),
    ):
        refused = await client.post("/v1/tickets", json={"subject": "x", **body})
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"] == error
        assert refused.json()["details"]["field"] == field

    stale = await client.patch(f"/v1/tickets/{ticket_id}", json={"version": 7, "subject": "y"})
    assert stale.status_code == 409
    assert stale.json()["error"] == "version-conflict"
    missing = await client.get("/v1/tickets/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"] == "no-such-ticket"


async def test_numbers_are_per_tenant_concurrency_safe_and_formatted(
    make_client: Any, tenant: str, other_tenant: str
) -> None:
    client = make_client(tenant)
    settings = await client.put(
        "/v1/ticket-settings",
        json={"version": 0, "numbering": {"prefix": "ACME", "width": 4}},
    )
    assert settings.status_code == 200
    stale = await client.put("/v1/ticket-settings", json={"version": 0})
    assert stale.status_code == 409

    created = await asyncio.gather(*(_ticket(client, subject=f"n{i}") for i in range(12)))
    numbers = sorted(ticket["number"] for ticket in created)
    assert numbers == [f"ACME-{i:04d}" for i in range(1, 13)]
    other = await _ticket(make_client(other_tenant))
    assert other["number"] == "T-000001"


async def test_update_retargets_and_rejects_unknown_category(make_client: Any, tenant: str) -> None:
    client = make_client(tenant)
    parent = await client.post("/v1/ticket-categories", json={"key": "billing", "name": "Billing"})
    assert parent.status_code == 201
    child = await client.post(
        "/v1/ticket-categories",
        json={"key": "billing.refunds", "name": "Refunds", "parent_key": "billing"},
    )
    assert child.status_code == 201
    too_deep = await client.post(
        "/v1/ticket-categories",
        json={"key": "billing.refunds.late", "name": "Late", "parent_key": "billing.refunds"},
    )
    assert too_deep.json()["error"] == "category-too-deep"
    ticket = await _ticket(client, category="billing.refunds")
    changed = await client.patch(
        f"/v1/tickets/{ticket['id']}", json={"version": 1, "urgency": "high", "impact": "high"}
    )
    assert changed.json()["priority"] == "P1"
    in_use = await client.delete("/v1/ticket-categories/billing.refunds")
    assert in_use.status_code == 409
    await client.patch("/v1/ticket-categories/billing.refunds", json={"active": False})
    inactive = await client.post(
        "/v1/tickets", json={"subject": "x", "category": "billing.refunds"}
    )
    assert inactive.json()["error"] == "unknown-category"
    categories = (await client.get("/v1/ticket-categories")).json()
    assert [(c["key"], c["parent_key"], c["active"]) for c in categories] == [
        ("billing", None, True),
        ("billing.refunds", "billing", False),
    ]


async def test_departments_with_leads(make_client: Any, tenant: str, add_agent: Any) -> None:
    client = make_client(tenant)
    await add_agent(tenant, "lead-1")
    refused = await client.post("/v1/departments", json={"name": "Support", "lead_agent_id": "x"})
    assert refused.json()["details"]["field"] == "lead_agent_id"
    created = await client.post(
        "/v1/departments", json={"name": "Support", "lead_agent_id": "lead-1"}
    )
    assert created.status_code == 201
    duplicate = await client.post("/v1/departments", json={"name": "Support"})
    assert duplicate.status_code == 409
    department_id = created.json()["id"]
    renamed = await client.patch(
        f"/v1/departments/{department_id}", json={"version": 1, "name": "Help desk"}
    )
    assert renamed.json()["name"] == "Help desk"
    assert renamed.json()["lead_agent_id"] == "lead-1"
    ticket = await _ticket(client, department_id=department_id)
    busy = await client.delete(f"/v1/departments/{department_id}")
    assert busy.json()["error"] == "department-in-use"
    await client.post(
        f"/v1/tickets/{ticket['id']}/transitions", json={"status": "resolved", "resolution": "ok"}
    )
    assert (await client.delete(f"/v1/departments/{department_id}")).status_code == 204


async def test_comments_attachments_and_first_response(
    make_client: Any, tenant: str, paris_sla: dict[str, Any], clock: Any
) -> None:
    client = make_client(tenant, user="agent-9")
    await client.put("/v1/ticket-settings/sla", json={"version": 0, **paris_sla})
    ticket = await _ticket(client)
    response_clock = ticket["sla"][0]
    assert response_clock["kind"] == "response"
    assert response_clock["due_at"] == "2024-05-06T08:00:00Z"

    clock.advance(timedelta(minutes=10))
    internal = await client.post(
        f"/v1/tickets/{ticket['id']}/comments", json={"body": "looking", "internal": True}
    )
    assert internal.status_code == 201
    assert (await client.get(f"/v1/tickets/{ticket['id']}")).json()["first_response_at"] is None
    clock.advance(timedelta(minutes=10))
    public = await client.post(f"/v1/tickets/{ticket['id']}/comments", json={"body": "on it"})
    assert public.json()["author_id"] == "agent-9"
    after = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert after["first_response_at"] == "2024-05-06T07:20:00Z"
    assert after["sla"][0]["state"] == "met"
    assert [
        c["body"] for c in (await client.get(f"/v1/tickets/{ticket['id']}/comments")).json()
    ] == [
        "looking",
        "on it",
    ]

    recording = await client.post(
        f"/v1/tickets/{ticket['id']}/attachments",
        json={"kind": "recording", "recording_id": "rec-42", "title": "the call"},
    )
    assert recording.status_code == 201
    bad_link = await client.post(
        f"/v1/tickets/{ticket['id']}/attachments", json={"kind": "link", "url": "ftp://x"}
    )
    assert bad_link.status_code == 422
    assert bad_link.json()["details"]["field"] == "url"
    listed = (await client.get(f"/v1/tickets/{ticket['id']}/attachments")).json()
    assert [a["recording_id"] for a in listed] == ["rec-42"]
    gone = await client.delete(f"/v1/tickets/{ticket['id']}/attachments/{listed[0]['id']}")
    assert gone.status_code == 204


async def test_search_filters_and_pages(
    make_client: Any,
    tenant: str,
    other_tenant: str,
    add_agent: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client(tenant)
    await add_agent(tenant, "agent-1")
    customer = (await client.post("/v1/customers", json={"name": "Ada"})).json()
    department = (await client.post("/v1/departments", json={"name": "Billing"})).json()
    await client.post("/v1/ticket-categories", json={"key": "billing", "name": "Billing"})
    made = []
    subjects = [
        "Invoice amount wrong",
        "Printer jammed",
        "Invoice missing",
        "Cannot log in",
        "Refund for invoice",
    ]
    for index, subject in enumerate(subjects):
        clock.advance(timedelta(hours=1))
        body: dict[str, Any] = {"subject": subject, "description": f"case {index}"}
        if "nvoice" in subject:
            body.update(category="billing", department_id=department["id"])
        if index % 2 == 0:
            body.update(customer_id=customer["id"], assignee_id="agent-1")
        made.append(await _ticket(client, **body))
    await _ticket(make_client(other_tenant), subject="Invoice of another tenant")

    async def search(**params: Any) -> list[str]:
        response = await client.get("/v1/tickets", params=params)
        assert response.status_code == 200, response.text
        return [ticket["subject"] for ticket in response.json()["items"]]

    assert await search(text="invoice") == [
        "Refund for invoice",
        "Invoice missing",
        "Invoice amount wrong",
    ]
    assert await search(text="invoice miss") == ["Invoice missing"]
    assert await search(text="invo miss") == [], "only the last word may be unfinished"
    assert await search(text="case 3") == ["Cannot log in"]
    assert await search(status="assigned", category="billing") == [
        "Refund for invoice",
        "Invoice missing",
        "Invoice amount wrong",
    ]
    assert await search(status="new") == ["Cannot log in", "Printer jammed"]
    assert await search(customer_id=customer["id"], unassigned="true") == []
    assert await search(unassigned="true") == ["Cannot log in", "Printer jammed"]
    assert await search(assignee_id="agent-1", department_id=department["id"], text="ref") == [
        "Refund for invoice"
    ]
    assert await search(number="3") == ["Invoice missing"]
    assert await search(number="t-000002") == ["Printer jammed"]
    assert await search(created_from=made[1]["created_at"], created_to=made[3]["created_at"]) == [
        "Invoice missing",
        "Printer jammed",
    ]
    assert await search(status=["new", "assigned"], size=100) == list(reversed(subjects))

    expectations = {
        "invoice": ["Refund for invoice", "Invoice missing", "Invoice amount wrong"],
        "case 3": ["Cannot log in"],
        "nothing": [],
    }
    for window in (1, 2, 3):
        monkeypatch.setattr(repository, "RECENT_WINDOW", window)
        for text, expected in expectations.items():
            assert await search(text=text) == expected, (window, text)
        assert await search(text="invoice", page=2, size=1) == ["Invoice missing"], window
    monkeypatch.undo()

    first = (await client.get("/v1/tickets", params={"size": 2})).json()
    assert first["has_more"] and first["next_cursor"]
    second = (
        await client.get("/v1/tickets", params={"size": 2, "cursor": first["next_cursor"]})
    ).json()
    third = (
        await client.get("/v1/tickets", params={"size": 2, "cursor": second["next_cursor"]})
    ).json()
    paged = [t["subject"] for page in (first, second, third) for t in page["items"]]
    assert paged == list(reversed(subjects))
    assert third["has_more"] is False
    assert await search(page=2, size=2) == ["Invoice missing", "Printer jammed"]

    for params, field in (
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"cursor": first["next_cursor"], "page": 2}, "page"),
        ({"status": "open"}, "status[0]"),
        ({"created_from": "2024-05-06T10:00:00"}, "created_from"),
        ({"created_from": "0001-01-01T00:00:00+05:00"}, "created_from"),
        ({"cursor": "eyJjIjoiMDAwMS0wMS0wMVQwMDowMDowMCswNTowMCIsImkiOiJ4In0"}, "cursor"),
        ({"text": "!!"}, "text"),
        ({"unassigned": "true", "assignee_id": "agent-1"}, "assignee_id"),
    ):
        refused = await client.get("/v1/tickets", params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert refused.json()["details"]["field"] == field, params


async def test_ticket_from_a_call_links_the_caller(
    make_client: Any, tenant: str, service: TicketsApp, call_events: Any
) -> None:
    client = make_client(tenant)
    customer = (await client.post("/v1/customers", json={"phones": ["+33142685300"]})).json()
    await call_events.arrived(tenant, "call-1", "+33142685300")
    ticket = await _ticket(client, origin_call_id="call-1")
    assert ticket["customer_id"] == customer["id"]
    assert ticket["origin_call_id"] == "call-1"
