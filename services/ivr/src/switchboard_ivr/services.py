"""Use cases of the ivr service; adapters (REST, consumers) call these, never the repository.

- `FlowsService`: drafts, versions, publish and rollback, the flow tester.
- `CatalogService`: number bindings, the tenant's prompts, blacklist and IVR settings.
- `ConfigService`: admin's configuration events kept as a local copy.
- `CallsService`: the runtime: admits arriving calls, runs one `CallRun` per call, routes
  hang-ups, agent hang-ups and keys to the runs.
- `TenantDirectory`: what runs read synchronously (prompts, calendars, blacklist, quota),
  loaded per tenant and kept for a few seconds; writes on this instance drop it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from switchboard_common.business_hours import BusinessCalendar
from switchboard_common.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from switchboard_common.events.calls import CallArrived, CallDtmf, CallEnded, CallUnbridged
from switchboard_common.events.config import (
    CalendarChanged,
    NumberAssigned,
    NumberReleased,
    TenantCreated,
    TenantDeleted,
    TenantResumed,
    TenantSuspended,
    TenantUpdated,
)
from switchboard_common.events.envelope import EventPayload
from switchboard_common.events.ivr import FlowPublished, IvrCompleted
from switchboard_common.events.queues import CallOverflowed, QueueCallAnswered
from switchboard_ivr.callcontrol import CallControl, CallRef
from switchboard_ivr.domain import (
    CalendarPort,
    CallContext,
    EmitEvent,
    Flow,
    FlowHistory,
    FlowVersion,
    Hangup,
    HttpFailed,
    HttpResponse,
    Interpreter,
    OpenState,
    StaticBlacklist,
    admit_call,
    bind_number,
    check_flow,
    is_e164,
    parse_flow,
    simulate,
    validate_flow,
)
from switchboard_ivr.domain.simulate import HttpStub as DomainHttpStub
from switchboard_ivr.domain.validation import flow_problems
from switchboard_ivr.notifier import Announcer, FlowNotifier, IvrStats
from switchboard_ivr.overflow import HANDLED_BY_IVR, OverflowOptions, overflow_flow
from switchboard_ivr.repository import (
    BlacklistRecord,
    IvrRepository,
    IvrStore,
    NumberRecord,
    SettingsRecord,
)
from switchboard_ivr.runner import (
    ERROR_CAUSE,
    UNROUTED_CAUSE,
    CallRun,
    CallSetup,
    RunOptions,
    RunView,
    Webhooks,
    apology,
    turn_away,
)
from switchboard_ivr.schemas import (
    BlacklistEntryPublic,
    FlowProblem,
    FlowPublic,
    FlowSaved,
    FlowVersionPublic,
    IvrSettingsBody,
    IvrSettingsPublic,
    NumberPublic,
    NumberTarget,
    PromptBody,
    PromptPublic,
    SimulationPublic,
    SimulationRequest,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DIRECT_QUEUE_FLOW_ID = "number-to-queue"
RETURN_POLL_S = 0.05
APOLOGY_PROMPT = "apology"
_PROMPT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$"


def utcnow() -> datetime:
    return datetime.now(UTC)


def no_such_flow(flow_id: str) -> NotFound:
    return NotFound(
        f"no flow {flow_id}", error_id="no-such-flow", details={"field": "flow_id", "id": flow_id}
    )


# ====================================================================== tenant directory


class TenantCalendars:
    """CalendarPort over the tenant's business-hours calendars (by id, or else by name);
    an unknown calendar is closed."""

    def __init__(self, calendars: Mapping[str, BusinessCalendar], names: Mapping[str, str]):
        self._calendars = dict(calendars)
        self._names = dict(names)

    def is_open(self, calendar_id: str, at: datetime) -> OpenState:
        calendar = self._calendars.get(calendar_id) or self._calendars.get(
            self._names.get(calendar_id, "")
        )
        if calendar is None:
            log.warning("calendar %s is unknown: taken as closed", calendar_id)
            return "closed"
        return calendar.status_at(at)


class TenantPrompts:
    """PromptCatalog over the tenant's prompt files: the call's language, then `*`, then the
    platform template (when configured)."""

    def __init__(self, paths: Mapping[str, Mapping[str, str]], fallback_template: str = ""):
        self._paths = paths
        self._fallback_template = fallback_template

    def path_for(self, prompt_id: str, language: str) -> str | None:
        files = self._paths.get(prompt_id)
        if files is not None:
            path = files.get(language) or files.get("*")
            if path is not None:
                return path
        if self._fallback_template:
            return self._fallback_template.format(language=language, prompt=prompt_id)
        return None


@dataclass(frozen=True)
class TenantConfig:
    """A tenant's configuration as calls read it."""

    tenant_id: str
    timezone: str = "UTC"
    status: str = "active"
    max_concurrent_calls: int | None = None
    language: str = "en"
    webhook_url: str | None = None
    webhook_secret: str = ""
    error_transfer_to: str | None = None
    prompts: TenantPrompts = field(default_factory=lambda: TenantPrompts({}))
    calendars: CalendarPort = field(default_factory=lambda: TenantCalendars({}, {}))
    blacklist: StaticBlacklist = field(default_factory=StaticBlacklist)

    @property
    def quota(self) -> int | None:
        """Concurrent calls allowed (None: no limit); a suspended tenant takes none."""
        return 0 if self.status == "suspended" else self.max_concurrent_calls

    def interpreter(self) -> Interpreter:
        return Interpreter(calendar=self.calendars, blacklist=self.blacklist, prompts=self.prompts)

    def apology_files(self, default: str) -> tuple[str, ...]:
        path = self.prompts.path_for(APOLOGY_PROMPT, self.language)
        return (path or default,)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call to a tenant number goes: a published flow (or a one-node queue flow)."""

    flow: Flow
    version: int | None


async def load_tenant_config(repo: IvrRepository, fallback_template: str = "") -> TenantConfig:
    tenant = await repo.tenant()
    settings = await repo.settings()
    calendars: dict[str, BusinessCalendar] = {}
    names: dict[str, str] = {}
    for record in await repo.calendars():
        try:
            calendars[record.calendar_id] = BusinessCalendar.parse(record.definition)
        except (ValidationFailed, ValidationError) as exc:
            log.warning(
                "calendar %s of tenant %s unusable: %s", record.calendar_id, repo.tenant_id, exc
            )
            continue
        names.setdefault(record.name, record.calendar_id)
    blocked = frozenset(entry.number for entry in await repo.blacklist())
    return TenantConfig(
        tenant_id=repo.tenant_id,
        timezone=tenant.timezone if tenant else "UTC",
        status=tenant.status if tenant else "active",
        max_concurrent_calls=tenant.max_concurrent_calls if tenant else None,
        language=settings.language if settings else "en",
        webhook_url=settings.webhook_url if settings else None,
        webhook_secret=(settings.webhook_secret or "") if settings else "",
        error_transfer_to=settings.error_transfer_to if settings else None,
        prompts=TenantPrompts(await repo.prompts(), fallback_template),
        calendars=TenantCalendars(calendars, names),
        blacklist=StaticBlacklist({repo.tenant_id: blocked}),
    )


class TenantDirectory:
    """Tenant configurations and parsed published flows, cached in memory."""

    def __init__(
        self,
        store: IvrStore,
        *,
        ttl_s: float = 5.0,
        fallback_template: str = "",
        flow_cache_size: int = 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self.fallback_template = fallback_template
        self._flow_cache_size = flow_cache_size
        self._monotonic = monotonic
        self._configs: dict[str, tuple[float, TenantConfig]] = {}
        self._flows: OrderedDict[tuple[str, str, int], Flow] = OrderedDict()

    def invalidate(self, tenant_id: str) -> None:
        self._configs.pop(tenant_id, None)

    def forget(self, tenant_id: str) -> None:
        """Drop everything of a deleted tenant (its flow ids and versions may come back)."""
        self.invalidate(tenant_id)
        for key in [key for key in self._flows if key[0] == tenant_id]:
            del self._flows[key]

    async def config(self, tenant_id: str) -> TenantConfig:
        now = self._monotonic()
        cached = self._configs.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._store.tenant(tenant_id) as repo:
            config = await load_tenant_config(repo, self.fallback_template)
        self._configs[tenant_id] = (now + self._ttl_s, config)
        return config

    async def route(self, tenant_id: str, number: str) -> Route | None:
        """The flow a call to `number` runs; None when the number leads nowhere."""
        async with self._store.tenant(tenant_id) as repo:
            binding = await repo.number(number)
            if binding is None:
                return None
            if binding.target_kind == "queue":
                return Route(direct_queue_flow(binding.target_id), None)
            version = await repo.published_version(binding.target_id)
            if version is None:
                return None
            key = (tenant_id, binding.target_id, version)
            flow = self._flows.get(key)
            if flow is not None:
                self._flows.move_to_end(key)
                return Route(flow, version)
            published = await repo.published_definition(binding.target_id)
        if published is None:
            return None
        flow = parse_flow(published.definition)
        self._flows[(tenant_id, published.flow_id, published.version)] = flow
        while len(self._flows) > self._flow_cache_size:
            self._flows.popitem(last=False)
        return Route(flow, published.version)


def direct_queue_flow(queue_id: str) -> Flow:
    """The one-node flow of a number that goes straight to a queue."""
    return parse_flow(
        {
            "id": DIRECT_QUEUE_FLOW_ID,
            "name": f"straight to queue {queue_id}",
            "start": "queue",
            "nodes": [{"id": "queue", "kind": "queue", "queue": queue_id}],
        }
    )


# ====================================================================== flows


def _version_public(version: FlowVersion, *, with_definition: bool) -> FlowVersionPublic:
    return FlowVersionPublic(
        number=version.number,
        state=version.state.value,
        created_at=version.created_at,
        published_at=version.published_at,
        definition=version.definition.model_dump(mode="json", by_alias=True)
        if with_definition
        else None,
    )


def _problems(flow: Flow, known_prompts: set[str] | None) -> list[FlowProblem]:
    if known_prompts is None:
        return []
    return [FlowProblem.model_validate(item) for item in flow_problems(flow, known_prompts)]


class FlowsService:
    """Drafts, versions, publication and the flow tester of a tenant's flows."""

    def __init__(
        self,
        store: IvrStore,
        notifier: FlowNotifier,
        directory: TenantDirectory,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._directory = directory
        self._clock = clock

    async def _history(self, repo: IvrRepository, flow_id: str) -> FlowHistory:
        history = await repo.flow_history(flow_id)
        if history is None:
            raise no_such_flow(flow_id)
        return history

    async def _public(self, repo: IvrRepository, history: FlowHistory) -> FlowPublic:
        record = await repo.flow_record(history.flow_id)
        if record is None:
            raise no_such_flow(history.flow_id)
        draft, published = history.draft, history.published
        return FlowPublic(
            id=record.flow_id,
            name=record.name,
            draft_version=record.draft_version,
            published_version=record.published_version,
            version_count=record.version_count,
            created_at=record.created_at,
            updated_at=record.updated_at,
            draft=draft.definition.model_dump(mode="json", by_alias=True) if draft else None,
            published=published.definition.model_dump(mode="json", by_alias=True)
            if published
            else None,
        )

    async def list_flows(self, tenant_id: str) -> list[FlowPublic]:
        async with self._store.tenant(tenant_id) as repo:
            records = await repo.list_flows()
        return [
            FlowPublic(
                id=record.flow_id,
                name=record.name,
                draft_version=record.draft_version,
                published_version=record.published_version,
                version_count=record.version_count,
                created_at=record.created_at,
                updated_at=record.updated_at,
            )
            for record in records
        ]

    async def get(self, tenant_id: str, flow_id: str) -> FlowPublic:
        async with self._store.tenant(tenant_id) as repo:
            return await self._public(repo, await self._history(repo, flow_id))

    async def create(self, tenant_id: str, document: bytes) -> FlowSaved:
        """A new flow whose first version is a draft; 409 when the id is taken."""
        flow = check_flow(document)
        return await self._save(tenant_id, flow, must_be_new=True)

    async def save_draft(self, tenant_id: str, flow_id: str, document: bytes) -> FlowSaved:
        """Create or replace the draft of `flow_id` (the flow is created if need be)."""
        flow = check_flow(document)
        if flow.id != flow_id:
            raise ValidationFailed(
                f"the document is flow {flow.id}, not {flow_id}",
                error_id="flow-id-mismatch",
                field="id",
                details={"node": None},
            )
        return await self._save(tenant_id, flow, must_be_new=False)

    async def _save(self, tenant_id: str, flow: Flow, *, must_be_new: bool) -> FlowSaved:
        at = self._clock()
        try:
            async with self._store.tenant(tenant_id) as repo:
                before = await repo.flow_history(flow.id, lock=True)
                if before is not None and must_be_new:
                    raise Conflict(
                        f"flow {flow.id} exists; PUT /v1/flows/{flow.id} changes its draft",
                        error_id="flow-exists",
                        details={"field": "id", "id": flow.id},
                    )
                history = before or FlowHistory(tenant_id, flow.id)
                after = history.save_draft(flow, at)
                await repo.save_history(before, after, flow.name, at)
                known = await self._known_prompts(repo)
                public = await self._public(repo, after)
        except IntegrityError as exc:
            raise _concurrent_change(flow.id) from exc
        return FlowSaved(**public.model_dump(), warnings=_problems(flow, known))

    async def _known_prompts(self, repo: IvrRepository) -> set[str] | None:
        if self._directory.fallback_template:
            return None
        return await repo.prompt_ids()

    async def versions(self, tenant_id: str, flow_id: str) -> list[FlowVersionPublic]:
        async with self._store.tenant(tenant_id) as repo:
            history = await self._history(repo, flow_id)
        return [_version_public(version, with_definition=False) for version in history.versions]

    async def version(self, tenant_id: str, flow_id: str, number: int) -> FlowVersionPublic:
        async with self._store.tenant(tenant_id) as repo:
            history = await self._history(repo, flow_id)
        return _version_public(history.version(number), with_definition=True)

    async def publish(
        self, tenant_id: str, flow_id: str, version: int | None, actor: str
    ) -> FlowPublic:
        """Publish a draft (default: the open draft) or a retired version; calls run it from
        now on. Refused (422 invalid-flow) while it plays prompts the tenant does not have."""

        def change(history: FlowHistory, at: datetime) -> FlowHistory:
            number = version
            if number is None:
                draft = history.draft
                if draft is None:
                    raise PreconditionFailed(
                        f"flow {flow_id} has no draft to publish",
                        error_id="no-draft",
                        details={"field": "version"},
                    )
                number = draft.number
            return history.publish(number, at)

        return await self._publication(tenant_id, flow_id, change, "published", actor)

    async def rollback(
        self, tenant_id: str, flow_id: str, version: int | None, actor: str
    ) -> FlowPublic:
        """Publish again a retired version (default: the one published before the current)."""
        return await self._publication(
            tenant_id,
            flow_id,
            lambda history, at: history.rollback(at, version),
            "rolled_back",
            actor,
        )

    async def _publication(
        self,
        tenant_id: str,
        flow_id: str,
        change: Callable[[FlowHistory, datetime], FlowHistory],
        action: str,
        actor: str,
    ) -> FlowPublic:
        at = self._clock()
        try:
            async with self._store.tenant(tenant_id) as repo:
                before = await repo.flow_history(flow_id, lock=True)
                if before is None:
                    raise no_such_flow(flow_id)
                previous = before.published
                after = change(before, at)
                published = after.active()
                validate_flow(published.definition, await self._known_prompts(repo))
                name = published.definition.name
                await repo.save_history(before, after, name, at)
                await self._notifier.flow_published(
                    repo.session,
                    tenant_id,
                    FlowPublished(
                        flow_id=flow_id,
                        version=published.number,
                        previous_version=previous.number if previous else None,
                        action="published" if action == "published" else "rolled_back",
                        name=name,
                        published_at=at,
                        published_by=actor,
                    ),
                )
                public = await self._public(repo, after)
        except IntegrityError as exc:
            raise _concurrent_change(flow_id) from exc
        self._directory.invalidate(tenant_id)
        return public

    async def discard_draft(self, tenant_id: str, flow_id: str) -> FlowPublic:
        at = self._clock()
        async with self._store.tenant(tenant_id) as repo:
            before = await self._history(repo, flow_id)
            after = before.discard_draft(at)
            name = before.draft.definition.name if before.draft else ""
            if after.published is not None:
                name = after.published.definition.name
            await repo.save_history(before, after, name, at)
            return await self._public(repo, after)

    async def simulate(
        self, tenant_id: str, flow_id: str, request: SimulationRequest
    ) -> SimulationPublic:
        """Run a version with scripted caller input through the interpreter, against the
        tenant's own prompts, calendars and blacklist: what a real call would do."""
        async with self._store.tenant(tenant_id) as repo:
            history = await self._history(repo, flow_id)
        if request.version is not None:
            chosen = history.version(request.version)
        else:
            candidate = history.draft or history.published
            if candidate is None:
                raise PreconditionFailed(
                    f"flow {flow_id} has neither a draft nor a published version",
                    error_id="nothing-to-simulate",
                    details={"field": "version"},
                )
            chosen = candidate
        config = await self._directory.config(tenant_id)
        stubs: dict[str, DomainHttpStub] = {}
        for node_id, stub in request.http.items():
            if stub.failure is not None:
                stubs[node_id] = HttpFailed(stub.failure)
            else:
                body = "" if stub.body is None else json.dumps(stub.body)
                stubs[node_id] = HttpResponse(stub.status, body)
        result = simulate(
            chosen.definition,
            request.caller_number,
            request.at or self._clock(),
            list(request.dtmf),
            stubs,
            config.calendars,
            request.crm,
            prompts=config.prompts,
            blacklist=config.blacklist,
            tenant_id=tenant_id,
            called_number=request.called_number,
            language=config.language,
            timezone=config.timezone,
            agent_hangs_up_first=request.agent_hangs_up_first,
        )
        data = result.to_dict()
        return SimulationPublic(flow_id=flow_id, version=chosen.number, **data)


def _concurrent_change(flow_id: str) -> Conflict:
    return Conflict(
        f"flow {flow_id} was changed at the same time; try again",
        error_id="flow-changed-concurrently",
        details={"field": "flow_id", "id": flow_id},
    )


# ====================================================================== catalog


def _check_number(number: str, field_name: str = "number") -> str:
    if not is_e164(number):
        raise ValidationFailed(
            f"{number!r} is not an E.164 number", error_id="invalid-number", field=field_name
        )
    return number


def _number_public(record: NumberRecord) -> NumberPublic:
    return NumberPublic(
        number=record.number,
        target_kind="queue" if record.target_kind == "queue" else "ivr_flow",
        target_id=record.target_id,
        source="admin" if record.source == "admin" else "api",
        updated_at=record.updated_at,
    )


class CatalogService:
    """Number bindings, prompts, blacklist and IVR settings of a tenant."""

    def __init__(self, store: IvrStore, directory: TenantDirectory, *, clock: Clock = utcnow):
        self._store = store
        self._directory = directory
        self._clock = clock

    # ------------------------------------------------------------------ numbers

    async def numbers(self, tenant_id: str) -> list[NumberPublic]:
        async with self._store.tenant(tenant_id) as repo:
            return [_number_public(record) for record in await repo.list_numbers()]

    async def number(self, tenant_id: str, number: str) -> NumberPublic:
        async with self._store.tenant(tenant_id) as repo:
            record = await repo.number(number)
        if record is None:
            raise NotFound(
                f"number {number} is not bound",
                error_id="no-such-number",
                details={"field": "number"},
            )
        return _number_public(record)

    async def bind_number(self, tenant_id: str, number: str, target: NumberTarget) -> NumberPublic:
        """Point a number at a published flow or a queue (admin's number events do the same
        for numbers it manages; this is the tenant admin's fallback)."""
        _check_number(number)
        at = self._clock()
        async with self._store.tenant(tenant_id) as repo:
            if target.flow_id is not None:
                history = await repo.flow_history(target.flow_id)
                if history is None:
                    raise no_such_flow(target.flow_id)
                binding = bind_number(history, number)
                kind, target_id = "ivr_flow", binding.flow_id
            else:
                assert target.queue_id is not None
                kind, target_id = "queue", target.queue_id
            await repo.put_number(
                number,
                target_kind=kind,
                target_id=target_id,
                source="api",
                number_id=None,
                at=at,
            )
            record = await repo.number(number)
        assert record is not None
        return _number_public(record)

    async def unbind_number(self, tenant_id: str, number: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            if not await repo.delete_number(number):
                raise NotFound(
                    f"number {number} is not bound",
                    error_id="no-such-number",
                    details={"field": "number"},
                )

    # ------------------------------------------------------------------ prompts

    async def prompts(self, tenant_id: str) -> list[PromptPublic]:
        async with self._store.tenant(tenant_id) as repo:
            catalog = await repo.prompts()
        return [PromptPublic(prompt_id=key, paths=paths) for key, paths in catalog.items()]

    async def prompt(self, tenant_id: str, prompt_id: str) -> PromptPublic:
        async with self._store.tenant(tenant_id) as repo:
            paths = (await repo.prompts()).get(prompt_id)
        if paths is None:
            raise _no_such_prompt(prompt_id)
        return PromptPublic(prompt_id=prompt_id, paths=paths)

    async def put_prompt(self, tenant_id: str, prompt_id: str, body: PromptBody) -> PromptPublic:
        if not re.match(_PROMPT_ID_PATTERN, prompt_id):
            raise ValidationFailed(
                f"{prompt_id!r} is not a prompt id (letters, digits, _ . / -)",
                error_id="invalid-prompt-id",
                field="prompt_id",
            )
        async with self._store.tenant(tenant_id) as repo:
            await repo.put_prompt(prompt_id, body.paths, self._clock())
        self._directory.invalidate(tenant_id)
        return PromptPublic(prompt_id=prompt_id, paths=dict(sorted(body.paths.items())))

    async def delete_prompt(self, tenant_id: str, prompt_id: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            if not await repo.delete_prompt(prompt_id):
                raise _no_such_prompt(prompt_id)
        self._directory.invalidate(tenant_id)

    # ------------------------------------------------------------------ blacklist

    async def blacklist(self, tenant_id: str) -> list[BlacklistEntryPublic]:
        async with self._store.tenant(tenant_id) as repo:
            entries = await repo.blacklist()
        return [_blacklist_public(entry) for entry in entries]

    async def blacklist_entry(self, tenant_id: str, number: str) -> BlacklistEntryPublic:
        async with self._store.tenant(tenant_id) as repo:
            entry = await repo.blacklist_entry(number)
        if entry is None:
            raise _not_blacklisted(number)
        return _blacklist_public(entry)

    async def block(self, tenant_id: str, number: str, reason: str) -> BlacklistEntryPublic:
        _check_number(number)
        async with self._store.tenant(tenant_id) as repo:
            await repo.put_blacklist_entry(number, reason, self._clock())
            entry = await repo.blacklist_entry(number)
        self._directory.invalidate(tenant_id)
        assert entry is not None
        return _blacklist_public(entry)

    async def unblock(self, tenant_id: str, number: str) -> None:
        async with self._store.tenant(tenant_id) as repo:
            if not await repo.delete_blacklist_entry(number):
                raise _not_blacklisted(number)
        self._directory.invalidate(tenant_id)

    # ------------------------------------------------------------------ settings

    async def settings(self, tenant_id: str) -> IvrSettingsPublic:
        async with self._store.tenant(tenant_id) as repo:
            settings = await repo.settings()
            tenant = await repo.tenant()
        return IvrSettingsPublic(
            language=settings.language if settings else "en",
            webhook_url=settings.webhook_url if settings else None,
            webhook_secret_set=bool(settings and settings.webhook_secret),
            error_transfer_to=settings.error_transfer_to if settings else None,
            timezone=tenant.timezone if tenant else "UTC",
            status=tenant.status if tenant else "active",
            max_concurrent_calls=tenant.max_concurrent_calls if tenant else None,
        )

    async def put_settings(self, tenant_id: str, body: IvrSettingsBody) -> IvrSettingsPublic:
        async with self._store.tenant(tenant_id) as repo:
            current = await repo.settings()
            secret = current.webhook_secret if current else None
            if "webhook_secret" in body.model_fields_set:
                secret = body.webhook_secret
            await repo.put_settings(
                SettingsRecord(
                    language=body.language,
                    webhook_url=body.webhook_url,
                    webhook_secret=secret,
                    error_transfer_to=body.error_transfer_to,
                    updated_at=self._clock(),
                )
            )
        self._directory.invalidate(tenant_id)
        return await self.settings(tenant_id)


def _blacklist_public(entry: BlacklistRecord) -> BlacklistEntryPublic:
    return BlacklistEntryPublic(
        number=entry.number, reason=entry.reason, created_at=entry.created_at
    )


def _no_such_prompt(prompt_id: str) -> NotFound:
    return NotFound(
        f"no prompt {prompt_id}", error_id="no-such-prompt", details={"field": "prompt_id"}
    )


def _not_blacklisted(number: str) -> NotFound:
    return NotFound(
        f"{number} is not blacklisted", error_id="not-blacklisted", details={"field": "number"}
    )


# ====================================================================== admin's config events


class ConfigService:
    """Keeps the local copy of admin's configuration: numbers, calendars, tenant quotas."""

    def __init__(self, store: IvrStore, directory: TenantDirectory, *, clock: Clock = utcnow):
        self._store = store
        self._directory = directory
        self._clock = clock

    async def apply(self, tenant_id: str, payload: EventPayload) -> bool:
        """Apply one config event of `tenant_id`; False when it is not one ivr keeps."""
        at = self._clock()
        async with self._store.tenant(tenant_id) as repo:
            applied = await self._apply(repo, payload, at)
        if isinstance(payload, TenantDeleted):
            self._directory.forget(tenant_id)
        elif applied:
            self._directory.invalidate(tenant_id)
        return applied

    async def _apply(self, repo: IvrRepository, payload: EventPayload, at: datetime) -> bool:
        if isinstance(payload, NumberAssigned):
            await repo.put_number(
                payload.number,
                target_kind=payload.target_kind,
                target_id=payload.target_id,
                source="admin",
                number_id=payload.number_id,
                at=at,
            )
        elif isinstance(payload, NumberReleased):
            await repo.delete_number(payload.number)
        elif isinstance(payload, CalendarChanged):
            if payload.change == "deleted":
                await repo.delete_calendar(payload.calendar_id)
            else:
                await repo.put_calendar(payload.calendar_id, payload.name, payload.calendar, at)
        elif isinstance(payload, TenantCreated | TenantUpdated):
            await repo.put_tenant(
                timezone=payload.timezone,
                status=payload.status,
                max_concurrent_calls=payload.quotas.max_concurrent_calls,
                at=at,
            )
        elif isinstance(payload, TenantSuspended | TenantResumed):
            status = "suspended" if isinstance(payload, TenantSuspended) else "active"
            if not await repo.set_tenant_status(status, at):
                await repo.put_tenant(
                    timezone="UTC", status=status, max_concurrent_calls=None, at=at
                )
        elif isinstance(payload, TenantDeleted):
            await repo.forget_tenant()
        else:
            return False
        return True


# ====================================================================== calls


class CallDirectory(Protocol):
    """What the runtime reads about a tenant (`TenantDirectory` in production)."""

    async def config(self, tenant_id: str) -> TenantConfig: ...

    async def route(self, tenant_id: str, number: str) -> Route | None: ...


class CrmLookup(Protocol):
    """The caller's CRM record for `crm.*` conditions (tickets' customer look-up)."""

    async def lookup(self, tenant_id: str, caller_number: str) -> Mapping[str, Any]: ...


@dataclass(slots=True)
class _CallEntry:
    """A call ivr counts against its tenant's quota: a run, or a call handed to routing."""

    tenant_id: str
    since: float
    run: CallRun | None = None
    setup: CallSetup | None = None
    """How the call's run was set up: an overflow leg continues from it."""
    options: RunOptions | None = None
    overflowed: bool = False


@dataclass(frozen=True, slots=True)
class CallsOptions:
    voicemail_path_template: str = "/var/lib/switchboard/voicemail/{tenant}/{mailbox}/{call_id}.wav"
    transfer_dial_template: str = "sofia/gateway/pstn/{number}"
    apology_sound: str = "ivr/ivr-call_cannot_be_completed_as_dialed.wav"
    liveness_interval_s: float = 30.0
    handover_max_age_s: float = 4 * 3600.0
    shutdown_grace_s: float = 3.0
    stale_arrival_s: float = 30.0
    max_arrival_age_s: float = 600.0
    crm_timeout_s: float = 1.0
    agent_name_wait_s: float = 2.0
    return_wait_s: float = 2.0
    """How long after `call.unbridged` the caller may take to be parked again."""
    overflow: OverflowOptions = field(default_factory=OverflowOptions)
    overflow_events_remembered: int = 10_000


def _handed_over(run: CallRun) -> CallRun | None:
    """A finished run: None when it ended by handing the call to routing (the call is held
    without a run), else the run itself."""
    outcome = run.state.outcome if run.state is not None else None
    if not run.hung_up and outcome is not None and outcome.exit_reason == "queued":
        return None
    return run


class CallsService:
    """Runs flows for arriving calls, one task per call."""

    def __init__(
        self,
        directory: CallDirectory,
        *,
        control: CallControl,
        announcer: Announcer,
        webhooks: Webhooks,
        stats: IvrStats,
        options: CallsOptions | None = None,
        crm: CrmLookup | None = None,
        clock: Clock = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._control = control
        self._announcer = announcer
        self._webhooks = webhooks
        self.stats = stats
        self._options = options or CallsOptions()
        self._crm = crm
        self._clock = clock
        self._monotonic = monotonic
        self._calls: dict[str, _CallEntry] = {}
        self._by_tenant: dict[str, set[str]] = {}
        self._agents: dict[str, str] = {}
        self._agent_named: dict[str, asyncio.Future[None]] = {}
        self._checking_return: set[str] = set()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._overflow_events: OrderedDict[str, None] = OrderedDict()

    # ------------------------------------------------------------------ queries

    def calls_in_progress(self, tenant_id: str) -> int:
        """Calls counted against the tenant's quota (stale hand-overs are forgotten)."""
        ids = self._by_tenant.get(tenant_id)
        if not ids:
            return 0
        horizon = self._monotonic() - self._options.handover_max_age_s
        for call_id in [c for c in ids if self._calls[c].run is None]:
            if self._calls[call_id].since < horizon:
                self._forget(call_id)
        return len(self._by_tenant.get(tenant_id, ()))

    def run(self, call_id: str) -> CallRun | None:
        entry = self._calls.get(call_id)
        return entry.run if entry is not None else None

    def live_calls(self, tenant_id: str) -> list[RunView]:
        return [
            entry.run.view()
            for call_id in sorted(self._by_tenant.get(tenant_id, ()))
            if (entry := self._calls[call_id]).run is not None
        ]

    @property
    def active_runs(self) -> int:
        return sum(1 for entry in self._calls.values() if entry.run is not None)

    # ------------------------------------------------------------------ call events

    async def call_arrived(self, tenant_id: str, event: CallArrived) -> CallRun | None:
        """Admit the call and start its run; the run itself goes on in its own task."""
        number = event.tenant_number or event.destination_number
        if event.direction != "inbound" or not event.tenant_number:
            return None
        if event.call_id in self._calls:
            return None
        self.stats.calls_arrived += 1
        call = CallRef(tenant_id, event.call_id, event.node_id)
        if await self._stale(call, event):
            return None
        try:
            config = await self._directory.config(tenant_id)
            route = await self._directory.route(tenant_id, number)
        except Exception as exc:
            self.stats.arrival_errors += 1
            log.error(
                "call %s of tenant %s: cannot find its flow: %s",
                event.call_id,
                tenant_id,
                exc,
                exc_info=True,
            )
            effects = (apology((self._options.apology_sound,)), Hangup(ERROR_CAUSE))
            self._side(turn_away(call, effects, control=self._control, announcer=self._announcer))
            return None
        if route is None:
            self.stats.unrouted += 1
            log.warning(
                "call %s to %s of tenant %s: the number leads to no published flow",
                event.call_id,
                number,
                tenant_id,
            )
            effects = (
                apology(config.apology_files(self._options.apology_sound), config.language),
                Hangup(UNROUTED_CAUSE),
            )
            self._side(turn_away(call, effects, control=self._control, announcer=self._announcer))
            return None
        context = CallContext(
            tenant_id=tenant_id,
            call_id=event.call_id,
            caller_number=event.caller_number,
            called_number=number,
            caller_name=event.caller_name,
            language=config.language,
            timezone=config.timezone,
            crm=await self._lookup_crm(tenant_id, event.caller_number),
            webhook_url=config.webhook_url,
            webhook_secret=config.webhook_secret,
            flow_version=route.version,
        )
        admission = admit_call(
            self.calls_in_progress(tenant_id),
            config.quota,
            context=context,
            flow_id=route.flow.id,
            now=self._clock(),
            prompts=config.prompts,
        )
        if not admission.allowed:
            self.stats.over_quota += 1
            for warning in admission.warnings:
                log.warning("call %s: %s", event.call_id, warning.detail)
            log.info(
                "call %s of tenant %s refused: %d calls in progress (quota %s)",
                event.call_id,
                tenant_id,
                self.calls_in_progress(tenant_id),
                config.quota,
            )
            self._side(
                turn_away(call, admission.effects, control=self._control, announcer=self._announcer)
            )
            return None
        setup = CallSetup(call, route.flow, context, config.interpreter())
        options = RunOptions(
            voicemail_path_template=self._options.voicemail_path_template,
            transfer_dial_template=self._options.transfer_dial_template,
            apology_files=config.apology_files(self._options.apology_sound),
            error_transfer_to=config.error_transfer_to,
            liveness_interval_s=self._options.liveness_interval_s,
            shutdown_grace_s=self._options.shutdown_grace_s,
        )
        run = self._new_run(setup, options)
        self._calls[event.call_id] = _CallEntry(
            tenant_id, self._monotonic(), run, setup=setup, options=options
        )
        self._by_tenant.setdefault(tenant_id, set()).add(event.call_id)
        self.stats.runs_started += 1
        run.start(self._run_done)
        return run

    def _new_run(self, setup: CallSetup, options: RunOptions) -> CallRun:
        return CallRun(
            setup,
            control=self._control,
            announcer=self._announcer,
            webhooks=self._webhooks,
            options=options,
            clock=self._clock,
        )

    async def _stale(self, call: CallRef, event: CallArrived) -> bool:
        """An arrival read late (consumer lag, a new consumer group reading the topic from
        its start) is run only if the call still lives; a very old one is skipped."""
        age = (self._clock() - event.arrived_at).total_seconds()
        if age <= self._options.stale_arrival_s:
            return False
        if age > self._options.max_arrival_age_s:
            return True
        try:
            alive = await self._control.exists(call)
        except Exception as exc:
            log.warning("call %s: cannot check a late arrival: %s", call.call_id, exc)
            return False
        if not alive:
            log.info("call %s arrived %.0fs ago and is gone: not run", call.call_id, age)
        return not alive

    async def _lookup_crm(self, tenant_id: str, caller: str) -> Mapping[str, Any]:
        if self._crm is None:
            return {}
        try:
            async with asyncio.timeout(self._options.crm_timeout_s):
                return dict(await self._crm.lookup(tenant_id, caller))
        except Exception as exc:
            log.warning("CRM look-up of %s failed: %s", caller, exc)
            return {}

    def _run_done(self, run: CallRun) -> None:
        entry = self._calls.get(run.call_id)
        if entry is None or entry.run is not run:
            return
        if _handed_over(run) is None:
            entry.run = None
            entry.since = self._monotonic()
            return
        self._forget(run.call_id)

    def _forget(self, call_id: str) -> None:
        entry = self._calls.pop(call_id, None)
        self._agents.pop(call_id, None)
        named = self._agent_named.pop(call_id, None)
        if named is not None and not named.done():
            named.set_result(None)
        if entry is None:
            return
        ids = self._by_tenant.get(entry.tenant_id)
        if ids is not None:
            ids.discard(call_id)
            if not ids:
                del self._by_tenant[entry.tenant_id]

    def _side(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """A short task beside the runs (turning a caller away), awaited at shutdown."""
        task = asyncio.create_task(coroutine)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def _entry(self, tenant_id: str, call_id: str) -> _CallEntry | None:
        entry = self._calls.get(call_id)
        return entry if entry is not None and entry.tenant_id == tenant_id else None

    def call_ended(self, tenant_id: str, event: CallEnded) -> None:
        entry = self._entry(tenant_id, event.call_id)
        if entry is None:
            return
        if entry.run is not None and entry.run.in_progress:
            entry.run.caller_hung_up()
        else:
            self._forget(event.call_id)

    def call_unbridged(self, tenant_id: str, event: CallUnbridged) -> None:
        """The caller's bridge ended: when the agent hung up, the caller is parked again
        (`park_after_bridge`) and the run resumes at its post-call nodes; when the agent
        transferred the caller elsewhere, the run keeps waiting for the next unbridge."""
        entry = self._entry(tenant_id, event.call_id)
        if entry is None or entry.run is None or entry.run.status != "handed_over":
            return
        if event.call_id in self._checking_return:
            return
        self._checking_return.add(event.call_id)
        self._side(self._resume_if_back(entry.run, event.call_id))

    async def _resume_if_back(self, run: CallRun, call_id: str) -> None:
        try:
            if not await self._parked_again(run):
                log.info(
                    "call %s left its agent but is not back in the ivr (transferred?): "
                    "its post-call flow waits",
                    call_id,
                )
                return
            if call_id not in self._agents:
                await self._agent_named_or_timeout(call_id)
            if run.status == "handed_over":
                run.agent_call_ended(self._agents.get(call_id))
        finally:
            self._checking_return.discard(call_id)

    async def _parked_again(self, run: CallRun) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.return_wait_s
        while run.status == "handed_over":
            try:
                state = await self._control.call_state(run.call)
            except Exception as exc:
                log.warning("call %s: cannot ask the switch about it: %s", run.call_id, exc)
                return False
            if state is None:
                return False
            if state == "parked":
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(RETURN_POLL_S)
        return False

    async def _agent_named_or_timeout(self, call_id: str) -> None:
        """`call.unbridged` (calls topic) can overtake routing's `queue.call_answered` (queues
        topic) when the agent hangs up at once: wait a moment for the agent's name, so the
        survey is credited to the right agent."""
        named = self._agent_named.get(call_id)
        if named is None:
            named = self._agent_named[call_id] = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(named), self._options.agent_name_wait_s)
        if self._agent_named.get(call_id) is named:
            del self._agent_named[call_id]

    def queue_call_answered(self, tenant_id: str, event: QueueCallAnswered) -> None:
        entry = self._entry(tenant_id, event.call_id)
        if entry is not None:
            self._agents[event.call_id] = event.agent_id
            if entry.run is not None:
                entry.run.agent_id = event.agent_id
            named = self._agent_named.get(event.call_id)
            if named is not None and not named.done():
                named.set_result(None)

    async def call_overflowed(
        self, tenant_id: str, event_id: str, event: CallOverflowed
    ) -> CallRun | None:
        """Carry a call routing overflowed out of its queue to its voicemail, callback or
        external target (see `overflow`). Only for calls ivr handed over and still holds;
        once per event id and once per call; a call already gone is left alone. Returns the
        overflow run, if one started."""
        if event_id in self._overflow_events:
            return None
        self._remember_overflow(event_id)
        entry = self._entry(tenant_id, event.call_id)
        if entry is None or entry.overflowed or event.target_kind not in HANDLED_BY_IVR:
            return None
        held = entry.run
        setup, options = entry.setup, entry.options
        if setup is None or options is None or (held is not None and held.status != "handed_over"):
            log.warning("call %s overflowed while ivr does not hold it: ignored", event.call_id)
            return None
        entry.overflowed = True
        if not await self._still_there(setup.call):
            if held is None:
                self._forget(event.call_id)
            else:
                held.caller_hung_up()
            return None
        if held is not None:
            held.leave_queue()
        try:
            flow = overflow_flow(
                setup.flow,
                event,
                caller_number=setup.context.caller_number,
                options=self._options.overflow,
            )
        except Exception as exc:
            log.error("call %s: cannot carry out its overflow: %s", event.call_id, exc)
            entry.run = None
            self._side(self._refuse_overflow(setup, options, event))
            return None
        overflow_kind = event.target_kind if event.target_kind != "queue" else None
        run = self._new_run(
            replace(setup, flow=flow, continuation=True, overflow_kind=overflow_kind), options
        )
        entry.run = run
        entry.since = self._monotonic()
        run.start(self._run_done)
        log.info(
            "call %s overflowed from queue %s (%s) to %s %s",
            event.call_id,
            event.queue_id,
            event.reason,
            event.target_kind,
            event.target,
        )
        return run

    def _remember_overflow(self, event_id: str) -> None:
        self._overflow_events[event_id] = None
        while len(self._overflow_events) > self._options.overflow_events_remembered:
            self._overflow_events.popitem(last=False)

    async def _still_there(self, call: CallRef) -> bool:
        """False only when the switch says the call is gone (a failed check counts as alive:
        the run finds out itself)."""
        try:
            return await self._control.exists(call)
        except Exception as exc:
            log.warning("call %s: cannot check it before its overflow: %s", call.call_id, exc)
            return True

    async def _refuse_overflow(
        self, setup: CallSetup, options: RunOptions, event: CallOverflowed
    ) -> None:
        """An overflow target ivr cannot carry out: apology, hang-up, `ivr.completed` error."""
        completed = IvrCompleted(
            call_id=event.call_id,
            flow_id=setup.flow.id,
            flow_version=setup.context.flow_version,
            exit_reason="error",
            last_node=None,
            hangup_cause=ERROR_CAUSE,
            nodes_visited=0,
            completed_at=self._clock(),
        )
        effects = (
            apology(options.apology_files, setup.context.language),
            Hangup(ERROR_CAUSE),
            EmitEvent(completed),
        )
        try:
            await turn_away(setup.call, effects, control=self._control, announcer=self._announcer)
        finally:
            self._forget(event.call_id)

    def dtmf(self, tenant_id: str, event: CallDtmf) -> None:
        entry = self._entry(tenant_id, event.call_id)
        if entry is not None and entry.run is not None:
            entry.run.dtmf(event.digit)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Runs start with their calls."""

    async def stop(self) -> None:
        """Calls still in the IVR hear the apology and are hung up; hand-overs are left."""
        runs = [entry.run for entry in self._calls.values() if entry.run is not None]
        if runs:
            log.info("stopping %d IVR runs", len(runs))
            await asyncio.gather(*(run.stop() for run in runs), return_exceptions=True)
        if self._side_tasks:
            await asyncio.wait(set(self._side_tasks), timeout=self._options.shutdown_grace_s)
        for task in list(self._side_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
