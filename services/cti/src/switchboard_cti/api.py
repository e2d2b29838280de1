"""REST API of the cti service (`/v1/...`) and the desktop pages (`/desktop/`).

- `POST /v1/auth/login`: the desktop's login, passed on to admin (same origin for the page);
- agents: list, read, force a state (audited), change the routing profile, audit trail;
- `GET|PUT /v1/cti/policy`: the tenant's not-ready reasons, dispositions, wrap-up rules;
- supervisors: per-queue live view, listen / whisper / barge.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.auth import Principal, require, tenant_principal
from switchboard_common.errors import Forbidden, Unavailable
from switchboard_common.events.agents import AgentState
from switchboard_cti.repository import CtiRepository
from switchboard_cti.services import AgentsService, Supervision

STATIC_DIR = Path(__file__).parent / "static"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForceStateBody(_Body):
    state: Literal[AgentState.AVAILABLE, AgentState.NOT_READY, AgentState.LOGGED_OUT]
    reason: str = Field(default="", max_length=40)


class SkillBody(_Body):
    name: str = Field(min_length=1, max_length=64)
    proficiency: int = Field(ge=1, le=100)


class ProfileBody(_Body):
    display_name: str | None = Field(default=None, max_length=200)
    extension: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    skills: list[SkillBody] | None = None
    queues: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = None
    all_queues: bool = Field(default=False, description="serve every queue of the tenant")


class EavesdropBody(_Body):
    mode: Literal["listen", "whisper", "barge"]
    endpoint: str = Field(min_length=1, max_length=256, description="the supervisor's phone")


def _tenant(principal: Principal) -> str:
    assert principal.tenant_id is not None
    return principal.tenant_id


def build_router(
    agents: AgentsService,
    supervision: Supervision,
    repository: CtiRepository,
    *,
    admin_url: str,
    login_timeout_s: float = 5.0,
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    reader = Annotated[Principal, Depends(require("agents:read"))]
    writer = Annotated[Principal, Depends(require("agents:write"))]
    anyone = Annotated[Principal, Depends(tenant_principal)]

    @router.post("/auth/login", tags=["auth"], summary="Log in (passed on to admin)")
    async def login(body: dict[str, Any]) -> JSONResponse:
        if not admin_url:
            raise Unavailable(
                "no admin service is configured (SB_ADMIN_HTTP)", error_id="login-unavailable"
            )
        try:
            async with httpx.AsyncClient(timeout=login_timeout_s) as client:
                response = await client.post(f"{admin_url.rstrip('/')}/v1/auth/login", json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(
                "the admin service cannot be reached", error_id="login-unavailable"
            ) from exc
        return JSONResponse(status_code=response.status_code, content=response.json())

    @router.get("/agents", tags=["agents"], summary="Agents of the tenant and their states")
    async def list_agents(
        principal: reader, queue_id: Annotated[str | None, Query(max_length=128)] = None
    ) -> list[dict[str, Any]]:
        views = [agents.snapshot(r) for r in agents.agents(_tenant(principal))]
        if queue_id is not None:
            views = [v for v in views if queue_id in v["queues"]]
        return views

    @router.get("/agents/me", tags=["agents"], summary="The calling agent")
    async def me(principal: anyone) -> dict[str, Any]:
        assert principal.user_id is not None
        return agents.snapshot(agents.ensure(_tenant(principal), principal.user_id))

    @router.get("/agents/{agent_id}", tags=["agents"], summary="One agent")
    async def get_agent(agent_id: str, principal: reader) -> dict[str, Any]:
        return agents.snapshot(agents.require(_tenant(principal), agent_id))

    @router.post(
        "/agents/{agent_id}/state", tags=["agents"], summary="Force an agent's state (audited)"
    )
    async def force_state(agent_id: str, body: ForceStateBody, principal: writer) -> dict[str, Any]:
        return await agents.force_state(
            _tenant(principal),
            agent_id,
            body.state,
            reason=body.reason,
            actor=principal.subject,
            source="rest",
        )

    @router.put("/agents/{agent_id}/profile", tags=["agents"], summary="Routing profile")
    async def set_profile(agent_id: str, body: ProfileBody, principal: writer) -> dict[str, Any]:
        return await agents.update_profile(
            _tenant(principal),
            agent_id,
            display_name=body.display_name,
            extension=body.extension,
            skills=[(s.name, s.proficiency) for s in body.skills] if body.skills else None,
            queues=body.queues,
            all_queues=body.all_queues,
        )

    @router.get("/agents/{agent_id}/audit", tags=["agents"], summary="Forced state changes")
    async def audit(
        agent_id: str,
        principal: reader,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        entries = await repository.list_audit(_tenant(principal), agent_id, limit)
        return [entry.to_json() for entry in entries]

    @router.post(
        "/agents/{agent_id}/eavesdrop", tags=["supervisor"], summary="Listen, whisper or barge"
    )
    async def eavesdrop(agent_id: str, body: EavesdropBody, principal: reader) -> dict[str, Any]:
        permission = f"supervise:{body.mode}"
        if not principal.has(permission):
            raise Forbidden(f"missing permission {permission}", details={"permission": permission})
        return await supervision.eavesdrop(_tenant(principal), agent_id, body.mode, body.endpoint)

    @router.get("/supervisor/queues", tags=["supervisor"], summary="Agents and calls per queue")
    async def queues(principal: reader) -> dict[str, Any]:
        return supervision.queue_view(_tenant(principal))

    @router.get("/cti/policy", tags=["policy"], summary="The tenant's cti policy")
    async def get_policy(principal: anyone) -> dict[str, Any]:
        return agents.directory.policy(_tenant(principal)).model_dump(mode="json")

    @router.put("/cti/policy", tags=["policy"], summary="Change the tenant's cti policy")
    async def put_policy(body: dict[str, Any], principal: writer) -> dict[str, Any]:
        policy = await agents.directory.set_policy(_tenant(principal), body)
        return policy.model_dump(mode="json")

    return router


def desktop_redirect_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/desktop")
    async def desktop() -> RedirectResponse:
        return RedirectResponse("/desktop/")

    @router.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/desktop/")

    return router
