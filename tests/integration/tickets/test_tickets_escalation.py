"""The escalation timer with a controllable clock: reminders and escalations fire at their
business time, never twice (not across a restart, nor with two instances at once), not
while the ticket waits for the customer, and reach the right people."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from switchboard_tickets.main import TicketsApp


def _paris(hour: int, minute: int = 0, day: int = 6) -> datetime:
    """That wall time in Paris in May 2024 (UTC+2)."""
    return datetime(2024, 5, day, hour - 2, minute, tzinfo=UTC)


async def _fired(client: httpx.AsyncClient, ticket_id: str) -> list[tuple[str, str, int, Any]]:
    response = await client.get("/v1/notifications", params={"ticket_id": ticket_id})
    assert response.status_code == 200, response.text
    return sorted((n["clock"], n["kind"], n["level"], n["recipient_id"]) for n in response.json())


async def _sla_ticket(
    client: httpx.AsyncClient, add_agent: Any, tenant: str, paris_sla: dict[str, Any]
) -> str:
    await add_agent(tenant, "agent-1")
    await add_agent(tenant, "lead-1")
    saved = await client.put("/v1/ticket-settings/sla", json={"version": 0, **paris_sla})
    assert saved.status_code == 200, saved.text
    department = await client.post(
        "/v1/departments", json={"name": "Support", "lead_agent_id": "lead-1"}
    )
    ticket = await client.post(
        "/v1/tickets",
        json={
            "subject": "Server down",
            "assignee_id": "agent-1",
            "department_id": department.json()["id"],
        },
    )
    assert ticket.status_code == 201, ticket.text
    return str(ticket.json()["id"])


async def test_reminders_and_escalations_fire_once_and_survive_a_restart(
    service: TicketsApp,
    make_service: Any,
    make_client: Any,
    tenant: str,
    add_agent: Any,
    paris_sla: dict[str, Any],
    clock: Any,
    outbox_events: Any,
) -> None:
    client = make_client(tenant)
    ticket_id = await _sla_ticket(client, add_agent, tenant, paris_sla)

    clock.set(_paris(9, 44))
    await service.timer.run_once()
    assert await _fired(client, ticket_id) == []

    clock.set(_paris(9, 46))
    await service.timer.run_once()
    await service.timer.run_once()
    assert await _fired(client, ticket_id) == [("response", "reminder", 75, "agent-1")]

    restarted: TicketsApp = await make_service()
    await restarted.timer.run_once()
    assert len(await _fired(client, ticket_id)) == 1

    clock.set(_paris(10, 1))
    await restarted.timer.run_once()
    assert await _fired(client, ticket_id) == [
        ("response", "escalation", 1, "agent-1"),
        ("response", "reminder", 75, "agent-1"),
    ], "the 90 % reminder is overtaken by the escalation and never sent"

    clock.set(_paris(11, 5))
    await service.timer.run_once()
    assert ("response", "escalation", 2, "lead-1") in await _fired(client, ticket_id)

    events = [e for e in await outbox_events(tenant) if e.subject == ticket_id]
    fired = [e for e in events if e.type.endswith(("reminder_due.v1", "escalated.v1"))]
    assert [e.type.split(".")[2] for e in fired] == ["reminder_due", "escalated", "escalated"]
    assert [e.data.get("target") for e in fired[1:]] == ["assignee", "department_lead"]
    keys = [e.data["idempotency_key"] for e in fired]
    assert len(set(keys)) == 3


async def test_the_response_escalations_stop_once_work_starts_and_pause_while_waiting(
    service: TicketsApp,
    make_client: Any,
    tenant: str,
    add_agent: Any,
    paris_sla: dict[str, Any],
    clock: Any,
) -> None:
    client = make_client(tenant)
    ticket_id = await _sla_ticket(client, add_agent, tenant, paris_sla)
    clock.set(_paris(9, 30))
    started = await client.post(
        f"/v1/tickets/{ticket_id}/transitions", json={"status": "in_progress"}
    )
    assert started.status_code == 200
    waiting = await client.post(
        f"/v1/tickets/{ticket_id}/transitions", json={"status": "pending_customer"}
    )
    assert waiting.json()["sla"][1]["state"] == "paused"

    clock.set(_paris(17, 0, day=7))
    await service.timer.run_once()
    assert await _fired(client, ticket_id) == []

    clock.set(_paris(9, 0, day=8))
    resumed = await client.post(
        f"/v1/tickets/{ticket_id}/transitions", json={"status": "in_progress"}
    )
    resolution_due = resumed.json()["sla"][1]["due_at"]
    assert resolution_due == "2024-05-08T15:30:00Z", "7.5 business hours left from Wed 09:00"
    clock.set(_paris(15, 29, day=8))
    await service.timer.run_once()
    assert await _fired(client, ticket_id) == []
    clock.set(_paris(15, 31, day=8))
    await service.timer.run_once()
    assert await _fired(client, ticket_id) == [("resolution", "reminder", 75, "agent-1")]


async def test_two_instances_never_fire_the_same_action_twice(
    make_service: Any,
    make_client: Any,
    tenant: str,
    add_agent: Any,
    paris_sla: dict[str, Any],
    clock: Any,
) -> None:
    client = make_client(tenant)
    ticket_ids = [await _sla_ticket(client, add_agent, tenant, paris_sla)]
    for index in range(5):
        created = await client.post("/v1/tickets", json={"subject": f"also down {index}"})
        ticket_ids.append(created.json()["id"])
    instances: list[TicketsApp] = [await make_service() for _ in range(3)]
    clock.set(_paris(10, 1))
    await asyncio.gather(*(instance.timer.run_once() for instance in instances))
    await asyncio.gather(*(instance.timer.run_once() for instance in instances))
    for ticket_id in ticket_ids:
        fired = await _fired(client, ticket_id)
        assert [(clock_kind, kind, level) for clock_kind, kind, level, _ in fired] == [
            ("response", "escalation", 1)
        ], ticket_id


async def test_the_running_timer_wakes_up_for_a_due_ticket(
    make_service: Any,
    make_client: Any,
    tenant: str,
    add_agent: Any,
    paris_sla: dict[str, Any],
    clock: Any,
    eventually: Any,
) -> None:
    running: TicketsApp = await make_service(timer_poll_interval_s=0.05)
    client = make_client(tenant, app_service=running)
    ticket_id = await _sla_ticket(client, add_agent, tenant, paris_sla)
    clock.set(_paris(9, 55))
    await running.timer.start()
    try:

        async def fired() -> bool:
            return bool(await _fired(client, ticket_id))

        await eventually(fired, timeout_s=10)
    finally:
        await running.timer.stop()
    assert await _fired(client, ticket_id) == [("response", "reminder", 90, "agent-1")]


async def test_notifications_can_be_acknowledged(
    service: TicketsApp,
    make_client: Any,
    tenant: str,
    add_agent: Any,
    paris_sla: dict[str, Any],
    clock: Any,
) -> None:
    client = make_client(tenant, user="agent-1")
    ticket_id = await _sla_ticket(client, add_agent, tenant, paris_sla)
    clock.set(_paris(10, 1))
    await service.timer.run_once()
    mine = (
        await client.get(
            "/v1/notifications", params={"recipient_id": "agent-1", "unacknowledged": "true"}
        )
    ).json()
    assert [n["ticket_id"] for n in mine] == [ticket_id]
    acknowledged = await client.post(f"/v1/notifications/{mine[0]['id']}/acknowledge")
    assert acknowledged.json()["acknowledged_by"] == "agent-1"
    left = await client.get(
        "/v1/notifications", params={"recipient_id": "agent-1", "unacknowledged": "true"}
    )
    assert left.json() == []
