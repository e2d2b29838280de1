"""`Simulator`: the world plus its servers, startable on port 0 and controllable from tests."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from switchboard_simulator.config import AgentEndpoint, TenantNumber, WorldConfig
from switchboard_simulator.server import SimulatorServer, XmlCurlResolver, serve_stats
from switchboard_simulator.world import World


@dataclass(slots=True)
class SimulatorConfig:
    """The world's configuration plus where and how to serve it."""

    world: WorldConfig = field(default_factory=WorldConfig)
    host: str = "127.0.0.1"
    esl_port: int = 8021
    password: str = "ClueCon"
    speed: float = 1.0
    dialplan_url: str | None = None
    dialplan_secret: str | None = None
    stats_port: int | None = None
    duration_s: float | None = None
    start_traffic: bool = True


class Simulator:
    """A running simulated FreeSWITCH node."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.world = World(config.world)
        self._server: SimulatorServer | None = None
        self._stats: asyncio.Server | None = None
        self._resolver: XmlCurlResolver | None = None

    @property
    def esl_port(self) -> int:
        return self._server.port if self._server is not None else self.config.esl_port

    @property
    def resolver(self) -> XmlCurlResolver | None:
        """The mod_xml_curl client, when a dialplan URL is configured."""
        return self._resolver

    @property
    def stats_port(self) -> int | None:
        if self._stats is None:
            return None
        port: int = self._stats.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        if self.config.dialplan_url:
            self._resolver = XmlCurlResolver(
                self.config.dialplan_url,
                lambda: self._server.driver if self._server is not None else None,
                self.world.static_dialplan,
                secret=self.config.dialplan_secret,
            )
            self.world.resolver = self._resolver
        self._server = SimulatorServer(
            self.world,
            password=self.config.password,
            host=self.config.host,
            port=self.config.esl_port,
            speed=self.config.speed,
        )
        await self._server.start()
        if self.config.stats_port is not None:
            self._stats = await serve_stats(self.stats, self.config.host, self.config.stats_port)
        self.world.start_heartbeat()
        if self.config.start_traffic:
            self.world.start_traffic(self.config.duration_s)

    async def stop(self) -> None:
        if self._stats is not None:
            self._stats.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._stats.wait_closed(), timeout=2)
        if self._server is not None:
            await self._server.stop()
        if self._resolver is not None:
            await self._resolver.close()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _sync(self) -> None:
        if self._server is not None:
            self._server.driver.sync()

    # ------------------------------------------------------------ control

    def place_call(self, destination: str, caller_id: str | None = None) -> str:
        """A caller dials `destination` now; returns the caller channel's uuid."""
        self._sync()
        return self.world.place_call(destination, caller_id)

    def set_agent(self, agent: AgentEndpoint) -> None:
        """Register, unregister or change an agent endpoint's behaviour."""
        self.world.set_agent(agent)

    def add_number(self, number: TenantNumber) -> None:
        self.world.add_number(number)

    def press_dtmf(self, uuid: str, digits: str) -> bool:
        """The caller on `uuid` presses keys; False when there is no such channel."""
        self._sync()
        channel = self.world.channels.get(uuid)
        if channel is None or channel.hung_up:
            return False
        self.world.receive_dtmf(channel, digits, source="INBAND_AUDIO")
        return True

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> bool:
        """The party on `uuid` hangs up; False when there is no such channel."""
        self._sync()
        channel = self.world.channels.get(uuid)
        if channel is None or channel.hung_up:
            return False
        self.world.hangup(channel, cause)
        return True

    def stats(self) -> dict[str, Any]:
        """The simulator's own truth: calls placed, answered, bridged, abandoned, ended."""
        self._sync()
        report = self.world.truth.report()
        report["channels"] = len(self.world.channels)
        if self._resolver is not None:
            report["dialplan_requests"] = self._resolver.requests
            report["dialplan_fallbacks"] = self._resolver.fallbacks
        return report


async def run_simulator(config: SimulatorConfig, stop: asyncio.Event | None = None) -> Simulator:
    """Run until `stop` is set (or for `duration_s` plus a grace period), then stop.

    Returns the stopped simulator so its truth report can still be read.
    """
    simulator = Simulator(config)
    await simulator.start()
    try:
        if stop is not None:
            await stop.wait()
        elif config.duration_s is not None:
            await asyncio.sleep(config.duration_s / max(config.speed, 1e-9) + 1)
        else:
            await asyncio.Event().wait()
    finally:
        await simulator.stop()
    return simulator
