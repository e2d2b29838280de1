"""Helpers shared by the routing integration tests (imported by their conftest)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import grpc
import httpx

from switchboard.callcontrol.v1 import callcontrol_pb2 as pb
from switchboard.callcontrol.v1 import callcontrol_pb2_grpc as pb_grpc
from switchboard_common.auth import issue_access_token
from switchboard_routing.callcontrol import BridgeCommand, BridgeReport, CallLeg
from switchboard_routing.domain import OfferOutcome
from switchboard_routing.settings import RoutingSettings

SECRET = "routing-test-secret-0123456789-abcdef"
READ, WRITE = "queues:read", "queues:write"


class AnsweringCallControl:
    """Answers every Bridge at once; remembers the commands."""

    def __init__(self) -> None:
        self.commands: list[BridgeCommand] = []

    def bridge(self, command: BridgeCommand, *, deadline_s: float) -> Awaitable[BridgeReport]:
        self.commands.append(command)
        return self._answer()

    @staticmethod
    async def _answer() -> BridgeReport:
        return BridgeReport(OfferOutcome.ANSWERED, agent_call_id="leg")

    async def announce(self, call: CallLeg, items: Sequence[str]) -> None:
        return None


def routing_settings(**overrides: Any) -> RoutingSettings:
    values: dict[str, Any] = {"jwt_secret": SECRET, "kafka_bootstrap_servers": "", **overrides}
    return RoutingSettings(**values)


def token(tenant_id: str, permissions: Iterable[str] = (READ, WRITE)) -> str:
    return issue_access_token(
        SECRET, kind="user", subject="u1", tenant_id=tenant_id, permissions=permissions
    ).token


def new_tenant() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


ClientFactory = Callable[..., httpx.AsyncClient]
SkillMaker = Callable[[str, str], Awaitable[None]]


class FakeSwitch(pb_grpc.CallControlServicer):  # type: ignore[misc]
    """A CallControl gRPC server that answers every Bridge (at once, or when the test
    releases a held call) and records when each Bridge arrived."""

    def __init__(self) -> None:
        self.bridges: list[tuple[float, Any]] = []
        self.hold: set[str] = set()
        self._held: dict[str, asyncio.Future[int]] = {}
        self._arrived = asyncio.Condition()
        self.server: Any = None
        self.address = ""

    async def start(self) -> str:
        self.server = grpc.aio.server()
        pb_grpc.add_CallControlServicer_to_server(self, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0.2)

    async def Bridge(self, request: Any, context: Any) -> Any:
        async with self._arrived:
            self.bridges.append((time.perf_counter(), request))
            self._arrived.notify_all()
        call_id = request.call.call_id
        outcome = pb.BRIDGE_OUTCOME_ANSWERED
        if call_id in self.hold:
            self.hold.discard(call_id)
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._held[call_id] = future
            outcome = await future
        return pb.BridgeResult(call_id=call_id, outcome=outcome, agent_call_id=f"leg-{call_id}")

    def release(self, call_id: str, outcome: int = pb.BRIDGE_OUTCOME_ANSWERED) -> None:
        self._held.pop(call_id).set_result(outcome)

    async def wait_for(self, call_id: str, count: int = 1, timeout_s: float = 20.0) -> list[Any]:
        """The Bridge requests for `call_id`, once at least `count` have arrived."""

        def found() -> list[Any]:
            return [r for _, r in self.bridges if r.call.call_id == call_id]

        async with asyncio.timeout(timeout_s), self._arrived:
            await self._arrived.wait_for(lambda: len(found()) >= count)
        return found()
