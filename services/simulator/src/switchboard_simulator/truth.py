"""What really happened in the simulated world, counted by the simulator itself.

Tests compare these figures with what the platform reports (calls offered, answered,
bridged to an agent, abandoned...), so they are counted where the facts are decided.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

_UNROUTED = "_unrouted"


@dataclass(slots=True)
class TenantTruth:
    placed: int = 0
    rejected: int = 0
    answered: int = 0
    parked: int = 0
    bridged: int = 0
    bridged_to_agent: int = 0
    abandoned: int = 0
    ended: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "placed": self.placed,
            "rejected": self.rejected,
            "answered": self.answered,
            "parked": self.parked,
            "bridged": self.bridged,
            "bridged_to_agent": self.bridged_to_agent,
            "abandoned": self.abandoned,
            "ended": self.ended,
        }


@dataclass(slots=True)
class AgentTruth:
    offered: int = 0
    answered: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    bridged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "failed": dict(self.failed),
            "bridged": self.bridged,
        }


class Truth:
    """Counters per tenant and per agent endpoint, keyed by the caller's channel."""

    def __init__(self) -> None:
        self.tenants: dict[str, TenantTruth] = {}
        self.agents: dict[str, AgentTruth] = {}
        self.hangup_causes: Counter[str] = Counter()
        self.recordings = 0
        self._call_tenant: dict[str, str] = {}
        self._call_number: dict[str, str] = {}
        self._answered: set[str] = set()
        self._parked: set[str] = set()
        self._bridged: set[str] = set()
        self._abandoned: set[str] = set()

    def _tenant(self, uuid: str) -> TenantTruth | None:
        tenant = self._call_tenant.get(uuid)
        if tenant is None:
            return None
        return self.tenants.setdefault(tenant, TenantTruth())

    def _agent(self, key: str) -> AgentTruth:
        return self.agents.setdefault(key, AgentTruth())

    def call_placed(self, uuid: str, number: str) -> None:
        self._call_tenant[uuid] = _UNROUTED
        self._call_number[uuid] = number
        self.tenants.setdefault(_UNROUTED, TenantTruth()).placed += 1

    def call_routed(self, uuid: str, tenant: str) -> None:
        if self._call_tenant.get(uuid) != _UNROUTED:
            return
        self.tenants[_UNROUTED].placed -= 1
        self._call_tenant[uuid] = tenant
        self.tenants.setdefault(tenant, TenantTruth()).placed += 1

    def call_rejected(self, uuid: str) -> None:
        record = self._tenant(uuid)
        if record is not None:
            record.rejected += 1

    def call_answered(self, uuid: str) -> None:
        record = self._tenant(uuid)
        if record is not None and uuid not in self._answered:
            self._answered.add(uuid)
            record.answered += 1

    def call_parked(self, uuid: str, tenant: str) -> None:
        record = self._tenant(uuid)
        if record is not None and uuid not in self._parked:
            self._parked.add(uuid)
            record.parked += 1

    def call_bridged(self, first: str, second: str, agent_key: str | None) -> None:
        for uuid in (first, second):
            record = self._tenant(uuid)
            if record is None or uuid in self._bridged:
                continue
            self._bridged.add(uuid)
            record.bridged += 1
            if agent_key is not None:
                record.bridged_to_agent += 1
        if agent_key is not None:
            self._agent(agent_key).bridged += 1

    def call_abandoned(self, uuid: str) -> None:
        record = self._tenant(uuid)
        if record is not None and uuid not in self._abandoned:
            self._abandoned.add(uuid)
            record.abandoned += 1

    def channel_ended(self, uuid: str, cause: str) -> None:
        self.hangup_causes[cause] += 1
        record = self._tenant(uuid)
        if record is not None:
            record.ended += 1
            self._call_tenant.pop(uuid, None)

    def agent_offered(self, key: str) -> None:
        self._agent(key).offered += 1

    def agent_answered(self, key: str) -> None:
        self._agent(key).answered += 1

    def agent_failed(self, key: str, cause: str) -> None:
        self._agent(key).failed[cause] += 1

    def recording_started(self, uuid: str) -> None:
        self.recordings += 1

    def report(self) -> dict[str, Any]:
        """A JSON-ready summary: totals, per tenant, per agent endpoint, hang-up causes."""
        tenants = {
            name: record.as_dict()
            for name, record in self.tenants.items()
            if name != _UNROUTED or record.placed
        }
        totals: Counter[str] = Counter()
        for record in self.tenants.values():
            totals.update(record.as_dict())
        return {
            "calls_placed": totals["placed"],
            "calls_answered": totals["answered"],
            "calls_bridged_to_agent": totals["bridged_to_agent"],
            "calls_abandoned": totals["abandoned"],
            "calls_rejected": totals["rejected"],
            "calls_ended": totals["ended"],
            "totals": dict(totals),
            "tenants": tenants,
            "agents": {key: record.as_dict() for key, record in self.agents.items()},
            "hangup_causes": dict(self.hangup_causes),
            "recordings": self.recordings,
            "active_calls": len(self._call_tenant),
        }
