"""REST routes of the ivr service: parse, check the permission, call the service, return.

Every tenant route acts for the caller's tenant (a flow, number, prompt or blacklist entry of
another tenant is a 404 like a missing one). Flow documents are accepted as JSON or YAML.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from switchboard_common.auth import Principal, require
from switchboard_common.errors import Forbidden
from switchboard_ivr.domain import FLOW_SCHEMA_ID, flow_json_schema
from switchboard_ivr.notifier import IvrStats
from switchboard_ivr.schemas import (
    BlacklistBody,
    BlacklistEntryPublic,
    FlowPublic,
    FlowSaved,
    FlowVersionPublic,
    IvrSettingsBody,
    IvrSettingsPublic,
    LiveCallPublic,
    NumberPublic,
    NumberTarget,
    PromptBody,
    PromptPublic,
    SimulationPublic,
    SimulationRequest,
    VersionChoice,
)
from switchboard_ivr.services import CallsService, CatalogService, FlowsService

FLOW_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"An IVR flow document, JSON or YAML (JSON Schema: {FLOW_SCHEMA_ID}, "
        "served at GET /v1/flows/schema).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}

FlowId = Annotated[str, Path(min_length=1, max_length=64)]
Number = Annotated[str, Path(min_length=2, max_length=16, description="E.164, e.g. +33142685300")]
PromptId = Annotated[str, Path(min_length=1, max_length=128)]


@dataclass
class IvrServices:
    flows: FlowsService
    catalog: CatalogService
    calls: CallsService


def _tenant(principal: Principal) -> str:
    assert principal.tenant_id is not None
    return principal.tenant_id


IvrReader = Annotated[Principal, Depends(require("ivr:read"))]
IvrWriter = Annotated[Principal, Depends(require("ivr:write"))]
NumbersReader = Annotated[Principal, Depends(require("numbers:read"))]
NumbersWriter = Annotated[Principal, Depends(require("numbers:write"))]
CallsReader = Annotated[Principal, Depends(require("calls:read"))]


def flows_router(services: IvrServices) -> APIRouter:
    router = APIRouter(prefix="/v1/flows", tags=["flows"])
    flows = services.flows

    @router.get("/schema", summary="JSON Schema of flow documents")
    async def flow_schema() -> dict[str, Any]:
        return flow_json_schema()

    @router.get("", summary="The tenant's flows")
    async def list_flows(principal: IvrReader) -> list[FlowPublic]:
        return await flows.list_flows(_tenant(principal))

    @router.post(
        "", status_code=201, summary="Create a flow (its first draft)", openapi_extra=FLOW_BODY
    )
    async def create_flow(request: Request, principal: IvrWriter) -> FlowSaved:
        return await flows.create(_tenant(principal), await request.body())

    @router.get("/{flow_id}", summary="A flow with its draft and published documents")
    async def get_flow(flow_id: FlowId, principal: IvrReader) -> FlowPublic:
        return await flows.get(_tenant(principal), flow_id)

    @router.put("/{flow_id}", summary="Create or replace the flow's draft", openapi_extra=FLOW_BODY)
    async def save_draft(flow_id: FlowId, request: Request, principal: IvrWriter) -> FlowSaved:
        return await flows.save_draft(_tenant(principal), flow_id, await request.body())

    @router.delete("/{flow_id}/draft", summary="Discard the flow's draft")
    async def discard_draft(flow_id: FlowId, principal: IvrWriter) -> FlowPublic:
        return await flows.discard_draft(_tenant(principal), flow_id)

    @router.get("/{flow_id}/versions", summary="Every version of the flow")
    async def versions(flow_id: FlowId, principal: IvrReader) -> list[FlowVersionPublic]:
        return await flows.versions(_tenant(principal), flow_id)

    @router.get("/{flow_id}/versions/{version}", summary="One version with its document")
    async def version(
        flow_id: FlowId, version: Annotated[int, Path(ge=1)], principal: IvrReader
    ) -> FlowVersionPublic:
        return await flows.version(_tenant(principal), flow_id, version)

    @router.post("/{flow_id}/publish", summary="Publish the draft (or a retired version)")
    async def publish(
        flow_id: FlowId,
        principal: IvrWriter,
        choice: Annotated[VersionChoice | None, Body()] = None,
    ) -> FlowPublic:
        number = choice.version if choice is not None else None
        return await flows.publish(_tenant(principal), flow_id, number, principal.subject)

    @router.post("/{flow_id}/rollback", summary="Publish again an earlier version")
    async def rollback(
        flow_id: FlowId,
        principal: IvrWriter,
        choice: Annotated[VersionChoice | None, Body()] = None,
    ) -> FlowPublic:
        number = choice.version if choice is not None else None
        return await flows.rollback(_tenant(principal), flow_id, number, principal.subject)

    @router.post("/{flow_id}/simulate", summary="Run the flow with scripted caller input")
    async def simulate(
        flow_id: FlowId, body: SimulationRequest, principal: IvrReader
    ) -> SimulationPublic:
        return await flows.simulate(_tenant(principal), flow_id, body)

    return router


def numbers_router(services: IvrServices) -> APIRouter:
    router = APIRouter(prefix="/v1/numbers", tags=["numbers"])
    catalog = services.catalog

    @router.get("", summary="Numbers and the flow or queue each leads to")
    async def list_numbers(principal: NumbersReader) -> list[NumberPublic]:
        return await catalog.numbers(_tenant(principal))

    @router.get("/{number}", summary="Where a number leads")
    async def get_number(number: Number, principal: NumbersReader) -> NumberPublic:
        return await catalog.number(_tenant(principal), number)

    @router.put("/{number}", summary="Point a number at a published flow or a queue")
    async def bind_number(
        number: Number, body: NumberTarget, principal: NumbersWriter
    ) -> NumberPublic:
        return await catalog.bind_number(_tenant(principal), number, body)

    @router.delete("/{number}", status_code=204, summary="Forget where a number leads")
    async def unbind_number(number: Number, principal: NumbersWriter) -> Response:
        await catalog.unbind_number(_tenant(principal), number)
        return Response(status_code=204)

    return router


def catalog_router(services: IvrServices) -> APIRouter:
    router = APIRouter(prefix="/v1/ivr", tags=["ivr"])
    catalog = services.catalog

    @router.get("/prompts", summary="The tenant's prompt catalog")
    async def list_prompts(principal: IvrReader) -> list[PromptPublic]:
        return await catalog.prompts(_tenant(principal))

    @router.get("/prompts/{prompt_id}", summary="A prompt's files by language")
    async def get_prompt(prompt_id: PromptId, principal: IvrReader) -> PromptPublic:
        return await catalog.prompt(_tenant(principal), prompt_id)

    @router.put("/prompts/{prompt_id}", summary="Set a prompt's files by language")
    async def put_prompt(
        prompt_id: PromptId, body: PromptBody, principal: IvrWriter
    ) -> PromptPublic:
        return await catalog.put_prompt(_tenant(principal), prompt_id, body)

    @router.delete("/prompts/{prompt_id}", status_code=204, summary="Remove a prompt")
    async def delete_prompt(prompt_id: PromptId, principal: IvrWriter) -> Response:
        await catalog.delete_prompt(_tenant(principal), prompt_id)
        return Response(status_code=204)

    @router.get("/blacklist", summary="Callers refused by blacklist nodes")
    async def list_blacklist(principal: IvrReader) -> list[BlacklistEntryPublic]:
        return await catalog.blacklist(_tenant(principal))

    @router.get("/blacklist/{number}", summary="One blacklisted caller")
    async def get_blacklisted(number: Number, principal: IvrReader) -> BlacklistEntryPublic:
        return await catalog.blacklist_entry(_tenant(principal), number)

    @router.put("/blacklist/{number}", summary="Blacklist a caller")
    async def block(
        number: Number, principal: IvrWriter, body: Annotated[BlacklistBody | None, Body()] = None
    ) -> BlacklistEntryPublic:
        reason = body.reason if body is not None else ""
        return await catalog.block(_tenant(principal), number, reason)

    @router.delete("/blacklist/{number}", status_code=204, summary="Take a caller off the list")
    async def unblock(number: Number, principal: IvrWriter) -> Response:
        await catalog.unblock(_tenant(principal), number)
        return Response(status_code=204)

    @router.get("/settings", summary="The tenant's IVR settings")
    async def get_settings(principal: IvrReader) -> IvrSettingsPublic:
        return await catalog.settings(_tenant(principal))

    @router.put("/settings", summary="Change the tenant's IVR settings")
    async def put_settings(body: IvrSettingsBody, principal: IvrWriter) -> IvrSettingsPublic:
        return await catalog.put_settings(_tenant(principal), body)

    @router.get("/calls", summary="Calls in the IVR now, and where they are")
    async def live_calls(principal: CallsReader) -> list[LiveCallPublic]:
        views = services.calls.live_calls(_tenant(principal))
        return [
            LiveCallPublic(
                call_id=view.call_id,
                flow_id=view.flow_id,
                flow_version=view.flow_version,
                caller_number=view.caller_number,
                node_id=view.node_id,
                status=view.status,
                started_at=view.started_at,
            )
            for view in views
        ]

    return router


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def internal_router(stats: IvrStats, calls: CallsService) -> APIRouter:
    router = APIRouter(prefix="/v1/internal", tags=["internal"])

    @router.get("/stats", summary="Figures since start (loopback only)")
    async def internal_stats(request: Request) -> dict[str, int]:
        if not _is_loopback(request):
            raise Forbidden("the figures are served on the loopback interface only")
        return {**stats.as_dict(), "runs_active": calls.active_runs}

    return router
