"""The permission catalog, the built-in roles and the rules for granting permissions.

Permissions are named `<resource>:<action>`. Every service checks them with
`switchboard_common.auth.require(...)`; this catalog is the one list a tenant may grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from switchboard_common.errors import Forbidden, ValidationFailed

PERMISSIONS: dict[str, str] = {
    "tenant:read": "read the tenant's own settings and quotas",
    "users:read": "list and read users",
    "users:write": "create, change and delete users",
    "roles:read": "list and read roles",
    "roles:write": "create, change and delete roles",
    "api_keys:read": "list API keys (never their secrets)",
    "api_keys:write": "create and revoke API keys",
    "numbers:read": "list phone numbers",
    "numbers:write": "assign, re-route and release phone numbers",
    "skills:read": "list skills",
    "skills:write": "create, change and delete skills",
    "calendars:read": "read business-hours calendars",
    "calendars:write": "create, change and delete business-hours calendars",
    "audit:read": "query the audit log",
    "ivr:read": "read IVR flows",
    "ivr:write": "create and publish IVR flows",
    "queues:read": "read queues and their live state",
    "queues:write": "create and change queues",
    "agents:read": "see agents and their states",
    "agents:write": "change other agents' states (log out, not ready)",
    "calls:read": "see calls in progress",
    "calls:control": "answer, hold, transfer, conference and hang up calls",
    "supervise:listen": "listen to an agent's call",
    "supervise:whisper": "speak to the agent only during a call",
    "supervise:barge": "join an agent's call",
    "recordings:read": "list and play recordings",
    "recordings:write": "change the recording policy, delete recordings",
    "tickets:read": "read tickets",
    "tickets:write": "create and update tickets",
    "tickets:configure": "configure ticket categories, departments and SLA policies",
    "customers:read": "read customer records",
    "customers:write": "create and update customer records",
    "reports:read": "wallboards, historical reports and CDRs",
    "alerts:write": "define alert rules",
}

AGENT_ROLE = "agent"
SUPERVISOR_ROLE = "supervisor"
TENANT_ADMIN_ROLE = "tenant-admin"

_AGENT_PERMISSIONS = frozenset(
    {
        "calls:read",
        "calls:control",
        "tickets:read",
        "tickets:write",
        "customers:read",
        "customers:write",
        "skills:read",
        "queues:read",
    }
)
_SUPERVISOR_PERMISSIONS = _AGENT_PERMISSIONS | {
    "agents:read",
    "agents:write",
    "users:read",
    "numbers:read",
    "calendars:read",
    "ivr:read",
    "recordings:read",
    "reports:read",
    "supervise:listen",
    "supervise:whisper",
    "supervise:barge",
}


@dataclass(frozen=True, slots=True)
class BuiltinRole:
    name: str
    description: str
    permissions: frozenset[str]


BUILTIN_ROLES: dict[str, BuiltinRole] = {
    role.name: role
    for role in (
        BuiltinRole(AGENT_ROLE, "takes calls and works tickets", _AGENT_PERMISSIONS),
        BuiltinRole(
            SUPERVISOR_ROLE,
            "watches queues and agents, listens in, reads reports",
            _SUPERVISOR_PERMISSIONS,
        ),
        BuiltinRole(TENANT_ADMIN_ROLE, "manages everything of the tenant", frozenset(PERMISSIONS)),
    )
}


def validate_permissions(names: Iterable[str], *, field: str = "permissions") -> tuple[str, ...]:
    """Sorted, de-duplicated permissions; 422 `unknown-permission` naming the first unknown."""
    given = list(names)
    for index, name in enumerate(given):
        if name not in PERMISSIONS:
            raise ValidationFailed(
                f"unknown permission {name!r}",
                field=field,
                error_id="unknown-permission",
                details={"permission": name, "index": index},
            )
    return tuple(sorted(set(given)))


def ensure_can_grant(granter: frozenset[str], granted: Iterable[str]) -> None:
    """Nobody hands out a permission they do not hold themselves (no privilege escalation)."""
    for name in sorted(set(granted)):
        if name not in granter:
            raise Forbidden(
                f"cannot grant {name}: the caller does not hold it",
                details={"permission": name},
            )


def union_of(permission_sets: Iterable[Iterable[str]]) -> frozenset[str]:
    merged: set[str] = set()
    for permissions in permission_sets:
        merged.update(permissions)
    return frozenset(merged)
