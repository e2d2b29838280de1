"""Call events published by the switch service on `switchboard.calls.v1` (subject: call id)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from switchboard_common.events import topics
from switchboard_common.events.envelope import EventPayload, register


class _CallEvent(EventPayload):
    TOPIC = topics.CALLS

    call_id: str = Field(description="Unique-ID of the channel (FreeSWITCH UUID)")
    node_id: str = Field(description="switch instance / FreeSWITCH node holding the call")
    direction: Literal["inbound", "outbound"] = "inbound"


@register
class CallArrived(_CallEvent):
    EVENT_TYPE = "switchboard.call.arrived.v1"
    DESCRIPTION = "A call reached a tenant number and was parked (CHANNEL_PARK)."

    caller_number: str
    caller_name: str = ""
    destination_number: str
    tenant_number: str = Field(description="the sb_number channel variable")
    arrived_at: datetime


@register
class CallAnswered(_CallEvent):
    EVENT_TYPE = "switchboard.call.answered.v1"
    DESCRIPTION = "The channel was answered (CHANNEL_ANSWER)."

    answered_at: datetime


@register
class CallBridged(_CallEvent):
    EVENT_TYPE = "switchboard.call.bridged.v1"
    DESCRIPTION = "The call was bridged to another leg (CHANNEL_BRIDGE on the A leg)."

    other_call_id: str
    other_number: str = ""
    bridged_at: datetime


@register
class CallUnbridged(_CallEvent):
    EVENT_TYPE = "switchboard.call.unbridged.v1"
    DESCRIPTION = "A bridge ended (CHANNEL_UNBRIDGE on the A leg)."

    other_call_id: str
    unbridged_at: datetime


@register
class CallHeld(_CallEvent):
    EVENT_TYPE = "switchboard.call.held.v1"
    DESCRIPTION = "The call was put on hold (CHANNEL_HOLD)."


@register
class CallResumed(_CallEvent):
    EVENT_TYPE = "switchboard.call.resumed.v1"
    DESCRIPTION = "The call was taken off hold (CHANNEL_UNHOLD)."


@register
class CallDtmf(_CallEvent):
    EVENT_TYPE = "switchboard.call.dtmf.v1"
    DESCRIPTION = "The caller pressed a key (DTMF)."

    digit: str = Field(min_length=1, max_length=1)
    duration_ms: int = 0


@register
class CallRecordingStarted(_CallEvent):
    EVENT_TYPE = "switchboard.call.recording_started.v1"
    DESCRIPTION = "Recording of the call started (RECORD_START)."

    path: str


@register
class CallRecordingStopped(_CallEvent):
    EVENT_TYPE = "switchboard.call.recording_stopped.v1"
    DESCRIPTION = "Recording of the call stopped (RECORD_STOP)."

    path: str
    duration_ms: int = 0


@register
class CallEnded(_CallEvent):
    EVENT_TYPE = "switchboard.call.ended.v1"
    DESCRIPTION = "The call ended (CHANNEL_HANGUP_COMPLETE, or lost while switch was away)."

    hangup_cause: str
    ended_at: datetime
    duration_s: float = Field(ge=0, description="from creation to hang-up")
    billable_s: float = Field(ge=0, description="from answer to hang-up (0 if never answered)")
    lost: bool = Field(default=False, description="true when inferred after a reconnect")
