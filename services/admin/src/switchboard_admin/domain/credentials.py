"""Secrets at rest: argon2 password hashes, API keys (sha256 of a 256-bit secret) and the
SIP digest `a1-hash` (md5 of user:domain:password), so that no plaintext is kept."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

API_KEY_PREFIX = "sbk"
_API_KEY_PATTERN = re.compile(
    r"^sbk_(?P<tenant>[A-Za-z0-9-]{1,64})_(?P<key_id>[0-9a-f]{32})_(?P<secret>[A-Za-z0-9_-]{43})$"
)


class Passwords:
    """argon2id hashing with tunable cost (tests lower it)."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65_536, parallelism: int = 4):
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when `password` matches; a missing hash still costs one verification, so
        that unknown users and wrong passwords take the same time."""
        try:
            return self._hasher.verify(stored_hash or self._decoy, password) and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key_id: str
    key: str
    secret_hash: str


@dataclass(frozen=True, slots=True)
class PresentedApiKey:
    tenant_id: str
    key_id: str
    secret: str


def new_api_key(tenant_id: str) -> NewApiKey:
    """`sbk_<tenant>_<key id>_<secret>`: the tenant and key id route the look-up; only the
    sha256 of the 256-bit secret is stored."""
    key_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    key = f"{API_KEY_PREFIX}_{tenant_id}_{key_id}_{secret}"
    if parse_api_key(key) is None:
        raise ValueError(f"tenant id {tenant_id!r} cannot be part of an API key")
    return NewApiKey(key_id=key_id, key=key, secret_hash=hash_api_secret(secret))


def parse_api_key(key: str) -> PresentedApiKey | None:
    match = _API_KEY_PATTERN.match(key)
    if match is None:
        return None
    return PresentedApiKey(match["tenant"], match["key_id"], match["secret"])


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_secret(secret), stored_hash)


def sip_a1_hash(user: str, domain: str, password: str) -> str:
    """The HA1 of SIP digest authentication, as FreeSWITCH's `a1-hash` user param wants."""
    return hashlib.md5(f"{user}:{domain}:{password}".encode(), usedforsecurity=False).hexdigest()
