"""The mod_xml_curl path: a small HTTP dialplan server answers the simulator's POSTs with
FreeSWITCH XML; not-found numbers are rejected, errors fall back to the static map."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
from tracekit import Client, open_client

from switchboard_simulator.config import CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

SECRET = "s3cret-for-tests"


def _document(*actions: tuple[str, str]) -> str:
    lines = "".join(
        f'<action application="{app}" data="{data}"/>' if data else f'<action application="{app}"/>'
        for app, data in actions
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
        '<document type="freeswitch/xml"><section name="dialplan" description="Switchboard">'
        '<context name="public"><extension name="switchboard">'
        '<condition field="destination_number" expression="^.*$">'
        f"{lines}</condition></extension></context></section></document>"
    )


NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?><document type="freeswitch/xml">'
    '<section name="result"><result status="not found"/></section></document>'
)

ANSWERS: dict[str, tuple[int, str]] = {
    "+15550100": (
        200,
        _document(("set", "sb_tenant=acme"), ("set", "sb_number=+15550100"), ("park", "")),
    ),
    "+15550999": (200, NOT_FOUND),
    "+15550666": (200, _document(("hangup", "CALL_REJECTED"))),
    "+15550503": (200, _document(("respond", "503 Service Unavailable"))),
    "7000": (200, _document(("set", "sb_tenant=acme"), ("answer", ""), ("park", ""))),
    "+15550200": (500, "internal error"),
    "+15550300": (200, "this is not XML"),
}


@dataclass
class DialplanServer:
    """Answers `POST /v1/freeswitch/dialplan` like the admin service would."""

    requests: list[tuple[dict[str, str], list[tuple[str, str]]]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/freeswitch/dialplan"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ": " in line:
                key, value = line.split(": ", 1)
                headers[key.lower()] = value
        headers["request-line"] = lines[0]
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        fields = parse_qsl(body.decode(), keep_blank_values=True)
        self.requests.append((headers, fields))
        destination = dict(fields).get("Caller-Destination-Number", "")
        status, text = ANSWERS.get(destination, (200, NOT_FOUND))
        payload = text.encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def dialplan() -> AsyncIterator[tuple[Simulator, DialplanServer]]:
    http = DialplanServer()
    url = await http.start()
    world = WorldConfig(
        seed=9,
        numbers=[TenantNumber("+15550200", "globex"), TenantNumber("+15550300", "initech")],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        heartbeat_interval_s=0,
    )
    sim = Simulator(
        SimulatorConfig(
            world=world,
            esl_port=0,
            speed=20.0,
            start_traffic=False,
            dialplan_url=url,
            dialplan_secret=SECRET,
        )
    )
    await sim.start()
    yield sim, http
    await sim.stop()
    await http.stop()


async def _ended(client: Client, uuid: str) -> str:
    event = await client.wait_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=uuid)
    return event.get("Hangup-Cause") or ""


async def test_dialplan_answers_drive_the_call(dialplan: tuple[Simulator, DialplanServer]) -> None:
    sim, _http = dialplan
    client = await open_client(sim.esl_port)
    known = sim.place_call("+15550100", "+15557001000")
    park = await client.wait_event("CHANNEL_PARK", Unique_ID=known)
    assert park.get("variable_sb_tenant") == "acme"
    assert park.get("variable_sb_number") == "+15550100"

    unknown = sim.place_call("+15550999")
    assert await _ended(client, unknown) == "UNALLOCATED_NUMBER"
    rejected = sim.place_call("+15550666")
    assert await _ended(client, rejected) == "CALL_REJECTED"
    unavailable = sim.place_call("+15550503")
    assert await _ended(client, unavailable) == "NORMAL_TEMPORARY_FAILURE"

    stats = sim.stats()
    assert stats["tenants"]["acme"]["placed"] == 1
    assert stats["tenants"]["acme"]["parked"] == 1
    assert stats["tenants"]["_unrouted"]["rejected"] == 1
    assert stats["dialplan_requests"] == 4
    assert stats["dialplan_fallbacks"] == 0
    await client.close()


async def test_form_fields_and_credentials_are_mod_xml_curl_s(
    dialplan: tuple[Simulator, DialplanServer],
) -> None:
    sim, http = dialplan
    client = await open_client(sim.esl_port)
    uuid = sim.place_call("+15550100", "+15557001000")
    await client.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    headers, fields = http.requests[0]
    assert headers["request-line"] == "POST /v1/freeswitch/dialplan HTTP/1.1"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["x-switchboard-secret"] == SECRET
    assert (
        headers["authorization"]
        == "Basic " + base64.b64encode(f"freeswitch:{SECRET}".encode()).decode()
    )
    assert [key for key, _ in fields[:5]] == [
        "hostname",
        "section",
        "tag_name",
        "key_name",
        "key_value",
    ]
    form = dict(fields)
    assert form["section"] == "dialplan"
    assert form["tag_name"] == form["key_name"] == form["key_value"] == ""
    assert fields[5] == ("Event-Name", "REQUEST_PARAMS")
    assert form["Core-UUID"] == sim.world.core_uuid
    assert form["Unique-ID"] == form["Caller-Unique-ID"] == form["variable_uuid"] == uuid
    assert form["Caller-Destination-Number"] == form["Hunt-Destination-Number"] == "+15550100"
    assert form["Caller-Caller-ID-Number"] == form["Hunt-Caller-ID-Number"] == "+15557001000"
    assert form["Caller-Context"] == form["Hunt-Context"] == "public"
    assert form["Channel-State"] == "CS_ROUTING"
    assert form["Call-Direction"] == "inbound"
    assert form["variable_sip_from_user"] == "+15557001000"
    assert form["variable_sip_to_user"] == "+15550100"
    for key in ("FreeSWITCH-Hostname", "Event-Date-Timestamp", "Caller-Network-Addr"):
        assert form[key], key
    await client.close()


async def test_loopback_legs_ask_the_dialplan_url_too(
    dialplan: tuple[Simulator, DialplanServer],
) -> None:
    sim, http = dialplan
    client = await open_client(sim.esl_port)
    reply = await client.api("originate loopback/7000/default &park()")
    assert reply.startswith("+OK ")
    asked = [dict(fields) for _, fields in http.requests]
    loop_request = next(f for f in asked if f["Caller-Destination-Number"] == "7000")
    assert loop_request["Caller-Context"] == "default"
    assert loop_request["Channel-Name"] == "loopback/7000-b"
    b_leg = loop_request["Unique-ID"]
    park = await client.wait_event("CHANNEL_PARK", Unique_ID=b_leg)
    assert park.get("variable_sb_tenant") == "acme"
    await client.close()


async def test_failing_dialplan_url_falls_back_to_the_static_map(
    dialplan: tuple[Simulator, DialplanServer],
) -> None:
    sim, http = dialplan
    client = await open_client(sim.esl_port)
    on_500 = sim.place_call("+15550200")
    park = await client.wait_event("CHANNEL_PARK", Unique_ID=on_500)
    assert park.get("variable_sb_tenant") == "globex"
    on_garbage = sim.place_call("+15550300")
    park = await client.wait_event("CHANNEL_PARK", Unique_ID=on_garbage)
    assert park.get("variable_sb_tenant") == "initech"
    assert sim.stats()["dialplan_fallbacks"] == 2
    await http.stop()
    unreachable = sim.place_call("+15550200")
    await client.wait_event("CHANNEL_PARK", Unique_ID=unreachable)
    assert sim.stats()["dialplan_fallbacks"] == 3
    await client.close()
