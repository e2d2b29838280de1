"""The FreeSWITCH simulator asks admin's mod_xml_curl dialplan: a tenant's number is parked with
its tenant, a suspended tenant's callers are rejected, an unknown number is unallocated."""

import asyncio
from collections.abc import Callable

import httpx

from switchboard_common.esl import EslClient, Event
from switchboard_simulator.config import WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

from .conftest import INTERNAL_SECRET, AdminClient

OPERATOR_HEADERS = AdminClient.operator


async def wait_for(events: list[Event], predicate: Callable[[Event], bool]) -> Event:
    async with asyncio.timeout(10):
        while True:
            for event in events:
                if predicate(event):
                    return event
            await asyncio.sleep(0.02)


async def test_numbers_route_through_admins_dialplan(live_admin: str) -> None:
    async with httpx.AsyncClient(base_url=live_admin) as http:
        admin = AdminClient(http)
        tenant = await admin.new_tenant()
        number = admin.phone_number()
        await admin.created(
            "/v1/numbers",
            {"number": number, "target_kind": "queue", "target_id": "sales"},
            tenant.key_headers,
        )
        sim = Simulator(
            SimulatorConfig(
                world=WorldConfig(seed=5),
                esl_port=0,
                start_traffic=False,
                dialplan_url=f"{live_admin}/v1/freeswitch/dialplan",
                dialplan_secret=INTERNAL_SECRET,
            )
        )
        await sim.start()
        events: list[Event] = []
        client = EslClient(
            "127.0.0.1",
            sim.esl_port,
            "ClueCon",
            events=["CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"],
            reconnect=False,
        )
        client.on("*", events.append)
        try:
            await client.connect()
            parked_call = sim.place_call(number, "+15551230042")
            parked = await wait_for(
                events, lambda e: e.name == "CHANNEL_PARK" and e.unique_id == parked_call
            )
            assert parked.variable("sb_tenant") == tenant.id
            assert parked.variable("sb_number") == number

            unknown_call = sim.place_call("+15559999999")
            unknown = await wait_for(
                events,
                lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.unique_id == unknown_call,
            )
            assert unknown.get("Hangup-Cause") == "UNALLOCATED_NUMBER"

            suspended = await http.post(
                f"/v1/tenants/{tenant.id}/suspend", headers=OPERATOR_HEADERS
            )
            assert suspended.status_code == 200, suspended.text
            rejected_call = sim.place_call(number)
            rejected = await wait_for(
                events,
                lambda e: e.name == "CHANNEL_HANGUP_COMPLETE" and e.unique_id == rejected_call,
            )
            assert rejected.get("Hangup-Cause") == "CALL_REJECTED"
            assert not any(
                e.name == "CHANNEL_PARK" and e.unique_id == rejected_call for e in events
            )
        finally:
            await client.close()
            await sim.stop()
