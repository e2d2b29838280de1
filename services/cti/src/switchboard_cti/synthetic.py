"""Synthetic agents: the demo's agents, working through the same WebSocket API as a person.

Each one connects to this process's `/v1/agents/ws` with its own token, goes available,
takes what routing offers (its simulated phone answers and hangs up), files the wrap-up
with a disposition after a few seconds, sometimes takes a short break, and reconnects if
the socket drops. When a person logs in as one of them (a desktop takeover), that synthetic
agent stands down for good and leaves the person the agent's calls. Tokens come from admin's
login when `CTI_SYNTHETIC_PASSWORD` is set; otherwise, in development only, they are minted
with the shared JWT secret.

Which agents: the agent users admin announced for each synthetic tenant (by extension),
topped up with `synthetic-<n>` agents (extension 1001, 1002, ...) when there are fewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import websockets

from switchboard_common.auth import issue_access_token
from switchboard_common.errors import ConfigurationError
from switchboard_cti.services import AgentsService
from switchboard_cti.settings import CtiSettings

log = logging.getLogger(__name__)

AGENT_PERMISSIONS = ("calls:control", "calls:read", "tickets:read", "tickets:write")
TokenSource = Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Behaviour:
    wrap_up_s: tuple[float, float] = (2.0, 6.0)
    break_probability: float = 0.05
    break_s: tuple[float, float] = (5.0, 15.0)
    missed_pause_s: float = 2.0
    reconnect_s: tuple[float, float] = (0.5, 5.0)


class SyntheticAgent:
    """One demo agent's loop over the desktop WebSocket."""

    def __init__(
        self,
        agent_id: str,
        url: str,
        token: TokenSource,
        *,
        rng: random.Random,
        behaviour: Behaviour,
    ) -> None:
        self.agent_id = agent_id
        self._url = url
        self._token = token
        self._rng = rng
        self._b = behaviour
        self._ids = 0
        self.calls_taken = 0
        self.wrap_ups = 0
        self._pending: asyncio.Task[None] | None = None
        self._policy: dict[str, Any] = {}
        self._handled: tuple[Any, ...] = ()
        self.stood_down = False
        """A person logged in as this agent (takeover): the synthetic one leaves them be."""

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self.agent_id}-{self._ids}"

    async def run(self, stop: asyncio.Event) -> None:
        delay = self._b.reconnect_s[0]
        while not stop.is_set() and not self.stood_down:
            try:
                token = await self._token()
                async with websockets.connect(f"{self._url}?token={token}") as socket:
                    delay = self._b.reconnect_s[0]
                    await self._session(socket, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("synthetic agent %s: %s; reconnecting in %.1fs", self.agent_id, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self._b.reconnect_s[1])

    async def _session(self, socket: Any, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(socket.recv())
                done, _ = await asyncio.wait(
                    {receiving, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    receiving.cancel()
                    return
                await self._on_message(socket, orjson.loads(receiving.result()))
                if self.stood_down:
                    return
        finally:
            stopping.cancel()
            self._handled = ()
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None

    async def _send(self, socket: Any, cmd: str, **arguments: Any) -> None:
        await socket.send(orjson.dumps({"id": self._next_id(), "cmd": cmd, **arguments}).decode())

    def _later(self, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        if self._pending is not None:
            self._pending.cancel()

        async def wait_then() -> None:
            await asyncio.sleep(delay)
            await action()

        self._pending = asyncio.ensure_future(wait_then())

    async def _on_message(self, socket: Any, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "hello":
            self._policy = message.get("policy") or {}
            await self._on_agent(socket, message["agent"])
        elif kind == "agent":
            await self._on_agent(socket, message["agent"])
        elif kind == "pop":
            self.calls_taken += 1
        elif kind == "takeover":
            self.stood_down = True
            log.info(
                "synthetic agent %s: a person took over this desktop; standing down",
                self.agent_id,
            )
        elif kind == "reply" and not message.get("ok"):
            log.debug("synthetic agent %s: %s", self.agent_id, message.get("error"))

    async def _on_agent(self, socket: Any, agent: dict[str, Any]) -> None:
        state, reason = agent["state"], agent.get("reason", "")
        moment = (state, reason, agent.get("since"))
        if moment == self._handled:
            return
        self._handled = moment
        b = self._b

        async def go_available() -> None:
            await self._send(socket, "set_state", state="available")

        if state == "logged_out" or (state == "not_ready" and reason != "break"):
            self._later(b.missed_pause_s if reason == "missed" else 0.1, go_available)
        elif state == "not_ready":
            self._later(self._rng.uniform(*b.break_s), go_available)
        elif state == "wrap_up":
            self._later(self._rng.uniform(*b.wrap_up_s), lambda: self._wrap_up(socket))

    async def _wrap_up(self, socket: Any) -> None:
        dispositions = self._policy.get("dispositions") or ["resolved"]
        reasons = self._policy.get("not_ready_reasons") or []
        take_break = bool(reasons) and "break" in reasons
        take_break = take_break and self._rng.random() < self._b.break_probability
        self.wrap_ups += 1
        await self._send(
            socket,
            "wrap_up",
            disposition=self._rng.choice(dispositions),
            notes="handled by a synthetic agent",
            next_state="not_ready" if take_break else "available",
            reason="break" if take_break else "",
        )


class SyntheticAgents:
    """Component started by main.py when `CTI_SYNTHETIC_AGENTS` > 0."""

    def __init__(
        self,
        settings: CtiSettings,
        agents: AgentsService,
        *,
        url: str | None = None,
        start_delay_s: float = 2.0,
    ) -> None:
        if not settings.synthetic_password.get_secret_value() and (
            settings.environment != "development"
        ):
            raise ConfigurationError(
                "cti: CTI_SYNTHETIC_AGENTS needs CTI_SYNTHETIC_PASSWORD outside development "
                "(tokens are only minted locally in development)"
            )
        self._settings = settings
        self._agents = agents
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
        self._url = url or f"ws://{host}:{settings.http_port}/v1/agents/ws"
        self._start_delay_s = start_delay_s
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.members: list[SyntheticAgent] = []

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name="cti-synthetic-agents")

    async def stop(self) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, 5.0)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self._start_delay_s)
        rng = random.Random(self._settings.synthetic_seed)
        behaviour = Behaviour(wrap_up_s=self._settings.synthetic_talk_wrap_s)
        for slug in self._settings.synthetic_tenants:
            tenant_id = await self._await_directory(slug)
            for agent_id in await self._pick_agents(tenant_id):
                self.members.append(
                    SyntheticAgent(
                        agent_id,
                        self._url,
                        self._token_source(slug, tenant_id, agent_id),
                        rng=random.Random(rng.random()),
                        behaviour=behaviour,
                    )
                )
        log.info("%d synthetic agents starting", len(self.members))
        await asyncio.gather(*(member.run(self._stop) for member in self.members))

    async def _await_directory(self, slug: str) -> str:
        """The tenant id of `slug` once admin's events named the tenant and announced its agent
        users, or what is known after `synthetic_directory_wait_s` (the demo's tenants may be
        provisioned after this process starts)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.synthetic_directory_wait_s
        while True:
            tenant_id = self._agents.directory.tenant_for(slug)
            known = [r for r in self._agents.agents(tenant_id) if r.extension]
            named = tenant_id != slug or bool(known)
            if named and len(known) >= self._settings.synthetic_agents:
                return tenant_id
            if self._stop.is_set() or loop.time() >= deadline:
                return tenant_id
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.5)

    async def _pick_agents(self, tenant_id: str) -> list[str]:
        wanted = self._settings.synthetic_agents
        known = [r for r in self._agents.agents(tenant_id) if r.extension]
        known.sort(key=lambda r: r.extension or "")
        chosen = [r.agent_id for r in known[:wanted]]
        for index in range(len(chosen), wanted):
            agent_id = f"synthetic-{index + 1}"
            await self._agents.update_profile(
                tenant_id,
                agent_id,
                display_name=f"Synthetic agent {index + 1}",
                extension=str(1001 + index),
                all_queues=True,
            )
            chosen.append(agent_id)
        return chosen

    def _token_source(self, slug: str, tenant_id: str, agent_id: str) -> TokenSource:
        settings = self._settings
        password = settings.synthetic_password.get_secret_value()

        async def minted() -> str:
            return issue_access_token(
                settings.jwt_secret,
                kind="user",
                subject=agent_id,
                tenant_id=tenant_id,
                roles=["agent"],
                permissions=AGENT_PERMISSIONS,
                ttl=timedelta(hours=12),
            ).token

        async def logged_in() -> str:
            record = self._agents.find(tenant_id, agent_id)
            username = settings.synthetic_username_template.format(
                agent_id=agent_id, extension=(record.extension if record else None) or agent_id
            )
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(
                    f"{settings.admin_url.rstrip('/')}/v1/auth/login",
                    json={"tenant": slug, "username": username, "password": password},
                )
            response.raise_for_status()
            return str(response.json()["access_token"])

        return logged_in if password else minted
