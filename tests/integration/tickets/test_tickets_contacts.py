"""Contact history from consumed events (the consumer's handler called directly): calls
attached to customers, leads for unknown callers, surveys, voicemails, idempotency."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from switchboard_tickets.main import TicketsApp


async def _history(client: Any, customer_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/customers/{customer_id}/contacts")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_call_is_attached_to_its_customer_with_every_fact(
    make_client: Any, tenant: str, call_events: Any, clock: Any
) -> None:
    client = make_client(tenant)
    ada = (await client.post("/v1/customers", json={"phones": ["+33142685300"]})).json()
    start = clock()
    await call_events.arrived(tenant, "call-1", "+33142685300")
    clock.advance(timedelta(seconds=20))
    await call_events.enqueued(tenant, "call-1", "sales", "+33142685300")
    clock.advance(timedelta(seconds=12))
    await call_events.answered(tenant, "call-1", "sales", "agent-1")
    await call_events.recorded(tenant, "call-1", "/recordings/call-1.wav")
    clock.advance(timedelta(seconds=90))
    await call_events.ended(tenant, "call-1", 122)
    put = await client.put("/v1/calls/call-1/disposition", json={"disposition": "sale"})
    assert put.status_code == 204

    [call] = await _history(client, ada["id"])
    assert call["kind"] == "call"
    assert call["call_id"] == "call-1"
    assert call["at"] == start.isoformat().replace("+00:00", "Z")
    assert call["queue_id"] == "sales"
    assert call["agent_id"] == "agent-1"
    assert call["duration"] == "PT2M2S"
    assert call["recording_id"] == "/recordings/call-1.wav"
    assert call["disposition"] == "sale"


async def test_events_in_any_order_build_the_same_entry(
    make_client: Any, tenant: str, call_events: Any, clock: Any
) -> None:
    client = make_client(tenant)
    ada = (await client.post("/v1/customers", json={"phones": ["+33142685300"]})).json()
    start = clock()
    clock.advance(timedelta(seconds=60))
    await call_events.ended(tenant, "call-2", 60)
    await call_events.abandoned(tenant, "call-2", "support")
    await call_events.arrived(tenant, "call-2", "+33142685300")
    [call] = await _history(client, ada["id"])
    assert call["at"] == start.isoformat().replace("+00:00", "Z")
    assert call["duration"] == "PT1M"
    assert call["disposition"] == "abandoned"
    assert call["queue_id"] == "support"


async def test_an_unknown_caller_becomes_a_lead_once(
    make_client: Any,
    tenant: str,
    call_events: Any,
    service: TicketsApp,
    outbox_events: Any,
    clock: Any,
) -> None:
    client = make_client(tenant)
    await call_events.arrived(tenant, "call-3", "+44 20 7946 0958", name="J. Doe")
    clock.advance(timedelta(hours=1))
    await call_events.arrived(tenant, "call-4", "+442079460958")
    await call_events.arrived(tenant, "call-5", "anonymous")

    leads = (await client.get("/v1/customers", params={"lifecycle": "lead"})).json()["items"]
    assert [(lead["name"], lead["phones"]) for lead in leads] == [("J. Doe", ["+442079460958"])]
    history = await _history(client, leads[0]["id"])
    assert [entry["call_id"] for entry in history] == ["call-4", "call-3"]
    assert service.index.get(tenant, "+442079460958") == leads[0]["id"]
    created = [e for e in await outbox_events(tenant) if e.type.endswith("customer.created.v1")]
    assert [event.data["phones"] for event in created] == [["+442079460958"]]


async def test_each_event_is_handled_once(
    make_client: Any, tenant: str, call_events: Any, service: TicketsApp
) -> None:
    client = make_client(tenant)
    ada = (await client.post("/v1/customers", json={"phones": ["+33142685300"]})).json()
    await call_events.arrived(tenant, "call-6", "+33142685300")
    ended = call_events.ended_event(tenant, "call-6", 30)
    await service.contacts.handle(ended)
    replay_with_other_data = ended.model_copy(update={"data": {**ended.data, "duration_s": 999}})
    await service.contacts.handle(replay_with_other_data)
    [call] = await _history(client, ada["id"])
    assert call["duration"] == "PT30S"


async def test_surveys_join_the_caller_even_when_they_come_first(
    make_client: Any, tenant: str, call_events: Any, clock: Any
) -> None:
    client = make_client(tenant)
    ada = (await client.post("/v1/customers", json={"phones": ["+33142685300"]})).json()
    call_start = clock()
    clock.advance(timedelta(minutes=5))
    await call_events.survey(tenant, "call-7", [5, 4])
    clock.set(call_start)
    await call_events.arrived(tenant, "call-7", "+33142685300")
    history = await _history(client, ada["id"])
    assert [(entry["kind"], entry.get("score")) for entry in history] == [
        ("survey", 9),
        ("call", None),
    ]


async def test_call_end_and_resolution_during_the_call_count_as_first_contact(
    make_client: Any,
    tenant: str,
    call_events: Any,
    add_agent: Any,
    clock: Any,
    outbox_events: Any,
) -> None:
    client = make_client(tenant)
    await add_agent(tenant, "agent-1")
    await call_events.arrived(tenant, "call-8", "+33142685300")
    clock.advance(timedelta(seconds=10))
    ticket = (
        await client.post(
            "/v1/tickets",
            json={
                "subject": "Reset password",
                "origin_call_id": "call-8",
                "assignee_id": "agent-1",
            },
        )
    ).json()
    assert ticket["customer_id"] is not None
    clock.advance(timedelta(minutes=2))
    resolved = await client.post(
        f"/v1/tickets/{ticket['id']}/transitions",
        json={"status": "resolved", "resolution": "reset done"},
    )
    assert resolved.json()["first_contact_resolution"] is True
    clock.advance(timedelta(minutes=1))
    await call_events.ended(tenant, "call-8", 190)
    after = (await client.get(f"/v1/tickets/{ticket['id']}")).json()
    assert after["first_contact_resolution"] is True
    resolved_events = [e for e in await outbox_events(tenant) if e.type.endswith("resolved.v1")]
    assert resolved_events[0].data["first_contact_resolution"] is True
    history = await _history(client, ticket["customer_id"])
    assert [(entry["kind"], entry.get("event")) for entry in history] == [
        ("ticket", "resolved"),
        ("ticket", "created"),
        ("call", None),
    ]


async def test_a_voicemail_opens_a_ticket_with_its_recording(
    make_client: Any, tenant: str, call_events: Any
) -> None:
    client = make_client(tenant)
    await call_events.voicemail(tenant, "call-9", "+33142685300")
    [ticket] = (await client.get("/v1/tickets")).json()["items"]
    assert ticket["subject"] == "Voicemail from +33142685300"
    assert ticket["origin_call_id"] == "call-9"
    attachments = (await client.get(f"/v1/tickets/{ticket['id']}/attachments")).json()
    assert [a["recording_id"] for a in attachments] == ["/recordings/vm-1.wav"]
    lead = (await client.get(f"/v1/customers/{ticket['customer_id']}")).json()
    assert lead["lifecycle"] == "lead"


async def test_user_events_feed_the_agent_directory(
    make_client: Any, tenant: str, add_agent: Any, service: TicketsApp
) -> None:
    from switchboard_common.events import Envelope
    from switchboard_common.events.config import UserDeleted

    client = make_client(tenant)
    ticket = (await client.post("/v1/tickets", json={"subject": "x"})).json()
    await add_agent(tenant, "agent-5")
    ok = await client.post(f"/v1/tickets/{ticket['id']}/assign", json={"assignee_id": "agent-5"})
    assert ok.status_code == 200
    await service.contacts.handle(
        Envelope.wrap(
            UserDeleted(user_id="agent-5", username="agent-5"),
            source="switchboard/admin",
            tenant=tenant,
        )
    )
    gone = await client.post(
        f"/v1/tickets/{ticket['id']}/transitions",
        json={"status": "assigned", "assignee_id": "agent-5"},
    )
    assert gone.status_code == 422
    assert gone.json()["details"]["field"] == "assignee_id"
