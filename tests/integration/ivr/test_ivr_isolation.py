"""A tenant never reaches another tenant's flows, numbers, prompts or blacklist: every route
that names an object is checked (the list is built from the OpenAPI document), and the
database itself (row-level security) hides other tenants' rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from switchboard_ivr import models

FLOW: dict[str, Any] = {
    "id": "shared-name",
    "start": "hello",
    "nodes": [
        {
            "id": "hello",
            "kind": "play",
            "items": [{"type": "prompt", "prompt": "hello"}],
            "next": "bye",
        },
        {"id": "bye", "kind": "hangup"},
    ],
}
NUMBER = "+33142685300"
IDS = {"flow_id": "shared-name", "version": "1", "number": NUMBER, "prompt_id": "hello"}

UPSERTS: dict[tuple[str, str], Any] = {
    ("put", "/v1/flows/{flow_id}"): {**FLOW, "name": "intruder"},
    ("put", "/v1/numbers/{number}"): {"queue_id": "intruder-queue"},
    ("put", "/v1/ivr/prompts/{prompt_id}"): {"paths": {"*": "/intruder.wav"}},
    ("put", "/v1/ivr/blacklist/{number}"): {"reason": "intruder"},
}
"""Routes that create the caller's own object when it has none: they must leave the other
tenant's object as it was."""

BODIES: dict[tuple[str, str], Any] = {
    ("post", "/v1/flows/{flow_id}/simulate"): {"caller_number": "+33612345678"},
}

OWNER_VIEWS = (
    "/v1/flows/shared-name",
    "/v1/flows/shared-name/versions",
    f"/v1/numbers/{NUMBER}",
    "/v1/ivr/prompts/hello",
    f"/v1/ivr/blacklist/{NUMBER}",
)


async def _owner_objects(ivr: Any, tenant: str) -> None:
    headers = ivr.headers(tenant)
    for path, body in (
        ("/v1/ivr/prompts/hello", {"paths": {"*": "/owner/hello.wav"}}),
        (f"/v1/ivr/blacklist/{NUMBER}", {"reason": "owner"}),
    ):
        assert (await ivr.http.put(path, json=body, headers=headers)).status_code == 200
    assert (await ivr.http.post("/v1/flows", json=FLOW, headers=headers)).status_code == 201
    published = await ivr.http.post("/v1/flows/shared-name/publish", headers=headers)
    assert published.status_code == 200, published.text
    await ivr.http.put("/v1/flows/shared-name", json={**FLOW, "name": "draft"}, headers=headers)
    bound = await ivr.http.put(
        f"/v1/numbers/{NUMBER}", json={"flow_id": "shared-name"}, headers=headers
    )
    assert bound.status_code == 200, bound.text


async def test_every_route_naming_an_object_answers_404_for_another_tenant(ivr: Any) -> None:
    owner, intruder = ivr.new_tenant(), ivr.new_tenant()
    await _owner_objects(ivr, owner)
    before = {
        path: (await ivr.http.get(path, headers=ivr.headers(owner))).json() for path in OWNER_VIEWS
    }

    routes = [
        (method, path, [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"])
        for path, item in ivr.ivr.app.openapi()["paths"].items()
        for method, operation in item.items()
    ]
    routes.sort(key=lambda route: (route[0], route[1]) in UPSERTS)
    checked: list[str] = []
    for method, path, names in routes:
        if not names:
            continue
        url = path.format(**{name: IDS[name] for name in names})
        key = (method, path)
        response = await ivr.http.request(
            method.upper(),
            url,
            json=UPSERTS.get(key, BODIES.get(key)),
            headers=ivr.headers(intruder),
        )
        if key in UPSERTS:
            assert response.status_code == 200, (method, url, response.text)
        else:
            assert response.status_code == 404, (method, url, response.text)
            assert response.json()["error"].startswith(("no-such-", "not-")), response.text
        checked.append(f"{method.upper()} {path}")

    assert len(checked) >= 17, checked
    after = {
        path: (await ivr.http.get(path, headers=ivr.headers(owner))).json() for path in OWNER_VIEWS
    }
    assert after == before


async def test_lists_show_only_the_caller_s_tenant(ivr: Any) -> None:
    owner, other = ivr.new_tenant(), ivr.new_tenant()
    await _owner_objects(ivr, owner)

    for path in ("/v1/flows", "/v1/numbers", "/v1/ivr/prompts", "/v1/ivr/blacklist"):
        response = await ivr.http.get(path, headers=ivr.headers(other))
        assert response.status_code == 200 and response.json() == [], path


async def test_row_level_security_hides_other_tenants_rows_from_unfiltered_queries(
    ivr: Any,
) -> None:
    owner, other = ivr.new_tenant(), ivr.new_tenant()
    await _owner_objects(ivr, owner)
    store = ivr.ivr.flows._store

    counts: dict[str, dict[str, int]] = {}
    for tenant in (owner, other):
        async with store.tenant(tenant) as repo:
            counts[tenant] = {
                table.name: int(
                    await repo.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
                )
                for table in (
                    models.flows,
                    models.flow_versions,
                    models.numbers,
                    models.prompts,
                    models.blacklist,
                )
            }
    assert all(count > 0 for count in counts[owner].values()), counts
    assert all(count == 0 for count in counts[other].values()), counts
