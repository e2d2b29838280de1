"""A cti service on a free port with fake CallControl, customer cards and tickets, a SQLite
database and the session's real Kafka-protocol broker (shared by the integration and
browser tests)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import websockets

from switchboard_common import db
from switchboard_common.auth import issue_access_token
from switchboard_common.bus import BrokerEndpoint, EventPublisher, free_port
from switchboard_common.errors import NotFound
from switchboard_common.events import Envelope, EventPayload
from switchboard_common.runtime import ServiceRuntime
from switchboard_cti.callcontrol import CallControlRefused, CallRef, EavesdropMode, RecordVerb
from switchboard_cti.main import CtiApp, assemble
from switchboard_cti.settings import CtiSettings

T = TypeVar("T")

SECRET = "integration-test-secret-0123456789"
AGENT_PERMISSIONS = ("calls:control", "calls:read", "tickets:write")
SUPERVISOR_PERMISSIONS = (*AGENT_PERMISSIONS, "agents:read", "agents:write", "supervise:listen")


class FakeCallControl:
    """Records every command; `gone` call ids answer NOT_FOUND like the switch."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []
        self.gone: set[str] = set()
        self.unanswered: set[str] = set()
        """Endpoints whose originate is refused as FreeSWITCH's NO_ANSWER would be."""
        self._legs = 0

    def _check(self, call_id: str) -> None:
        if call_id in self.gone:
            raise NotFound(f"call {call_id} is gone", error_id="call-gone")

    def names(self) -> list[str]:
        return [name for name, _ in self.commands]

    async def answer(self, call: CallRef) -> None:
        self._check(call.call_id)
        self.commands.append(("answer", (call.call_id,)))

    async def hangup(self, call: CallRef, cause: str = "") -> None:
        self._check(call.call_id)
        self.commands.append(("hangup", (call.call_id, cause)))

    async def hold(self, call: CallRef, on: bool) -> None:
        self._check(call.call_id)
        self.commands.append(("hold" if on else "unhold", (call.call_id,)))

    async def mute(self, call: CallRef, muted: bool) -> None:
        self._check(call.call_id)
        self.commands.append(("mute" if muted else "unmute", (call.call_id,)))

    async def park(self, call: CallRef) -> None:
        self.commands.append(("park", (call.call_id,)))

    async def transfer(self, call: CallRef, destination: str, dialplan: str = "inline") -> None:
        self._check(call.call_id)
        self.commands.append(("transfer", (call.call_id, destination, dialplan)))

    async def originate(
        self,
        tenant_id: str,
        node_id: str,
        endpoint: str,
        *,
        timeout_s: int,
        variables: Mapping[str, str],
    ) -> str:
        if endpoint in self.unanswered:
            self.commands.append(("originate", (endpoint, None)))
            raise CallControlRefused(f"{endpoint} did not answer (NO_ANSWER)")
        self._legs += 1
        leg = f"leg-{self._legs}"
        self.commands.append(("originate", (endpoint, leg)))
        return leg

    async def conference(
        self, tenant_id: str, node_id: str, call_ids: Sequence[str], room: str
    ) -> None:
        self.commands.append(("conference", (tuple(call_ids), room)))

    async def send_dtmf(self, call: CallRef, digits: str) -> None:
        self.commands.append(("dtmf", (call.call_id, digits)))

    async def record(self, call: CallRef, action: RecordVerb, path: str) -> None:
        self.commands.append(("record", (call.call_id, action, path)))

    async def eavesdrop(
        self, call: CallRef, endpoint: str, mode: EavesdropMode, timeout_s: int
    ) -> str:
        self.commands.append(("eavesdrop", (call.call_id, endpoint, mode)))
        return "sup-leg"


class FakeCards:
    def __init__(self) -> None:
        self.cards: dict[str, dict[str, Any]] = {}
        self.lookups: list[str] = []

    async def lookup(self, tenant_id: str, phone_number: str) -> dict[str, Any] | None:
        self.lookups.append(phone_number)
        return self.cards.get(phone_number)


class FakeTickets:
    def __init__(self) -> None:
        self.created: list[tuple[str, dict[str, Any]]] = []

    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append((token, body))
        number = f"ACME-{len(self.created):06d}"
        return {"id": f"t{len(self.created)}", "number": number, "subject": body["subject"]}


SIP_DOMAIN = "acme.example"


@dataclass
class Harness:
    service: CtiApp
    settings: CtiSettings
    publisher: EventPublisher
    callcontrol: FakeCallControl
    cards: FakeCards
    tickets: FakeTickets
    tenant: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:10]}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def token(
        self, agent_id: str, permissions: Sequence[str] = AGENT_PERMISSIONS, tenant: str = ""
    ) -> str:
        return issue_access_token(
            SECRET,
            kind="user",
            subject=agent_id,
            tenant_id=tenant or self.tenant,
            permissions=permissions,
        ).token

    def ws_url(self, path: str, token: str) -> str:
        return f"ws://127.0.0.1:{self.settings.http_port}{path}?token={token}"

    async def publish(self, payload: EventPayload, subject: str = "") -> Envelope:
        envelope = Envelope.wrap(payload, source="test", tenant=self.tenant, subject=subject)
        await self.publisher.publish(envelope)
        return envelope

    async def offer(
        self, call_id: str, agent_id: str, *, queue_id: str = "q-sales", caller: str = ""
    ) -> None:
        """What ivr and routing publish for a call that reaches `agent_id`."""
        from switchboard_common.events.queues import CallEnqueued, CallOffered

        now = datetime.now(UTC)
        await self.publish(
            CallEnqueued(
                call_id=call_id,
                queue_id=queue_id,
                node_id="node-1",
                caller_number=caller or "+15550142",
                enqueued_at=now,
            ),
            call_id,
        )
        await self.publish(
            CallOffered(
                call_id=call_id,
                queue_id=queue_id,
                node_id="node-1",
                agent_id=agent_id,
                agent_ids=[agent_id],
                decision_id="d1",
                reservation_id=f"r-{call_id}",
                epoch=0,
                ring_timeout_s=20.0,
                offered_at=now,
            ),
            call_id,
        )


class Desktop:
    """A websockets client speaking the desktop protocol."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []
        self._seq = 0

    async def next(self, kind: str, timeout_s: float = 20.0, **match: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                message = orjson.loads(await self.socket.recv())
                self.seen.append(message)
                if message.get("type") == kind and all(
                    _get(message, k) == v for k, v in match.items()
                ):
                    found: dict[str, Any] = message
                    return found

    async def state(self, state: str, timeout_s: float = 20.0) -> dict[str, Any]:
        message = await self.next("agent", timeout_s, agent__state=state)
        agent: dict[str, Any] = message["agent"]
        return agent

    async def send(self, cmd: str, **arguments: Any) -> dict[str, Any]:
        self._seq += 1
        request_id = f"r{self._seq}"
        await self.socket.send(orjson.dumps({"id": request_id, "cmd": cmd, **arguments}).decode())
        return await self.next("reply", id=request_id)

    async def raw(self, text: str) -> None:
        await self.socket.send(text)


def _get(message: dict[str, Any], path: str) -> Any:
    value: Any = message
    for part in path.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[Desktop]:
    async with websockets.connect(url) as socket:
        yield Desktop(socket)


@contextlib.asynccontextmanager
async def running_cti(
    broker: BrokerEndpoint, workdir: Path, **overrides: Any
) -> AsyncIterator[Harness]:
    url = f"sqlite+aiosqlite:///{workdir / 'cti.db'}"
    await db.upgrade("cti", "switchboard_cti", url)
    engine = db.create_engine(url)
    group = f"cti-test-{uuid.uuid4().hex[:8]}"
    settings = CtiSettings(
        http_port=free_port(),
        jwt_secret=SECRET,
        kafka_bootstrap_servers=broker.bootstrap_servers,
        live_offset_reset="earliest",
        consumer_group=group,
        **overrides,
    )
    callcontrol, cards, tickets = FakeCallControl(), FakeCards(), FakeTickets()
    from switchboard_common.auth import Authenticator

    service = assemble(
        settings,
        engine,
        authenticator=Authenticator(jwt_secret=SECRET),
        callcontrol=callcontrol,
        cards=cards,
        tickets=tickets,
        producer_settings=broker.producer_settings(),
        consumer_settings=broker.consumer_settings(group),
    )
    runtime = ServiceRuntime(settings, service.app, None, service.components)
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.run(stop))
    try:
        for consumer in service.consumers:
            while consumer._consumer is None:
                if task.done():
                    await task
                await asyncio.sleep(0.05)
            await consumer.wait_for_assignment(60.0)
        async with asyncio.timeout(30):
            while True:
                if task.done():
                    await task
                try:
                    async with httpx.AsyncClient() as client:
                        if (
                            await client.get(f"http://127.0.0.1:{settings.http_port}/health")
                        ).is_success:
                            break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        async with EventPublisher(broker.producer_settings()) as publisher:
            harness = Harness(service, settings, publisher, callcontrol, cards, tickets)
            await service.agents.directory.tenant_seen(harness.tenant, harness.tenant, SIP_DOMAIN)
            yield harness
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until `check()` holds (state pushed by another task); TimeoutError otherwise."""
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met in time")


async def fetched_eventually(
    fetch: Callable[[], Awaitable[list[T]]], timeout_s: float = 10.0
) -> list[T]:
    """Fetch until the answer is not empty (a row written after the state was pushed)."""
    for _ in range(int(timeout_s / 0.05)):
        if rows := await fetch():
            return rows
        await asyncio.sleep(0.05)
    raise TimeoutError("nothing fetched in time")
