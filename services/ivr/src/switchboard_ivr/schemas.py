"""Request and response bodies of the ivr REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from switchboard_ivr.domain import HANG_UP, is_e164

FilePath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\s!{}]+$",
        description="file path or stream FreeSWITCH plays (no spaces, no `!`)",
    ),
]
PromptLanguage = Annotated[
    str, Field(pattern=r"^([a-z]{2}|\*)$", description="`en`, `fr`... or `*`: any language")
]
ResourceId = Annotated[str, Field(min_length=1, max_length=128)]


def _e164(value: str) -> str:
    if not is_e164(value):
        raise ValueError("not a valid E.164 number (+, country code, number: +33142685300)")
    return value


E164 = Annotated[str, AfterValidator(_e164)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- flows


class FlowProblem(BaseModel):
    """One problem of a flow, naming the node and the field at fault."""

    node: str | None
    field: str | None
    problem: str


class FlowVersionPublic(BaseModel):
    number: int
    state: Literal["draft", "published", "retired", "discarded"]
    created_at: datetime
    published_at: datetime | None
    definition: dict[str, Any] | None = Field(
        default=None, description="the flow document (left out of version lists)"
    )


class FlowPublic(BaseModel):
    id: str
    name: str
    draft_version: int | None
    published_version: int | None
    version_count: int
    created_at: datetime
    updated_at: datetime
    draft: dict[str, Any] | None = Field(default=None, description="the draft document")
    published: dict[str, Any] | None = Field(default=None, description="the document calls run")


class FlowSaved(FlowPublic):
    warnings: list[FlowProblem] = Field(
        default_factory=list,
        description="problems that do not stop saving a draft but stop publishing it "
        "(prompts missing from the tenant catalog)",
    )


class VersionChoice(_Strict):
    version: int | None = Field(
        default=None, ge=1, description="publish: the draft when absent; rollback: the last one"
    )


class HttpStub(_Strict):
    """A canned answer of a webhook (http node) for the flow tester."""

    status: int = Field(default=200, ge=100, le=599)
    body: Any = Field(default=None, description="JSON body of the answer")
    failure: str | None = Field(
        default=None, description="the request fails (timeout, refused...) instead"
    )


DtmfEntry = Annotated[str, Field(pattern=rf"^([0-9*#]{{0,64}}|{HANG_UP})$")]


class SimulationRequest(_Strict):
    caller_number: str = Field(min_length=1, max_length=32)
    called_number: str = Field(default="", max_length=32)
    at: AwareDatetime | None = Field(default=None, description="time of the call; now if absent")
    dtmf: list[DtmfEntry | None] = Field(
        default_factory=list,
        max_length=200,
        description=f'the caller\'s entries in order; null or "": silence; {HANG_UP!r}: the '
        "caller hangs up; when they run out the caller hangs up at the next question",
    )
    http: dict[str, HttpStub] = Field(
        default_factory=dict, description="webhook answers by http node id (missing: failure)"
    )
    crm: dict[str, Any] = Field(default_factory=dict, description="the caller's CRM record")
    version: int | None = Field(
        default=None, ge=1, description="the version to run; the draft, else the published one"
    )
    agent_hangs_up_first: bool = Field(
        default=True, description="after a queue node, the agent hangs up (post-call runs)"
    )


class SimulationPublic(BaseModel):
    flow_id: str
    version: int
    path: list[str]
    prompts: list[str]
    outcome: dict[str, Any] | None
    events: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


# ---------------------------------------------------------------- numbers, prompts, blacklist


class NumberTarget(_Strict):
    """Where calls to a number go: a flow (its published version) or straight to a queue."""

    flow_id: ResourceId | None = None
    queue_id: ResourceId | None = None

    @model_validator(mode="after")
    def _one_target(self) -> NumberTarget:
        if (self.flow_id is None) == (self.queue_id is None):
            raise ValueError("give exactly one of flow_id and queue_id")
        return self


class NumberPublic(BaseModel):
    number: str
    target_kind: Literal["ivr_flow", "queue"]
    target_id: str
    source: Literal["admin", "api"] = Field(
        description="admin: from admin's number events; api: set here"
    )
    updated_at: datetime


class PromptBody(_Strict):
    paths: dict[PromptLanguage, FilePath] = Field(min_length=1, max_length=20)


class PromptPublic(BaseModel):
    prompt_id: str
    paths: dict[str, str]


class BlacklistBody(_Strict):
    reason: str = Field(default="", max_length=200)


class BlacklistEntryPublic(BaseModel):
    number: str
    reason: str
    created_at: datetime


# ---------------------------------------------------------------- settings and live calls


class IvrSettingsBody(_Strict):
    language: Literal["en", "fr"] = "en"
    webhook_url: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2048)] | None = None
    webhook_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=256,
        description="HMAC key of webhook signatures; write-only; leave out to keep the current",
    )
    error_transfer_to: E164 | None = Field(
        default=None, description="where a failing run transfers the caller (else hang-up)"
    )


class IvrSettingsPublic(BaseModel):
    language: str
    webhook_url: str | None
    webhook_secret_set: bool
    error_transfer_to: str | None
    timezone: str = Field(description="from admin's tenant events")
    status: str = Field(description="from admin's tenant events")
    max_concurrent_calls: int | None = Field(description="from admin's tenant events")


class LiveCallPublic(BaseModel):
    call_id: str
    flow_id: str
    flow_version: int | None
    caller_number: str
    node_id: str | None
    status: Literal["starting", "running", "handed_over", "finished"]
    started_at: datetime
