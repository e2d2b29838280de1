"""Tenant isolation: every tenant route with a path id, discovered from the OpenAPI
document, answers 404 to another tenant; PostgreSQL RLS confines the application role."""

from typing import Any

from sqlalchemy import text

from switchboard_admin.main import AdminApp
from switchboard_admin.models import TENANT_TABLES
from switchboard_admin.settings import AdminSettings
from switchboard_common import db

# Routes with a path id that are not tenant-scoped (the operator's tenant ids, FreeSWITCH,
# service-to-service, authentication) are recognised by their OpenAPI tag.
NOT_TENANT_SCOPED_TAGS = {"operator", "freeswitch", "internal", "auth", "ops"}

# path template -> (which seeded object fills the id, request body per method)
ROUTE_FIXTURES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "/v1/users/{user_id}": ("user", {"patch": {"display_name": "Mallory was here"}}),
    "/v1/roles/{role_id}": ("role", {"patch": {"description": "Mallory was here"}}),
    "/v1/api-keys/{key_id}": ("api_key", {}),
    "/v1/numbers/{number_id}": ("number", {"patch": {"label": "Mallory was here"}}),
    "/v1/skills/{skill_id}": ("skill", {"patch": {"description": "Mallory was here"}}),
    "/v1/calendars/{calendar_id}": ("calendar", {"patch": {"name": "Mallory was here"}}),
}
READ_PATHS = {
    "user": "/v1/users/{}",
    "role": "/v1/roles/{}",
    "api_key": "/v1/api-keys/{}",
    "number": "/v1/numbers/{}",
    "skill": "/v1/skills/{}",
    "calendar": "/v1/calendars/{}",
}


async def seed_objects(api: Any, tenant: Any) -> dict[str, str]:
    headers = tenant.key_headers
    skill = await api.created("/v1/skills", {"name": "french"}, headers)
    user = await api.created(
        "/v1/users",
        {"username": "victim", "password": "Kx7-Tango-Delta-42", "skills": {skill["id"]: 5}},
        headers,
    )
    role = await api.created(
        "/v1/roles", {"name": "auditor", "permissions": ["audit:read"]}, headers
    )
    key = await api.created(
        "/v1/api-keys", {"name": "crm", "permissions": ["tickets:read"]}, headers
    )
    number = await api.created(
        "/v1/numbers",
        {"number": api.phone_number(), "target_kind": "queue", "target_id": "sales"},
        headers,
    )
    calendar = await api.created(
        "/v1/calendars",
        {"name": "office", "timezone": "Europe/Paris", "weekly": {"mon": ["09:00-17:00"]}},
        headers,
    )
    return {
        "user": user["id"],
        "role": role["id"],
        "api_key": key["id"],
        "number": number["id"],
        "skill": skill["id"],
        "calendar": calendar["id"],
    }


async def test_every_tenant_route_with_a_path_id_answers_404_to_another_tenant(
    api: Any, admin_app: AdminApp
) -> None:
    owner = await api.new_tenant()
    intruder = await api.new_tenant()
    objects = await seed_objects(api, owner)
    before = {
        kind: (await api.http.get(path.format(objects[kind]), headers=owner.key_headers)).json()
        for kind, path in READ_PATHS.items()
    }
    checked: list[str] = []
    for path, item in admin_app.app.openapi()["paths"].items():
        for method, operation in item.items():
            parameters = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            if not parameters or set(operation.get("tags", [])) & NOT_TENANT_SCOPED_TAGS:
                continue
            assert path in ROUTE_FIXTURES, (
                f"{method.upper()} {path} takes a path id but the isolation test has no "
                "fixture for it: add one to ROUTE_FIXTURES"
            )
            kind, bodies = ROUTE_FIXTURES[path]
            needs_body = operation.get("requestBody", {}).get("required", False)
            assert method in bodies or not needs_body, f"no body fixture for {method} {path}"
            url = path.format(**{name: objects[kind] for name in parameters})
            for headers in (intruder.key_headers, intruder.jwt_headers):
                response = await api.http.request(
                    method.upper(), url, json=bodies.get(method), headers=headers
                )
                assert response.status_code == 404, (method, url, response.text)
                assert response.json()["error"].startswith("no-such-"), response.text
            checked.append(f"{method.upper()} {path}")
    assert len(checked) >= 16, checked
    for kind, path in READ_PATHS.items():
        response = await api.http.get(path.format(objects[kind]), headers=owner.key_headers)
        assert response.status_code == 200, response.text
        assert response.json() == before[kind], f"{kind} changed by another tenant"


async def test_lists_only_show_the_callers_tenant(api: Any) -> None:
    first = await api.new_tenant()
    second = await api.new_tenant()
    await api.created("/v1/skills", {"name": "only-first"}, first.key_headers)
    seen = (await api.http.get("/v1/skills", headers=second.key_headers)).json()
    assert seen["items"] == []
    users = (await api.http.get("/v1/users", headers=second.jwt_headers)).json()["items"]
    assert [user["username"] for user in users] == ["boss"]
    audit = (await api.http.get("/v1/audit", headers=second.key_headers)).json()["items"]
    assert all(entry["resource_id"] != first.id for entry in audit)


async def test_rls_with_the_application_role_and_no_tenant_sees_nothing(
    api: Any, admin_settings: AdminSettings
) -> None:
    tenant = await api.new_tenant()
    await api.created("/v1/skills", {"name": "rls"}, tenant.key_headers)
    engine = db.create_engine(admin_settings.effective_database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            owner_view = (
                await connection.execute(text("SELECT count(*) FROM admin_users"))
            ).scalar()
            assert owner_view and owner_view >= 1
            await connection.execute(text("SET LOCAL ROLE switchboard_app"))
            for table in TENANT_TABLES:
                count = (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
                assert count == 0, f"{table} leaks rows without a tenant"
            await connection.execute(
                text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": tenant.id}
            )
            tenants = (
                (await connection.execute(text("SELECT DISTINCT tenant_id FROM admin_users")))
                .scalars()
                .all()
            )
            assert tenants == [tenant.id]
            owners = (
                (
                    await connection.execute(
                        text(
                            "SELECT DISTINCT tableowner FROM pg_tables "
                            "WHERE tablename LIKE 'admin_%'"
                        )
                    )
                )
                .scalars()
                .all()
            )
            assert "switchboard_app" not in owners
        async with engine.connect() as connection:
            await connection.execute(text("BEGIN"))
            await connection.execute(text("SET LOCAL ROLE switchboard_app"))
            await connection.execute(
                text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": tenant.id}
            )
            try:
                await connection.execute(
                    text(
                        "INSERT INTO admin_skills (id, tenant_id, name, description, created_at,"
                        " updated_at) VALUES ('x', :other, 'n', '', now(), now())"
                    ),
                    {"other": "someone-else"},
                )
            except Exception as exc:
                assert "row-level security" in str(exc)
            else:
                raise AssertionError("the application role wrote into another tenant")
            finally:
                await connection.rollback()
    finally:
        await engine.dispose()
