"""Webhook bodies, their HMAC-SHA256 signature, and reading values out of the JSON answer."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final

SIGNATURE_HEADER: Final = "X-Switchboard-Signature"
SIGNATURE_PREFIX: Final = "sha256="


def encode_body(payload: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces) so that the signature is reproducible."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes, secret: str) -> str:
    """The signature header value: `sha256=` + hex HMAC-SHA256 of the body with the secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify(body: bytes, secret: str, signature: str) -> bool:
    """What a tenant's webhook does to check a request (constant-time comparison)."""
    return hmac.compare_digest(sign(body, secret), signature)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def dotted_get(data: Any, path: str) -> Any:
    """`a.b.0.c` into nested objects and lists; MISSING when any step is absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
