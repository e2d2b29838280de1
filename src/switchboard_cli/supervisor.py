"""`switchboard up`: every service as its own process on one machine, under one supervisor.

The supervisor starts the Kafka-protocol broker (unless `KAFKA_BOOTSTRAP_SERVERS` is set) and
the FreeSWITCH simulator (unless `FREESWITCH_ESL` is set), then each service with its ports in
its environment; it polls `/health`, restarts a crashed service with backoff, writes
`$SWITCHBOARD_HOME/services.json`, and stops everything in reverse order on Ctrl-C or after
`--duration` seconds, ending with one `summary: key=value ...` line.

Once every service is healthy it provisions the demo world (`switchboard_cli.demo`) so that
the simulator's calls travel the whole call path; the summary adds the IVR's and routing's
figures from their `GET /v1/internal/stats` (0 when a figure is missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from switchboard_cli.demo import SIMULATED_HANDLE_TIME_S, provision_demo, simulator_world_args
from switchboard_common.settings import DEV_SECRET

SERVICES: tuple[tuple[str, str, int, int], ...] = (
    ("admin", "ADMIN_", 8108, 9108),
    ("tickets", "TICKETS_", 8106, 9106),
    ("routing", "ROUTING_", 8103, 9103),
    ("cti", "CTI_", 8104, 9104),
    ("ivr", "IVR_", 8102, 9102),
    ("recording", "RECORDING_", 8105, 9105),
    ("reporting", "REPORTING_", 8107, 9107),
    ("switch", "SWITCH_", 8101, 9101),
)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)

DEMO_ENV: dict[str, str] = {
    "IVR_PROMPT_FALLBACK_TEMPLATE": "ivr/{language}/{prompt}.wav",
    "CTI_SYNTHETIC_DIRECTORY_WAIT_S": "120",
}
"""Settings the demo needs in every child (an environment variable already set wins)."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pick_port(preferred: int, taken: set[int]) -> int:
    """The preferred port when it is free, else any free loopback port."""
    port = preferred if preferred not in taken and port_is_free(preferred) else free_port()
    while port in taken:
        port = free_port()
    taken.add(port)
    return port


@dataclass
class ManagedProcess:
    """One supervised child process and what the supervisor knows of it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    http_url: str | None = None
    grpc_address: str | None = None
    health: str = "starting"
    restarts: int = 0
    process: subprocess.Popen[bytes] | None = None
    next_restart_at: float = 0.0
    last_exit_code: int | None = None
    _log_file: TextIO | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.health = "starting"

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM: a graceful shutdown); `stop` waits for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.health = "stopped"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "http_url": self.http_url,
            "grpc_address": self.grpc_address,
            "health": self.health,
            "restarts": self.restarts,
            "log": str(self.log_path),
        }


@dataclass
class UpOptions:
    home: Path
    duration: float | None
    call_rate: float
    seed: int
    agents_per_tenant: int
    talk_time_s: float = SIMULATED_HANDLE_TIME_S
    start_timeout_s: float = 90.0
    quiet: bool = False


class Supervisor:
    def __init__(self, options: UpOptions, out: Callable[[str], None] = print) -> None:
        self.options = options
        self.out = out
        self.home = options.home.resolve()
        self.processes: list[ManagedProcess] = []
        self.broker: Any = None
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        self.freeswitch_esl = os.environ.get("FREESWITCH_ESL", "")
        self.simulator: ManagedProcess | None = None
        self._stop = asyncio.Event()
        self._taken_ports: set[int] = set()
        self.healthy_after_s: float | None = None
        """Seconds from start until every service was healthy (the summary's `startup_s`)."""

    # ---- start-up -------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("SWITCHBOARD_ENV", "development")
        env["SWITCHBOARD_HOME"] = str(self.home)
        env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        env.setdefault("LOG_FORMAT", "json")
        env["PYTHONUNBUFFERED"] = "1"
        if self.broker is not None:
            env["KAFKA_ENABLE_IDEMPOTENCE"] = "false"
            env["KAFKA_EMBEDDED"] = "true"
        for name, value in DEMO_ENV.items():
            env.setdefault(name, value)
        env.setdefault("CTI_SYNTHETIC_AGENTS", str(self.options.agents_per_tenant))
        return env

    def _start_broker(self) -> None:
        if self.bootstrap:
            self.out(f"kafka: using {self.bootstrap}")
            return
        from switchboard_common.bus.broker import EmbeddedBroker

        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker(log_path=self.home / "logs" / "broker.log")
        self.broker.start_blocking()
        self.bootstrap = self.broker.bootstrap_servers
        self.out(f"kafka: embedded Tansu broker on {self.bootstrap}")

    def _plan(self) -> None:
        env = self._base_env()
        addresses: dict[str, tuple[int, int]] = {}
        for name, _prefix, http_default, grpc_default in SERVICES:
            addresses[name] = (
                pick_port(http_default, self._taken_ports),
                pick_port(grpc_default, self._taken_ports),
            )
        for name, (http_port, grpc_port) in addresses.items():
            env[f"SB_{name.upper()}_HTTP"] = f"http://127.0.0.1:{http_port}"
            env[f"SB_{name.upper()}_GRPC"] = f"127.0.0.1:{grpc_port}"
        if not self.freeswitch_esl:
            esl_port = pick_port(8021, self._taken_ports)
            stats_port = pick_port(8120, self._taken_ports)
            self.freeswitch_esl = f"127.0.0.1:{esl_port}"
            self.simulator = ManagedProcess(
                name="simulator",
                argv=[
                    sys.executable,
                    "-m",
                    "switchboard_simulator",
                    "--esl-port",
                    str(esl_port),
                    "--stats-port",
                    str(stats_port),
                    "--seed",
                    str(self.options.seed),
                    "--call-rate",
                    str(self.options.call_rate),
                    *simulator_world_args(self.options.agents_per_tenant, self.options.talk_time_s),
                    "--dialplan-url",
                    f"{env['SB_ADMIN_HTTP']}/v1/freeswitch/dialplan",
                    "--dialplan-secret",
                    env.get("SWITCHBOARD_INTERNAL_SECRET", DEV_SECRET),
                ],
                env=env,
                log_path=self.home / "logs" / "simulator.log",
                http_url=f"http://127.0.0.1:{stats_port}",
            )
            env["SB_SIMULATOR_HTTP"] = f"http://127.0.0.1:{stats_port}"
        env["FREESWITCH_ESL"] = self.freeswitch_esl
        for name, prefix, _h, _g in SERVICES:
            http_port, grpc_port = addresses[name]
            child_env = dict(env)
            child_env[f"{prefix}HTTP_PORT"] = str(http_port)
            child_env[f"{prefix}GRPC_PORT"] = str(grpc_port)
            self.processes.append(
                ManagedProcess(
                    name=name,
                    argv=[sys.executable, "-m", f"switchboard_{name}"],
                    env=child_env,
                    log_path=self.home / "logs" / f"{name}.log",
                    http_url=f"http://127.0.0.1:{http_port}",
                    grpc_address=f"127.0.0.1:{grpc_port}",
                )
            )

    # ---- running --------------------------------------------------------------------------
    async def _poll_health(self, client: httpx.AsyncClient, proc: ManagedProcess) -> None:
        if proc.exited():
            return
        try:
            response = await client.get(f"{proc.http_url}/health", timeout=2.0)
            proc.health = "healthy" if response.status_code == 200 else "unhealthy"
        except httpx.HTTPError:
            if proc.health != "starting":
                proc.health = "unreachable"

    def _handle_exits(self, now: float) -> None:
        everyone = [*self.processes, *([self.simulator] if self.simulator else [])]
        for proc in everyone:
            if proc.exited() and proc.health != "crashed":
                assert proc.process is not None
                proc.last_exit_code = proc.process.returncode
                delay = RESTART_BACKOFF_S[min(proc.restarts, len(RESTART_BACKOFF_S) - 1)]
                proc.health = "crashed"
                proc.next_restart_at = now + delay
                self.out(
                    f"{proc.name} exited with code {proc.last_exit_code}; restarting in "
                    f"{delay:.0f}s (log: {proc.log_path})"
                )
            elif proc.health == "crashed" and now >= proc.next_restart_at:
                proc.restarts += 1
                proc.start()

    def _write_services_json(self) -> None:
        everyone = [*self.processes, *([self.simulator] if self.simulator else [])]
        data = {
            "kafka": self.bootstrap,
            "freeswitch_esl": self.freeswitch_esl,
            "services": [proc.describe() for proc in everyone],
        }
        path = self.home / "services.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(path)

    def table(self) -> str:
        rows = [("service", "pid", "http", "grpc", "health")]
        everyone = [*self.processes, *([self.simulator] if self.simulator else [])]
        for proc in everyone:
            rows.append(
                (
                    proc.name,
                    str(proc.pid or "-"),
                    proc.http_url or "-",
                    proc.grpc_address or "-",
                    proc.health,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        return "\n".join(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
        )

    def _everyone(self) -> list[ManagedProcess]:
        return [*self.processes, *([self.simulator] if self.simulator else [])]

    def healthy_count(self) -> int:
        return sum(1 for proc in self.processes if proc.health == "healthy")

    async def _simulator_stats(self, client: httpx.AsyncClient) -> dict[str, Any]:
        if self.simulator is None or self.simulator.http_url is None:
            return {}
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = await client.get(f"{self.simulator.http_url}/stats", timeout=2.0)
            if response.status_code == 200:
                stats = response.json()
                return stats if isinstance(stats, dict) else {}
        return {}

    async def _internal_stats(self, client: httpx.AsyncClient, name: str) -> dict[str, Any]:
        """A service's `GET /v1/internal/stats`; empty when it has none or is not up."""
        proc = next((p for p in self.processes if p.name == name), None)
        if proc is None or proc.http_url is None or proc.exited():
            return {}
        with contextlib.suppress(httpx.HTTPError, ValueError):
            response = await client.get(f"{proc.http_url}/v1/internal/stats", timeout=2.0)
            if response.status_code == 200:
                stats = response.json()
                return stats if isinstance(stats, dict) else {}
        return {}

    async def _provision_demo(self, client: httpx.AsyncClient) -> None:
        """Set up the demo world once everything is healthy; failures are logged, not raised."""
        urls = {proc.name: proc.http_url for proc in self.processes if proc.http_url}
        token = os.environ.get("ADMIN_OPERATOR_TOKEN", DEV_SECRET)
        try:
            report = await provision_demo(
                client,
                urls,
                self.home,
                operator_token=token,
                agents_per_tenant=self.options.agents_per_tenant,
                log=self.out,
            )
        except Exception as exc:  # the demo must never take `up` down
            self.out(f"demo: provisioning stopped: {type(exc).__name__}: {exc}")
            return
        verdict = "ready" if report.ok else f"{len(report.failures)} step(s) failed"
        self.out(f"demo: {report.done} provisioning steps done; {verdict}")

    async def summary(self, client: httpx.AsyncClient) -> str:
        figures: dict[str, Any] = {
            "services_healthy": f"{self.healthy_count()}/{len(self.processes)}",
            "restarts": sum(proc.restarts for proc in self.processes),
        }
        if self.healthy_after_s is not None:
            figures["startup_s"] = f"{self.healthy_after_s:.1f}"
        stats = await self._simulator_stats(client)
        if stats:
            figures["calls_placed"] = stats.get("calls_placed", 0)
            figures["calls_ended"] = stats.get("calls_ended", 0)
        ivr = await self._internal_stats(client, "ivr")
        for key in ("ivr_completed", "surveys", "voicemails"):
            figures[key] = _count(ivr.get(key))
        routing = await self._internal_stats(client, "routing")
        figures["calls_answered_by_agents"] = _count(routing.get("calls_answered"))
        return "summary: " + " ".join(f"{key}={value}" for key, value in figures.items())

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        self.home.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        started_at = time.monotonic()
        deadline: float | None = None
        try:
            # On this thread: the embedded broker dies with the thread that started it.
            self._start_broker()
            self._plan()
            for proc in self.processes:
                proc.start()
            if self.simulator is not None:
                self.simulator.start()
            announced = False
            async with httpx.AsyncClient() as client:
                while not self._stop.is_set():
                    now = time.monotonic()
                    self._handle_exits(now)
                    await asyncio.gather(*(self._poll_health(client, p) for p in self._everyone()))
                    self._write_services_json()
                    all_up = self.healthy_count() == len(self.processes)
                    if not announced and (
                        all_up or now - started_at > self.options.start_timeout_s
                    ):
                        announced = True
                        if all_up:
                            self.healthy_after_s = now - started_at
                        self.out(self.table())
                        self.out(
                            f"{self.healthy_count()}/{len(self.processes)} services healthy "
                            f"after {now - started_at:.1f}s; services.json in {self.home}; "
                            "Ctrl-C stops everything"
                        )
                        if self.options.duration:
                            deadline = now + self.options.duration
                        if all_up:
                            await self._provision_demo(client)
                    if deadline is not None and now >= deadline:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), timeout=0.5)
                await asyncio.gather(*(self._poll_health(client, p) for p in self.processes))
                if not announced:
                    self.out(self.table())
                summary = await self.summary(client)
        finally:
            await asyncio.to_thread(self._shutdown)
        self.out(summary)
        return 0 if self.healthy_count() == len(self.processes) else 1

    def _shutdown(self) -> None:
        healthy = {proc.name: proc.health for proc in self.processes}
        if self.simulator is not None:
            self.simulator.stop()
        for proc in self.processes:
            proc.terminate()
        for proc in reversed(self.processes):
            proc.stop()
        for proc in self.processes:
            proc.health = healthy[proc.name]
        if self.broker is not None:
            self.broker.stop()
        with contextlib.suppress(OSError):
            self._write_services_json()


def _count(value: Any) -> int:
    """A figure from a stats answer; 0 when missing or not a number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
