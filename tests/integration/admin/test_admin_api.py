"""The admin REST API against PostgreSQL: RBAC, quotas, validation, keys, login, audit,
tenant lifecycle and the events written to the outbox in the same transaction."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from switchboard_admin.main import AdminApp, create_admin_app
from switchboard_admin.settings import AdminSettings
from switchboard_common import db
from switchboard_common.auth import issue_access_token
from switchboard_common.events import decode

JWT_SECRET = "integration-jwt-secret-0123456789abcdef"


async def outbox_types(settings: AdminSettings, tenant_id: str) -> list[str]:
    engine = db.create_engine(settings.effective_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT payload FROM admin_outbox WHERE key = :key ORDER BY id"),
                {"key": tenant_id},
            )
            return [decode(bytes(row[0])).type for row in rows]
    finally:
        await engine.dispose()


async def test_agent_cannot_manage_users_keys_or_numbers(api: Any) -> None:
    tenant = await api.new_tenant()
    _agent, agent = await api.user(tenant, "agent007", ["agent"])
    attempts = [
        ("GET", "/v1/users", None, "users:read"),
        ("POST", "/v1/users", {"username": "x1", "password": "Kx7-Tango-Delta-42"}, "users:write"),
        ("GET", "/v1/api-keys", None, "api_keys:read"),
        ("POST", "/v1/api-keys", {"name": "k", "permissions": ["calls:read"]}, "api_keys:write"),
        ("GET", "/v1/numbers", None, "numbers:read"),
        (
            "POST",
            "/v1/numbers",
            {"number": api.phone_number(), "target_kind": "queue", "target_id": "q"},
            "numbers:write",
        ),
        ("GET", "/v1/audit", None, "audit:read"),
    ]
    for method, path, body, permission in attempts:
        response = await api.http.request(method, path, json=body, headers=agent)
        assert response.status_code == 403, (path, response.text)
        assert response.json() == {
            "error": "forbidden",
            "message": f"missing permission {permission}",
            "details": {"permission": permission},
        }
    assert (await api.http.get("/v1/skills", headers=agent)).status_code == 200


async def test_supervisor_reads_users_but_cannot_change_them(api: Any) -> None:
    tenant = await api.new_tenant()
    _sup, supervisor = await api.user(tenant, "sue", ["supervisor"])
    assert (await api.http.get("/v1/users", headers=supervisor)).status_code == 200
    response = await api.http.patch(
        f"/v1/users/{tenant.provisioned['admin_user']['id']}",
        json={"display_name": "pwned"},
        headers=supervisor,
    )
    assert response.status_code == 403


async def test_tenant_admin_cannot_reach_the_operator_api(api: Any) -> None:
    tenant = await api.new_tenant()
    for headers in (tenant.jwt_headers, tenant.key_headers):
        for method, path in (
            ("GET", "/v1/tenants"),
            ("GET", f"/v1/tenants/{tenant.id}"),
            ("POST", f"/v1/tenants/{tenant.id}/suspend"),
            ("DELETE", f"/v1/tenants/{tenant.id}"),
        ):
            response = await api.http.request(method, path, headers=headers)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["details"] == {"permission": "platform:operate"}
    assert (await api.http.get("/v1/tenants")).status_code == 401
    assert (await api.http.get(f"/v1/tenants/{tenant.id}", headers=api.operator)).status_code == 200


async def test_operator_jwt_works_and_operator_cannot_use_tenant_routes(api: Any) -> None:
    token = issue_access_token(JWT_SECRET, kind="operator", subject="ops", tenant_id=None).token
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.http.get("/v1/tenants", headers=headers)).status_code == 200
    assert (await api.http.get("/v1/users", headers=api.operator)).status_code == 403


async def test_eleventh_agent_is_refused_with_quota_exceeded(
    api: Any, admin_settings: AdminSettings
) -> None:
    tenant = await api.new_tenant(quotas={"max_agents": 10})
    for index in range(10):
        await api.created(
            "/v1/users",
            {"username": f"agent{index}", "password": "Kx7-Tango-Delta-42"},
            tenant.key_headers,
        )
    before = await outbox_types(admin_settings, tenant.id)
    response = await api.http.post(
        "/v1/users",
        json={"username": "agent10", "password": "Kx7-Tango-Delta-42"},
        headers=tenant.key_headers,
    )
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "quota-exceeded"
    assert body["details"]["quota"] == "max_agents"
    assert body["details"]["limit"] == 10
    supervisor = await api.http.post(
        "/v1/users",
        json={"username": "sup1", "password": "Kx7-Tango-Delta-42", "roles": ["supervisor"]},
        headers=tenant.key_headers,
    )
    assert supervisor.status_code == 201
    promote = await api.http.patch(
        f"/v1/users/{supervisor.json()['id']}",
        json={"roles": ["supervisor", "agent"]},
        headers=tenant.key_headers,
    )
    assert promote.status_code == 429
    after = await outbox_types(admin_settings, tenant.id)
    assert after == [*before, "switchboard.user.created.v1"], "a refused write left an event"
    raised = await api.http.patch(
        f"/v1/tenants/{tenant.id}", json={"quotas": {"max_agents": 11}}, headers=api.operator
    )
    assert raised.status_code == 200 and raised.json()["quotas"]["max_agents"] == 11
    assert (
        await api.http.patch(
            f"/v1/users/{supervisor.json()['id']}",
            json={"roles": ["supervisor", "agent"]},
            headers=tenant.key_headers,
        )
    ).status_code == 200


async def test_concurrent_creations_do_not_overrun_the_agent_quota(api: Any) -> None:
    tenant = await api.new_tenant(quotas={"max_agents": 3})

    async def create(index: int) -> int:
        response = await api.http.post(
            "/v1/users",
            json={"username": f"racer{index}", "password": "Kx7-Tango-Delta-42"},
            headers=tenant.key_headers,
        )
        return int(response.status_code)

    statuses = await asyncio.gather(*(create(index) for index in range(6)))
    assert sorted(statuses) == [201, 201, 201, 429, 429, 429]


@pytest.mark.parametrize(
    ("path", "body", "error", "field"),
    [
        ("/v1/users", {"username": "weak", "password": "password1"}, "weak-password", "password"),
        (
            "/v1/users",
            {"username": "x", "password": "Kx7-Tango-Delta-42"},
            "invalid-input",
            "username",
        ),
        (
            "/v1/users",
            {"username": "ok", "password": "Kx7-Tango-Delta-42", "roles": ["wizard"]},
            "unknown-role",
            "roles",
        ),
        (
            "/v1/users",
            {"username": "ok", "password": "Kx7-Tango-Delta-42", "sip_password": "s1p-Secret"},
            "extension-required",
            "sip_password",
        ),
        (
            "/v1/users",
            {"username": "ok", "password": "Kx7-Tango-Delta-42", "skills": {"nope": 3}},
            "unknown-skill",
            "skills",
        ),
        (
            "/v1/roles",
            {"name": "r1", "permissions": ["users:read", "users:fly"]},
            "unknown-permission",
            "permissions",
        ),
        (
            "/v1/api-keys",
            {"name": "k", "permissions": ["calls:teleport"]},
            "unknown-permission",
            "permissions",
        ),
        (
            "/v1/api-keys",
            {"name": "k", "permissions": ["calls:read"], "expires_at": "2001-01-01T00:00:00Z"},
            "invalid-expiry",
            "expires_at",
        ),
        (
            "/v1/numbers",
            {"number": "0123", "target_kind": "queue", "target_id": "q"},
            "invalid-number",
            "number",
        ),
        (
            "/v1/numbers",
            {"number": "+33123456789", "target_kind": "fax", "target_id": "q"},
            "invalid-input",
            "target_kind",
        ),
        (
            "/v1/calendars",
            {"name": "c", "timezone": "Mars/Olympus"},
            "unknown-timezone",
            "timezone",
        ),
        (
            "/v1/calendars",
            {"name": "c", "timezone": "UTC", "weekly": {"mon": ["9h-17h"]}},
            "invalid-input",
            "weekly.mon.0",
        ),
        ("/v1/skills", {"name": "x" * 65}, "invalid-input", "name"),
        ("/v1/skills", {"name": "ok", "colour": "red"}, "invalid-input", "colour"),
        (
            "/v1/skills",
            {"name": "ok", "description": "nul\x00byte"},
            "invalid-input",
            "description",
        ),
        (
            "/v1/calendars",
            {
                "name": "c",
                "timezone": "UTC",
                "holidays": [{"first_day": "2026-01-01", "name": "new\x00year"}],
            },
            "invalid-input",
            "holidays",
        ),
    ],
)
async def test_bad_input_is_4xx_with_error_id_and_field(
    api: Any, path: str, body: dict[str, Any], error: str, field: str
) -> None:
    tenant = await api.new_tenant()
    response = await api.http.post(path, json=body, headers=tenant.key_headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == error
    assert response.json()["details"]["field"] == field


async def test_operator_input_errors(api: Any) -> None:
    cases = [
        ({"slug": "Bad Slug", "name": "n"}, "invalid-slug", "slug"),
        (
            {"slug": "good", "name": "n", "timezone": "Europe/Atlantis"},
            "unknown-timezone",
            "timezone",
        ),
        ({"slug": "good", "name": "n", "sip_domain": "nodots"}, "invalid-sip-domain", "sip_domain"),
        ({"slug": "good", "name": "n", "create_api_key": False}, "no-tenant-admin", "admin"),
        (
            {"slug": "good", "name": "n", "admin": {"username": "boss", "password": "bossboss"}},
            "weak-password",
            "admin.password",
        ),
        (
            {"slug": "good", "name": "n", "quotas": {"max_agents": -1}},
            "invalid-input",
            "quotas.max_agents",
        ),
    ]
    for body, error, field in cases:
        response = await api.http.post("/v1/tenants", json=body, headers=api.operator)
        assert response.status_code == 422, response.text
        assert (response.json()["error"], response.json()["details"]["field"]) == (error, field)
    tenant = await api.new_tenant()
    again = await api.http.post(
        "/v1/tenants", json={"slug": tenant.slug, "name": "n"}, headers=api.operator
    )
    assert again.status_code == 409 and again.json()["error"] == "slug-taken"
    domain = await api.http.post(
        "/v1/tenants",
        json={"slug": "other-slug-x", "name": "n", "sip_domain": tenant.sip_domain},
        headers=api.operator,
    )
    assert domain.status_code == 409 and domain.json()["error"] == "sip-domain-taken"


async def test_numbers_are_unique_across_the_platform(api: Any) -> None:
    first = await api.new_tenant()
    second = await api.new_tenant()
    number = api.phone_number()
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    created = await api.created(
        "/v1/numbers",
        {"number": spaced, "target_kind": "ivr_flow", "target_id": "main"},
        first.key_headers,
    )
    assert created["number"] == number
    for tenant in (first, second):
        response = await api.http.post(
            "/v1/numbers",
            json={"number": number, "target_kind": "queue", "target_id": "q"},
            headers=tenant.key_headers,
        )
        assert response.status_code == 409
        assert response.json()["error"] == "number-taken"
        assert response.json()["details"]["field"] == "number"
    released = await api.http.delete(f"/v1/numbers/{created['id']}", headers=first.key_headers)
    assert released.status_code == 204
    await api.created(
        "/v1/numbers",
        {"number": number, "target_kind": "queue", "target_id": "q"},
        second.key_headers,
    )


async def test_api_keys_are_scoped_shown_once_and_revocable(api: Any) -> None:
    tenant = await api.new_tenant()
    created = await api.created(
        "/v1/api-keys", {"name": "crm", "permissions": ["skills:read"]}, tenant.key_headers
    )
    key = {"X-API-Key": created["key"]}
    assert (await api.http.get("/v1/skills", headers=key)).status_code == 200
    assert (await api.http.get("/v1/users", headers=key)).status_code == 403
    shown = (await api.http.get(f"/v1/api-keys/{created['id']}", headers=tenant.key_headers)).json()
    assert "key" not in shown and shown["active"] is True
    assert shown["last_used_at"] is not None
    listed = (await api.http.get("/v1/api-keys", headers=tenant.key_headers)).json()["items"]
    assert all("key" not in item for item in listed)
    revoked = await api.http.delete(f"/v1/api-keys/{created['id']}", headers=tenant.key_headers)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert (await api.http.get("/v1/skills", headers=key)).status_code == 401
    _agent, agent = await api.user(tenant, "lowly", ["agent"])
    escalation = await api.http.post(
        "/v1/roles", json={"name": "god", "permissions": ["users:write"]}, headers=agent
    )
    assert escalation.status_code == 403


async def test_no_privilege_escalation_through_roles_or_keys(api: Any) -> None:
    tenant = await api.new_tenant()
    await api.created(
        "/v1/roles",
        {"name": "hr", "permissions": ["users:read", "users:write", "roles:read"]},
        tenant.key_headers,
    )
    _hr, hr = await api.user(tenant, "hilda", ["hr"])
    for roles in (["tenant-admin"], ["supervisor"]):
        response = await api.http.post(
            "/v1/users",
            json={"username": "sneaky", "password": "Kx7-Tango-Delta-42", "roles": roles},
            headers=hr,
        )
        assert response.status_code == 403, roles
    admin_id = tenant.provisioned["admin_user"]["id"]
    takeover = await api.http.patch(
        f"/v1/users/{admin_id}", json={"password": "Kx7-Tango-Delta-99"}, headers=hr
    )
    assert takeover.status_code == 403
    assert (await api.http.delete(f"/v1/users/{admin_id}", headers=hr)).status_code == 403


async def test_last_tenant_admin_and_builtin_roles_are_protected(api: Any) -> None:
    tenant = await api.new_tenant()
    admin_id = tenant.provisioned["admin_user"]["id"]
    demote = await api.http.patch(
        f"/v1/users/{admin_id}", json={"roles": ["agent"]}, headers=tenant.key_headers
    )
    assert demote.status_code == 409 and demote.json()["error"] == "last-tenant-admin"
    roles = (await api.http.get("/v1/roles", headers=tenant.key_headers)).json()["items"]
    assert {role["name"] for role in roles} == {"agent", "supervisor", "tenant-admin"}
    agent_role = next(role for role in roles if role["name"] == "agent")
    change = await api.http.patch(
        f"/v1/roles/{agent_role['id']}", json={"permissions": []}, headers=tenant.key_headers
    )
    assert change.status_code == 409 and change.json()["error"] == "builtin-role"
    await api.user(tenant, "second-boss", ["tenant-admin"])
    demote = await api.http.patch(
        f"/v1/users/{admin_id}", json={"roles": ["agent"]}, headers=tenant.key_headers
    )
    assert demote.status_code == 200 and demote.json()["is_agent"] is True


async def test_login_issues_a_short_lived_jwt_and_throttles_guessing(
    admin_settings: AdminSettings,
) -> None:
    settings = admin_settings.model_copy(update={"login_free_failures_per_user": 3})
    engine = db.create_engine(settings.effective_database_url, pool_size=2)
    admin: AdminApp = create_admin_app(settings, engine)
    transport = httpx.ASGITransport(app=admin.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://admin") as http:
            created = await http.post(
                "/v1/tenants",
                json={
                    "slug": f"lg{id(http) % 10**8}",
                    "name": "Login",
                    "admin": {"username": "boss", "password": "Tenant-Admin-Pass-42"},
                },
                headers={"Authorization": "Bearer integration-operator-token-0123456789"},
            )
            slug = created.json()["tenant"]["slug"]
            good = {"tenant": slug, "username": "boss", "password": "Tenant-Admin-Pass-42"}
            ok = await http.post("/v1/auth/login", json=good)
            assert ok.status_code == 200
            token = ok.json()
            assert token["token_type"] == "bearer" and token["expires_in"] == 900
            assert "users:write" in token["permissions"]
            me = await http.get(
                "/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}
            )
            assert me.json()["kind"] == "user" and me.json()["tenant_id"] == token["tenant_id"]
            statuses = []
            for _ in range(5):
                response = await http.post("/v1/auth/login", json={**good, "password": "guess"})
                statuses.append(response.status_code)
            assert statuses[:3] == [401, 401, 401]
            assert statuses[4] == 429
            refused = await http.post("/v1/auth/login", json=good)
            assert refused.status_code == 429
            assert refused.json()["error"] == "too-many-attempts"
            assert int(refused.headers["retry-after"]) >= 1
            unknown = await http.post("/v1/auth/login", json={**good, "username": "ghost"})
            assert unknown.status_code == 401
            assert unknown.json()["error"] == "unauthenticated"
    finally:
        await engine.dispose()


async def test_every_write_is_audited_with_before_and_after(api: Any) -> None:
    tenant = await api.new_tenant()
    skill = await api.created("/v1/skills", {"name": "spanish"}, tenant.key_headers)
    await api.http.patch(
        f"/v1/skills/{skill['id']}", json={"description": "castellano"}, headers=tenant.jwt_headers
    )
    await api.http.delete(f"/v1/skills/{skill['id']}", headers=tenant.key_headers)
    page = await api.http.get(
        "/v1/audit", params={"resource_id": skill["id"]}, headers=tenant.key_headers
    )
    entries = page.json()["items"]
    assert [entry["action"] for entry in entries] == [
        "skill.delete",
        "skill.update",
        "skill.create",
    ]
    update = entries[1]
    assert update["actor_kind"] == "user"
    assert update["actor_id"] == tenant.provisioned["admin_user"]["id"]
    assert update["before"]["description"] == "" and update["after"]["description"] == "castellano"
    assert entries[0]["after"] is None and entries[2]["before"] is None
    first = await api.http.get("/v1/audit", params={"limit": 2}, headers=tenant.key_headers)
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    rest = await api.http.get(
        "/v1/audit", params={"limit": 2, "cursor": cursor}, headers=tenant.key_headers
    )
    ids = [e["id"] for e in first.json()["items"]] + [e["id"] for e in rest.json()["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    provisioning = await api.http.get(
        "/v1/audit", params={"action": "tenant.create"}, headers=tenant.key_headers
    )
    assert provisioning.json()["items"][0]["actor_kind"] == "operator"
    assert "password" not in str(page.json()) and "secret" not in str(page.json())


async def test_tenant_lifecycle_and_config_events(api: Any, admin_settings: AdminSettings) -> None:
    tenant = await api.new_tenant()
    number = await api.created(
        "/v1/numbers",
        {"number": api.phone_number(), "target_kind": "queue", "target_id": "q"},
        tenant.key_headers,
    )
    await api.created(
        "/v1/calendars",
        {
            "name": "c",
            "timezone": "Europe/Paris",
            "weekly": {"fri": ["09:00-12:00"]},
            "holidays": [{"first_day": "2026-12-25", "name": "Noël"}],
        },
        tenant.key_headers,
    )
    suspended = await api.http.post(f"/v1/tenants/{tenant.slug}/suspend", headers=api.operator)
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    again = await api.http.post(f"/v1/tenants/{tenant.slug}/suspend", headers=api.operator)
    assert again.status_code == 409 and again.json()["error"] == "tenant-already-suspended"
    assert (await api.http.get("/v1/numbers", headers=tenant.key_headers)).status_code == 200
    listed = await api.http.get(
        "/v1/tenants", params={"status": "suspended", "limit": 500}, headers=api.operator
    )
    assert tenant.id in {item["id"] for item in listed.json()["items"]}
    resumed = await api.http.post(f"/v1/tenants/{tenant.id}/resume", headers=api.operator)
    assert resumed.json()["status"] == "active" and resumed.json()["suspended_at"] is None
    deleted = await api.http.delete(f"/v1/tenants/{tenant.id}", headers=api.operator)
    assert deleted.status_code == 204
    assert (await api.http.get(f"/v1/tenants/{tenant.id}", headers=api.operator)).status_code == 404
    assert (await api.http.get("/v1/numbers", headers=tenant.key_headers)).status_code == 401
    types = await outbox_types(admin_settings, tenant.id)
    assert types == [
        "switchboard.tenant.created.v1",
        "switchboard.user.created.v1",
        "switchboard.number.assigned.v1",
        "switchboard.calendar.changed.v1",
        "switchboard.tenant.suspended.v1",
        "switchboard.tenant.resumed.v1",
        "switchboard.tenant.deleted.v1",
    ]
    reuse = await api.http.post(
        "/v1/tenants",
        json={"slug": tenant.slug, "name": "again", "create_api_key": True},
        headers=api.operator,
    )
    assert reuse.status_code == 201
    other = reuse.json()["api_key"]["key"]
    await api.created(
        "/v1/numbers",
        {"number": number["number"], "target_kind": "queue", "target_id": "q"},
        {"X-API-Key": other},
    )


async def test_nul_characters_and_odd_ids_never_reach_the_database(api: Any) -> None:
    tenant = await api.new_tenant()
    odd_path = await api.http.get("/v1/users/abc%00def", headers=tenant.key_headers)
    assert odd_path.status_code == 422
    assert odd_path.json()["details"]["field"] == "user_id"
    odd_query = await api.http.get(
        "/v1/audit", params={"actor_id": "a\x00b"}, headers=tenant.key_headers
    )
    assert odd_query.status_code == 422
    login = await api.http.post(
        "/v1/auth/login", json={"tenant": "a\x00", "username": "b", "password": "c"}
    )
    assert login.status_code == 422 and login.json()["details"]["field"] == "tenant"
    directory = await api.http.post(
        "/v1/freeswitch/directory",
        data={"section": "directory", "domain": "x\x00.example.com"},
        auth=api.freeswitch_auth,
    )
    assert directory.status_code == 200 and "not found" in directory.text
    unauthenticated_first = await api.http.get("/v1/users/abc%00def")
    assert unauthenticated_first.status_code == 401
