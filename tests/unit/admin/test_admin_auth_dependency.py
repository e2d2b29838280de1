"""switchboard_common.auth: tokens, the authenticator, FastAPI dependencies, the HTTP
API-key verifier with its cache."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from switchboard_common.auth import (
    API_KEY_VERIFY_PATH,
    INTERNAL_SECRET_HEADER,
    Authenticator,
    HttpApiKeyVerifier,
    Principal,
    decode_access_token,
    install_authentication,
    issue_access_token,
    require,
    require_operator,
)
from switchboard_common.errors import Unauthenticated, Unavailable
from switchboard_common.http import create_app

SECRET = "unit-test-jwt-secret-0123456789abcdef"
OPERATOR = "unit-test-operator-token-0123456789"
KEY_PRINCIPAL = Principal(
    kind="api_key", tenant_id="t-1", api_key_id="k-1", permissions=frozenset({"tickets:read"})
)


class FakeKeys:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def verify(self, key: str) -> Principal | None:
        self.seen.append(key)
        return KEY_PRINCIPAL if key == "good-key" else None


def user_token(permissions: tuple[str, ...] = ("tickets:read",), **kwargs: object) -> str:
    return issue_access_token(
        SECRET,
        kind="user",
        subject="u-1",
        tenant_id="t-1",
        roles=["agent"],
        permissions=permissions,
        **kwargs,  # type: ignore[arg-type]
    ).token


def test_token_round_trip_carries_the_claims() -> None:
    issued = issue_access_token(
        SECRET,
        kind="user",
        subject="u-1",
        tenant_id="t-1",
        roles=["agent", "agent"],
        permissions=["b:x", "a:y"],
        ttl=timedelta(minutes=5),
    )
    principal = decode_access_token(SECRET, issued.token)
    assert principal == Principal(
        kind="user",
        tenant_id="t-1",
        user_id="u-1",
        roles=("agent",),
        permissions=frozenset({"a:y", "b:x"}),
        token_id=issued.token_id,
    )
    assert principal.subject == "u-1" and principal.has("a:y") and not principal.has("c:z")


def test_expired_forged_and_garbage_tokens_are_unauthenticated() -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = issue_access_token(SECRET, kind="user", subject="u", tenant_id="t", now=past).token
    with pytest.raises(Unauthenticated) as info:
        decode_access_token(SECRET, expired)
    assert info.value.details["reason"] == "expired"
    assert decode_access_token(SECRET, expired, now=past).user_id == "u"
    for token in (user_token()[:-3] + "abc", "not.a.jwt", ""):
        with pytest.raises(Unauthenticated):
            decode_access_token(SECRET, token)
    with pytest.raises(Unauthenticated):
        decode_access_token("another-secret-0123456789abcdefgh", user_token())


def test_operator_tokens_carry_no_tenant() -> None:
    token = issue_access_token(SECRET, kind="operator", subject="ops-alice", tenant_id=None).token
    principal = decode_access_token(SECRET, token)
    assert (
        principal.is_operator and principal.tenant_id is None and principal.subject == "ops-alice"
    )
    with pytest.raises(ValueError):
        issue_access_token(SECRET, kind="user", subject="u", tenant_id=None)
    with pytest.raises(ValueError):
        issue_access_token(SECRET, kind="operator", subject="o", tenant_id="t")


async def test_authenticator_accepts_one_credential_of_either_kind() -> None:
    keys = FakeKeys()
    auth = Authenticator(jwt_secret=SECRET, api_keys=keys, operator_token=OPERATOR)
    assert (await auth.authenticate(bearer=OPERATOR, api_key=None)).is_operator
    assert (await auth.authenticate(bearer=None, api_key="good-key")) == KEY_PRINCIPAL
    assert (await auth.authenticate(bearer=user_token(), api_key=None)).user_id == "u-1"
    for bearer, key in ((None, None), (None, "bad-key"), (user_token(), "good-key"), ("x", None)):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(bearer=bearer, api_key=key)
    no_keys = Authenticator(jwt_secret=SECRET)
    with pytest.raises(Unauthenticated):
        await no_keys.authenticate(bearer=None, api_key="good-key")
    with pytest.raises(Unauthenticated):
        await no_keys.authenticate(bearer=OPERATOR, api_key=None)


def make_client() -> TestClient:
    router = APIRouter()

    @router.get("/v1/tickets")
    async def tickets(
        principal: Annotated[Principal, Depends(require("tickets:read"))],
    ) -> dict[str, str]:
        return {"tenant": principal.tenant_id or ""}

    @router.get("/v1/platform")
    async def platform(
        principal: Annotated[Principal, Depends(require_operator)],
    ) -> dict[str, str]:
        return {"kind": principal.kind}

    app = create_app("test", routers=[router])
    install_authentication(
        app, Authenticator(jwt_secret=SECRET, api_keys=FakeKeys(), operator_token=OPERATOR)
    )
    return TestClient(app)


def test_dependencies_answer_401_then_403_naming_the_permission() -> None:
    client = make_client()
    missing = client.get("/v1/tickets")
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthenticated"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/v1/tickets", headers={"Authorization": "Basic dTpw"}).status_code == 401
    ok = client.get("/v1/tickets", headers={"Authorization": f"Bearer {user_token()}"})
    assert ok.status_code == 200 and ok.json() == {"tenant": "t-1"}
    assert client.get("/v1/tickets", headers={"X-API-Key": "good-key"}).status_code == 200
    denied = client.get(
        "/v1/tickets", headers={"Authorization": f"Bearer {user_token(('calls:control',))}"}
    )
    assert denied.status_code == 403
    assert denied.json()["error"] == "forbidden"
    assert denied.json()["details"] == {"permission": "tickets:read"}
    operator_on_tenant_api = client.get(
        "/v1/tickets", headers={"Authorization": f"Bearer {OPERATOR}"}
    )
    assert operator_on_tenant_api.status_code == 403


def test_operator_route_refuses_tenant_credentials() -> None:
    client = make_client()
    assert client.get("/v1/platform", headers={"Authorization": f"Bearer {OPERATOR}"}).json() == {
        "kind": "operator"
    }
    tenant_admin = client.get("/v1/platform", headers={"Authorization": f"Bearer {user_token()}"})
    assert tenant_admin.status_code == 403
    assert tenant_admin.json()["details"]["permission"] == "platform:operate"


async def test_http_verifier_asks_admin_once_per_ttl_and_caches_refusals_briefly() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if b"good-key" in request.content:
            return httpx.Response(200, json=KEY_PRINCIPAL.model_dump(mode="json"))
        return httpx.Response(404, json={"error": "no-such-api-key"})

    now = [0.0]
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://admin")
    verifier = HttpApiKeyVerifier(
        "http://admin",
        "internal-secret-value",
        ttl_s=30,
        negative_ttl_s=5,
        client=client,
        clock=lambda: now[0],
    )
    assert await verifier.verify("good-key") == KEY_PRINCIPAL
    assert await verifier.verify("good-key") == KEY_PRINCIPAL
    assert await verifier.verify("bad-key") is None
    assert await verifier.verify("bad-key") is None
    assert len(calls) == 2
    assert calls[0].url.path == API_KEY_VERIFY_PATH
    assert calls[0].headers[INTERNAL_SECRET_HEADER] == "internal-secret-value"
    now[0] = 10.0
    assert await verifier.verify("bad-key") is None
    assert await verifier.verify("good-key") == KEY_PRINCIPAL
    assert len(calls) == 3
    now[0] = 31.0
    await verifier.verify("good-key")
    assert len(calls) == 4
    verifier.forget("good-key")
    await verifier.verify("good-key")
    assert len(calls) == 5
    await client.aclose()


async def test_http_verifier_does_not_cache_admin_failures() -> None:
    answers = iter(
        [httpx.Response(500), httpx.Response(200, json={"nonsense": 1}), httpx.Response(401)]
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _r: next(answers)))
    verifier = HttpApiKeyVerifier("http://admin", "s", client=client)
    for _ in range(3):
        with pytest.raises(Unavailable) as info:
            await verifier.verify("k")
        assert info.value.error_id == "auth-unavailable"

    def refuse(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    down = HttpApiKeyVerifier(
        "http://admin", "s", client=httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(Unavailable):
        await down.verify("k")
    await client.aclose()
