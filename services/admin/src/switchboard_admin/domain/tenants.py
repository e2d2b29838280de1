"""Tenant rules: identifiers, SIP domains, time zones, lifecycle and quotas."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from switchboard_common.errors import PreconditionFailed, QuotaExceeded, ValidationFailed

TenantStatus = Literal["active", "suspended"]
LifecycleAction = Literal["suspend", "resume"]

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MAX_DOMAIN_LENGTH = 253

QUOTA_NAMES = ("max_concurrent_calls", "max_agents", "max_queues", "recording_retention_days")


def check_slug(slug: str, *, field: str = "slug") -> str:
    """3-40 characters: lowercase letters, digits and inner dashes, starting with a letter."""
    if not SLUG_PATTERN.match(slug) or "--" in slug:
        raise ValidationFailed(
            "a slug has 3-40 lowercase letters, digits or single dashes, starts with a letter "
            "and does not end with a dash",
            field=field,
            error_id="invalid-slug",
            details={"value": slug},
        )
    return slug


def check_sip_domain(domain: str, *, field: str = "sip_domain") -> str:
    """A DNS name with at least two labels, lower-cased."""
    normalized = domain.strip().lower().rstrip(".")
    labels = normalized.split(".")
    if (
        len(normalized) > _MAX_DOMAIN_LENGTH
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValidationFailed(
            f"{domain!r} is not a valid SIP domain (a DNS name such as acme.sip.example.com)",
            field=field,
            error_id="invalid-sip-domain",
            details={"value": domain},
        )
    return normalized


def check_timezone(name: str, *, field: str = "timezone") -> str:
    """An IANA time zone known to this machine (tzdata)."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValidationFailed(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)",
            field=field,
            error_id="unknown-timezone",
            details={"value": name},
        ) from exc
    return name


def default_sip_domain(slug: str, suffix: str) -> str:
    return check_sip_domain(f"{slug}.{suffix}")


def next_status(current: TenantStatus, action: LifecycleAction) -> TenantStatus:
    """active --suspend--> suspended --resume--> active; anything else is a 409."""
    if action == "suspend":
        if current == "suspended":
            raise PreconditionFailed(
                "the tenant is already suspended",
                error_id="tenant-already-suspended",
                details={"status": current},
            )
        return "suspended"
    if current == "active":
        raise PreconditionFailed(
            "the tenant is not suspended",
            error_id="tenant-not-suspended",
            details={"status": current},
        )
    return "active"


def check_quota(quota: str, *, limit: int, used: int, adding: int = 1) -> None:
    """Refuse with 429 `quota-exceeded` when `used + adding` would pass `limit`."""
    if used + adding > limit:
        raise QuotaExceeded(
            f"the tenant's {quota} quota ({limit}) is reached",
            details={"quota": quota, "limit": limit, "used": used},
        )
