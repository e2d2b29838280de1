"""What cti keeps of other services' configuration: tenants (slug, cti policy) and queues
(name, wrap-up timer), fed by config events and persisted, so a restart needs no replay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from switchboard_common.errors import NotFound, ValidationFailed
from switchboard_cti.domain.policy import TenantPolicy
from switchboard_cti.repository import CtiRepository


@dataclass(frozen=True, slots=True)
class QueueInfo:
    queue_id: str
    name: str
    wrap_up_s: float
    version: int


class UnknownQueue(NotFound):
    error_id = "no-such-queue"


class Directory:
    def __init__(self, repository: CtiRepository) -> None:
        self._repository = repository
        self._policies: dict[str, TenantPolicy] = {}
        self._slugs: dict[str, str] = {}
        self._queues: dict[str, dict[str, QueueInfo]] = {}
        self._skill_names: dict[str, dict[str, str]] = {}
        self._sip_domains: dict[str, str] = {}

    async def load(self) -> None:
        for row in await self._repository.load_tenants():
            if row["slug"]:
                self._slugs[row["slug"]] = row["tenant_id"]
            if row["policy"]:
                self._policies[row["tenant_id"]] = TenantPolicy.model_validate(row["policy"])
            if row.get("sip_domain"):
                self._sip_domains[row["tenant_id"]] = row["sip_domain"]
        for row in await self._repository.load_queues():
            self._queues.setdefault(row["tenant_id"], {})[row["queue_id"]] = QueueInfo(
                row["queue_id"], row["name"], float(row["wrap_up_s"]), int(row["version"])
            )

    # ---- tenants --------------------------------------------------------------------------

    def policy(self, tenant_id: str) -> TenantPolicy:
        return self._policies.get(tenant_id) or TenantPolicy()

    async def set_policy(self, tenant_id: str, document: dict[str, Any]) -> TenantPolicy:
        try:
            policy = TenantPolicy.model_validate(document)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(part) for part in first.get("loc", ())) or "policy"
            raise ValidationFailed(
                f"{field}: {first.get('msg', 'invalid')}", field=field, error_id="invalid-policy"
            ) from None
        async with self._repository.transaction() as connection:
            await self._repository.save_tenant(
                connection,
                tenant_id,
                slug=self.slug_of(tenant_id),
                policy=policy.model_dump(mode="json"),
                sip_domain=self._sip_domains.get(tenant_id),
            )
        self._policies[tenant_id] = policy
        return policy

    def slug_of(self, tenant_id: str) -> str | None:
        return next((slug for slug, tid in self._slugs.items() if tid == tenant_id), None)

    def tenant_for(self, slug_or_id: str) -> str:
        """The tenant id of a slug seen in admin's events, else the value itself."""
        return self._slugs.get(slug_or_id, slug_or_id)

    def sip_domain(self, tenant_id: str) -> str | None:
        """The SIP domain the tenant's agents register in (from admin's tenant events)."""
        return self._sip_domains.get(tenant_id)

    async def tenant_seen(self, tenant_id: str, slug: str, sip_domain: str | None = None) -> None:
        domain = sip_domain or self._sip_domains.get(tenant_id)
        if self._slugs.get(slug) == tenant_id and self._sip_domains.get(tenant_id) == domain:
            return
        self._slugs[slug] = tenant_id
        if domain:
            self._sip_domains[tenant_id] = domain
        policy = self._policies.get(tenant_id)
        async with self._repository.transaction() as connection:
            await self._repository.save_tenant(
                connection,
                tenant_id,
                slug=slug,
                policy=policy.model_dump(mode="json") if policy else None,
                sip_domain=domain,
            )

    async def tenant_deleted(self, tenant_id: str) -> None:
        self._policies.pop(tenant_id, None)
        self._queues.pop(tenant_id, None)
        self._skill_names.pop(tenant_id, None)
        self._sip_domains.pop(tenant_id, None)
        for slug in [s for s, t in self._slugs.items() if t == tenant_id]:
            del self._slugs[slug]
        async with self._repository.transaction() as connection:
            await self._repository.delete_tenant(connection, tenant_id)

    # ---- skills ---------------------------------------------------------------------------

    def skill_changed(self, tenant_id: str, skill_id: str, name: str, *, deleted: bool) -> None:
        names = self._skill_names.setdefault(tenant_id, {})
        if deleted:
            names.pop(skill_id, None)
        else:
            names[skill_id] = name

    def skill_name(self, tenant_id: str, skill_id: str) -> str:
        """The name of one of admin's skills (routing matches skills by name), else its id."""
        return self._skill_names.get(tenant_id, {}).get(skill_id, skill_id)

    # ---- queues ---------------------------------------------------------------------------

    def queue(self, tenant_id: str, queue_id: str) -> QueueInfo | None:
        return self._queues.get(tenant_id, {}).get(queue_id)

    def require_queue(self, tenant_id: str, queue_id: str) -> QueueInfo:
        info = self.queue(tenant_id, queue_id)
        if info is None:
            raise UnknownQueue(
                f"no queue {queue_id}", details={"field": "target", "queue_id": queue_id}
            )
        return info

    def queues(self, tenant_id: str) -> list[QueueInfo]:
        return sorted(self._queues.get(tenant_id, {}).values(), key=lambda q: q.queue_id)

    def queue_names(self, tenant_id: str) -> dict[str, str]:
        return {q.queue_id: q.name for q in self.queues(tenant_id)}

    def wrap_up_s(self, tenant_id: str, queue_id: str | None) -> float:
        info = self.queue(tenant_id, queue_id) if queue_id else None
        if info is not None:
            return info.wrap_up_s
        return self.policy(tenant_id).default_wrap_up_s

    async def queue_changed(self, tenant_id: str, queue_id: str, version: int, config: Any) -> None:
        known = self.queue(tenant_id, queue_id)
        if known is not None and known.version > version:
            return
        name = str(config.get("name") or queue_id) if isinstance(config, dict) else queue_id
        wrap = config.get("wrap_up_seconds", 0.0) if isinstance(config, dict) else 0.0
        info = QueueInfo(queue_id, name, float(wrap or 0.0), version)
        async with self._repository.transaction() as connection:
            await self._repository.save_queue(
                connection,
                tenant_id,
                queue_id,
                name=info.name,
                wrap_up_s=info.wrap_up_s,
                version=version,
            )
        self._queues.setdefault(tenant_id, {})[queue_id] = info

    async def queue_deleted(self, tenant_id: str, queue_id: str) -> None:
        self._queues.get(tenant_id, {}).pop(queue_id, None)
        async with self._repository.transaction() as connection:
            await self._repository.delete_queue(connection, tenant_id, queue_id)
