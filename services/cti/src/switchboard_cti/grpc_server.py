"""gRPC `switchboard.cti.v1.AgentService`: agents for routing and supervisors."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from switchboard.cti.v1 import agents_pb2 as pb
from switchboard_common.errors import ValidationFailed
from switchboard_common.events.agents import AgentState
from switchboard_cti.services import AgentsService

SERVICE_NAME = "switchboard.cti.v1.AgentService"

_TO_PB = {
    AgentState.LOGGED_OUT: pb.AGENT_STATE_LOGGED_OUT,
    AgentState.AVAILABLE: pb.AGENT_STATE_AVAILABLE,
    AgentState.RESERVED: pb.AGENT_STATE_RESERVED,
    AgentState.ON_CALL: pb.AGENT_STATE_ON_CALL,
    AgentState.ON_HOLD: pb.AGENT_STATE_ON_HOLD,
    AgentState.WRAP_UP: pb.AGENT_STATE_WRAP_UP,
    AgentState.NOT_READY: pb.AGENT_STATE_NOT_READY,
}
_FROM_PB = {value: key for key, value in _TO_PB.items()}


def _stamp(epoch: float | None) -> Timestamp | None:
    if epoch is None:
        return None
    stamp = Timestamp()
    stamp.FromNanoseconds(int(epoch * 1e9))
    return stamp


def _required(value: str, field: str) -> str:
    if not value:
        raise ValidationFailed(f"{field} is required", field=field)
    return value


class AgentServicer:
    def __init__(self, agents: AgentsService) -> None:
        self._agents = agents

    def _agent(self, tenant_id: str, view: dict[str, Any]) -> Any:
        call = view["call"]
        return pb.Agent(
            tenant_id=tenant_id,
            agent_id=view["agent_id"],
            display_name=view["display_name"],
            state=_TO_PB[AgentState(view["state"])],
            reason=view["reason"],
            state_since=_stamp(view["since"]),
            call_id=call["call_id"] if call else "",
            queue_id=(call.get("queue_id") or "") if call else "",
            desktop_connected=view["desktop_connected"],
            skills=[pb.Skill(name=s["name"], proficiency=s["proficiency"]) for s in view["skills"]],
            queues=view["queues"],
            wrap_up_until=_stamp(view["wrap_up_until"]),
        )

    async def GetAgent(self, request: Any, _context: Any) -> Any:
        tenant_id = _required(request.tenant_id, "tenant_id")
        record = self._agents.require(tenant_id, _required(request.agent_id, "agent_id"))
        return self._agent(tenant_id, self._agents.snapshot(record))

    async def ListAgents(self, request: Any, _context: Any) -> Any:
        tenant_id = _required(request.tenant_id, "tenant_id")
        wanted = {_FROM_PB[s] for s in request.states if s in _FROM_PB}
        agents = []
        for record in self._agents.agents(tenant_id):
            view = self._agents.snapshot(record)
            if request.queue_id and request.queue_id not in view["queues"]:
                continue
            if wanted and AgentState(view["state"]) not in wanted:
                continue
            agents.append(self._agent(tenant_id, view))
        return pb.ListAgentsResponse(agents=agents)

    async def SetState(self, request: Any, _context: Any) -> Any:
        tenant_id = _required(request.tenant_id, "tenant_id")
        target = _FROM_PB.get(request.state)
        if target is None:
            raise ValidationFailed("state is required", field="state")
        view = await self._agents.force_state(
            tenant_id,
            _required(request.agent_id, "agent_id"),
            target,
            reason=request.reason,
            actor=request.actor or "grpc",
            source="grpc",
        )
        return self._agent(tenant_id, view)
