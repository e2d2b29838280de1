"""Demo provisioning for `switchboard up`: the simulator's two tenants, made real.

Once every service is healthy, `provision_demo` sets up, through the services' public REST
APIs, what the FreeSWITCH simulator's calls need to travel the whole call path: at admin the
tenants acme and globex (with a tenant admin and an API key), the agent users 1001.. with SIP
passwords, the skills the demo flow asks for and a `business-hours` calendar (acme: always
open; globex: office hours in New York), the numbers +12025550100 and +12025550200 pointed at
the IVR flow; at ivr the demo flow, published and bound to the number; at routing the queues
the flow enqueues to; at tickets a few customers (some VIPs, some with an open ticket) whose
phones the simulated callers dial from.

Every step is idempotent (an object that already exists is kept), so `up` may run again on the
same `$SWITCHBOARD_HOME`; the credentials created are kept in `$SWITCHBOARD_HOME/demo.json`.
A step that fails is logged on one line naming the service and the HTTP error, and the others
go on: provisioning never raises.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from switchboard_ivr.domain.demo import DEMO_CALENDAR_ID, demo_flow_text

DEMO_FLOW_ID = "demo-main-line"
DEMO_SKILLS = ("sales", "vip", "after-sales")
DEMO_QUEUES = (("sales", "Sales"), ("support", "Support"))
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIMEOUT_S = 15.0


ALWAYS_OPEN = {day: ["00:00-00:00"] for day in DAYS}
OFFICE_HOURS = {day: ["09:00-17:00"] for day in DAYS[:5]}


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    sip_domain: str
    number: str
    timezone: str
    weekly_hours: Mapping[str, list[str]]


DEMO_TENANTS = (
    DemoTenant("acme", "Acme Corp", "acme.example", "+12025550100", "UTC", ALWAYS_OPEN),
    DemoTenant(
        "globex",
        "Globex Corporation",
        "globex.example",
        "+12025550200",
        "America/New_York",
        OFFICE_HOURS,
    ),
)
"""The demo tenants. Their numbers are valid E.164 ones from the 555-01xx fictional range:
admin and ivr refuse the simulator's built-in +15550100 and +15550200. Acme answers around the
clock; Globex keeps office hours in New York, so after hours its callers reach voicemail."""

SUPERVISOR_USERNAME = "supervisor"
SUPERVISOR_EXTENSION = "1900"
"""Each demo tenant's supervisor; the simulator registers a phone on this extension, so the
supervisor page can listen, whisper and barge with `user/1900@<tenant domain>`."""

DEMO_CUSTOMERS: tuple[tuple[str, str, int, str], ...] = (
    ("Ada Lovelace", "Analytical Engines", 3, "Engine misses a carry"),
    ("Grace Hopper", "US Navy", 2, "Compiler manual out of print"),
    ("Alan Turing", "Bletchley Park", 0, ""),
    ("Katherine Johnson", "NASA", 1, "Trajectory tables late"),
    ("Edsger Dijkstra", "Eindhoven University", 0, ""),
    ("Barbara Liskov", "MIT", 2, ""),
    ("Donald Knuth", "Stanford", 0, "Cheque for an erratum not received"),
    ("Margaret Hamilton", "Draper Lab", 3, ""),
    ("Claude Shannon", "Bell Labs", 0, ""),
    ("Frances Allen", "IBM", 1, "Invoice shows the wrong address"),
)
"""CRM customers of each demo tenant: name, company, VIP level (0-3), an open ticket's subject.
Their phones are the first numbers of the simulator's caller pool, so about a third of the
demo's callers pop with a customer card (VIPs of level 2 and up go to the VIP sales queue)."""
CALLER_POOL = 30

SIMULATED_KEYS = "1=45,2=30,9=10,0=15"
"""What simulated callers press at each prompt: mostly the menu's 1 and 2, sometimes 9
(voicemail) or a wrong key; survey answers come from the same draw."""
SIMULATED_HANDLE_TIME_S = 10.0
"""Mean talk time of the simulated agents: short, so calls reach the survey in a short run."""


def simulator_world_args(
    agents_per_tenant: int, talk_time_s: float = SIMULATED_HANDLE_TIME_S
) -> list[str]:
    """Simulator arguments for the demo world: the tenants' numbers and agent endpoints."""
    args: list[str] = []
    for tenant in DEMO_TENANTS:
        args += ["--number", f"{tenant.number}={tenant.slug}"]
    endpoints = [
        f"{1001 + index}@{tenant.sip_domain}"
        for tenant in DEMO_TENANTS
        for index in range(agents_per_tenant)
    ]
    endpoints += [f"{SUPERVISOR_EXTENSION}@{tenant.sip_domain}" for tenant in DEMO_TENANTS]
    args += ["--agents", ",".join(endpoints)]
    args += ["--keys", SIMULATED_KEYS, "--handle-time", str(talk_time_s)]
    args += ["--caller-pool", str(CALLER_POOL)]
    return args


class StepFailed(Exception):
    """One provisioning step the service refused or could not be asked."""


@dataclass
class DemoReport:
    """What provisioning did: steps done and the one-line reason of each failed one."""

    done: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} {response.text[:200]}"
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            ident = error.get("error_id") or error.get("code") or ""
            message = error.get("message") or error.get("detail") or ""
            return f"HTTP {response.status_code} {ident} {message}".strip()[:300]
        if isinstance(error, str):
            return f"HTTP {response.status_code} {error}: {body.get('message', '')}"[:300]
    return f"HTTP {response.status_code} {json.dumps(body)[:200]}"


class DemoProvisioner:
    """Provisions the demo world against running services (their base URLs by name)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        urls: Mapping[str, str],
        home: Path,
        *,
        operator_token: str,
        agents_per_tenant: int,
        log: Callable[[str], None],
    ) -> None:
        self._client = client
        self._urls = urls
        self._state_path = home / "demo.json"
        self._operator = operator_token
        self._agents = agents_per_tenant
        self._log = log
        self._report = DemoReport()
        self._state: dict[str, Any] = self._load_state()

    # ---- state ------------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"tenants": {}}
        if not isinstance(data, dict) or not isinstance(data.get("tenants"), dict):
            return {"tenants": {}}
        return data

    def _save_state(self) -> None:
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._state, indent=2), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(self._state_path)

    def _tenant_state(self, slug: str) -> dict[str, Any]:
        tenants: dict[str, Any] = self._state["tenants"]
        entry = tenants.setdefault(slug, {})
        entry.setdefault("admin_password", secrets.token_urlsafe(12) + "-A9")
        entry.setdefault("agent_password", secrets.token_urlsafe(12) + "-A9")
        entry.setdefault("supervisor_password", secrets.token_urlsafe(12) + "-A9")
        entry.setdefault("sip_password", secrets.token_urlsafe(12))
        assert isinstance(entry, dict)
        return entry

    # ---- HTTP -------------------------------------------------------------------------------
    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: Any = None,
        content: str | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> httpx.Response:
        url = f"{self._urls[service].rstrip('/')}{path}"
        extra = dict(headers)
        if content is not None:
            extra["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method,
                url,
                json=body if content is None else None,
                content=content,
                headers=extra,
                timeout=TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            raise StepFailed(f"{service}: {method} {path}: {type(exc).__name__} {exc}") from exc
        if response.is_success or response.status_code in ok_statuses:
            return response
        raise StepFailed(f"{service}: {method} {path}: {_error_text(response)}")

    async def _step(self, label: str, action: Callable[[], Any]) -> bool:
        try:
            await action()
        except StepFailed as exc:
            line = f"demo: {label} failed: {exc}"
            self._report.failures.append(line)
            self._log(line)
            return False
        self._report.done += 1
        return True

    # ---- the whole --------------------------------------------------------------------------
    async def provision(self) -> DemoReport:
        for tenant in DEMO_TENANTS:
            await self._provision_tenant(tenant)
        self._save_state()
        return self._report

    async def _provision_tenant(self, tenant: DemoTenant) -> None:
        entry = self._tenant_state(tenant.slug)
        if not await self._step(f"{tenant.slug} tenant", lambda: self._tenant(tenant, entry)):
            self._save_state()
            return
        self._save_state()
        key = {"X-API-Key": str(entry["api_key"])}
        skills: dict[str, str] = {}
        await self._step(f"{tenant.slug} skills", lambda: self._skills(key, skills))
        await self._step(f"{tenant.slug} agents", lambda: self._agent_users(key, entry, skills))
        await self._step(f"{tenant.slug} supervisor", lambda: self._supervisor(key, entry))
        await self._step(f"{tenant.slug} calendar", lambda: self._calendar(key, tenant))
        await self._step(f"{tenant.slug} queues", lambda: self._queues(key))
        await self._step(f"{tenant.slug} customers", lambda: self._customers(key))
        flow_ok = await self._step(f"{tenant.slug} ivr flow", lambda: self._flow(key))
        if flow_ok:
            await self._step(f"{tenant.slug} ivr number", lambda: self._ivr_number(key, tenant))
        await self._step(f"{tenant.slug} admin number", lambda: self._admin_number(key, tenant))

    # ---- admin ------------------------------------------------------------------------------
    async def _tenant(self, tenant: DemoTenant, entry: dict[str, Any]) -> None:
        operator = {"Authorization": f"Bearer {self._operator}"}
        response = await self._call(
            "admin", "GET", f"/v1/tenants/{tenant.slug}", headers=operator, ok_statuses=(404,)
        )
        if response.status_code == 200:
            entry["tenant_id"] = response.json()["id"]
            if not entry.get("api_key"):
                raise StepFailed(
                    f"admin: tenant {tenant.slug} exists but its API key is not in "
                    f"{self._state_path}"
                )
            return
        response = await self._call(
            "admin",
            "POST",
            "/v1/tenants",
            headers=operator,
            body={
                "slug": tenant.slug,
                "name": tenant.name,
                "sip_domain": tenant.sip_domain,
                "quotas": {"max_concurrent_calls": 100, "max_agents": 50, "max_queues": 20},
                "admin": {"username": "admin", "password": entry["admin_password"]},
                "create_api_key": True,
            },
        )
        created = response.json()
        entry["tenant_id"] = created["tenant"]["id"]
        entry["api_key"] = created["api_key"]["key"]

    async def _skills(self, key: Mapping[str, str], skills: dict[str, str]) -> None:
        existing = await self._call("admin", "GET", "/v1/skills?limit=100", headers=key)
        for item in _items(existing.json()):
            skills[str(item["name"])] = str(item["id"])
        for name in DEMO_SKILLS:
            if name not in skills:
                created = await self._call(
                    "admin", "POST", "/v1/skills", headers=key, body={"name": name}
                )
                skills[name] = str(created.json()["id"])

    async def _users(self, key: Mapping[str, str]) -> list[dict[str, Any]]:
        existing = await self._call("admin", "GET", "/v1/users?limit=200", headers=key)
        return _items(existing.json())

    async def _create_user(self, key: Mapping[str, str], body: Mapping[str, Any]) -> None:
        await self._call("admin", "POST", "/v1/users", headers=key, body=body)

    async def _agent_users(
        self, key: Mapping[str, str], entry: dict[str, Any], skills: Mapping[str, str]
    ) -> None:
        taken = {str(item.get("extension")) for item in await self._users(key)}
        for index in range(self._agents):
            extension = str(1001 + index)
            if extension in taken:
                continue
            await self._create_user(
                key,
                {
                    "username": extension,
                    "password": entry["agent_password"],
                    "display_name": f"Agent {extension}",
                    "roles": ["agent"],
                    "extension": extension,
                    "sip_password": entry["sip_password"],
                    "skills": {skill_id: 5 for skill_id in skills.values()},
                },
            )

    async def _supervisor(self, key: Mapping[str, str], entry: dict[str, Any]) -> None:
        if any(item.get("username") == SUPERVISOR_USERNAME for item in await self._users(key)):
            return
        await self._create_user(
            key,
            {
                "username": SUPERVISOR_USERNAME,
                "password": entry["supervisor_password"],
                "display_name": "Demo supervisor",
                "roles": ["supervisor"],
                "extension": SUPERVISOR_EXTENSION,
                "sip_password": entry["sip_password"],
            },
        )

    async def _calendar(self, key: Mapping[str, str], tenant: DemoTenant) -> None:
        existing = await self._call("admin", "GET", "/v1/calendars?limit=100", headers=key)
        if any(item.get("name") == DEMO_CALENDAR_ID for item in _items(existing.json())):
            return
        await self._call(
            "admin",
            "POST",
            "/v1/calendars",
            headers=key,
            body={
                "name": DEMO_CALENDAR_ID,
                "timezone": tenant.timezone,
                "weekly": dict(tenant.weekly_hours),
            },
        )

    async def _admin_number(self, key: Mapping[str, str], tenant: DemoTenant) -> None:
        existing = await self._call("admin", "GET", "/v1/numbers?limit=100", headers=key)
        if any(item.get("number") == tenant.number for item in _items(existing.json())):
            return
        await self._call(
            "admin",
            "POST",
            "/v1/numbers",
            headers=key,
            body={
                "number": tenant.number,
                "label": f"{tenant.name} main line",
                "target_kind": "ivr_flow",
                "target_id": DEMO_FLOW_ID,
            },
        )

    # ---- routing ----------------------------------------------------------------------------
    async def _queues(self, key: Mapping[str, str]) -> None:
        for queue_id, name in DEMO_QUEUES:
            found = await self._call(
                "routing", "GET", f"/v1/queues/{queue_id}", headers=key, ok_statuses=(404,)
            )
            if found.status_code == 200:
                continue
            await self._call(
                "routing",
                "POST",
                "/v1/queues",
                headers=key,
                body={
                    "id": queue_id,
                    "name": name,
                    "strategy": "longest-idle",
                    "ring_timeout_seconds": 15,
                    "wrap_up_seconds": 2,
                    "service_level_seconds": 20,
                },
            )

    # ---- tickets ----------------------------------------------------------------------------
    async def _customers(self, key: Mapping[str, str]) -> None:
        for index, (name, company, vip_level, open_ticket) in enumerate(DEMO_CUSTOMERS):
            phone = f"+1202555{1000 + index:04d}"
            found = await self._call(
                "tickets", "GET", f"/v1/customers?phone={quote(phone)}&limit=1", headers=key
            )
            if _items(found.json()):
                continue
            created = await self._call(
                "tickets",
                "POST",
                "/v1/customers",
                headers=key,
                body={"name": name, "company": company, "phones": [phone], "vip_level": vip_level},
            )
            if open_ticket:
                await self._call(
                    "tickets",
                    "POST",
                    "/v1/tickets",
                    headers=key,
                    body={"subject": open_ticket, "customer_id": created.json()["id"]},
                )

    # ---- ivr --------------------------------------------------------------------------------
    async def _flow(self, key: Mapping[str, str]) -> None:
        found = await self._call(
            "ivr", "GET", f"/v1/flows/{DEMO_FLOW_ID}", headers=key, ok_statuses=(404,)
        )
        if found.status_code == 200 and found.json().get("published_version"):
            return
        if found.status_code == 404:
            await self._call("ivr", "POST", "/v1/flows", headers=key, content=demo_flow_text())
        await self._call("ivr", "POST", f"/v1/flows/{DEMO_FLOW_ID}/publish", headers=key)

    async def _ivr_number(self, key: Mapping[str, str], tenant: DemoTenant) -> None:
        await self._call(
            "ivr",
            "PUT",
            f"/v1/numbers/{tenant.number}",
            headers=key,
            body={"flow_id": DEMO_FLOW_ID},
        )


def _items(body: Any) -> list[dict[str, Any]]:
    """The items of a list answer, paged (`{"items": [...]}`) or plain."""
    items = body.get("items", []) if isinstance(body, dict) else body
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


async def provision_demo(
    client: httpx.AsyncClient,
    urls: Mapping[str, str],
    home: Path,
    *,
    operator_token: str,
    agents_per_tenant: int,
    log: Callable[[str], None],
) -> DemoReport:
    """Provision the demo world; never raises for what a service answers."""
    provisioner = DemoProvisioner(
        client,
        urls,
        home,
        operator_token=operator_token,
        agents_per_tenant=agents_per_tenant,
        log=log,
    )
    return await provisioner.provision()
