"""The live channel cache of one FreeSWITCH node and the translation of its ESL events into
call events.

`ChannelTracker.apply(name, headers)` takes one ESL event (name and decoded headers, from
either `event plain` or `event json`) and returns the call events it implies, each with the
tenant it belongs to. Channels without an `sb_tenant` variable are tracked (so a bridge to a
tenant's agent leg can be explained) but produce no events: the platform never publishes a
call it cannot attribute to a tenant. `reconcile()` compares the cache with what FreeSWITCH
reports after a reconnect and ends the calls that vanished while the link was down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from switchboard_common.events.calls import (
    CallAnswered,
    CallArrived,
    CallBridged,
    CallDtmf,
    CallEnded,
    CallHeld,
    CallRecordingStarted,
    CallRecordingStopped,
    CallResumed,
    CallUnbridged,
)
from switchboard_common.events.envelope import EventPayload

LOST_CAUSE = "SWITCH_LINK_LOST"

# The ESL events the switch service needs; everything else stays unsubscribed.
SUBSCRIBED_EVENTS: tuple[str, ...] = (
    "CHANNEL_CREATE",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "DTMF",
    "RECORD_START",
    "RECORD_STOP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "CHANNEL_EXECUTE_COMPLETE",
    "BACKGROUND_JOB",
)


@dataclass(frozen=True)
class TenantEvent:
    """A call event ready to publish: the tenant is the Kafka key, the call id the subject."""

    tenant: str
    payload: EventPayload
    call_id: str
    time: datetime


@dataclass
class Channel:
    uuid: str
    tenant: str | None
    direction: Literal["inbound", "outbound"]
    caller_number: str
    caller_name: str
    destination: str
    tenant_number: str
    created_at: datetime
    answered_at: datetime | None = None
    other_leg: str | None = None
    held: bool = False
    parked: bool = False
    recording_path: str | None = None
    arrived_published: bool = False
    answered_published: bool = False


@dataclass(frozen=True)
class LiveChannel:
    """One row of `show channels as json` (with the tenant looked up when it was unknown)."""

    uuid: str
    direction: str
    caller_number: str
    caller_name: str
    destination: str
    created_epoch: float
    call_state: str
    tenant: str | None = None


def _timestamp(headers: Mapping[str, str], key: str = "Event-Date-Timestamp") -> datetime:
    raw = headers.get(key, "")
    if raw.isdigit() and raw != "0":
        return datetime.fromtimestamp(int(raw) / 1_000_000, UTC)
    return datetime.now(UTC)


def _optional_timestamp(headers: Mapping[str, str], key: str) -> datetime | None:
    raw = headers.get(key, "")
    if raw.isdigit() and raw != "0":
        return datetime.fromtimestamp(int(raw) / 1_000_000, UTC)
    return None


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        return 0.0


class ChannelTracker:
    """Live channels of one node; turns ESL events into tenant call events."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.channels: dict[str, Channel] = {}

    def __len__(self) -> int:
        return len(self.channels)

    def calls_in_progress(self) -> int:
        return sum(1 for channel in self.channels.values() if channel.tenant is not None)

    # ---- ESL events -----------------------------------------------------------------------
    def apply(self, name: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        uuid = headers.get("Unique-ID", "")
        if not uuid:
            return []
        handler = _HANDLERS.get(name)
        if handler is None:
            return []
        return handler(self, uuid, headers)

    def _channel(self, uuid: str, headers: Mapping[str, str]) -> Channel:
        """The cached channel, created from the event's headers if this is its first sight."""
        channel = self.channels.get(uuid)
        if channel is None:
            direction = headers.get("Call-Direction", "inbound")
            channel = Channel(
                uuid=uuid,
                tenant=headers.get("variable_sb_tenant") or None,
                direction="outbound" if direction == "outbound" else "inbound",
                caller_number=headers.get("Caller-Caller-ID-Number", ""),
                caller_name=headers.get("Caller-Caller-ID-Name", ""),
                destination=headers.get("Caller-Destination-Number", ""),
                tenant_number=headers.get("variable_sb_number", ""),
                created_at=_optional_timestamp(headers, "Caller-Channel-Created-Time")
                or _timestamp(headers),
            )
            self.channels[uuid] = channel
        else:
            tenant = headers.get("variable_sb_tenant")
            if tenant and channel.tenant is None:
                channel.tenant = tenant
            number = headers.get("variable_sb_number")
            if number and not channel.tenant_number:
                channel.tenant_number = number
        return channel

    def _event(self, channel: Channel, payload: EventPayload, at: datetime) -> list[TenantEvent]:
        if channel.tenant is None:
            return []
        return [TenantEvent(channel.tenant, payload, channel.uuid, at)]

    def _on_create(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        self._channel(uuid, headers)
        return []

    def _on_park(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        channel.parked = True
        if channel.arrived_published or channel.direction != "inbound":
            return []
        at = _timestamp(headers)
        events = self._event(
            channel,
            CallArrived(
                call_id=uuid,
                node_id=self.node_id,
                direction=channel.direction,
                caller_number=channel.caller_number,
                caller_name=channel.caller_name,
                destination_number=channel.destination,
                tenant_number=channel.tenant_number or channel.destination,
                arrived_at=at,
            ),
            at,
        )
        channel.arrived_published = bool(events)
        if events and channel.answered_at is not None and not channel.answered_published:
            channel.answered_published = True
            events += self._event(
                channel,
                CallAnswered(
                    call_id=uuid,
                    node_id=self.node_id,
                    direction=channel.direction,
                    answered_at=channel.answered_at,
                ),
                at,
            )
        return events

    def _on_unpark(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        self._channel(uuid, headers).parked = False
        return []

    def _on_answer(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        at = _timestamp(headers)
        channel.answered_at = channel.answered_at or at
        if channel.direction == "inbound" and not channel.arrived_published:
            return []
        channel.answered_published = True
        return self._event(
            channel,
            CallAnswered(
                call_id=uuid, node_id=self.node_id, direction=channel.direction, answered_at=at
            ),
            at,
        )

    def _on_bridge(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        other = headers.get("Other-Leg-Unique-ID", "")
        channel.other_leg = other or None
        channel.parked = False
        other_channel = self.channels.get(other)
        if other_channel is not None:
            other_channel.other_leg = uuid
            other_channel.parked = False
        at = _timestamp(headers)
        return self._event(
            channel,
            CallBridged(
                call_id=uuid,
                node_id=self.node_id,
                direction=channel.direction,
                other_call_id=other,
                other_number=headers.get("Other-Leg-Destination-Number", "")
                or headers.get("Other-Leg-Caller-ID-Number", ""),
                bridged_at=at,
            ),
            at,
        )

    def _on_unbridge(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        other = headers.get("Other-Leg-Unique-ID", "") or (channel.other_leg or "")
        channel.other_leg = None
        at = _timestamp(headers)
        return self._event(
            channel,
            CallUnbridged(
                call_id=uuid,
                node_id=self.node_id,
                direction=channel.direction,
                other_call_id=other,
                unbridged_at=at,
            ),
            at,
        )

    def _on_hold(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        if channel.held:
            return []
        channel.held = True
        return self._event(
            channel,
            CallHeld(call_id=uuid, node_id=self.node_id, direction=channel.direction),
            _timestamp(headers),
        )

    def _on_unhold(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        if not channel.held:
            return []
        channel.held = False
        return self._event(
            channel,
            CallResumed(call_id=uuid, node_id=self.node_id, direction=channel.direction),
            _timestamp(headers),
        )

    def _on_dtmf(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        digit = headers.get("DTMF-Digit", "")
        if len(digit) != 1:
            return []
        return self._event(
            channel,
            CallDtmf(
                call_id=uuid,
                node_id=self.node_id,
                direction=channel.direction,
                digit=digit,
                duration_ms=int(_number(headers.get("DTMF-Duration", "0")) / 8),
            ),
            _timestamp(headers),
        )

    def _on_record_start(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        path = headers.get("Record-File-Path", "")
        channel.recording_path = path
        return self._event(
            channel,
            CallRecordingStarted(
                call_id=uuid, node_id=self.node_id, direction=channel.direction, path=path
            ),
            _timestamp(headers),
        )

    def _on_record_stop(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        path = headers.get("Record-File-Path", "") or (channel.recording_path or "")
        channel.recording_path = None
        seconds = _number(headers.get("variable_record_seconds", "0"))
        return self._event(
            channel,
            CallRecordingStopped(
                call_id=uuid,
                node_id=self.node_id,
                direction=channel.direction,
                path=path,
                duration_ms=int(seconds * 1000),
            ),
            _timestamp(headers),
        )

    def _on_hangup_complete(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self._channel(uuid, headers)
        del self.channels[uuid]
        at = _timestamp(headers)
        duration = _number(headers.get("variable_duration", ""))
        if not duration:
            duration = max(0.0, (at - channel.created_at).total_seconds())
        billable = _number(headers.get("variable_billsec", ""))
        if not billable and channel.answered_at is not None:
            billable = max(0.0, (at - channel.answered_at).total_seconds())
        return self._event(
            channel,
            CallEnded(
                call_id=uuid,
                node_id=self.node_id,
                direction=channel.direction,
                hangup_cause=headers.get("Hangup-Cause", "") or "NORMAL_CLEARING",
                ended_at=at,
                duration_s=duration,
                billable_s=billable,
            ),
            at,
        )

    def _on_destroy(self, uuid: str, headers: Mapping[str, str]) -> list[TenantEvent]:
        channel = self.channels.pop(uuid, None)
        if channel is None:
            return []
        return self._ended_without_hangup(
            channel, _timestamp(headers), headers.get("Hangup-Cause", "") or "NORMAL_CLEARING"
        )

    def _ended_without_hangup(
        self, channel: Channel, at: datetime, cause: str, lost: bool = False
    ) -> list[TenantEvent]:
        duration = max(0.0, (at - channel.created_at).total_seconds())
        billable = 0.0
        if channel.answered_at is not None:
            billable = max(0.0, (at - channel.answered_at).total_seconds())
        return self._event(
            channel,
            CallEnded(
                call_id=channel.uuid,
                node_id=self.node_id,
                direction=channel.direction,
                hangup_cause=cause,
                ended_at=at,
                duration_s=duration,
                billable_s=billable,
                lost=lost,
            ),
            at,
        )

    # ---- resynchronisation ----------------------------------------------------------------
    def reconcile(self, live: Iterable[LiveChannel], now: datetime) -> list[TenantEvent]:
        """After (re)connecting: end what vanished, adopt what is new. Returns events to publish."""
        live_by_uuid = {row.uuid: row for row in live}
        events: list[TenantEvent] = []
        for uuid in [uuid for uuid in self.channels if uuid not in live_by_uuid]:
            channel = self.channels.pop(uuid)
            events += self._ended_without_hangup(channel, now, LOST_CAUSE, lost=True)
        for row in live_by_uuid.values():
            if row.uuid in self.channels:
                continue
            channel = Channel(
                uuid=row.uuid,
                tenant=row.tenant,
                direction="outbound" if row.direction == "outbound" else "inbound",
                caller_number=row.caller_number,
                caller_name=row.caller_name,
                destination=row.destination,
                tenant_number=row.destination,
                created_at=datetime.fromtimestamp(row.created_epoch, UTC)
                if row.created_epoch
                else now,
                answered_at=now if row.call_state in ("ACTIVE", "HELD") else None,
                held=row.call_state == "HELD",
                arrived_published=True,
                answered_published=True,
            )
            self.channels[row.uuid] = channel
        return events


_HANDLERS = {
    "CHANNEL_CREATE": ChannelTracker._on_create,
    "CHANNEL_PARK": ChannelTracker._on_park,
    "CHANNEL_UNPARK": ChannelTracker._on_unpark,
    "CHANNEL_ANSWER": ChannelTracker._on_answer,
    "CHANNEL_BRIDGE": ChannelTracker._on_bridge,
    "CHANNEL_UNBRIDGE": ChannelTracker._on_unbridge,
    "CHANNEL_HOLD": ChannelTracker._on_hold,
    "CHANNEL_UNHOLD": ChannelTracker._on_unhold,
    "DTMF": ChannelTracker._on_dtmf,
    "RECORD_START": ChannelTracker._on_record_start,
    "RECORD_STOP": ChannelTracker._on_record_stop,
    "CHANNEL_HANGUP_COMPLETE": ChannelTracker._on_hangup_complete,
    "CHANNEL_DESTROY": ChannelTracker._on_destroy,
}


def parse_show_channels(rows: Iterable[Mapping[str, str]]) -> list[LiveChannel]:
    """Rows of `show channels as json` as LiveChannel values (tenant filled in later)."""
    live = []
    for row in rows:
        uuid = row.get("uuid", "")
        if not uuid:
            continue
        live.append(
            LiveChannel(
                uuid=uuid,
                direction=row.get("direction", "inbound"),
                caller_number=row.get("cid_num", ""),
                caller_name=row.get("cid_name", ""),
                destination=row.get("dest", ""),
                created_epoch=_number(row.get("created_epoch", "0")),
                call_state=row.get("callstate", ""),
            )
        )
    return live
