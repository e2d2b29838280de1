"""Admin settings refuse development secrets outside development; CLI parsing and output."""

import io
from typing import Any

import httpx
import pytest

from switchboard_admin.cli import CliError, TenantsClient, build_parser, run
from switchboard_admin.settings import AdminSettings
from switchboard_common.errors import ConfigurationError
from switchboard_common.settings import load_settings

REAL = {
    "database_url": "postgresql+asyncpg://u@h/d",
    "jwt_secret": "x" * 32,
    "internal_secret": "y" * 32,
}


def test_operator_token_dev_default_is_refused_outside_development() -> None:
    with pytest.raises(ConfigurationError, match="ADMIN_OPERATOR_TOKEN"):
        load_settings(AdminSettings, environment="production", **REAL)
    with pytest.raises(ConfigurationError, match="ADMIN_OPERATOR_TOKEN"):
        load_settings(AdminSettings, environment="test", operator_token="short", **REAL)
    settings = load_settings(
        AdminSettings, environment="production", operator_token="z" * 20, **REAL
    )
    assert settings.operator_token.get_secret_value() == "z" * 20
    assert load_settings(AdminSettings).environment == "development"


def test_operator_token_is_read_from_the_admin_prefixed_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADMIN_OPERATOR_TOKEN", "from-the-environment-123")
    monkeypatch.setenv("ADMIN_DB_ROLE", "")
    settings = load_settings(AdminSettings)
    assert settings.operator_token.get_secret_value() == "from-the-environment-123"
    assert settings.db_role == ""
    monkeypatch.setenv("ADMIN_DB_ROLE", "Robert'); DROP")
    with pytest.raises(ConfigurationError, match="ADMIN_DB_ROLE"):
        load_settings(AdminSettings)


def run_cli(argv: list[str], handler: Any) -> tuple[int, str, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result: httpx.Response = handler(request)
        return result

    client = httpx.Client(transport=httpx.MockTransport(record), base_url="http://admin")
    out = io.StringIO()
    code = run(build_parser().parse_args(argv), TenantsClient(client), out)
    return code, out.getvalue(), seen


TENANT = {
    "id": "t-1",
    "slug": "acme",
    "name": "Acme",
    "status": "active",
    "sip_domain": "acme.sip.example",
    "timezone": "UTC",
    "quotas": {"max_agents": 3},
}


def test_create_sends_quotas_and_prints_the_key_once() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201,
            json={"tenant": TENANT, "admin_user": None, "api_key": {"key": "sbk_secret"}},
        )

    code, out, seen = run_cli(
        ["create", "acme", "--name", "Acme", "--max-agents", "3", "--no-api-key"], answer
    )
    assert code == 0
    body = seen[0].read()
    assert b'"quotas":{"max_agents":3}' in body.replace(b" ", b"")
    assert b'"create_api_key":false' in body.replace(b" ", b"")
    assert "api key    sbk_secret" in out


def test_list_follows_cursors_and_errors_name_the_field() -> None:
    pages = {
        None: {"items": [TENANT], "next_cursor": "1"},
        "1": {"items": [{**TENANT, "slug": "globex", "id": "t-2"}], "next_cursor": None},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    code, out, seen = run_cli(["list"], answer)
    assert code == 0 and len(seen) == 2
    assert [line.split()[0] for line in out.splitlines()] == ["SLUG", "acme", "globex"]

    def refuse(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422,
            json={"error": "invalid-slug", "message": "bad", "details": {"field": "slug"}},
        )

    with pytest.raises(CliError, match=r"invalid-slug: bad \(field slug\)"):
        run_cli(["create", "B A D", "--name", "x"], refuse)


def test_tenant_references_are_path_escaped() -> None:
    _code, _out, seen = run_cli(["get", "../users"], lambda _r: httpx.Response(200, json=TENANT))
    assert seen[0].url.raw_path == b"/v1/tenants/..%2Fusers"
