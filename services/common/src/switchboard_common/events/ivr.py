"""Events of IVR runs, published by the ivr service on `switchboard.ivr.v1` (subject: call id).

The IVR interpreter produces these payloads inside `EmitEvent` effects; the ivr notifier wraps
them in the envelope (`Envelope.wrap(payload, source=..., tenant=..., subject=call_id)`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard_common.events import topics
from switchboard_common.events.envelope import EventPayload, register

IvrExitReason = Literal[
    "queued",
    "hangup",
    "transferred",
    "voicemail",
    "caller_hung_up",
    "rejected",
    "over_quota",
    "error",
    "overflow_voicemail",
    "overflow_callback",
    "overflow_external",
]
"""Why an IVR run (or its post-call part) ended.

`overflow_*`: the caller's queue overflowed and the call ended at that overflow target.

`rejected`: a blacklist node refused the caller; `over_quota`: the tenant's concurrent-call
quota was full on arrival; `error`: the run could not go on (missing node, runaway loop).
"""

IvrPhase = Literal["ivr", "post_call"]


class _IvrEvent(EventPayload):
    TOPIC = topics.IVR

    call_id: str = Field(description="Unique-ID of the caller's channel")
    flow_id: str = Field(description="the IVR flow being run")
    flow_version: int | None = Field(default=None, description="published version number")


@register
class IvrStarted(_IvrEvent):
    EVENT_TYPE = "switchboard.ivr.started.v1"
    DESCRIPTION = "An IVR flow started running for a call."

    caller_number: str
    called_number: str = Field(description="the tenant number the caller dialled")
    started_at: datetime


@register
class IvrNodeEntered(_IvrEvent):
    EVENT_TYPE = "switchboard.ivr.node_entered.v1"
    DESCRIPTION = "The run entered a node of the flow."

    node_id: str
    node_kind: str
    phase: IvrPhase = "ivr"
    entered_at: datetime


@register
class IvrCompleted(_IvrEvent):
    EVENT_TYPE = "switchboard.ivr.completed.v1"
    DESCRIPTION = (
        "The IVR run ended (or handed the call over to routing). A run whose queue node has a"
        " post-call target publishes a second one with phase=post_call when that part ends."
    )

    exit_reason: IvrExitReason
    last_node: str | None = Field(description="node the run was in when it ended")
    phase: IvrPhase = "ivr"
    hangup_cause: str | None = Field(default=None, description="FreeSWITCH cause, if hung up")
    queue_id: str | None = Field(default=None, description="set when exit_reason is queued")
    transferred_to: str | None = Field(default=None, description="E.164, when transferred")
    nodes_visited: int = Field(ge=0)
    completed_at: datetime


class SurveyAnswer(BaseModel):
    """One answer: a 1-5 score, a yes/no, or null when the caller gave no valid answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question_id: str
    kind: Literal["scale", "yes_no"]
    value: int | bool | None


@register
class SurveyCompleted(_IvrEvent):
    EVENT_TYPE = "switchboard.survey.completed.v1"
    DESCRIPTION = "A caller answered a satisfaction survey (after the agent hung up)."

    survey_id: str = Field(description="the survey node id")
    answers: list[SurveyAnswer]
    complete: bool = Field(description="false when the caller hung up before the last question")
    queue_id: str | None = None
    agent_id: str | None = None
    completed_at: datetime


@register
class VoicemailLeft(_IvrEvent):
    EVENT_TYPE = "switchboard.voicemail.left.v1"
    DESCRIPTION = "A caller left a voicemail message."

    mailbox: str
    caller_number: str
    recording_path: str
    duration_ms: int = Field(ge=0)
    open_ticket: bool = Field(description="the tickets service should open a ticket for it")
    notify: list[str] = Field(default_factory=list, description="addresses to notify")
    left_at: datetime


@register
class CallbackRequested(_IvrEvent):
    EVENT_TYPE = "switchboard.callback.requested.v1"
    DESCRIPTION = "A caller asked to be called back at a confirmed number."

    callback_number: str = Field(description="E.164")
    caller_number: str
    queue_id: str | None = Field(default=None, description="queue that should place the call")
    requested_at: datetime


@register
class FlowPublished(EventPayload):
    """Announced when a flow version starts taking calls (publish or rollback)."""

    EVENT_TYPE = "switchboard.ivr.flow_published.v1"
    TOPIC = topics.CONFIG
    DESCRIPTION = "A flow version was published (or rolled back to) and now takes calls."

    flow_id: str
    version: int = Field(ge=1)
    previous_version: int | None = Field(default=None, description="the version it replaces")
    action: Literal["published", "rolled_back"]
    name: str = ""
    published_at: datetime
    published_by: str = Field(description="user or API key that published it")
