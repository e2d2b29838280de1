"""FreeSWITCH mod_xml_curl endpoints against PostgreSQL, with the form fields FreeSWITCH sends."""

import hashlib
from typing import Any
from xml.etree import ElementTree

import pytest

INTERNAL_SECRET = "integration-internal-secret-0123456789"


def dialplan_form(destination: str, **extra: str) -> dict[str, str]:
    return {
        "hostname": "fs1",
        "section": "dialplan",
        "tag_name": "",
        "key_name": "",
        "key_value": "",
        "Event-Name": "REQUEST_PARAMS",
        "Core-UUID": "9f5b4c6e-0000-4000-8000-000000000001",
        "Channel-Name": "sofia/external/+15550001111@10.0.0.1",
        "Unique-ID": "0d4c2e55-0000-4000-8000-000000000002",
        "Call-Direction": "inbound",
        "Caller-Caller-ID-Name": "Caller",
        "Caller-Caller-ID-Number": "+15550001111",
        "Caller-Destination-Number": destination,
        "Caller-Context": "public",
        "Hunt-Destination-Number": destination,
        "Hunt-Context": "public",
        **extra,
    }


def actions(xml: str) -> list[tuple[str, str]]:
    root = ElementTree.fromstring(xml)
    return [(a.get("application", ""), a.get("data", "")) for a in root.iter("action")]


async def post(api: Any, path: str, form: dict[str, str], **kwargs: Any) -> Any:
    kwargs.setdefault("auth", api.freeswitch_auth)
    return await api.http.post(path, data=form, **kwargs)


async def test_known_number_routes_into_the_platform(api: Any) -> None:
    tenant = await api.new_tenant(quotas={"max_concurrent_calls": 25})
    number = api.phone_number()
    await api.created(
        "/v1/numbers",
        {"number": number, "target_kind": "ivr_flow", "target_id": "main-menu"},
        tenant.key_headers,
    )
    response = await post(api, "/v1/freeswitch/dialplan", dialplan_form(number))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ElementTree.fromstring(response.text)
    assert root.get("type") == "freeswitch/xml"
    section = root.find("section")
    assert section is not None and section.get("name") == "dialplan"
    condition = root.find("section/context/extension/condition")
    assert condition is not None and condition.get("field") == "destination_number"
    assert condition.get("expression") == "^\\" + number + "$"
    steps = actions(response.text)
    assert steps[:2] == [("set", f"sb_tenant={tenant.id}"), ("set", f"sb_number={number}")]
    assert ("set", "sb_target_kind=ivr_flow") in steps
    assert ("set", "sb_target_id=main-menu") in steps
    assert ("limit", f"hash switchboard_calls {tenant.id} 25 !USER_BUSY") in steps
    assert steps[-1] == ("park", "")
    without_plus = await post(api, "/v1/freeswitch/dialplan", dialplan_form(number[1:]))
    assert ("set", f"sb_number={number}") in actions(without_plus.text)


async def test_unknown_number_is_unallocated(api: Any) -> None:
    for destination in ("+33999999999", "1234", ""):
        response = await post(api, "/v1/freeswitch/dialplan", dialplan_form(destination))
        assert response.status_code == 200
        steps = actions(response.text)
        assert steps[-1] == ("hangup", "UNALLOCATED_NUMBER"), destination
        assert ("respond", "404 Not Found") in steps
        assert all(app != "park" for app, _ in steps)


async def test_suspended_tenant_is_rejected_and_resumed_tenant_routes_again(api: Any) -> None:
    tenant = await api.new_tenant()
    number = api.phone_number()
    await api.created(
        "/v1/numbers",
        {"number": number, "target_kind": "queue", "target_id": "q"},
        tenant.key_headers,
    )
    await api.http.post(f"/v1/tenants/{tenant.id}/suspend", headers=api.operator)
    rejected = actions((await post(api, "/v1/freeswitch/dialplan", dialplan_form(number))).text)
    assert rejected[-1] == ("hangup", "CALL_REJECTED")
    assert all(app != "park" for app, _ in rejected)
    await api.http.post(f"/v1/tenants/{tenant.id}/resume", headers=api.operator)
    routed = actions((await post(api, "/v1/freeswitch/dialplan", dialplan_form(number))).text)
    assert routed[-1] == ("park", "")


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"auth": ("freeswitch", "wrong-secret")},
        {"headers": {"Authorization": "Basic !!notbase64"}},
        {"headers": {"X-Switchboard-Internal-Secret": "wrong"}},
    ],
)
async def test_bad_secret_is_401(api: Any, credentials: dict[str, Any]) -> None:
    for path in ("/v1/freeswitch/dialplan", "/v1/freeswitch/directory"):
        response = await api.http.post(path, data=dialplan_form("+33123456789"), **credentials)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_secret_header_is_accepted_and_other_sections_are_not_found(api: Any) -> None:
    response = await api.http.post(
        "/v1/freeswitch/dialplan",
        data=dialplan_form("+33123456789", section="configuration"),
        headers={"X-Switchboard-Internal-Secret": INTERNAL_SECRET},
    )
    assert response.status_code == 200
    result = ElementTree.fromstring(response.text).find("section/result")
    assert result is not None and result.get("status") == "not found"


async def test_directory_serves_agents_a1_hash_without_plaintext(api: Any) -> None:
    tenant = await api.new_tenant()
    user, _headers = await api.user(
        tenant, "alice", ["agent"], extension="1001", sip_password="s1p-Secret-x"
    )
    await api.user(tenant, "bob", ["agent"], extension="1002")
    form = {
        "section": "directory",
        "tag_name": "domain",
        "key_name": "name",
        "key_value": tenant.sip_domain,
        "domain": tenant.sip_domain,
        "user": "1001",
        "action": "sip_auth",
    }
    response = await post(api, "/v1/freeswitch/directory", form)
    root = ElementTree.fromstring(response.text)
    domain = root.find("section/domain")
    assert domain is not None and domain.get("name") == tenant.sip_domain
    users = root.findall("section/domain/groups/group/users/user")
    assert [u.get("id") for u in users] == ["1001"]
    expected = hashlib.md5(f"1001:{tenant.sip_domain}:s1p-Secret-x".encode()).hexdigest()
    params = {p.get("name"): p.get("value") for p in users[0].iter("param")}
    assert params == {"a1-hash": expected}
    variables = {v.get("name"): v.get("value") for v in users[0].iter("variable")}
    assert variables["sb_user"] == user["id"] and variables["sb_tenant"] == tenant.id
    assert "s1p-Secret-x" not in response.text
    whole = await post(api, "/v1/freeswitch/directory", {**form, "user": ""})
    ids = [u.get("id") for u in ElementTree.fromstring(whole.text).iter("user")]
    assert ids == ["1001"], "users without SIP credentials are not registrable"
    missing = await post(api, "/v1/freeswitch/directory", {**form, "user": "1002"})
    assert ElementTree.fromstring(missing.text).find("section/result") is not None
    unknown = await post(api, "/v1/freeswitch/directory", {**form, "domain": "nope.example.com"})
    assert ElementTree.fromstring(unknown.text).find("section/result") is not None
    await api.http.post(f"/v1/tenants/{tenant.id}/suspend", headers=api.operator)
    suspended = await post(api, "/v1/freeswitch/directory", form)
    assert ElementTree.fromstring(suspended.text).find("section/result") is not None


async def test_changing_the_sip_domain_retires_old_a1_hashes(api: Any) -> None:
    tenant = await api.new_tenant()
    user, _ = await api.user(
        tenant, "carol", ["agent"], extension="2001", sip_password="s1p-Secret-y"
    )
    new_domain = f"{tenant.slug}.voice.example.com"
    await api.http.patch(
        f"/v1/tenants/{tenant.id}", json={"sip_domain": new_domain}, headers=api.operator
    )
    form = {"section": "directory", "domain": new_domain}
    listed = await post(api, "/v1/freeswitch/directory", form)
    assert list(ElementTree.fromstring(listed.text).iter("user")) == []
    await api.http.patch(
        f"/v1/users/{user['id']}", json={"sip_password": "s1p-Secret-z"}, headers=tenant.key_headers
    )
    listed = await post(api, "/v1/freeswitch/directory", form)
    assert [u.get("id") for u in ElementTree.fromstring(listed.text).iter("user")] == ["2001"]
