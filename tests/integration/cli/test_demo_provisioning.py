"""Demo provisioning when services refuse or cannot be reached: one line per failed step,
naming the service and the HTTP error, and never an exception."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from switchboard_cli.demo import DEMO_TENANTS, provision_demo, simulator_world_args
from switchboard_simulator.cli import build_config

SERVICES = ("admin", "ivr", "routing", "tickets")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_unreachable_admin_fails_each_tenant_once_without_raising(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    lines: list[str] = []
    async with httpx.AsyncClient() as client:
        report = await provision_demo(
            client,
            dict.fromkeys(SERVICES, url),
            tmp_path,
            operator_token="token",
            agents_per_tenant=2,
            log=lines.append,
        )
    assert not report.ok and report.done == 0
    assert lines == report.failures
    assert len(lines) == len(DEMO_TENANTS), "later steps need the tenant: not tried"
    for line, tenant in zip(lines, DEMO_TENANTS, strict=True):
        assert line.startswith(f"demo: {tenant.slug} tenant failed: admin: GET /v1/tenants/")
        assert "ConnectError" in line


async def test_refused_steps_are_logged_with_the_http_error_and_the_rest_go_on(
    tmp_path: Path,
) -> None:
    created: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == "admin" and path.startswith("/v1/tenants/"):
            return httpx.Response(404, json={"error": "not-found", "message": "no tenant"})
        if request.url.host == "admin" and path == "/v1/tenants":
            slug = json.loads(request.content)["slug"]
            created.append(slug)
            return httpx.Response(
                201, json={"tenant": {"id": f"id-{slug}"}, "api_key": {"key": f"key-{slug}"}}
            )
        if request.url.host == "routing":
            return httpx.Response(503, json={"error": "unavailable", "message": "starting"})
        if request.method == "GET" and request.url.host in ("admin", "tickets"):
            return httpx.Response(200, json={"items": []})
        if request.method == "GET":
            return httpx.Response(404, json={"error": "not-found", "message": "none"})
        return httpx.Response(200, json={"id": "x"})

    lines: list[str] = []
    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        report = await provision_demo(
            client,
            {name: f"http://{name}" for name in SERVICES},
            tmp_path,
            operator_token="token",
            agents_per_tenant=1,
            log=lines.append,
        )
    assert created == [tenant.slug for tenant in DEMO_TENANTS]
    assert lines == [
        f"demo: {tenant.slug} queues failed: routing: GET /v1/queues/sales: "
        "HTTP 503 unavailable: starting"
        for tenant in DEMO_TENANTS
    ]
    assert report.done == 9 * len(DEMO_TENANTS)
    state = json.loads((tmp_path / "demo.json").read_text())
    assert state["tenants"]["acme"]["tenant_id"] == "id-acme"
    assert state["tenants"]["globex"]["api_key"] == "key-globex"


async def test_a_known_tenant_without_its_stored_key_is_a_clear_failure(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "t-1", "items": []})

    lines: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        await provision_demo(
            client,
            {name: f"http://{name}" for name in SERVICES},
            tmp_path,
            operator_token="token",
            agents_per_tenant=1,
            log=lines.append,
        )
    assert len(lines) == len(DEMO_TENANTS)
    assert all("exists but its API key is not in" in line for line in lines)


def test_the_simulator_world_names_every_tenant_number_and_agent_endpoint() -> None:
    args = simulator_world_args(2)
    assert args == [
        "--number",
        "+12025550100=acme",
        "--number",
        "+12025550200=globex",
        "--agents",
        "1001@acme.example,1002@acme.example,1001@globex.example,1002@globex.example,"
        "1900@acme.example,1900@globex.example",
        "--keys",
        "1=45,2=30,9=10,0=15",
        "--handle-time",
        "10.0",
        "--caller-pool",
        "30",
    ]
    assert simulator_world_args(0)[4:6] == ["--agents", "1900@acme.example,1900@globex.example"]
    assert build_config(args).world.callers.dtmf_choices["9"] == 10.0
