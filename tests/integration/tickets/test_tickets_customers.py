"""Customers (CRM) over REST against PostgreSQL: CRUD, numbers, custom fields, notes,
merging, look-up by number through the in-process index."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from switchboard_tickets.main import TicketsApp


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/customers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_customer_lifecycle_normalizes_numbers_and_checks_versions(
    make_client: Any, tenant: str
) -> None:
    client = make_client(tenant)
    created = await _create(
        client,
        name="  Ada Lovelace ",
        company="Analytical Engines",
        phones=["+33 1 42 68 53 00", "+33142685300", "+44 20 7946 0958"],
        emails=["Ada@Example.org"],
        tags=["VIP", "billing"],
        vip_level=2,
    )
    assert created["name"] == "Ada Lovelace"
    assert created["phones"] == ["+33142685300", "+442079460958"]
    assert created["emails"] == ["ada@example.org"]
    assert created["tags"] == ["vip", "billing"]
    assert created["version"] == 1
    customer_id = created["id"]

    fetched = (await client.get(f"/v1/customers/{customer_id}")).json()
    assert fetched == created

    updated = await client.patch(
        f"/v1/customers/{customer_id}", json={"version": 1, "vip_level": 3, "company": "AE Ltd"}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["vip_level"] == 3
    assert updated.json()["company"] == "AE Ltd"
    assert updated.json()["version"] == 2

    stale = await client.patch(f"/v1/customers/{customer_id}", json={"version": 1, "name": "X"})
    assert stale.status_code == 409
    assert stale.json()["error"] == "version-conflict"
    assert stale.json()["details"]["actual_version"] == 2

    deleted = await client.delete(f"/v1/customers/{customer_id}", params={"version": 2})
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/customers/{customer_id}")).status_code == 404


async def test_bad_customer_input_names_the_field(make_client: Any, tenant: str) -> None:
    client = make_client(tenant)
    bad_phone = await client.post("/v1/customers", json={"phones": ["+33142685300", "12"]})
    assert bad_phone.status_code == 422
    assert bad_phone.json()["error"] == "invalid-phone-number"
    assert bad_phone.json()["details"]["field"] == "phones[1]"

    bad_email = await client.post("/v1/customers", json={"emails": ["not-an-address"]})
    assert bad_email.json()["error"] == "invalid-email"
    assert bad_email.json()["details"]["field"] == "emails[0]"

    nul = await client.post("/v1/customers", json={"name": "Ada\u0000"})
    assert nul.status_code == 422
    assert nul.json()["error"] == "invalid-text"
    assert nul.json()["details"]["field"] == "name"

    unknown_owner = await client.post("/v1/customers", json={"owner_agent_id": "ghost"})
    assert unknown_owner.status_code == 422
    assert unknown_owner.json()["error"] == "unknown-agent"
    assert unknown_owner.json()["details"]["field"] == "owner_agent_id"


async def test_national_numbers_need_the_tenant_region(make_client: Any, tenant: str) -> None:
    client = make_client(tenant)
    without_region = await client.post("/v1/customers", json={"phones": ["01 42 68 53 00"]})
    assert without_region.status_code == 422
    assert without_region.json()["details"]["field"] == "phones[0]"

    settings = await client.put("/v1/ticket-settings", json={"version": 0, "default_region": "FR"})
    assert settings.status_code == 200, settings.text
    created = await _create(client, phones=["01 42 68 53 00"])
    assert created["phones"] == ["+33142685300"]
    lookup = await client.get("/v1/customers/lookup", params={"phone_number": "0142685300"})
    assert lookup.json()["customer"]["id"] == created["id"]


async def test_custom_fields_are_defined_per_tenant_and_enforced(
    make_client: Any, tenant: str, other_tenant: str
) -> None:
    client = make_client(tenant)
    defined = await client.put(
        "/v1/customer-fields/contract", json={"type": "enum", "choices": ["gold", "basic"]}
    )
    assert defined.status_code == 201, defined.text
    again = await client.put(
        "/v1/customer-fields/contract", json={"type": "enum", "choices": ["gold", "basic", "pro"]}
    )
    assert again.status_code == 200
    await client.put("/v1/customer-fields/renewal", json={"type": "date", "required": True})
    keys = [field["key"] for field in (await client.get("/v1/customer-fields")).json()]
    assert keys == ["contract", "renewal"]

    missing = await client.post("/v1/customers", json={"custom_fields": {"contract": "pro"}})
    assert missing.status_code == 422
    assert missing.json()["error"] == "missing-custom-field"
    assert missing.json()["details"]["field"] == "custom_fields.renewal"

    wrong = await client.post(
        "/v1/customers", json={"custom_fields": {"contract": "platinum", "renewal": "2025-01-31"}}
    )
    assert wrong.json()["error"] == "invalid-custom-field"
    assert wrong.json()["details"]["field"] == "custom_fields.contract"

    created = await _create(client, custom_fields={"contract": "pro", "renewal": "2025-01-31"})
    assert created["custom_fields"] == {"contract": "pro", "renewal": "2025-01-31"}

    other = make_client(other_tenant)
    unknown = await other.post("/v1/customers", json={"custom_fields": {"contract": "pro"}})
    assert unknown.json()["error"] == "unknown-custom-field"
    bad_definition = await client.put("/v1/customer-fields/level", json={"type": "enum"})
    assert bad_definition.status_code == 422
    assert (await client.delete("/v1/customer-fields/renewal")).status_code == 204
    assert (await client.get("/v1/customer-fields/renewal")).status_code == 404


async def test_notes_and_listing(make_client: Any, tenant: str) -> None:
    client = make_client(tenant, user="agent-7")
    ada = await _create(client, name="Ada", company="Engines", phones=["+33142685300"])
    await _create(client, name="Grace", lifecycle="lead")
    note = await client.post(f"/v1/customers/{ada['id']}/notes", json={"body": "Prefers e-mail"})
    assert note.status_code == 201
    assert note.json()["author_id"] == "agent-7"
    notes = (await client.get(f"/v1/customers/{ada['id']}/notes")).json()
    assert [n["body"] for n in notes] == ["Prefers e-mail"]
    blank = await client.post(f"/v1/customers/{ada['id']}/notes", json={"body": "   "})
    assert blank.status_code == 422
    removed = await client.delete(f"/v1/customers/{ada['id']}/notes/{note.json()['id']}")
    assert removed.status_code == 204

    by_phone = (await client.get("/v1/customers", params={"phone": "+33 1 42 68 53 00"})).json()
    assert [c["id"] for c in by_phone["items"]] == [ada["id"]]
    by_text = (await client.get("/v1/customers", params={"q": "engin"})).json()
    assert [c["name"] for c in by_text["items"]] == ["Ada"]
    leads = (await client.get("/v1/customers", params={"lifecycle": "lead"})).json()
    assert [c["name"] for c in leads["items"]] == ["Grace"]
    first = (await client.get("/v1/customers", params={"limit": 1})).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (
        await client.get("/v1/customers", params={"limit": 1, "cursor": first["next_cursor"]})
    ).json()
    assert {first["items"][0]["name"], second["items"][0]["name"]} == {"Ada", "Grace"}
    assert second["next_cursor"] is None
    bad_cursor = await client.get("/v1/customers", params={"cursor": "nonsense"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["error"] == "invalid-cursor"


async def test_lookup_follows_writes_and_prefers_customers_over_leads(
    make_client: Any, tenant: str, service: TicketsApp
) -> None:
    client = make_client(tenant)
    number = "+33142685300"
    lead = await _create(client, name="Caller", phones=[number], lifecycle="lead")

    async def owner() -> str | None:
        found = (await client.get("/v1/customers/lookup", params={"phone_number": number})).json()
        return found["customer"]["id"] if found["found"] else None

    assert await owner() == lead["id"]
    assert service.index.get(tenant, number) == lead["id"]
    customer = await _create(client, name="Ada", phones=[number])
    assert service.index.get(tenant, number) == customer["id"]
    assert await owner() == customer["id"]

    moved = await client.patch(
        f"/v1/customers/{customer['id']}", json={"version": 1, "phones": ["+442079460958"]}
    )
    assert moved.status_code == 200
    assert service.index.get(tenant, number) == lead["id"]
    assert await owner() == lead["id"]
    await client.delete(f"/v1/customers/{lead['id']}")
    assert service.index.get(tenant, number) is None
    assert await owner() is None
    assert service.index.get(tenant, "+442079460958") == customer["id"]


async def test_lookup_heals_an_index_made_stale_by_another_instance(
    make_client: Any, make_service: Any, tenant: str
) -> None:
    first: TicketsApp = await make_service()
    second: TicketsApp = await make_service()
    via_first = make_client(tenant, app_service=first)
    via_second = make_client(tenant, app_service=second)
    number = "+33142685300"
    ada = await _create(via_first, name="Ada", phones=[number])
    lookup = await via_second.get("/v1/customers/lookup", params={"phone_number": number})
    assert lookup.json()["customer"]["id"] == ada["id"]
    assert second.index.get(tenant, number) == ada["id"]

    await via_first.patch(f"/v1/customers/{ada['id']}", json={"version": 1, "phones": []})
    grace = await _create(via_first, name="Grace", phones=[number])
    assert second.index.get(tenant, number) == ada["id"], "the other instance's index is stale"
    healed = await via_second.get("/v1/customers/lookup", params={"phone_number": number})
    assert healed.json()["customer"]["id"] == grace["id"]
    assert second.index.get(tenant, number) == grace["id"]


async def test_merge_moves_everything_to_the_older_record(
    make_client: Any, tenant: str, service: TicketsApp, outbox_events: Any, clock: Any
) -> None:
    client = make_client(tenant)
    older = await _create(client, name="Ada", phones=["+33142685300"], tags=["a"])
    clock.advance(timedelta(minutes=1))
    newer = await _create(
        client,
        name="Ada L.",
        phones=["+442079460958"],
        emails=["ada@example.org"],
        vip_level=3,
        lifecycle="lead",
    )
    await client.post(f"/v1/customers/{newer['id']}/notes", json={"body": "from the lead"})
    ticket = await client.post(
        "/v1/tickets", json={"subject": "Invoice wrong", "customer_id": newer["id"]}
    )
    assert ticket.status_code == 201

    merged = await client.post(
        "/v1/customers/merge", json={"customer_ids": [newer["id"], older["id"]]}
    )
    assert merged.status_code == 200, merged.text
    survivor = merged.json()["survivor"]
    assert survivor["id"] == older["id"]
    assert survivor["phones"] == ["+33142685300", "+442079460958"]
    assert survivor["vip_level"] == 3
    assert survivor["lifecycle"] == "customer"
    assert merged.json()["report"]["vip_level_raised"] is True

    assert (await client.get(f"/v1/customers/{newer['id']}")).status_code == 404
    notes = (await client.get(f"/v1/customers/{older['id']}/notes")).json()
    assert [n["body"] for n in notes] == ["from the lead"]
    moved = (await client.get(f"/v1/tickets/{ticket.json()['id']}")).json()
    assert moved["customer_id"] == older["id"]
    assert moved["version"] == 2
    assert service.index.get(tenant, "+442079460958") == older["id"]
    history = (await client.get(f"/v1/customers/{older['id']}/contacts")).json()
    assert [entry["kind"] for entry in history["items"]] == ["ticket"]
    types = [event.type for event in await outbox_events(tenant)]
    assert types.count("switchboard.customer.created.v1") == 2
    assert types[-1] == "switchboard.customer.merged.v1"

    itself = await client.post(
        "/v1/customers/merge", json={"customer_ids": [older["id"], older["id"]]}
    )
    assert itself.status_code == 422
    assert itself.json()["error"] == "merge-with-itself"


async def test_merge_conflicting_custom_fields_can_fail_or_be_resolved(
    make_client: Any, tenant: str, clock: Any
) -> None:
    client = make_client(tenant)
    await client.put("/v1/customer-fields/plan", json={"type": "string"})
    first = await _create(client, name="A", custom_fields={"plan": "gold"})
    clock.advance(timedelta(minutes=1))
    second = await _create(client, name="B", custom_fields={"plan": "basic"})
    refused = await client.post(
        "/v1/customers/merge",
        json={"customer_ids": [first["id"], second["id"]], "conflict_policy": "fail"},
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == "custom-field-conflict"
    resolved = await client.post(
        "/v1/customers/merge",
        json={
            "customer_ids": [first["id"], second["id"]],
            "conflict_policy": "fail",
            "resolutions": {"plan": "merged"},
        },
    )
    assert resolved.status_code == 200
    assert resolved.json()["survivor"]["custom_fields"] == {"plan": "basic"}


async def test_row_level_security_confines_a_tenant_transaction(
    make_client: Any, tenant: str, other_tenant: str, service: TicketsApp
) -> None:
    await _create(make_client(tenant), name="Ada")
    await _create(make_client(other_tenant), name="Grace")
    async with service.store.tenant(other_tenant) as repo:
        names = (
            await repo.session.execute(sa.text("SELECT name FROM tickets_customers"))
        ).scalars()
        assert list(names) == ["Grace"]
