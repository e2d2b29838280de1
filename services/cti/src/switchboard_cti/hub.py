"""Live desktops and supervisor screens of this process, and pushing messages to them.

One desktop per agent: a second connection takes over, and the first one is told why and
closed. Pushing never waits: each connection has its own bounded send queue (see ws.py), so
a slow browser only ever slows itself down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

TAKEOVER_CLOSE_CODE = 4001
"""WebSocket close code sent to a desktop replaced by another one of the same agent."""


class Connection(Protocol):
    """A WebSocket as the hub sees it (see ws.py)."""

    @property
    def connection_id(self) -> str: ...

    def push(self, message: dict[str, Any]) -> None:
        """Queue a message; never blocks."""
        ...

    def close_soon(self, code: int, reason: str) -> None:
        """Send what is queued, then close with `code`."""
        ...


AgentKey = tuple[str, str]


class SessionHub:
    def __init__(self) -> None:
        self._desktops: dict[AgentKey, Connection] = {}
        self._supervisors: dict[str, dict[str, Connection]] = {}

    # ---- desktops -------------------------------------------------------------------------

    def attach_desktop(self, key: AgentKey, connection: Connection) -> Connection | None:
        """Make `connection` the agent's desktop; the one it replaces is told and closed."""
        previous = self._desktops.get(key)
        self._desktops[key] = connection
        if previous is not None and previous is not connection:
            previous.push(
                {
                    "type": "takeover",
                    "reason": "another desktop logged in as this agent; this one is closed",
                }
            )
            previous.close_soon(TAKEOVER_CLOSE_CODE, "taken over by another desktop")
        return previous

    def detach_desktop(self, key: AgentKey, connection: Connection) -> bool:
        """Forget `connection` if it is still the agent's desktop; True if it was."""
        if self._desktops.get(key) is connection:
            del self._desktops[key]
            return True
        return False

    def desktop(self, key: AgentKey) -> Connection | None:
        return self._desktops.get(key)

    def has_desktop(self, key: AgentKey) -> bool:
        return key in self._desktops

    def to_agent(self, key: AgentKey, message: dict[str, Any]) -> bool:
        connection = self._desktops.get(key)
        if connection is None:
            return False
        connection.push(message)
        return True

    @property
    def desktop_count(self) -> int:
        return len(self._desktops)

    # ---- supervisors ----------------------------------------------------------------------

    def attach_supervisor(self, tenant_id: str, connection: Connection) -> None:
        self._supervisors.setdefault(tenant_id, {})[connection.connection_id] = connection

    def detach_supervisor(self, tenant_id: str, connection: Connection) -> None:
        screens = self._supervisors.get(tenant_id)
        if screens is not None:
            screens.pop(connection.connection_id, None)
            if not screens:
                del self._supervisors[tenant_id]

    def supervised_tenants(self) -> Iterator[str]:
        return iter(list(self._supervisors))

    def to_supervisors(self, tenant_id: str, message: dict[str, Any]) -> None:
        for connection in self._supervisors.get(tenant_id, {}).values():
            connection.push(message)
