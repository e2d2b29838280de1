"""REST API of the routing service (`/v1/...`): parse, check permission, call the service.

Every route acts for the caller's tenant (from the token or API key); another tenant's
queues and calls answer 404 exactly like unknown ones. Permissions: `queues:read` (queues,
their live status, staffing, call explanations) and `queues:write` (create, change, delete).
Writes accept `If-Match: <version>` and answer with `ETag: "<version>"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response, status

from switchboard_common.auth import Principal, require
from switchboard_common.errors import Forbidden, ValidationFailed
from switchboard_routing.schemas import (
    ID_PATTERN,
    ExplanationPublic,
    QueuePublic,
    QueueStatusPublic,
    RoutingStatsPublic,
    StaffingPublic,
)
from switchboard_routing.services import QueuesService, RoutingService, StaffingQuery

READ_QUEUES = "queues:read"
WRITE_QUEUES = "queues:write"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

Reader = Annotated[Principal, Depends(require(READ_QUEUES))]
Writer = Annotated[Principal, Depends(require(WRITE_QUEUES))]

QueuePath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
CallPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="expected version")]
Duration = Annotated[
    str,
    Query(
        pattern=r"^[0-9]+(\.[0-9]+)?[smh]$",
        description="a duration: 900s, 30m, 1h",
    ),
]

QUEUE_EXAMPLE: dict[str, Any] = {
    "id": "sales",
    "name": "Sales",
    "strategy": "skills-based",
    "required_skills": [{"skill": "french", "min_proficiency": 3}],
    "ring_timeout_seconds": 20,
    "wrap_up_seconds": 10,
    "max_wait_seconds": 600,
    "service_level_seconds": 20,
    "overflow_rules": [
        {"condition": "after_wait", "threshold_seconds": 120, "target": {"kind": "voicemail"}}
    ],
}
QueueBody = Annotated[
    dict[str, Any],
    Body(
        description="A queue configuration: `id` (optional on creation), `name`, `strategy` "
        "(longest-idle, round-robin, fewest-calls, least-talk-time, random, top-down, "
        "ring-all, skills-based, sticky), `required_skills`, `skill_relaxation`, "
        "`priority_rules`, timers in seconds, `announcements`, `overflow_rules`, "
        "`exit_target`, ... Unknown fields are refused.",
        openapi_examples={"skills-based": {"value": QUEUE_EXAMPLE}},
    ),
]


@dataclass(frozen=True)
class ApiServices:
    queues: QueuesService
    routing: RoutingService


def _seconds(duration: str, field: str) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([smh])", duration)
    if match is None:
        raise ValidationFailed(f"{field} must read like 900s, 30m or 1h", field=field)
    value = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
    if value <= 0:
        raise ValidationFailed(f"{field} must be longer than 0", field=field)
    return value


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ValidationFailed("If-Match must hold a queue version", field="If-Match")
    return int(text)


def _tag(response: Response, queue: QueuePublic) -> QueuePublic:
    response.headers["ETag"] = f'"{queue.version}"'
    return queue


def build_router(services: ApiServices) -> APIRouter:
    router = APIRouter(prefix="/v1")
    queues = services.queues

    def tenant(principal: Principal) -> str:
        assert principal.tenant_id is not None
        return principal.tenant_id

    @router.get("/queues", tags=["queues"], summary="The tenant's queues")
    async def list_queues(principal: Reader) -> list[QueuePublic]:
        return await queues.list(tenant(principal))

    @router.post(
        "/queues",
        tags=["queues"],
        status_code=status.HTTP_201_CREATED,
        summary="Create a queue (announced as queue.config_changed)",
    )
    async def create_queue(principal: Writer, body: QueueBody, response: Response) -> QueuePublic:
        queue = await queues.create(tenant(principal), body)
        response.headers["Location"] = f"/v1/queues/{queue.id}"
        return _tag(response, queue)

    @router.get("/queues/{queue_id}", tags=["queues"], summary="One queue")
    async def get_queue(principal: Reader, queue_id: QueuePath, response: Response) -> QueuePublic:
        return _tag(response, await queues.get(tenant(principal), queue_id))

    @router.put("/queues/{queue_id}", tags=["queues"], summary="Replace a queue's configuration")
    async def replace_queue(
        principal: Writer,
        queue_id: QueuePath,
        body: QueueBody,
        response: Response,
        if_match: IfMatch = None,
    ) -> QueuePublic:
        queue = await queues.replace(
            tenant(principal), queue_id, body, expected_version=_expected_version(if_match)
        )
        return _tag(response, queue)

    @router.patch("/queues/{queue_id}", tags=["queues"], summary="Change some fields of a queue")
    async def patch_queue(
        principal: Writer,
        queue_id: QueuePath,
        body: QueueBody,
        response: Response,
        if_match: IfMatch = None,
    ) -> QueuePublic:
        queue = await queues.patch(
            tenant(principal), queue_id, body, expected_version=_expected_version(if_match)
        )
        return _tag(response, queue)

    @router.delete(
        "/queues/{queue_id}",
        tags=["queues"],
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Delete a queue; its waiting calls go to its overflow target",
    )
    async def delete_queue(
        principal: Writer, queue_id: QueuePath, if_match: IfMatch = None
    ) -> Response:
        await queues.delete(
            tenant(principal), queue_id, expected_version=_expected_version(if_match)
        )
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        "/queues/{queue_id}/status",
        tags=["queues"],
        summary="Live status: waiting calls, agents by state, service level",
    )
    async def queue_status(principal: Reader, queue_id: QueuePath) -> QueueStatusPublic:
        return await queues.status(tenant(principal), queue_id)

    @router.get(
        "/queues/{queue_id}/staffing",
        tags=["queues"],
        summary="Agents needed per interval (Erlang C, and Erlang A with a patience)",
    )
    async def queue_staffing(
        principal: Reader,
        queue_id: QueuePath,
        interval: Duration = "30m",
        calls: Annotated[
            float | None, Query(ge=0, description="calls per interval (default: recorded)")
        ] = None,
        aht: Annotated[
            float | None, Query(gt=0, description="average handle time, seconds")
        ] = None,
        service_level: Annotated[
            float, Query(gt=0, lt=1, description="target share answered in time")
        ] = 0.8,
        answer_time: Annotated[
            float | None,
            Query(ge=0, description="target answer time, seconds (default: the queue's)"),
        ] = None,
        shrinkage: Annotated[float, Query(ge=0, lt=1)] = 0.0,
        max_occupancy: Annotated[float, Query(gt=0, le=1)] = 1.0,
        patience: Annotated[
            float | None,
            Query(gt=0, description="callers' mean patience, seconds (adds Erlang A)"),
        ] = None,
        lookback: Annotated[
            str | None,
            Query(
                pattern=r"^[0-9]+(\.[0-9]+)?[smh]$",
                description="recorded traffic window (default: one interval)",
            ),
        ] = None,
    ) -> StaffingPublic:
        query = StaffingQuery(
            interval_s=_seconds(interval, "interval"),
            calls=calls,
            aht_s=aht,
            service_level=service_level,
            answer_s=answer_time,
            shrinkage=shrinkage,
            max_occupancy=max_occupancy,
            patience_s=patience,
            lookback_s=_seconds(lookback, "lookback") if lookback is not None else None,
        )
        return await queues.staffing(tenant(principal), queue_id, query)

    @router.get(
        "/calls/{call_id}/explain",
        tags=["calls"],
        summary="Why routing sent (or would send) a call to an agent",
    )
    async def explain_call(principal: Reader, call_id: CallPath) -> ExplanationPublic:
        return await queues.explain(tenant(principal), call_id)

    @router.get(
        "/internal/stats",
        tags=["internal"],
        summary="Counts since start (loopback only, no tenant data)",
    )
    async def internal_stats(request: Request) -> RoutingStatsPublic:
        client = request.client.host if request.client is not None else ""
        if client not in LOOPBACK_HOSTS:
            raise Forbidden("internal statistics are served on the loopback interface only")
        return services.routing.stats_view()

    return router
