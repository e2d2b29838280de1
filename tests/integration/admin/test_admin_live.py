"""Admin served by uvicorn on a loopback port: the `switchboard tenants` CLI, another
service's API-key verifier, and schemathesis fuzzing of the whole OpenAPI document."""

import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from switchboard_admin.cli import main as tenants_cli
from switchboard_common.auth import HttpApiKeyVerifier
from switchboard_common.errors import Unavailable

from .conftest import free_port

OPERATOR_TOKEN = "integration-operator-token-0123456789"
INTERNAL_SECRET = "integration-internal-secret-0123456789"
CREDENTIAL_HEADERS = {"authorization", "x-api-key", "x-switchboard-internal-secret"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def test_cli_creates_lists_suspends_resumes_and_deletes_tenants(
    live_admin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_OPERATOR_TOKEN", OPERATOR_TOKEN)
    monkeypatch.setenv("SWITCHBOARD_TENANT_ADMIN_PASSWORD", "Tenant-Admin-Pass-42")
    slug = f"cli{uuid.uuid4().hex[:8]}"
    code = tenants_cli(
        [
            "--url",
            live_admin,
            "create",
            slug,
            "--name",
            "CLI Corp",
            "--timezone",
            "America/New_York",
            "--max-agents",
            "3",
            "--admin-username",
            "boss",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"tenant     {slug}" in out and "America/New_York" in out and "max_agents=3" in out
    key_line = next(line for line in out.splitlines() if line.startswith("api key"))
    assert key_line.split()[-1].startswith("sbk_")

    assert tenants_cli(["--url", live_admin, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["SLUG", "STATUS", "ID"]
    row = next(line for line in table if line.startswith(slug + " "))
    assert row.split()[1] == "active"

    assert tenants_cli(["--url", live_admin, "suspend", slug]) == 0
    assert "status     suspended" in capsys.readouterr().out
    assert tenants_cli(["--url", live_admin, "--json", "list", "--status", "suspended"]) == 0
    assert slug in capsys.readouterr().out
    assert tenants_cli(["--url", live_admin, "suspend", slug]) == 1
    assert "tenant-already-suspended" in capsys.readouterr().err
    assert tenants_cli(["tenants", "--url", live_admin, "resume", slug]) == 0
    assert "status     active" in capsys.readouterr().out
    assert tenants_cli(["--url", live_admin, "delete", slug]) == 2
    assert "--yes" in capsys.readouterr().err
    assert tenants_cli(["--url", live_admin, "delete", slug, "--yes"]) == 0
    assert tenants_cli(["--url", live_admin, "get", slug]) == 1
    assert "no-such-tenant" in capsys.readouterr().err


def test_cli_reports_bad_token_bad_input_and_unreachable_admin(
    live_admin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWITCHBOARD_OPERATOR_TOKEN", "wrong-token")
    assert tenants_cli(["--url", live_admin, "list"]) == 1
    assert "unauthenticated" in capsys.readouterr().err
    monkeypatch.setenv("SWITCHBOARD_OPERATOR_TOKEN", OPERATOR_TOKEN)
    assert (
        tenants_cli(
            ["--url", live_admin, "create", "ok-slug", "--name", "x", "--timezone", "Nowhere/Land"]
        )
        == 1
    )
    assert "unknown-timezone" in capsys.readouterr().err
    assert tenants_cli(["--url", f"http://127.0.0.1:{free_port()}", "list"]) == 1
    assert "cannot reach admin" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        tenants_cli(["--help"])
    assert info.value.code == 0
    assert "suspend" in capsys.readouterr().out


async def test_other_services_verify_api_keys_through_admin(live_admin: str) -> None:
    async with httpx.AsyncClient(base_url=live_admin) as http:
        created = await http.post(
            "/v1/tenants",
            json={"slug": f"vk{uuid.uuid4().hex[:8]}", "name": "Keys"},
            headers=OPERATOR,
        )
        key = created.json()["api_key"]["key"]
        verifier = HttpApiKeyVerifier(live_admin, INTERNAL_SECRET, ttl_s=60)
        try:
            principal = await verifier.verify(key)
            assert principal is not None and principal.kind == "api_key"
            assert principal.tenant_id == created.json()["tenant"]["id"]
            assert "users:write" in principal.permissions
            assert await verifier.verify(key[:-2] + "xx") is None
            assert await verifier.verify("not-a-key") is None
        finally:
            await verifier.stop()
        refused = await http.post("/v1/internal/api-keys/verify", json={"key": key})
        assert refused.status_code == 401
        wrong_secret = HttpApiKeyVerifier(live_admin, "not-the-internal-secret")
        try:
            with pytest.raises(Unavailable):
                await wrong_secret.verify(key)
        finally:
            await wrong_secret.stop()


def test_schemathesis_finds_no_server_error_anywhere(live_admin: str) -> None:
    slug = f"fz{uuid.uuid4().hex[:8]}"
    created = httpx.post(
        f"{live_admin}/v1/tenants",
        json={
            "slug": slug,
            "name": "Fuzz",
            "admin": {"username": "boss", "password": "Tenant-Admin-Pass-42"},
        },
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text
    tenant_key = {"X-API-Key": created.json()["api_key"]["key"]}
    credentials: dict[str, dict[str, str]] = {
        "operator": OPERATOR,
        "internal": {"X-Switchboard-Internal-Secret": INTERNAL_SECRET},
        "freeswitch": {"X-Switchboard-Internal-Secret": INTERNAL_SECRET},
        "auth": {},
        "ops": {},
    }
    schema = schemathesis.openapi.from_url(f"{live_admin}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        tags = operation.definition.raw.get("tags", [])
        headers = credentials.get(tags[0] if tags else "", tenant_key)
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation.as_strategy(generation_mode=mode), live_admin, headers, failures)
            except Unsatisfiable:
                assert mode == GenerationMode.NEGATIVE, operation.label
    assert operations >= 40
    assert failures == []


def fuzz(strategy: Any, base_url: str, headers: dict[str, str], failures: list[str]) -> None:
    """A few generated requests against one operation, with our credentials in place of
    generated ones; 5xx answers are collected."""

    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: Any) -> None:
        for name in list(case.headers or {}):
            if name.lower() in CREDENTIAL_HEADERS:
                del case.headers[name]
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:200]}"
            )

    call()
