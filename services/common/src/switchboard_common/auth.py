"""Authentication and authorisation shared by every service's REST API.

A request carries one credential:

- `Authorization: Bearer <jwt>`: a short-lived HS256 token issued by admin at login
  (claims `sub`, `tenant`, `roles`, `permissions`, `kind`, `exp`, `iat`, `jti`, `iss`),
  verified locally with `settings.jwt_secret`; or the platform operator token (admin only);
- `X-API-Key: <key>`: checked by a pluggable `ApiKeyVerifier`: admin asks its own
  repository, other services use `HttpApiKeyVerifier`, which asks admin's
  `POST /v1/internal/api-keys/verify` (authenticated with the internal secret) and caches
  answers for a few seconds.

Each service's composition root builds one `Authenticator` and calls
`install_authentication(app, authenticator)`; routes then declare
`Depends(require("tickets:write"))` (tenant principal holding that permission),
`Depends(tenant_principal)` or `Depends(require_operator)`.
Missing or invalid credentials give 401 `unauthenticated`; a missing permission gives 403
`forbidden` naming the permission.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol

import httpx
import jwt
from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from jwt.types import Options
from jwt.warnings import InsecureKeyLengthWarning
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from switchboard_common.errors import Forbidden, Unauthenticated, Unavailable
from switchboard_common.settings import DEV_SECRET

API_KEY_HEADER = "X-API-Key"
INTERNAL_SECRET_HEADER = "X-Switchboard-Internal-Secret"
TOKEN_ISSUER = "switchboard"
JWT_ALGORITHM = "HS256"
API_KEY_VERIFY_PATH = "/v1/internal/api-keys/verify"
OPERATOR_PERMISSION = "platform:operate"

PrincipalKind = Literal["user", "api_key", "operator"]

_STATE_ATTRIBUTE = "switchboard_authenticator"


class Principal(BaseModel):
    """Who is calling: a tenant user, a tenant API key, or the platform operator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PrincipalKind
    tenant_id: str | None = Field(default=None, description="None only for the operator")
    user_id: str | None = None
    api_key_id: str | None = None
    roles: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    token_id: str | None = Field(default=None, description="jti of the JWT, if any")

    @property
    def subject(self) -> str:
        """The id that audit logs record as the actor."""
        return self.user_id or self.api_key_id or self.kind

    @property
    def is_operator(self) -> bool:
        return self.kind == "operator"

    def has(self, permission: str) -> bool:
        return self.tenant_id is not None and permission in self.permissions


class ApiKeyVerifier(Protocol):
    """Turns a presented API key into its principal, or None when it is not valid."""

    async def verify(self, key: str) -> Principal | None: ...


class IssuedToken(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: str
    token_id: str
    expires_at: datetime


def issue_access_token(
    secret: SecretStr | str,
    *,
    kind: Literal["user", "operator"],
    subject: str,
    tenant_id: str | None,
    roles: Iterable[str] = (),
    permissions: Iterable[str] = (),
    ttl: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
) -> IssuedToken:
    """A signed HS256 access token. Operator tokens carry no tenant; user tokens must."""
    if kind == "user" and not tenant_id:
        raise ValueError("a user token needs a tenant")
    if kind == "operator" and tenant_id:
        raise ValueError("an operator token carries no tenant")
    issued_at = (now or datetime.now(UTC)).astimezone(UTC)
    expires_at = issued_at + ttl
    token_id = uuid.uuid4().hex
    claims: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "sub": subject,
        "kind": kind,
        "tenant": tenant_id,
        "roles": sorted(set(roles)),
        "permissions": sorted(set(permissions)),
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": token_id,
    }
    with _quiet_for_dev_secret(secret):
        token = jwt.encode(claims, _secret_text(secret), algorithm=JWT_ALGORITHM)
    return IssuedToken(token=token, token_id=token_id, expires_at=expires_at)


class _Claims(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sub: str = Field(min_length=1)
    kind: Literal["user", "operator"]
    tenant: str | None = None
    roles: tuple[str, ...] = ()
    permissions: frozenset[str] = frozenset()
    jti: str = Field(min_length=1)


def decode_access_token(
    secret: SecretStr | str, token: str, *, leeway_s: float = 10.0, now: datetime | None = None
) -> Principal:
    """Verify signature, issuer and expiry; raise `Unauthenticated` on anything wrong."""
    options: Options = {"require": ["exp", "iat", "sub", "jti", "iss"], "verify_exp": False}
    moment = (now or datetime.now(UTC)).timestamp()
    try:
        with _quiet_for_dev_secret(secret):
            raw = jwt.decode(
                token,
                _secret_text(secret),
                algorithms=[JWT_ALGORITHM],
                issuer=TOKEN_ISSUER,
                options=options,
            )
        if float(raw["exp"]) + leeway_s < moment:
            raise jwt.ExpiredSignatureError("Signature has expired")
        claims = _Claims.model_validate(raw)
    except jwt.ExpiredSignatureError:
        raise Unauthenticated(
            "the access token has expired",
            details={"reason": "expired"},
        ) from None
    except (jwt.InvalidTokenError, ValidationError, KeyError, TypeError, ValueError):
        raise Unauthenticated(
            "the access token is not valid", details={"reason": "invalid-token"}
        ) from None
    if claims.kind == "user":
        if not claims.tenant:
            raise Unauthenticated(
                "the access token names no tenant", details={"reason": "invalid-token"}
            )
        return Principal(
            kind="user",
            tenant_id=claims.tenant,
            user_id=claims.sub,
            roles=claims.roles,
            permissions=claims.permissions,
            token_id=claims.jti,
        )
    return Principal(
        kind="operator",
        user_id=claims.sub,
        permissions=frozenset({OPERATOR_PERMISSION}),
        token_id=claims.jti,
    )


def operator_principal(name: str = "operator") -> Principal:
    return Principal(kind="operator", user_id=name, permissions=frozenset({OPERATOR_PERMISSION}))


class Authenticator:
    """Checks the credential of a request and returns its principal."""

    def __init__(
        self,
        *,
        jwt_secret: SecretStr | str,
        api_keys: ApiKeyVerifier | None = None,
        operator_token: SecretStr | str | None = None,
        leeway_s: float = 10.0,
    ) -> None:
        self._jwt_secret = jwt_secret
        self._api_keys = api_keys
        self._operator_token = (
            _secret_text(operator_token).encode() if operator_token is not None else None
        )
        self._leeway_s = leeway_s

    async def authenticate(self, *, bearer: str | None, api_key: str | None) -> Principal:
        if bearer and api_key:
            raise Unauthenticated(
                f"send either a bearer token or {API_KEY_HEADER}, not both",
                details={"reason": "two-credentials"},
            )
        if api_key:
            return await self._from_api_key(api_key)
        if bearer:
            if self._operator_token is not None and hmac.compare_digest(
                bearer.encode(), self._operator_token
            ):
                return operator_principal()
            return decode_access_token(self._jwt_secret, bearer, leeway_s=self._leeway_s)
        raise Unauthenticated(
            f"credentials required: Authorization: Bearer <token> or {API_KEY_HEADER}",
            details={"reason": "missing-credentials"},
        )

    async def _from_api_key(self, key: str) -> Principal:
        if self._api_keys is None:
            raise Unauthenticated(
                "API keys are not accepted by this service", details={"reason": "api-key"}
            )
        principal = await self._api_keys.verify(key.strip())
        if principal is None:
            raise Unauthenticated("the API key is not valid", details={"reason": "invalid-api-key"})
        return principal


_bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A JWT from POST /v1/auth/login (or the platform operator token, admin only).",
)
_api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="apiKey",
    description="A tenant API key (secret shown once when the key is created).",
)


def install_authentication(app: FastAPI, authenticator: Authenticator) -> None:
    """Make `authenticator` the one used by this app's auth dependencies; 401 answers
    carry `WWW-Authenticate`."""
    setattr(app.state, _STATE_ATTRIBUTE, authenticator)

    async def _unauthenticated(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Unauthenticated)
        return JSONResponse(
            status_code=401,
            content=exc.to_body(),
            headers={"WWW-Authenticate": 'Bearer realm="switchboard"'},
        )

    app.add_exception_handler(Unauthenticated, _unauthenticated)


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)],
    api_key: Annotated[str | None, Security(_api_key_scheme)],
) -> Principal:
    """FastAPI dependency: the principal of the request (any kind), or 401."""
    authenticator = getattr(request.app.state, _STATE_ATTRIBUTE, None)
    if not isinstance(authenticator, Authenticator):
        raise RuntimeError("install_authentication(app, authenticator) was not called")
    if bearer is None and request.headers.get("authorization", "").strip():
        raise Unauthenticated(
            "the Authorization header must read `Bearer <token>`",
            details={"reason": "bad-authorization-header"},
        )
    return await authenticator.authenticate(
        bearer=bearer.credentials if bearer is not None else None, api_key=api_key
    )


async def tenant_principal(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """FastAPI dependency: a principal acting for a tenant (user or API key)."""
    if principal.tenant_id is None:
        raise Forbidden(
            "this API acts for a tenant: use a tenant user's token or a tenant API key",
            details={"reason": "tenant-credentials-required"},
        )
    return principal


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency factory: a tenant principal that holds `permission`, else 403."""

    async def dependency(
        principal: Annotated[Principal, Depends(tenant_principal)],
    ) -> Principal:
        if permission not in principal.permissions:
            raise Forbidden(f"missing permission {permission}", details={"permission": permission})
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_').replace('-', '_')}"
    return dependency


async def require_operator(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """FastAPI dependency: the platform operator, else 403."""
    if not principal.is_operator:
        raise Forbidden(
            "the platform operator API needs the operator token or an operator JWT",
            details={"permission": OPERATOR_PERMISSION},
        )
    return principal


def internal_secret_matches(presented: str | None, secret: SecretStr | str) -> bool:
    """Constant-time comparison of a presented internal secret."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), _secret_text(secret).encode())


class HttpApiKeyVerifier:
    """Asks admin whether an API key is valid, caching answers for `ttl_s` seconds
    (`negative_ttl_s` for refusals), so a revoked key stops working within that time.

    Admin answers 200 with the principal, or 404 for a key that is not valid; a 401 means
    our internal secret is wrong, which is reported (503 `auth-unavailable`), not cached."""

    def __init__(
        self,
        admin_url: str,
        internal_secret: SecretStr | str,
        *,
        ttl_s: float = 30.0,
        negative_ttl_s: float = 5.0,
        max_entries: int = 10_000,
        timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = admin_url.rstrip("/") + API_KEY_VERIFY_PATH
        self._secret = internal_secret
        self._ttl_s = ttl_s
        self._negative_ttl_s = negative_ttl_s
        self._max_entries = max_entries
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    async def verify(self, key: str) -> Principal | None:
        cache_key = hashlib.sha256(key.encode()).hexdigest()
        now = self._clock()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(cache_key)
            return cached[1]
        principal = await self._ask_admin(key)
        ttl = self._ttl_s if principal is not None else self._negative_ttl_s
        self._cache[cache_key] = (now + ttl, principal)
        self._cache.move_to_end(cache_key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return principal

    async def _ask_admin(self, key: str) -> Principal | None:
        try:
            response = await self._client.post(
                self._url,
                json={"key": key},
                headers={INTERNAL_SECRET_HEADER: _secret_text(self._secret)},
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                "cannot reach admin to verify the API key",
                error_id="auth-unavailable",
                details={"reason": type(exc).__name__},
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code == 401:
            raise Unavailable(
                "admin refused this service's internal secret",
                error_id="auth-unavailable",
                details={"reason": "internal-secret-refused"},
            )
        if response.status_code != 200:
            raise Unavailable(
                f"admin answered {response.status_code} to an API key check",
                error_id="auth-unavailable",
                details={"status": response.status_code},
            )
        try:
            return Principal.model_validate(response.json())
        except (ValidationError, ValueError) as exc:
            raise Unavailable(
                "admin answered an API key check with something unexpected",
                error_id="auth-unavailable",
            ) from exc

    def forget(self, key: str) -> None:
        """Drop the cached answer for `key` (a revocation seen on the bus, a test)."""
        self._cache.pop(hashlib.sha256(key.encode()).hexdigest(), None)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._owns_client:
            await self._client.aclose()


@contextmanager
def _quiet_for_dev_secret(secret: SecretStr | str) -> Iterator[None]:
    """PyJWT warns about keys under 32 bytes; the development default is one on purpose
    (settings refuse it outside development), so that one warning is silenced."""
    with warnings.catch_warnings():
        if _secret_text(secret) == DEV_SECRET:
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        yield


def _secret_text(secret: SecretStr | str) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret
