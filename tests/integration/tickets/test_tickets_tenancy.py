"""No tenant sees another's records, on every route of the API: each route of the served
OpenAPI document must have a probe here (a new route fails the test until it has one).

Routes addressing a record by id answer 404 for another tenant's record; collection and
creation routes answer from the caller's own tenant only, and never change the other's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from switchboard_tickets.main import TicketsApp

Probe = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass
class Owned:
    """What tenant A owns."""

    customer: dict[str, Any]
    note_id: str
    ticket: dict[str, Any]
    attachment_id: str
    department: dict[str, Any]
    notification_id: str
    secrets: tuple[str, ...]


async def _seed(
    client: httpx.AsyncClient,
    service: TicketsApp,
    add_agent: Any,
    tenant: str,
    paris_sla: dict[str, Any],
    call_events: Any,
    clock: Any,
) -> Owned:
    await add_agent(tenant, "agent-a")
    await client.put("/v1/ticket-settings", json={"version": 0, "numbering": {"prefix": "SECRET"}})
    await client.put("/v1/ticket-settings/sla", json={"version": 1, **paris_sla})
    await client.put("/v1/customer-fields/secretfield", json={"type": "string"})
    await client.post("/v1/ticket-categories", json={"key": "secretcat", "name": "Secret"})
    department = (await client.post("/v1/departments", json={"name": "SecretDept"})).json()
    customer = (
        await client.post("/v1/customers", json={"name": "SecretName", "phones": ["+33142685300"]})
    ).json()
    note = (await client.post(f"/v1/customers/{customer['id']}/notes", json={"body": "n"})).json()
    await call_events.arrived(tenant, "call-secret", "+33142685300")
    ticket = (
        await client.post(
            "/v1/tickets",
            json={
                "subject": "SecretSubject",
                "customer_id": customer["id"],
                "assignee_id": "agent-a",
                "department_id": department["id"],
                "category": "secretcat",
            },
        )
    ).json()
    attachment = (
        await client.post(
            f"/v1/tickets/{ticket['id']}/attachments",
            json={"kind": "recording", "recording_id": "rec-secret"},
        )
    ).json()
    clock.set(datetime(2024, 5, 6, 10, 0, tzinfo=UTC))
    await service.timer.run_once()
    notifications = (
        await client.get("/v1/notifications", params={"ticket_id": ticket["id"]})
    ).json()
    return Owned(
        customer=customer,
        note_id=note["id"],
        ticket=ticket,
        attachment_id=attachment["id"],
        department=department,
        notification_id=notifications[0]["id"],
        secrets=(
            "SECRET",
            "secretfield",
            "secretcat",
            "SecretDept",
            "SecretName",
            "SecretSubject",
            customer["id"],
            ticket["id"],
        ),
    )


def _probes(owned: Owned) -> dict[tuple[str, str], tuple[str, Probe]]:
    """(method, path) -> (expectation, request made by the other tenant).

    Expectations: `404` (the record is not found), `own` (a 2xx answer about the caller's
    own tenant, mentioning nothing of A's), `created` (names unique per tenant: the caller
    may create one named like A's) or `4xx` (a body reference to A's record is refused as
    unknown)."""
    c = owned.customer["id"]
    t = owned.ticket["id"]
    d = owned.department["id"]
    return {
        ("get", "/v1/customers"): ("own", lambda b: b.get("/v1/customers")),
        ("post", "/v1/customers"): (
            "own",
            lambda b: b.post("/v1/customers", json={"phones": ["+33142685300"]}),
        ),
        ("get", "/v1/customers/lookup"): (
            "own",
            lambda b: b.get("/v1/customers/lookup", params={"phone_number": "+33142685300"}),
        ),
        ("post", "/v1/customers/merge"): (
            "404",
            lambda b: b.post("/v1/customers/merge", json={"customer_ids": [c, c]}),
        ),
        ("get", "/v1/customers/{customer_id}"): ("404", lambda b: b.get(f"/v1/customers/{c}")),
        ("patch", "/v1/customers/{customer_id}"): (
            "404",
            lambda b: b.patch(f"/v1/customers/{c}", json={"version": 1, "name": "x"}),
        ),
        ("delete", "/v1/customers/{customer_id}"): (
            "404",
            lambda b: b.delete(f"/v1/customers/{c}"),
        ),
        ("get", "/v1/customers/{customer_id}/notes"): (
            "404",
            lambda b: b.get(f"/v1/customers/{c}/notes"),
        ),
        ("post", "/v1/customers/{customer_id}/notes"): (
            "404",
            lambda b: b.post(f"/v1/customers/{c}/notes", json={"body": "x"}),
        ),
        ("delete", "/v1/customers/{customer_id}/notes/{note_id}"): (
            "404",
            lambda b: b.delete(f"/v1/customers/{c}/notes/{owned.note_id}"),
        ),
        ("get", "/v1/customers/{customer_id}/contacts"): (
            "404",
            lambda b: b.get(f"/v1/customers/{c}/contacts"),
        ),
        ("put", "/v1/calls/{call_id}/disposition"): (
            "own",
            lambda b: b.put("/v1/calls/call-secret/disposition", json={"disposition": "spam"}),
        ),
        ("post", "/v1/tickets"): (
            "4xx",
            lambda b: b.post("/v1/tickets", json={"subject": "x", "customer_id": c}),
        ),
        ("get", "/v1/tickets"): (
            "own",
            lambda b: b.get("/v1/tickets", params={"text": "SecretSubject"}),
        ),
        ("get", "/v1/tickets/{ticket_id}"): ("404", lambda b: b.get(f"/v1/tickets/{t}")),
        ("patch", "/v1/tickets/{ticket_id}"): (
            "404",
            lambda b: b.patch(f"/v1/tickets/{t}", json={"version": 1, "subject": "x"}),
        ),
        ("post", "/v1/tickets/{ticket_id}/transitions"): (
            "404",
            lambda b: b.post(
                f"/v1/tickets/{t}/transitions", json={"status": "resolved", "resolution": "x"}
            ),
        ),
        ("post", "/v1/tickets/{ticket_id}/assign"): (
            "404",
            lambda b: b.post(f"/v1/tickets/{t}/assign", json={"assignee_id": "agent-b"}),
        ),
        ("get", "/v1/tickets/{ticket_id}/comments"): (
            "404",
            lambda b: b.get(f"/v1/tickets/{t}/comments"),
        ),
        ("post", "/v1/tickets/{ticket_id}/comments"): (
            "404",
            lambda b: b.post(f"/v1/tickets/{t}/comments", json={"body": "x"}),
        ),
        ("get", "/v1/tickets/{ticket_id}/attachments"): (
            "404",
            lambda b: b.get(f"/v1/tickets/{t}/attachments"),
        ),
        ("post", "/v1/tickets/{ticket_id}/attachments"): (
            "404",
            lambda b: b.post(
                f"/v1/tickets/{t}/attachments", json={"kind": "link", "url": "https://x.org"}
            ),
        ),
        ("delete", "/v1/tickets/{ticket_id}/attachments/{attachment_id}"): (
            "404",
            lambda b: b.delete(f"/v1/tickets/{t}/attachments/{owned.attachment_id}"),
        ),
        ("get", "/v1/notifications"): (
            "own",
            lambda b: b.get("/v1/notifications", params={"ticket_id": t}),
        ),
        ("post", "/v1/notifications/{notification_id}/acknowledge"): (
            "404",
            lambda b: b.post(f"/v1/notifications/{owned.notification_id}/acknowledge"),
        ),
        ("get", "/v1/ticket-settings"): ("own", lambda b: b.get("/v1/ticket-settings")),
        ("put", "/v1/ticket-settings"): (
            "own",
            lambda b: b.put("/v1/ticket-settings", json={"version": 0}),
        ),
        ("put", "/v1/ticket-settings/sla"): (
            "own",
            lambda b: b.put(
                "/v1/ticket-settings/sla",
                json={
                    "version": 1,
                    "calendar": {"timezone": "UTC", "weekly": {"mon": ["00:00-00:00"]}},
                },
            ),
        ),
        ("delete", "/v1/ticket-settings/sla"): (
            "own",
            lambda b: b.delete("/v1/ticket-settings/sla", params={"version": 2}),
        ),
        ("get", "/v1/departments"): ("own", lambda b: b.get("/v1/departments")),
        ("post", "/v1/departments"): (
            "created",
            lambda b: b.post("/v1/departments", json={"name": "SecretDept"}),
        ),
        ("get", "/v1/departments/{department_id}"): (
            "404",
            lambda b: b.get(f"/v1/departments/{d}"),
        ),
        ("patch", "/v1/departments/{department_id}"): (
            "404",
            lambda b: b.patch(f"/v1/departments/{d}", json={"version": 1, "name": "x"}),
        ),
        ("delete", "/v1/departments/{department_id}"): (
            "404",
            lambda b: b.delete(f"/v1/departments/{d}"),
        ),
        ("get", "/v1/ticket-categories"): ("own", lambda b: b.get("/v1/ticket-categories")),
        ("post", "/v1/ticket-categories"): (
            "created",
            lambda b: b.post("/v1/ticket-categories", json={"key": "secretcat", "name": "Mine"}),
        ),
        ("get", "/v1/ticket-categories/{key}"): (
            "404",
            lambda b: b.get("/v1/ticket-categories/secretcat-child"),
        ),
        ("patch", "/v1/ticket-categories/{key}"): (
            "404",
            lambda b: b.patch("/v1/ticket-categories/secretcat-child", json={"active": False}),
        ),
        ("delete", "/v1/ticket-categories/{key}"): (
            "404",
            lambda b: b.delete("/v1/ticket-categories/secretcat-child"),
        ),
        ("get", "/v1/customer-fields"): ("own", lambda b: b.get("/v1/customer-fields")),
        ("get", "/v1/customer-fields/{key}"): (
            "404",
            lambda b: b.get("/v1/customer-fields/secretfield"),
        ),
        ("put", "/v1/customer-fields/{key}"): (
            "created",
            lambda b: b.put("/v1/customer-fields/secretfield", json={"type": "number"}),
        ),
        ("delete", "/v1/customer-fields/{key}"): (
            "404",
            lambda b: b.delete("/v1/customer-fields/otherfield"),
        ),
    }


TENANTLESS_ROUTES = {("get", "/health")}


async def test_every_route_keeps_tenants_apart(
    service: TicketsApp,
    make_client: Any,
    tenant: str,
    other_tenant: str,
    add_agent: Any,
    paris_sla: dict[str, Any],
    call_events: Any,
    clock: Any,
) -> None:
    owner = make_client(tenant)
    owned = await _seed(owner, service, add_agent, tenant, paris_sla, call_events, clock)
    await owner.post(
        "/v1/ticket-categories",
        json={"key": "secretcat-child", "name": "Child", "parent_key": "secretcat"},
    )
    await owner.put("/v1/customer-fields/otherfield", json={"type": "bool"})
    await add_agent(other_tenant, "agent-b")
    intruder = make_client(other_tenant)

    probes = _probes(owned)
    routes = {
        (method, path)
        for path, operations in service.app.openapi()["paths"].items()
        for method in operations
    }
    uncovered = sorted(routes - set(probes) - TENANTLESS_ROUTES)
    assert not uncovered, f"routes without a tenancy probe: {uncovered}"
    assert not set(probes) - routes, "probes for routes that no longer exist"

    before = {
        "customer": (await owner.get(f"/v1/customers/{owned.customer['id']}")).json(),
        "ticket": (await owner.get(f"/v1/tickets/{owned.ticket['id']}")).json(),
        "history": (await owner.get(f"/v1/customers/{owned.customer['id']}/contacts")).json(),
        "settings": (await owner.get("/v1/ticket-settings")).json(),
        "fields": (await owner.get("/v1/customer-fields")).json(),
        "categories": (await owner.get("/v1/ticket-categories")).json(),
        "departments": (await owner.get("/v1/departments")).json(),
        "notifications": (await owner.get("/v1/notifications")).json(),
    }
    for (method, path), (expectation, probe) in probes.items():
        response = await probe(intruder)
        label = f"{method.upper()} {path}: {response.status_code} {response.text[:200]}"
        if expectation == "404":
            assert response.status_code == 404, label
        elif expectation == "4xx":
            assert 400 <= response.status_code < 500, label
        elif expectation == "created":
            assert response.status_code == 201, label
        else:
            assert 200 <= response.status_code < 300, label
            for secret in owned.secrets:
                assert secret not in response.text, f"{label} shows {secret}"
        assert response.status_code < 500, label

    after = {
        "customer": (await owner.get(f"/v1/customers/{owned.customer['id']}")).json(),
        "ticket": (await owner.get(f"/v1/tickets/{owned.ticket['id']}")).json(),
        "history": (await owner.get(f"/v1/customers/{owned.customer['id']}/contacts")).json(),
        "settings": (await owner.get("/v1/ticket-settings")).json(),
        "fields": (await owner.get("/v1/customer-fields")).json(),
        "categories": (await owner.get("/v1/ticket-categories")).json(),
        "departments": (await owner.get("/v1/departments")).json(),
        "notifications": (await owner.get("/v1/notifications")).json(),
    }
    assert after == before
    assert all(n["acknowledged_at"] is None for n in after["notifications"])
