"""The simulated FreeSWITCH node: channels, applications, API commands and simulated people.

Pure and deterministic: time is virtual (`Scheduler`), randomness comes from one seeded
`random.Random`, and the outside world is reached only through callbacks (event sinks, the
dialplan resolver, the outbound-socket hook). The asyncio server drives it in real time;
tests drive it directly.
"""

from __future__ import annotations

import functools
import json
import random
import time
import uuid as uuid_module
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from switchboard_simulator.channel import (
    CALL_STATE_NUMBERS,
    HANGUP_CAUSE_CODES,
    STATE_NUMBERS,
    CallerProfile,
    Channel,
    Codec,
    Leg,
)
from switchboard_simulator.clock import Scheduler, TaskHandle
from switchboard_simulator.config import AgentEndpoint, TenantNumber, WorldConfig
from switchboard_simulator.dialplan import (
    Action,
    DialplanDecision,
    DialplanRequest,
    DialplanResolver,
    StaticDialplan,
    tenant_actions,
)
from switchboard_simulator.truth import Truth
from switchboard_simulator.wire import Event, Header

ApiDone = Callable[[str], None]
EventSink = Callable[[Event], None]
SocketHook = Callable[[Channel, str], None]

_LOCATIONS: dict[str, tuple[str, str, int]] = {
    "API": ("switch_loadable_module.c", "switch_api_execute", 3140),
    "BACKGROUND_JOB": ("mod_event_socket.c", "api_exec", 1580),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", 2409),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", 302),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", 626),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", 632),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", 768),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", 2949),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", 2972),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", 3848),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3507),
    "CHANNEL_PROGRESS_MEDIA": (
        "switch_channel.c",
        "switch_channel_perform_mark_pre_answered",
        3562,
    ),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", 1002),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", 1213),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", 3447),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c",
        "switch_core_session_reporting_state",
        943,
    ),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", 1588),
    "CHANNEL_HOLD": ("switch_channel.c", "switch_channel_perform_mark_hold", 1252),
    "CHANNEL_UNHOLD": ("switch_channel.c", "switch_channel_perform_mark_hold", 1252),
    "CALL_UPDATE": ("mod_sofia.c", "sofia_receive_message", 2133),
    "CODEC": ("switch_core_codec.c", "switch_core_session_set_real_read_codec", 189),
    "DTMF": ("switch_channel.c", "switch_channel_dequeue_dtmf", 678),
    "PRESENCE_IN": ("switch_channel.c", "switch_channel_perform_presence", 806),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", 1649),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", 2023),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", 1482),
    "RECORD_STOP": ("switch_ivr_async.c", "send_record_stop_event", 1241),
    "MEDIA_BUG_START": ("switch_core_media_bug.c", "switch_core_media_bug_add", 1014),
    "MEDIA_BUG_STOP": ("switch_core_media_bug.c", "switch_core_media_bug_destroy", 84),
    "HEARTBEAT": ("switch_core.c", "send_heartbeat", 95),
    "RE_SCHEDULE": ("switch_scheduler.c", "switch_scheduler_execute", 73),
    "CUSTOM": ("switch_event.c", "switch_event_fire_detailed", 0),
}

_EXTENDED = frozenset(
    {
        "CHANNEL_CREATE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_ANSWER",
        "CHANNEL_PARK",
        "CHANNEL_UNPARK",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_DESTROY",
        "RECORD_START",
        "RECORD_STOP",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CALL_UPDATE",
        "MEDIA_BUG_START",
        "MEDIA_BUG_STOP",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "CHANNEL_DATA",
        "CUSTOM",
    }
)

_SIP_TO_CAUSE = {
    "404": "UNALLOCATED_NUMBER",
    "403": "CALL_REJECTED",
    "486": "USER_BUSY",
    "480": "NO_USER_RESPONSE",
    "503": "NORMAL_TEMPORARY_FAILURE",
    "487": "ORIGINATOR_CANCEL",
    "603": "CALL_REJECTED",
    "408": "RECOVERY_ON_TIMER_EXPIRE",
}

_PCMU = Codec("PCMU", 8000, 64000)

_CALL_COLUMNS = (
    "uuid",
    "direction",
    "created",
    "created_epoch",
    "name",
    "state",
    "cid_name",
    "cid_num",
    "ip_addr",
    "dest",
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "hostname",
    "sent_callee_name",
    "sent_callee_num",
)
_CALL_B_COLUMNS = tuple(c for c in _CALL_COLUMNS if c not in ("call_uuid", "hostname"))

_DTMF_DIGITS = frozenset("0123456789*#ABCDabcdwW")
"""Digits `uuid_send_dtmf` sends out to the far end (no DTMF event: those are received)."""

_YIELDING_APPS = frozenset({"park", "socket", "bridge"})
"""Applications during which queued messages (sendmsg execute, uuid_broadcast) still run."""

_PARKING_APPS = frozenset({"park", "socket"})

_HANGUP_RESPONSES = {"socket": "FILE PLAYED", "playback": "FILE NOT FOUND"}
TALK_SIGMA = 0.5
"""Talk times are log-normal around the agent's mean (few very short calls, a long tail),
as handle times are in real contact centers."""


@dataclass(slots=True)
class _Pending:
    """A blocking application waiting for its end (a timer, a bridge, a digit)."""

    app: str
    data: str
    app_uuid: str
    from_dialplan: bool
    timer: TaskHandle | None = None
    response: str = "_none_"
    on_end: Callable[[], None] | None = None
    on_stop: Callable[[], None] | None = None
    silent: bool = False


@dataclass(slots=True)
class _Collect:
    """State of a running play_and_get_digits."""

    min_digits: int
    max_digits: int
    terminators: str
    variable: str
    regex: str
    digits: str = ""


@dataclass(slots=True)
class _Conference:
    """A mod_conference room: its members by channel uuid, with their member ids.

    Member flags as mod_conference reads them from `+flags{a|b}`: the room ends when the
    last `endconf` member leaves, or, once a `mintwo` member has joined and two were in,
    when fewer than two remain; its members are then hung up (unless their channel says
    `hangup_after_conference=false`, when they are only kicked out)."""

    name: str
    profile: str
    domain: str
    uuid: str
    members: dict[str, int] = field(default_factory=dict)
    end_members: set[str] = field(default_factory=set)
    min_two: bool = False
    enforce_min: bool = False
    ending: bool = False


def _conference_target(data: str) -> tuple[str, str, frozenset[str]]:
    """`<name>[@<profile>][+<pin>][+flags{<flag>|...}]` -> name, profile, member flags."""
    flags: frozenset[str] = frozenset()
    start = data.find("+flags{")
    if start >= 0:
        end = data.find("}", start)
        flags = frozenset(f for f in data[start + 7 : end if end >= 0 else None].split("|") if f)
        data = data[:start]
    head = data.split("+", 1)[0]
    name, _, profile = head.partition("@")
    return name, profile or "default", flags


class World:
    """One FreeSWITCH node, simulated."""

    def __init__(
        self,
        config: WorldConfig,
        *,
        start_us: int | None = None,
        resolver: DialplanResolver | None = None,
    ) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        # Channel ids come from their own generator: behaviour stays reproducible from the
        # seed, while two simulator runs (a restart, parallel tests) never reuse a call id,
        # as no two real FreeSWITCH calls share a UUID.
        self.id_rng = random.Random(config.seed if config.deterministic_ids else None)
        self.scheduler = Scheduler(start_us if start_us is not None else _default_start())
        self.started_us = self.scheduler.now_us
        self.static_dialplan = StaticDialplan(config.numbers)
        self.resolver: DialplanResolver = resolver or self.static_dialplan
        node = config.node
        self.core_uuid = node.core_uuid or self.new_uuid()
        self.sinks: list[EventSink] = []
        self.socket_hook: SocketHook | None = None
        self.channels: dict[str, Channel] = {}
        self.truth = Truth()
        self.global_vars: dict[str, str] = {
            "hostname": node.hostname,
            "switchname": node.hostname,
            "local_ip_v4": node.ipv4,
            "local_ip_v6": node.ipv6,
            "core_uuid": self.core_uuid,
        }
        self.agents: dict[str, AgentEndpoint] = {agent.key: agent for agent in config.agents}
        self._sequence = 0
        self._session_id = 0
        self._sessions_since_start = 0
        self._peak = 0
        self._pending: dict[str, list[_Pending]] = {}
        self._collect: dict[str, _Collect] = {}
        self._msg_queue: dict[str, deque[tuple[str, str, str]]] = {}
        self._patience: dict[str, TaskHandle] = {}
        self._talk_timers: dict[str, TaskHandle] = {}
        self._ring_timers: dict[str, TaskHandle] = {}
        self._conferences: dict[str, _Conference] = {}
        self._bridge_owner: dict[str, bool] = {}
        self._bridge_kind: dict[str, str] = {}
        self._caller_legs: set[str] = set()
        self._agent_legs: dict[str, str] = {}
        self._bridge_kind_last: dict[str, str] = {}
        self._loopback_watch: dict[str, Callable[[], None]] = {}
        self._loopback_answer: dict[str, Callable[[], None]] = {}
        self._ringing: dict[str, Callable[[str], None]] = {}
        self._dialing: dict[str, list[str]] = {}
        self._heartbeat_task = 0
        self._socket_waiting: set[str] = set()
        self._member_sequence = 0
        self._eavesdroppers: dict[str, list[tuple[Channel, _Pending]]] = {}

    # ------------------------------------------------------------------ basics

    @property
    def now_us(self) -> int:
        return self.scheduler.now_us

    def new_uuid(self) -> str:
        return str(uuid_module.UUID(int=self.id_rng.getrandbits(128), version=4))

    def add_sink(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    def remove_sink(self, sink: EventSink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def _core_headers(self, name: str, location: tuple[str, str, int] | None) -> list[Header]:
        self._sequence += 1
        node = self.config.node
        seconds = self.now_us / 1_000_000
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
        gmt = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(seconds))
        file_name, function, line = location or _LOCATIONS.get(name, ("switch_event.c", "", 0))
        return [
            ("Event-Name", name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", node.hostname),
            ("FreeSWITCH-Switchname", node.hostname),
            ("FreeSWITCH-IPv4", node.ipv4),
            ("FreeSWITCH-IPv6", node.ipv6),
            ("Event-Date-Local", local),
            ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(self.now_us)),
            ("Event-Calling-File", file_name),
            ("Event-Calling-Function", function),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(self._sequence)),
        ]

    def emit(
        self,
        name: str,
        channel: Channel | None = None,
        *,
        before: list[Header] | None = None,
        after: list[Header] | None = None,
        body: str | None = None,
        subclass: str | None = None,
        location: tuple[str, str, int] | None = None,
        with_data: bool = True,
        with_variables: bool | None = None,
    ) -> Event:
        headers = self._core_headers(name, location)
        if subclass is not None:
            headers.insert(0, ("Event-Subclass", subclass))
        headers += before or []
        if channel is not None and with_data:
            variables = name in _EXTENDED if with_variables is None else with_variables
            headers += channel.data_headers(variables)
        headers += after or []
        event = Event(name, headers, body, subclass)
        for sink in list(self.sinks):
            sink(event)
        return event

    def fire_custom(self, subclass: str, headers: list[Header], body: str | None = None) -> Event:
        """Fire a CUSTOM event (what `sendevent CUSTOM` or a module would do)."""
        return self.emit("CUSTOM", subclass=subclass, after=headers, body=body)

    # ---------------------------------------------------------- state helpers

    def _set_state(self, channel: Channel, state: str, number: int | None = None) -> None:
        channel.running_state = state
        channel.state_number = STATE_NUMBERS[state] if number is None else number
        self.emit("CHANNEL_STATE", channel)

    def _set_callstate(self, channel: Channel, call_state: str) -> None:
        original = channel.call_state
        channel.call_state = call_state
        self.emit(
            "CHANNEL_CALLSTATE",
            channel,
            before=[
                ("Original-Channel-Call-State", original),
                ("Channel-Call-State-Number", str(CALL_STATE_NUMBERS[call_state])),
            ],
        )

    def _presence(self, channel: Channel, status: str, info_state: str, where: str) -> None:
        if channel.leg is not Leg.INBOUND:
            return
        locations = {
            "routing": ("src/switch_core_state_machine.c", "check_presence", "521"),
            "answer": ("src/switch_channel.c", "switch_channel_perform_mark_answered", "3906"),
        }
        file_name, function, line = locations[where]
        self.emit(
            "PRESENCE_IN",
            channel,
            after=[
                ("proto", "any"),
                ("login", "src/switch_channel.c"),
                ("from", channel.presence_id),
                ("rpid", "unknown"),
                ("status", status),
                ("event_type", "presence"),
                ("alt_event_type", "dialog"),
                ("presence-call-info-state", info_state),
                ("presence-call-direction", channel.direction),
                ("event_count", str(channel.presence_count)),
                ("Presence-Calling-File", file_name),
                ("Presence-Calling-Function", function),
                ("Presence-Calling-Line", line),
            ],
        )
        channel.presence_count += 1

    def _codec_events(self, channel: Channel, codec: Codec, with_profile: bool = True) -> None:
        channel.read_codec = codec
        channel.write_codec = codec
        read_location = ("switch_core_codec.c", "switch_core_session_set_real_read_codec", 189)
        if not with_profile:
            read_location = ("switch_core_codec.c", "switch_core_session_set_read_codec", 300)
        read_tail: list[Header] = [
            ("channel-read-codec-name", codec.name),
            ("channel-read-codec-rate", str(codec.rate)),
            ("channel-read-codec-bit-rate", str(codec.bit_rate)),
        ]
        if not with_profile:
            channel.write_codec = None
        head = channel.basic_headers()
        profile = channel.profile_headers() if with_profile else []
        self._emit_raw("CODEC", read_location, head + profile + read_tail)
        channel.write_codec = codec
        head = channel.basic_headers()
        write_tail: list[Header] = [
            ("Channel-Write-Codec-Name", codec.name),
            ("Channel-Write-Codec-Rate", str(codec.rate)),
            ("Channel-Write-codec-bit-rate", str(codec.bit_rate)),
        ]
        write_location = ("switch_core_codec.c", "switch_core_session_set_write_codec", 471)
        self._emit_raw("CODEC", write_location, head + profile + write_tail)

    def _emit_raw(self, name: str, location: tuple[str, str, int], rest: list[Header]) -> None:
        event = Event(name, self._core_headers(name, location) + rest)
        for sink in list(self.sinks):
            sink(event)

    def _next_session_id(self) -> str:
        self._session_id += 1
        self._sessions_since_start += 1
        self._peak = max(self._peak, len(self.channels) + 1)
        return str(self._session_id)

    # --------------------------------------------------------------- inbound

    def place_call(
        self,
        destination: str,
        caller_id: str | None = None,
        *,
        caller_name: str | None = None,
        call_uuid: str | None = None,
    ) -> str:
        """A caller dials `destination` now; returns the new channel's uuid."""
        number = caller_id or self._caller_number()
        name = caller_name or number
        uuid = call_uuid or self.new_uuid()
        host = "127.0.0.1"
        channel_name = f"sofia/internal/{number}@{host}:5090"
        profile = CallerProfile(
            direction="inbound",
            logical_direction="inbound",
            destination_number=destination,
            unique_id=uuid,
            source="mod_sofia",
            context="public",
            channel_name=channel_name,
            username=number,
            dialplan="XML",
            caller_id_name=name,
            caller_id_number=number,
            orig_caller_id_name=name,
            orig_caller_id_number=number,
            network_addr=host,
            ani=number,
            profile_created_us=self.now_us,
            created_us=self.now_us,
        )
        channel = Channel(
            uuid=uuid,
            name=channel_name,
            direction="inbound",
            leg=Leg.INBOUND,
            profile=profile,
            call_uuid=uuid,
            hit_dialplan=True,
            presence_id=f"{number}@{host}",
        )
        channel.initial = channel.profile.snapshot(keep_times=True)
        self.channels[uuid] = channel
        self._caller_legs.add(uuid)
        self.truth.call_placed(uuid, destination)
        channel.profile_visible, channel.presence_id = False, ""
        self._set_state(channel, "CS_NEW")
        channel.profile_visible, channel.presence_id = True, f"{number}@{host}"
        self._set_state(channel, "CS_INIT")
        for key, value in _inbound_variables(channel, self._next_session_id(), self.now_us):
            channel.set_var(key, value)
        channel.state_number = STATE_NUMBERS["CS_ROUTING"]
        self.emit("CHANNEL_CREATE", channel)
        channel.running_state = "CS_ROUTING"
        self._set_callstate(channel, "RINGING")
        self.emit("CHANNEL_STATE", channel)
        self.resolver(
            self.dialplan_request(channel), lambda decision: self._on_dialplan(uuid, decision)
        )
        return uuid

    def dialplan_request(self, channel: Channel) -> DialplanRequest:
        """The REQUEST_PARAMS event mod_dialplan_xml hands to mod_xml_curl for `channel`."""
        params = self._core_headers(
            "REQUEST_PARAMS", ("mod_dialplan_xml.c", "dialplan_xml_locate", 637)
        )
        params += channel.data_headers(with_variables=True)
        params += channel.profile.headers("Hunt")
        return DialplanRequest(
            uuid=channel.uuid,
            destination_number=channel.profile.destination_number,
            context=channel.profile.context,
            hostname=self.config.node.hostname,
            params=params,
        )

    def _on_dialplan(self, uuid: str, decision: DialplanDecision) -> None:
        channel = self.channels.get(uuid)
        if channel is None or channel.hung_up:
            return
        if decision.actions is None:
            self.truth.call_rejected(uuid)
            self.hangup(channel, self.config.unknown_number_cause)
            return
        if decision.tenant:
            self.truth.call_routed(uuid, decision.tenant)
        prelude: list[Action] = []
        if self.config.public_prelude:
            prelude = [
                ("set", "outside_call=true"),
                ("export", "RFC2822_DATE=${strftime(%a, %d %b %Y %T %z)}"),
            ]
        channel.dialplan_actions = prelude + list(decision.actions)
        channel.app_index = 0
        channel.state_number = STATE_NUMBERS["CS_EXECUTE"]
        self._presence(channel, "CS_ROUTING", "alerting", "routing")
        channel.running_state = "CS_EXECUTE"
        self.emit("CHANNEL_STATE", channel)
        if uuid in self._caller_legs:
            self._start_patience(channel)
        self._pump(channel)

    # ---------------------------------------------------------- applications

    def _pump(self, channel: Channel) -> None:
        """Run whatever the channel should do next: queued messages, then its dialplan."""
        while not channel.hung_up:
            queue = self._msg_queue.get(channel.uuid)
            current = self._current(channel)
            if current is not None and (
                current.app not in _YIELDING_APPS or channel.uuid in self._socket_waiting
            ):
                return
            if queue:
                app, data, app_uuid = queue.popleft()
                self._run_app(channel, app, data, app_uuid, from_dialplan=False)
                continue
            if current is not None or channel.uuid in self._bridge_kind:
                return
            if channel.app_index < len(channel.dialplan_actions):
                app, data = channel.dialplan_actions[channel.app_index]
                channel.app_index += 1
                self._run_app(channel, app, data, self.new_uuid(), from_dialplan=True)
                continue
            if channel.dialplan_actions and channel.leg is not Leg.LOOPBACK_A:
                self.hangup(channel, "NORMAL_CLEARING")
            return

    def _expand(self, channel: Channel, data: str) -> str:
        out = data
        start = out.find("${")
        guard = 0
        while start >= 0 and guard < 20:
            guard += 1
            end = out.find("}", start)
            if end < 0:
                break
            inner = out[start + 2 : end]
            if "(" in inner and inner.endswith(")"):
                command, _, argument = inner[:-1].partition("(")
                value = self._api_inline(command, argument)
            else:
                value = channel.get_var(inner) or self.global_vars.get(inner, "")
            out = out[:start] + value + out[end + 1 :]
            start = out.find("${", start + len(value))
        return out

    def _api_inline(self, command: str, argument: str) -> str:
        if command == "strftime":
            value = _strftime(argument.replace("%T", "%H:%M:%S"), self.now_us)
        else:
            value = ""
        self._api_event(command, argument)
        return value

    def _run_app(
        self, channel: Channel, app: str, data: str, app_uuid: str, *, from_dialplan: bool
    ) -> None:
        data = self._expand(channel, data)
        channel.current_app, channel.current_app_data = app, data
        channel.current_app_uuid = app_uuid
        if data:
            channel.set_var("current_application_data", data)
        else:
            channel.variables.pop("current_application_data", None)
        channel.set_var("current_application", app)
        after: list[Header] = [("Application", app)]
        if data:
            after.append(("Application-Data", data))
        after.append(("Application-UUID", app_uuid))
        self.emit("CHANNEL_EXECUTE", channel, after=after)
        pending = _Pending(app, data, app_uuid, from_dialplan)
        handler = getattr(self, f"_app_{app}", None)
        if handler is None:
            self._complete_app(channel, pending, "_none_")
            return
        handler(channel, pending)

    def _complete_app(self, channel: Channel, pending: _Pending, response: str = "_none_") -> None:
        self._unblock(channel, pending)
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.on_stop is not None:
            stop, pending.on_stop = pending.on_stop, None
            stop()
        if pending.silent:
            return
        after: list[Header] = [("Application", pending.app)]
        if pending.data:
            after.append(("Application-Data", pending.data))
        after += [("Application-Response", response), ("Application-UUID", pending.app_uuid)]
        if response != "_none_":
            channel.set_var("current_application_response", response)
        self.emit("CHANNEL_EXECUTE_COMPLETE", channel, after=after)
        channel.variables.pop("current_application_response", None)
        if pending.on_end is not None:
            pending.on_end()

    def _block(self, channel: Channel, pending: _Pending) -> None:
        """The application keeps the channel busy until it completes (a stack: a message
        executed while parked runs on top of the park and the park resumes after it)."""
        self._pending.setdefault(channel.uuid, []).append(pending)

    def _unblock(self, channel: Channel, pending: _Pending) -> None:
        stack = self._pending.get(channel.uuid)
        if stack is not None and pending in stack:
            stack.remove(pending)
            if not stack:
                del self._pending[channel.uuid]

    def _current(self, channel: Channel) -> _Pending | None:
        stack = self._pending.get(channel.uuid)
        return stack[-1] if stack else None

    def _is_running(self, channel: Channel, pending: _Pending) -> bool:
        return pending in self._pending.get(channel.uuid, [])

    def _finish_later(
        self,
        channel: Channel,
        pending: _Pending,
        seconds: float,
        response: str,
        before_complete: Callable[[], None] | None = None,
    ) -> None:
        self._block(channel, pending)

        def done() -> None:
            if channel.hung_up or not self._is_running(channel, pending):
                return
            if before_complete is not None:
                before_complete()
            self._complete_app(channel, pending, response)
            self._pump(channel)

        pending.timer = self.scheduler.call_later(seconds, done)

    def _app_set(self, channel: Channel, pending: _Pending) -> None:
        name, _, value = pending.data.partition("=")
        if name:
            channel.set_var(name, value)
            self._apply_var_side_effects(channel, name, value)
        self._complete_app(channel, pending)

    _app_export = _app_set

    def _apply_var_side_effects(self, channel: Channel, name: str, value: str) -> None:
        if name == "sb_tenant":
            channel.tenant = value
        elif name == "sb_number":
            channel.number = value

    def _app_log(self, channel: Channel, pending: _Pending) -> None:
        self._complete_app(channel, pending)

    def _app_ring_ready(self, channel: Channel, pending: _Pending) -> None:
        self._mark_progress(channel)
        self._complete_app(channel, pending)

    def _app_pre_answer(self, channel: Channel, pending: _Pending) -> None:
        self._pre_answer(channel)
        self._complete_app(channel, pending)

    def _app_answer(self, channel: Channel, pending: _Pending) -> None:
        self.answer(channel)
        self._complete_app(channel, pending)

    def _app_sleep(self, channel: Channel, pending: _Pending) -> None:
        milliseconds = int(pending.data) if pending.data.isdigit() else 0
        self._finish_later(channel, pending, milliseconds / 1000, "_none_")

    def _app_hangup(self, channel: Channel, pending: _Pending) -> None:
        cause = pending.data or "NORMAL_CLEARING"
        self._block(channel, pending)
        self.hangup(channel, cause)

    def _app_respond(self, channel: Channel, pending: _Pending) -> None:
        code = pending.data.split(" ", 1)[0]
        if code.startswith(("1", "2")):
            if code.startswith("2"):
                self.answer(channel)
            else:
                self._pre_answer(channel)
            self._complete_app(channel, pending)
            return
        self._block(channel, pending)
        self.hangup(channel, _SIP_TO_CAUSE.get(code, "NORMAL_TEMPORARY_FAILURE"))

    def _app_park(self, channel: Channel, pending: _Pending) -> None:
        self._block(channel, pending)
        self._park(channel)

    def _park_in_place(self, channel: Channel) -> None:
        """`switch_ivr_park_session` (park_after_bridge, uuid_park): the channel waits in
        CS_PARK without a dialplan application, so no EXECUTE events."""
        if channel.parked:
            return
        self._block(channel, _Pending("park", "", self.new_uuid(), False, silent=True))
        self._park(channel)

    def _park(self, channel: Channel) -> None:
        channel.parked = True
        self.emit("CHANNEL_PARK", channel)
        self.truth.call_parked(channel.uuid, channel.tenant)

    def _emit_unpark(self, channel: Channel, state_number: int | None) -> None:
        channel.parked = False
        if state_number is not None:
            channel.state_number = state_number
        self.emit("CHANNEL_UNPARK", channel)

    def _interrupt(self, channel: Channel, state_number: int | None = None) -> None:
        """The channel leaves whatever it runs (transfer, uuid_bridge): every running
        application completes, innermost first, and a park ends with CHANNEL_UNPARK."""
        for pending in reversed(list(self._pending.get(channel.uuid, []))):
            if pending.app in _PARKING_APPS and channel.parked:
                self._emit_unpark(channel, state_number)
            self._complete_app(channel, pending)
        if channel.parked:
            self._emit_unpark(channel, state_number)

    def _app_playback(self, channel: Channel, pending: _Pending) -> None:
        path = pending.data
        file_type = path.split("://", 1)[0] if "://" in path else path.rsplit(".", 1)[-1]
        tail: list[Header] = [("Playback-File-Type", file_type), ("Playback-File-Path", path)]
        self.emit("PLAYBACK_START", channel, after=tail)
        seconds = self.config.playback_seconds

        def stop() -> None:
            channel.set_var("playback_seconds", str(round(seconds)))
            channel.set_var("playback_ms", str(round(seconds * 1000)))
            self.emit("PLAYBACK_STOP", channel, after=[*tail, ("Playback-Status", "done")])

        self._finish_later(channel, pending, seconds, "FILE PLAYED", stop)
        self._caller_may_press(channel)

    _app_endless_playback = _app_playback

    def _app_play_and_get_digits(self, channel: Channel, pending: _Pending) -> None:
        args = pending.data.split(" ")
        while len(args) < 9:
            args.append("")
        minimum = int(args[0]) if args[0].isdigit() else 1
        maximum = int(args[1]) if args[1].isdigit() else minimum
        tries = int(args[2]) if args[2].isdigit() else 1
        timeout_ms = int(args[3]) if args[3].isdigit() else 5000
        collect = _Collect(minimum, maximum, args[4] or "#", args[7] or "digits", args[8])
        self._collect[channel.uuid] = collect
        self._block(channel, pending)
        path = args[5]
        if path:
            tail: list[Header] = [
                ("Playback-File-Type", path.split("://", 1)[0] if "://" in path else "wav"),
                ("Playback-File-Path", path),
            ]
            self.emit("PLAYBACK_START", channel, after=tail)
            self.emit("PLAYBACK_STOP", channel, after=[*tail, ("Playback-Status", "break")])
        wait_s = tries * (timeout_ms / 1000 + self.config.playback_seconds)
        pending.timer = self.scheduler.call_later(
            wait_s, lambda: self._end_collect(channel, pending)
        )
        self._caller_may_press(channel)

    def _end_collect(self, channel: Channel, pending: _Pending) -> None:
        collect = self._collect.pop(channel.uuid, None)
        if collect is None or channel.hung_up:
            return
        digits = collect.digits
        valid = len(digits) >= collect.min_digits
        if valid and collect.regex:
            import re

            valid = re.fullmatch(collect.regex, digits) is not None
        channel.set_var(collect.variable, digits if valid else "")
        channel.set_var(f"{collect.variable}_invalid", "" if valid else digits)
        channel.set_var("read_result", "success" if valid else "failure")
        pending.timer = None
        self._complete_app(channel, pending, "_none_")
        self._pump(channel)

    def receive_dtmf(self, channel: Channel, digits: str, source: str = "APP") -> None:
        """Digits arrive on a channel (`uuid_recv_dtmf` or a simulated key press)."""
        for digit in digits:
            if channel.hung_up:
                return
            self.emit(
                "DTMF",
                channel,
                with_variables=False,
                after=[
                    ("DTMF-Digit", digit),
                    ("DTMF-Duration", "2000"),
                    ("DTMF-Source", source),
                ],
            )
            collect = self._collect.get(channel.uuid)
            if collect is None:
                continue
            pending = self._current(channel)
            if digit in collect.terminators:
                if pending is not None:
                    self._end_collect(channel, pending)
                continue
            collect.digits += digit
            if len(collect.digits) >= collect.max_digits and pending is not None:
                self._end_collect(channel, pending)

    def _app_bridge(self, channel: Channel, pending: _Pending) -> None:
        self._block(channel, pending)
        self._set_callstate(channel, "RING_WAIT")

        def answered(peer: Channel) -> None:
            self._dialing.pop(channel.uuid, None)
            channel.other_type, channel.other_profile = "originatee", peer.profile
            channel.profile.callee_id_name = peer.profile.caller_id_name or "Outbound Call"
            channel.profile.callee_id_number = peer.profile.destination_number
            self._set_callstate(channel, "ACTIVE")
            self._link(channel, peer, kind="app")

        def failed(cause: str) -> None:
            self._dialing.pop(channel.uuid, None)
            if channel.hung_up:
                return
            channel.set_var("originate_disposition", cause)
            channel.set_var("DIALSTATUS", cause)
            self._set_callstate(channel, "ACTIVE")
            self._complete_app(channel, pending)
            self._pump(channel)

        def created(peer: Channel) -> None:
            self._dialing.setdefault(channel.uuid, []).append(peer.uuid)

        self._originate_leg(
            pending.data,
            originator=channel,
            on_answer=answered,
            on_fail=failed,
            leg=Leg.BRIDGED,
            on_created=created,
        )

    def _app_socket(self, channel: Channel, pending: _Pending) -> None:
        """mod_event_socket's `socket` app: dial the client, then (async mode) wait for its
        `connect` and park; the client's commands drive the call from then on."""
        self._block(channel, pending)
        channel.set_var("socket_host", pending.data.split(":", 1)[0])
        channel.controlled_by_socket = True
        if "async" in pending.data.lower().split()[1:]:
            self._socket_waiting.add(channel.uuid)
        if self.socket_hook is not None:
            self.socket_hook(channel, pending.data)

    def socket_connected(self, channel: Channel) -> None:
        """The client said `connect`. In async mode the socket app, which polls for that,
        parks the channel a moment later (`socket_park_delay_s`), and messages the client
        queued meanwhile run inside the park; in sync mode they already run one by one."""
        if channel.uuid not in self._socket_waiting:
            return

        def park() -> None:
            if channel.uuid not in self._socket_waiting or channel.hung_up:
                return
            self._socket_waiting.discard(channel.uuid)
            self._park(channel)
            self._pump(channel)

        self.scheduler.call_later(self.config.socket_park_delay_s, park)

    def _app_transfer(self, channel: Channel, pending: _Pending) -> None:
        self._block(channel, pending)
        parts = pending.data.split()
        destination = parts[0] if parts else ""
        self._complete_app(channel, pending)
        self.transfer(channel, destination, parts[1] if len(parts) > 1 else "XML")

    def _app_conference(self, channel: Channel, pending: _Pending) -> None:
        """mod_conference: `<name>@<profile>[+flags{...}]`; CUSTOM conference::maintenance
        events (conference-create, add-member, del-member, conference-destroy)."""
        self._block(channel, pending)
        name, profile, flags = _conference_target(pending.data)
        conference = self._conferences.get(name)
        if channel.answer_state != "answered":
            self.answer(channel)
        if conference is None:
            conference = _Conference(name, profile, self.config.default_domain, self.new_uuid())
            self._conferences[name] = conference
            self._conference_event(conference, "conference-create")
        self._member_sequence += 1
        member_id = self._member_sequence
        conference.members[channel.uuid] = member_id
        if "endconf" in flags:
            conference.end_members.add(channel.uuid)
        conference.min_two = conference.min_two or "mintwo" in flags
        conference.enforce_min = conference.min_two and len(conference.members) >= 2
        channel.set_var("conference_member_id", str(member_id))
        channel.set_var("conference_moderator", "false")
        channel.set_var("conference_ghost", "false")
        channel.set_var("conference_uuid", conference.uuid)
        channel.set_var("conference_name", name)
        self._conference_event(conference, "add-member", channel)

        def leave() -> None:
            if conference.members.pop(channel.uuid, None) is None:
                return
            self._conference_event(conference, "del-member", channel, member_id)
            last_end_member = channel.uuid in conference.end_members
            conference.end_members.discard(channel.uuid)
            if not conference.members:
                self._conferences.pop(conference.name, None)
                self._conference_event(conference, "conference-destroy")
            elif (last_end_member and not conference.end_members) or (
                conference.enforce_min and len(conference.members) < 2
            ):
                self._end_conference(conference)

        pending.on_stop = leave

    def _end_conference(self, conference: _Conference) -> None:
        """The room's thread notices on its next frame (20 ms) and lets every member go."""
        if conference.ending:
            return
        conference.ending = True

        def end() -> None:
            for uuid in list(conference.members):
                member = self.channels.get(uuid)
                if member is None or member.hung_up:
                    continue
                if member.get_var("hangup_after_conference") == "false":
                    current = self._current(member)
                    if current is not None and current.app == "conference":
                        self._complete_app(member, current)
                        self._pump(member)
                else:
                    self.hangup(member, "NORMAL_CLEARING")

        self.scheduler.call_later(0.02, end)

    def _conference_event(
        self,
        conference: _Conference,
        action: str,
        member: Channel | None = None,
        member_id: int | None = None,
    ) -> None:
        """`conference_event_add_data` (+ `conference_member_add_event_data`) + Action."""
        headers: list[Header] = [
            ("Conference-Name", conference.name),
            ("Conference-Domain", conference.domain),
            ("Conference-Size", str(len(conference.members))),
            ("Conference-Ghosts", "0"),
            ("Conference-Profile-Name", conference.profile),
            ("Conference-Unique-ID", conference.uuid),
        ]
        if member is not None:
            identity = member_id or conference.members.get(member.uuid, 0)
            headers.append(("Floor", "false"))
            headers += member.data_headers(with_variables=False)
            headers += [
                ("Video", "false"),
                ("Hear", "true"),
                ("See", "true"),
                ("Speak", "true"),
                ("Talking", "false"),
                ("Mute-Detect", "false"),
                ("Member-ID", str(identity)),
                ("Member-Type", "member"),
                ("Member-Ghost", "false"),
                ("Energy-Level", "100"),
                ("Current-Energy", "0"),
            ]
        headers.append(("Action", action))
        self.emit(
            "CUSTOM",
            subclass="conference::maintenance",
            after=headers,
            location=("conference_member.c", "conference_member_add", 0)
            if member is not None
            else ("conference_loop.c", "conference_thread_run", 0),
        )

    def _app_eavesdrop(self, channel: Channel, pending: _Pending) -> None:
        """Listen to (or, with `eavesdrop_whisper_aleg=true`, whisper to) another channel: a
        media bug on the target; ends when the target goes away."""
        self._block(channel, pending)
        target = self.channels.get(pending.data.strip())
        if target is None or target.hung_up:
            channel.set_var("eavesdrop_status", "failed")
            self._complete_app(channel, pending, "_none_")
            self._pump(channel)
            return
        if channel.answer_state != "answered":
            self.answer(channel)
        mode = "listen"
        if pending.app == "three_way":
            mode = "barge"
        elif channel.get_var("eavesdrop_whisper_aleg") == "true":
            mode = "whisper"
        channel.set_var("eavesdrop_target", target.uuid)
        channel.set_var("eavesdrop_mode", mode)
        channel.set_var("signal_bond", target.uuid)
        bug: list[Header] = [("Media-Bug-Function", "eavesdrop"), ("Media-Bug-Target", target.uuid)]
        self.emit("MEDIA_BUG_START", target, after=bug)
        self._eavesdroppers.setdefault(target.uuid, []).append((channel, pending))

        def stop() -> None:
            watchers = self._eavesdroppers.get(target.uuid, [])
            if (channel, pending) in watchers:
                watchers.remove((channel, pending))
            if not target.hung_up:
                self.emit("MEDIA_BUG_STOP", target, after=bug)

        pending.on_stop = stop

    _app_three_way = _app_eavesdrop

    def _end_eavesdrops(self, target: Channel) -> None:
        """The eavesdropped channel hangs up: its bugs stop, the listeners' apps end."""
        watchers = self._eavesdroppers.pop(target.uuid, [])
        for _ in watchers:
            self.emit(
                "MEDIA_BUG_STOP",
                target,
                after=[("Media-Bug-Function", "eavesdrop"), ("Media-Bug-Target", target.uuid)],
            )
        for listener, pending in watchers:

            def finish(listener: Channel = listener, pending: _Pending = pending) -> None:
                if listener.hung_up or not self._is_running(listener, pending):
                    return
                self._complete_app(listener, pending, "_none_")
                self._pump(listener)

            self.scheduler.call_later(0, finish)

    # ------------------------------------------------------------- media state

    def _mark_progress(self, channel: Channel) -> None:
        if channel.profile.progress_us:
            return
        channel.profile.progress_us = self.now_us
        self.emit("CHANNEL_PROGRESS", channel)

    def _pre_answer(self, channel: Channel) -> None:
        if channel.answer_state in ("early", "answered"):
            return
        if channel.read_codec is None:
            self._codec_events(channel, _PCMU)
            for key, value in _media_variables(channel):
                channel.set_var(key, value)
        channel.answer_state = "early"
        channel.profile.progress_media_us = self.now_us
        self.emit("CHANNEL_PROGRESS_MEDIA", channel)
        self._set_callstate(channel, "EARLY")

    def answer(self, channel: Channel) -> None:
        """Answer the channel (the `answer` app or `uuid_answer`)."""
        if channel.answer_state == "answered" or channel.hung_up:
            return
        if channel.direction == "inbound":
            self._pre_answer(channel)
        channel.answer_state = "answered"
        channel.profile.answered_us = self.now_us
        channel.set_var("endpoint_disposition", "ANSWER")
        self.emit("CHANNEL_ANSWER", channel)
        self._presence(channel, "answered", "active", "answer")
        self._set_callstate(channel, "ACTIVE")
        self.truth.call_answered(channel.uuid)
        on_loopback_answer = self._loopback_answer.pop(channel.uuid, None)
        if on_loopback_answer is not None:
            on_loopback_answer()

    # ----------------------------------------------------------------- bridge

    def _link(self, owner: Channel, peer: Channel, *, kind: str) -> None:
        """Bridge two answered channels; BRIDGE/UNBRIDGE fire on the owner (A leg) only."""
        owner.bridged_to, peer.bridged_to = peer.uuid, owner.uuid
        self._bridge_owner[owner.uuid] = True
        self._bridge_owner[peer.uuid] = False
        self._bridge_kind[owner.uuid] = kind
        self._bridge_kind[peer.uuid] = kind
        owner.profile.bridged_us = self.now_us
        if kind == "uuid":
            peer.profile.bridged_us = self.now_us
        else:
            owner.other_type, owner.other_profile = "originatee", peer.profile
            if not peer.other_type:
                peer.other_type, peer.other_profile = "originator", owner.profile
        for leg, other in ((owner, peer), (peer, owner)):
            leg.set_var("bridge_to", other.uuid)
            leg.set_var("last_bridge_to", other.uuid)
            leg.set_var("bridge_channel", other.name)
            leg.set_var("bridge_uuid", other.uuid)
            if kind != "uuid":
                leg.profile.callee_id_name = other.profile.caller_id_name or "Outbound Call"
                leg.profile.callee_id_number = other.profile.caller_id_number or other.number
        self.emit(
            "CHANNEL_BRIDGE",
            owner,
            before=[("Bridge-A-Unique-ID", owner.uuid), ("Bridge-B-Unique-ID", peer.uuid)],
        )
        peer.running_state = "CS_EXCHANGE_MEDIA"
        peer.state_number = STATE_NUMBERS["CS_EXCHANGE_MEDIA"]
        self.emit("CHANNEL_STATE", peer)
        self._call_update(owner, peer)
        self._call_update(peer, owner)
        self._cancel_patience(owner)
        self._cancel_patience(peer)
        self.truth.call_bridged(owner.uuid, peer.uuid, self._agent_legs.get(peer.uuid))
        self._start_talk(owner, peer)

    def _call_update(self, channel: Channel, other: Channel) -> None:
        channel.callee_direction = "SEND"
        channel.sent_callee = (
            other.profile.caller_id_name or other.profile.ani,
            other.profile.caller_id_number or other.number,
        )
        self.emit(
            "CALL_UPDATE",
            channel,
            before=[
                ("Direction", "SEND"),
                ("Sent-Callee-ID-Name", other.profile.caller_id_name or other.profile.ani),
                ("Sent-Callee-ID-Number", other.profile.caller_id_number or other.number),
                ("Bridged-To", other.uuid),
            ],
        )

    def uuid_bridge(self, first: Channel, second: Channel) -> None:
        """`uuid_bridge A B`: both legs leave what they do and meet in CS_SOFT_EXECUTE."""
        self._swap_bridge_profiles(first, second)
        for leg in (second, first):
            self._interrupt(leg, STATE_NUMBERS["CS_HIBERNATE"])
            self._set_state(leg, "CS_HIBERNATE")
            self._set_state(leg, "CS_RESET")
        self._set_state(first, "CS_SOFT_EXECUTE")
        self._set_state(second, "CS_SOFT_EXECUTE")
        location = ("switch_ivr_bridge.c", "uuid_bridge_on_soft_execute", 1236)
        self.emit(
            "CHANNEL_EXECUTE",
            first,
            location=location,
            after=[("Application", "uuid_bridge"), ("Application-Data", second.uuid)],
        )
        self.emit(
            "CHANNEL_EXECUTE",
            second,
            location=location,
            after=[("Application", "uuid_bridge"), ("Application-Data", first.uuid)],
        )
        self._link(first, second, kind="uuid")

    def _swap_bridge_profiles(self, originator: Channel, originatee: Channel) -> None:
        """What `switch_ivr_uuid_bridge` does to the caller profiles before either leg moves.

        Both profiles are stepped (new index, new creation time); each leg keeps a copy of
        the other's as its originator/originatee profile (the originatee's copy of the
        originator loses its times, as in the recorded traces); the originator takes the
        originatee's callee id and the originatee the originator's caller id; both get a
        `uuid_br` transfer source.
        """
        now_s = self.now_us // 1_000_000
        originator.set_var("uuid_bridge", originatee.uuid)
        for leg, other in ((originator, originatee), (originatee, originator)):
            leg.set_var("bridge_channel", other.name)
            leg.set_var("bridge_uuid", other.uuid)
            leg.set_var("signal_bond", other.uuid)
        for leg in (originatee, originator):
            leg.set_var("original_destination_number", leg.profile.destination_number)
            leg.set_var("original_caller_id_name", leg.profile.caller_id_name)
            leg.set_var("original_caller_id_number", leg.profile.caller_id_number)
            leg.profile.profile_index += 1
            leg.profile.profile_created_us = self.now_us
        originatee.other_type = "originator"
        originatee.other_profile = _other_leg_copy(originator.profile, keep_times=False)
        originator.other_type = "originatee"
        originator.other_profile = _other_leg_copy(originatee.profile, keep_times=True)
        originator.profile.callee_id_name = originatee.profile.callee_id_name
        originator.profile.callee_id_number = originatee.profile.callee_id_number
        originatee.profile.caller_id_name = originator.profile.caller_id_name
        originatee.profile.caller_id_number = originator.profile.caller_id_number
        for leg, other in ((originator, originatee), (originatee, originator)):
            source = f"{now_s}:{self.new_uuid()}:uuid_br:{other.uuid}"
            leg.profile.transfer_source = source
            leg.set_var("transfer_history", source)
            leg.set_var("transfer_source", source)

    def _unlink(self, channel: Channel) -> Channel | None:
        peer = self.channels.get(channel.bridged_to) if channel.bridged_to else None
        channel.bridged_to = ""
        kind = self._bridge_kind.pop(channel.uuid, "")
        owner = self._bridge_owner.pop(channel.uuid, False)
        channel.variables.pop("bridge_to", None)
        if peer is not None:
            peer.bridged_to = ""
            self._bridge_kind.pop(peer.uuid, None)
            self._bridge_owner.pop(peer.uuid, None)
            peer.variables.pop("bridge_to", None)
        self._stop_talk(channel)
        if peer is not None:
            self._stop_talk(peer)
        a_leg = channel if owner else peer
        b_leg = peer if owner else channel
        if a_leg is not None and b_leg is not None:
            a_leg.set_var("bridge_hangup_cause", b_leg.hangup_cause or "NORMAL_CLEARING")
            self.emit(
                "CHANNEL_UNBRIDGE",
                a_leg,
                before=[("Bridge-A-Unique-ID", a_leg.uuid), ("Bridge-B-Unique-ID", b_leg.uuid)],
            )
        if kind:
            self._bridge_kind_last[channel.uuid] = kind
            if peer is not None:
                self._bridge_kind_last[peer.uuid] = kind
        return peer

    def _after_bridge(self, channel: Channel) -> None:
        """The survivor of a bridge: park, hang up or carry on with its dialplan."""
        if channel.hung_up:
            return
        kind = self._bridge_kind_last.pop(channel.uuid, "")
        pending = self._current(channel)
        if kind == "app" and pending is not None and pending.app == "bridge":
            self._complete_app(channel, pending)
            if channel.get_var("hangup_after_bridge") == "true":
                self.hangup(channel, "NORMAL_CLEARING")
                return
            self._pump(channel)
            return
        channel.running_state = "CS_EXECUTE"
        channel.state_number = STATE_NUMBERS["CS_EXECUTE"]
        self.emit("CHANNEL_STATE", channel)
        if _waits_after_bridge(channel):
            self._park_in_place(channel)
            return
        if channel.leg in (Leg.ORIGINATED,) and channel.dialplan_actions:
            self._pump(channel)
            return
        self.hangup(channel, "NORMAL_CLEARING")

    # ---------------------------------------------------------------- hangup

    def hangup(self, channel: Channel, cause: str = "NORMAL_CLEARING") -> None:
        """Hang a channel up with the event order FreeSWITCH produces."""
        if channel.hung_up:
            return
        ringing = self._ringing.get(channel.uuid)
        if ringing is not None:
            ringing(cause)
            return
        for dialing in self._dialing.pop(channel.uuid, []):
            if dialing in self._ringing:
                self._ringing[dialing]("ORIGINATOR_CANCEL")
        deferred: list[Channel] = []
        self._hangup(channel, cause, deferred)
        for leg in deferred:
            self._destroy(leg)

    def _mark_hangup(self, channel: Channel, cause: str) -> None:
        channel.hung_up = True
        channel.hangup_cause = cause
        channel.answer_state = "hangup"
        channel.state_number = STATE_NUMBERS["CS_HANGUP"]
        channel.profile.hangup_us = self.now_us
        self._cancel_patience(channel)
        self._stop_talk(channel)
        ring = self._ring_timers.pop(channel.uuid, None)
        if ring is not None:
            ring.cancel()
        self._collect.pop(channel.uuid, None)
        self.emit("CHANNEL_HANGUP", channel)

    def _hangup(self, channel: Channel, cause: str, deferred: list[Channel]) -> None:
        self._mark_hangup(channel, cause)
        peer = self.channels.get(channel.bridged_to) if channel.bridged_to else None
        owner = self._bridge_owner.get(channel.uuid, False)
        if peer is not None and not peer.hung_up and owner:
            self._mark_hangup(peer, "NORMAL_CLEARING")
            self._set_state(peer, "CS_HANGUP")
            self._unlink(channel)
            self._finish_current_app(channel)
            self._report(channel, extra=[peer])
            self._destroy(channel)
            self._report(peer, with_state=False, with_callstate=False)
            self._destroy(peer)
            return
        if peer is not None and not peer.hung_up:
            self._unlink(channel)
            self._after_bridge_deferred(peer, deferred)
            self._finish_current_app(channel)
            self._report(channel)
            self._destroy(channel)
            return
        self._finish_current_app(channel)
        self._report(channel)
        if (
            channel.leg in (Leg.ORIGINATED, Leg.BRIDGED, Leg.LOOPBACK_A)
            and channel.profile.answered_us == 0
        ):
            deferred.append(channel)
            return
        self._destroy(channel)

    def _after_bridge_deferred(self, survivor: Channel, deferred: list[Channel]) -> None:
        kind = self._bridge_kind_last.get(survivor.uuid, "")
        pending = self._current(survivor)
        if kind == "app" and pending is not None and pending.app == "bridge":
            self._after_bridge(survivor)
            return
        if _waits_after_bridge(survivor) or (
            survivor.leg is Leg.ORIGINATED and survivor.dialplan_actions
        ):
            self._after_bridge(survivor)
            return
        self._bridge_kind_last.pop(survivor.uuid, None)
        survivor.running_state = "CS_EXECUTE"
        survivor.state_number = STATE_NUMBERS["CS_EXECUTE"]
        self.emit("CHANNEL_STATE", survivor)
        self._mark_hangup(survivor, "NORMAL_CLEARING")
        self._finish_current_app(survivor)
        self._report(survivor)
        deferred.append(survivor)

    def _finish_current_app(self, channel: Channel) -> None:
        """Hang-up ends the running applications, innermost first."""
        stack = list(self._pending.get(channel.uuid, []))
        if channel.parked and not any(p.app in _PARKING_APPS for p in stack):
            self._emit_unpark(channel, None)
        for key in list(channel.recordings):
            self._stop_record(channel, key, "success")
        self._end_eavesdrops(channel)
        for pending in reversed(stack):
            if pending.app in _PARKING_APPS and channel.parked:
                self._emit_unpark(channel, None)
            self._complete_app(channel, pending, _HANGUP_RESPONSES.get(pending.app, "_none_"))

    def _report(
        self,
        channel: Channel,
        *,
        extra: list[Channel] | None = None,
        with_state: bool = True,
        with_callstate: bool = True,
    ) -> None:
        if with_state:
            self._set_state(channel, "CS_HANGUP")
        if with_callstate:
            self._set_callstate(channel, "HANGUP")
        for other in extra or []:
            self._set_callstate(other, "HANGUP")
        channel.state_number = STATE_NUMBERS["CS_REPORTING"]
        self._presence(channel, "CS_HANGUP", "idle", "routing")
        channel.running_state = "CS_REPORTING"
        self.emit("CHANNEL_STATE", channel)
        for key, value in _cdr_variables(channel, self.now_us):
            channel.set_var(key, value)
        self.emit(
            "CHANNEL_HANGUP_COMPLETE", channel, before=[("Hangup-Cause", channel.hangup_cause)]
        )

    def _destroy(self, channel: Channel) -> None:
        if channel.destroyed:
            return
        channel.destroyed = True
        channel.state_number = STATE_NUMBERS["CS_DESTROY"]
        self.emit("CHANNEL_DESTROY", channel)
        channel.running_state = "CS_DESTROY"
        self.emit("CHANNEL_STATE", channel)
        self.channels.pop(channel.uuid, None)
        self._pending.pop(channel.uuid, None)
        self._msg_queue.pop(channel.uuid, None)
        self._socket_waiting.discard(channel.uuid)
        self.truth.channel_ended(channel.uuid, channel.hangup_cause)
        self._agent_legs.pop(channel.uuid, None)
        self._caller_legs.discard(channel.uuid)
        self._loopback_answer.pop(channel.uuid, None)
        watch = self._loopback_watch.pop(channel.uuid, None)
        if watch is not None:
            watch()

    # -------------------------------------------------------------- originate

    def _originate_leg(
        self,
        dial: str,
        *,
        originator: Channel | None,
        on_answer: Callable[[Channel], None],
        on_fail: Callable[[str], None],
        leg: Leg,
        variables: dict[str, str] | None = None,
        on_created: Callable[[Channel], None] | None = None,
        pre_fail: Callable[[str], None] | None = None,
    ) -> None:
        """Create an outgoing leg from a dial string and let its endpoint decide its fate."""
        variables = dict(variables or {})
        dial, inline_vars = _split_dial_vars(dial)
        variables.update(inline_vars)
        failover = _split_top_level(dial, "|")
        simultaneous = _split_top_level(failover[0] if failover else "", ",")
        if len(simultaneous) > 1:
            self._originate_race(
                simultaneous,
                originator=originator,
                on_answer=on_answer,
                on_fail=on_fail,
                leg=leg,
                variables=variables,
                on_created=on_created,
                pre_fail=pre_fail,
            )
            return
        dial, leg_vars = _split_dial_vars(simultaneous[0] if simultaneous else "")
        variables.update(leg_vars)
        if dial.startswith("user/"):
            target = dial[len("user/") :]
            user, _, domain = target.partition("@")
            key = f"{user}@{domain or self.config.default_domain}"
            agent = self.agents.get(key)
            if agent is None:
                on_fail("SUBSCRIBER_ABSENT")
                return
            if not agent.registered:
                self._api_event("sofia_contact", f"*/{key}")
                self._api_event("verto_contact", key)
                on_fail("USER_NOT_REGISTERED")
                return
            channel_name = f"sofia/internal/{user}@{agent.domain}"
            self._outgoing(
                channel_name,
                user,
                key,
                agent,
                originator,
                on_answer,
                on_fail,
                leg,
                variables,
                on_created,
                pre_fail,
            )
            return
        if dial.startswith("sofia/"):
            parts = dial.split("/", 2)
            target = parts[2] if len(parts) == 3 else ""
            user = target.split("@", 1)[0]
            agent = self.agents.get(target) or self.agents.get(target.split(":", 1)[0])
            self._outgoing(
                dial,
                user,
                target,
                agent,
                originator,
                on_answer,
                on_fail,
                leg,
                variables,
                on_created,
                pre_fail,
            )
            return
        if dial.startswith("loopback/"):
            self._loopback(dial, originator, on_answer, on_fail, variables, on_created, pre_fail)
            return
        on_fail("CHAN_NOT_IMPLEMENTED")

    def _originate_race(
        self,
        dials: list[str],
        *,
        originator: Channel | None,
        on_answer: Callable[[Channel], None],
        on_fail: Callable[[str], None],
        leg: Leg,
        variables: dict[str, str],
        on_created: Callable[[Channel], None] | None,
        pre_fail: Callable[[str], None] | None,
    ) -> None:
        """`a,b,c`: ring every endpoint at once; the first to answer wins and the others are
        hung up with LOSE_RACE (switch_ivr_originate.c). Endpoints that cannot be reached are
        skipped; when no leg answers, the originate fails with `_race_cause` of the causes."""
        deciding = set(range(len(dials)))
        causes: list[str] = []
        legs: dict[int, Channel] = {}
        winner: list[Channel] = []

        def created(index: int) -> Callable[[Channel], None]:
            def record(channel: Channel) -> None:
                legs[index] = channel
                if on_created is not None:
                    on_created(channel)

            return record

        def answered(index: int) -> Callable[[Channel], None]:
            def win(channel: Channel) -> None:
                deciding.discard(index)
                if winner:
                    self.hangup(channel, "LOSE_RACE")
                    return
                winner.append(channel)
                for other in sorted(deciding):
                    loser = legs.get(other)
                    if loser is None or loser.hung_up:
                        continue
                    cancel = self._ringing.get(loser.uuid)
                    if cancel is not None:
                        cancel("LOSE_RACE")
                    else:
                        self.hangup(loser, "LOSE_RACE")
                on_answer(channel)

            return win

        def failed(index: int) -> Callable[[str], None]:
            def lose(cause: str) -> None:
                if index not in deciding:
                    return
                deciding.discard(index)
                causes.append(cause)
                if deciding or winner:
                    return
                final = _race_cause(causes)
                if pre_fail is not None:
                    pre_fail(final)
                on_fail(final)

            return lose

        for index, dial in enumerate(dials):
            leg_vars = dict(variables)
            if index > 0:
                # origination_uuid names one channel: the first leg created takes it.
                leg_vars.pop("origination_uuid", None)
            if winner or index not in deciding:
                continue
            self._originate_leg(
                dial,
                originator=originator,
                on_answer=answered(index),
                on_fail=failed(index),
                leg=leg,
                variables=leg_vars,
                on_created=created(index),
                pre_fail=None,
            )

    def _new_outgoing_channel(
        self,
        channel_name: str,
        user: str,
        originator: Channel | None,
        leg: Leg,
        variables: dict[str, str],
        source: str,
    ) -> Channel:
        uuid = variables.pop("origination_uuid", "") or self.new_uuid()
        caller_number = variables.get("origination_caller_id_number", "")
        caller_name = variables.get("origination_caller_id_name", "")
        if originator is not None:
            caller_number = caller_number or originator.profile.caller_id_number
            caller_name = caller_name or originator.profile.caller_id_name
        caller_number = caller_number or "0000000000"
        profile = CallerProfile(
            direction="outbound",
            logical_direction="outbound",
            destination_number=user,
            unique_id=uuid,
            source=source,
            context=originator.profile.context if originator else "default",
            channel_name=channel_name,
            username=originator.profile.username if originator else "",
            dialplan="inline" if originator else "",
            caller_id_name=caller_name,
            caller_id_number=caller_number,
            orig_caller_id_name=caller_name,
            orig_caller_id_number=caller_number,
            callee_id_name="Outbound Call",
            callee_id_number=user,
            network_addr=originator.profile.network_addr if originator else "",
            ani=caller_number,
            profile_created_us=self.now_us,
            created_us=self.now_us,
        )
        channel = Channel(
            uuid=uuid,
            name=channel_name,
            direction="outbound",
            leg=leg,
            profile=profile,
            call_uuid=originator.uuid if originator else uuid,
            running_state="CS_NONE",
            state_number=STATE_NUMBERS["CS_INIT"],
        )
        if originator is not None:
            channel.other_type = "originator"
            channel.other_profile = originator.profile.snapshot(keep_times=False)
        channel.initial = channel.profile.snapshot(keep_times=True)
        self.channels[uuid] = channel
        return channel

    def _outgoing(
        self,
        channel_name: str,
        user: str,
        key: str,
        agent: AgentEndpoint | None,
        originator: Channel | None,
        on_answer: Callable[[Channel], None],
        on_fail: Callable[[str], None],
        leg: Leg,
        variables: dict[str, str],
        on_created: Callable[[Channel], None] | None,
        pre_fail: Callable[[str], None] | None,
    ) -> None:
        source = "mod_sofia" if originator else "src/switch_ivr_originate.c"
        channel = self._new_outgoing_channel(channel_name, user, originator, leg, variables, source)
        if agent is not None:
            self._agent_legs[channel.uuid] = agent.key
            self.truth.agent_offered(agent.key)
        self.emit("CHANNEL_OUTGOING", channel)
        self._set_state(channel, "CS_INIT")
        for name, value in _outgoing_variables(channel, originator, self._next_session_id()):
            channel.set_var(name, value)
        for name, value in variables.items():
            channel.set_var(name, value)
        channel.state_number = STATE_NUMBERS["CS_ROUTING"]
        self.emit("CHANNEL_CREATE", channel)
        self.emit("CHANNEL_ORIGINATE", channel)
        if on_created is not None:
            on_created(channel)
        channel.running_state = "CS_ROUTING"
        self.emit("CHANNEL_STATE", channel)
        self._set_state(channel, "CS_CONSUME_MEDIA")
        timeout_s = _timeout(variables, self.config.default_ring_timeout_s)
        outcome = self._agent_outcome(agent)

        def fail(cause: str) -> None:
            if self._ringing.pop(channel.uuid, None) is None:
                return
            ring = self._ring_timers.pop(channel.uuid, None)
            if ring is not None:
                ring.cancel()
            if agent is not None:
                self.truth.agent_failed(agent.key, cause)
            self._mark_hangup(channel, cause)
            self._report(channel)
            if pre_fail is not None:
                pre_fail(cause)
            on_fail(cause)
            self._destroy(channel)

        self._ringing[channel.uuid] = fail
        if outcome == "unreachable":
            fail("NORMAL_TEMPORARY_FAILURE")
            return
        if not channel.profile.network_addr and channel.name.startswith("sofia/"):
            channel.profile.network_addr = _endpoint_address(channel.name, self.config.node.ipv4)
        self._mark_progress(channel)
        self._set_callstate(channel, "RINGING")
        self._codec_events(channel, _PCMU)
        if outcome == "busy":
            self._ring_timers[channel.uuid] = self.scheduler.call_later(
                self.rng.uniform(0.2, 1.0), lambda: fail("USER_BUSY")
            )
            return
        if outcome == "reject":
            self._ring_timers[channel.uuid] = self.scheduler.call_later(
                self.rng.uniform(0.5, 2.0), lambda: fail("CALL_REJECTED")
            )
            return
        delay = (
            timeout_s + 1 if outcome == "no_answer" or agent is None else self._answer_delay(agent)
        )
        if delay >= timeout_s:
            self._ring_timers[channel.uuid] = self.scheduler.call_later(
                timeout_s, lambda: fail("NO_ANSWER")
            )
            return

        def answer() -> None:
            if self._ringing.pop(channel.uuid, None) is None:
                return
            self._ring_timers.pop(channel.uuid, None)
            for name, value in _media_variables(channel):
                channel.set_var(name, value)
            channel.answer_state = "answered"
            channel.profile.answered_us = self.now_us
            self.emit("CHANNEL_ANSWER", channel)
            self._set_callstate(channel, "ACTIVE")
            if originator is None:
                _flip_caller_id(channel.profile)
                channel.callee_direction = "RECV"
                self.emit(
                    "CALL_UPDATE",
                    channel,
                    before=[("Direction", "RECV")],
                    location=("switch_channel.c", "switch_channel_flip_cid", 3279),
                )
            if agent is not None:
                self.truth.agent_answered(agent.key)
            on_answer(channel)

        self._ring_timers[channel.uuid] = self.scheduler.call_later(delay, answer)

    def _agent_outcome(self, agent: AgentEndpoint | None) -> str:
        if agent is None:
            return "unreachable"
        if agent.outcome != "answer":
            return agent.outcome
        draw = self.rng.random()
        if draw < agent.busy_probability:
            return "busy"
        if draw < agent.busy_probability + agent.no_answer_probability:
            return "no_answer"
        return "answer"

    def _answer_delay(self, agent: AgentEndpoint) -> float:
        low, high = agent.answer_delay_s
        return self.rng.uniform(low, high)

    def _loopback(
        self,
        dial: str,
        originator: Channel | None,
        on_answer: Callable[[Channel], None],
        on_fail: Callable[[str], None],
        variables: dict[str, str],
        on_created: Callable[[Channel], None] | None,
        pre_fail: Callable[[str], None] | None,
    ) -> None:
        parts = dial.split("/")
        extension = parts[1] if len(parts) > 1 else ""
        context = parts[2] if len(parts) > 2 else "default"
        a_name = f"loopback/{extension}-a"
        a_leg = self._new_outgoing_channel(
            a_name, extension, originator, Leg.LOOPBACK_A, variables, "mod_loopback"
        )
        a_leg.profile.context = context
        a_leg.profile.callee_id_number = context
        a_leg.profile.dialplan = "xml"
        b_uuid = self.new_uuid()
        a_leg.state_number = 0
        self._codec_events(a_leg, Codec("L16", 8000, 128000), with_profile=False)
        a_leg.state_number = STATE_NUMBERS["CS_INIT"]
        a_leg.name = a_leg.profile.channel_name = f"loopback/{extension}-a"
        self.emit("CHANNEL_OUTGOING", a_leg)
        self._set_state(a_leg, "CS_INIT")
        b_profile = replace_profile_for_loopback(
            a_leg.profile, b_uuid, extension, context, self.now_us
        )
        b_leg = Channel(
            uuid=b_uuid,
            name=f"loopback/{extension}-b",
            direction="inbound",
            leg=Leg.LOOPBACK_B,
            profile=b_profile,
            call_uuid=b_uuid,
            running_state="CS_NONE",
            state_number=0,
        )
        b_leg.initial = b_leg.profile.snapshot(keep_times=True)
        self.channels[b_uuid] = b_leg
        self._codec_events(b_leg, Codec("L16", 8000, 128000), with_profile=False)
        for name, value in [
            ("direction", "outbound"),
            ("is_outbound", "true"),
            ("uuid", a_leg.uuid),
            ("call_uuid", a_leg.uuid),
            ("session_id", self._next_session_id()),
            ("read_codec", "L16"),
            ("read_rate", "8000"),
            ("write_codec", "L16"),
            ("write_rate", "8000"),
            ("channel_name", a_leg.name),
            ("originate_early_media", "true"),
            ("originate_endpoint", "loopback"),
            ("other_loopback_leg_uuid", b_uuid),
            ("loopback_leg", "A"),
        ]:
            a_leg.set_var(name, value)
        a_leg.state_number = STATE_NUMBERS["CS_ROUTING"]
        self.emit("CHANNEL_CREATE", a_leg)
        self.emit("CHANNEL_ORIGINATE", a_leg)
        if on_created is not None:
            on_created(a_leg)
        a_leg.running_state = "CS_ROUTING"
        self.emit("CHANNEL_STATE", a_leg)
        self._set_state(a_leg, "CS_CONSUME_MEDIA")
        b_leg.state_number = STATE_NUMBERS["CS_INIT"]
        self._set_state(b_leg, "CS_INIT")
        for name, value in [
            ("direction", "inbound"),
            ("uuid", b_uuid),
            ("session_id", self._next_session_id()),
            ("channel_name", b_leg.name),
            ("other_loopback_leg_uuid", a_leg.uuid),
            ("loopback_leg", "B"),
        ]:
            b_leg.set_var(name, value)
        b_leg.state_number = STATE_NUMBERS["CS_ROUTING"]
        self.emit("CHANNEL_CREATE", b_leg)
        b_leg.running_state = "CS_ROUTING"
        self._set_callstate(b_leg, "RINGING")
        self.emit("CHANNEL_STATE", b_leg)

        def b_ended() -> None:
            if a_leg.hung_up:
                return
            cause = b_leg.hangup_cause or "NORMAL_CLEARING"
            if a_leg.profile.answered_us:
                self.hangup(a_leg, cause)
                return
            self._mark_hangup(a_leg, cause)
            self._report(a_leg)
            if pre_fail is not None:
                pre_fail(cause)
            on_fail(cause)
            self._destroy(a_leg)

        self._loopback_watch[b_uuid] = b_ended

        def b_routed(decision: DialplanDecision) -> None:
            if b_leg.hung_up:
                return
            if decision.actions is None:
                self.hangup(b_leg, "NO_ROUTE_DESTINATION")
                return
            b_leg.dialplan_actions = list(decision.actions)
            if decision.tenant:
                b_leg.tenant = decision.tenant
            b_leg.state_number = STATE_NUMBERS["CS_EXECUTE"]
            b_leg.running_state = "CS_EXECUTE"
            self.emit("CHANNEL_STATE", b_leg)
            self._loopback_answer[b_uuid] = b_answered
            self._pump(b_leg)

        def b_answered() -> None:
            if a_leg.hung_up or a_leg.profile.answered_us:
                return
            a_leg.answer_state = "answered"
            a_leg.profile.answered_us = self.now_us
            self.emit("CHANNEL_ANSWER", a_leg)
            self._set_callstate(a_leg, "ACTIVE")
            on_answer(a_leg)

        self.resolver(self.dialplan_request(b_leg), b_routed)

    def originate(
        self,
        argument: str,
        done: Callable[[str], None],
        *,
        on_created: Callable[[Channel], None] | None = None,
    ) -> None:
        """The `originate` API: `<dialstring> <&app(args)|extension> [dialplan] [context]`."""
        dial, rest = _split_originate(argument)
        target = rest.split(" ", 1)[0] if rest else ""
        _, variables = _split_dial_vars(dial)

        def answered(channel: Channel) -> None:
            self._api_event("originate", argument)
            done(f"+OK {channel.uuid}\n")
            self._start_after_originate(channel, target)

        def failed(cause: str) -> None:
            self._api_event("originate", argument)
            done(f"-ERR {cause}\n")

        if not target:
            self._api_event("originate", argument)
            done(
                "-USAGE: <call url> <exten>|&<application_name>(<app_args>) "
                "[<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n"
            )
            return
        self._originate_leg(
            dial,
            originator=None,
            on_answer=answered,
            on_fail=failed,
            leg=Leg.ORIGINATED,
            variables=variables,
            on_created=on_created,
            pre_fail=None,
        )

    def _start_after_originate(self, channel: Channel, target: str) -> None:
        channel.running_state = "CS_EXECUTE"
        channel.state_number = STATE_NUMBERS["CS_EXECUTE"]
        self.emit("CHANNEL_STATE", channel)
        if target.startswith("&"):
            app, _, args = target[1:].partition("(")
            channel.dialplan_actions = [(app, args[:-1] if args.endswith(")") else args)]
        else:
            decision = self.static_dialplan.lookup(target)
            channel.dialplan_actions = decision.actions or [("hangup", "NO_ROUTE_DESTINATION")]
        channel.app_index = 0
        self._pump(channel)

    def transfer(self, channel: Channel, destination: str, dialplan: str = "XML") -> None:
        """`uuid_transfer`: leave the current application and route again."""
        channel.profile.rdnis = channel.profile.destination_number
        channel.profile.transfer_source = (
            f"{self.now_us // 1_000_000}:{self.new_uuid()}:bl_xfer:{destination}/public/{dialplan}"
        )
        self._interrupt(channel, STATE_NUMBERS["CS_ROUTING"])
        channel.profile.profile_index += 1
        channel.profile.dialplan = dialplan
        channel.profile.profile_created_us = self.now_us
        channel.set_var("transfer_source", channel.profile.transfer_source)
        channel.running_state = "CS_ROUTING"
        channel.state_number = STATE_NUMBERS["CS_ROUTING"]
        self._set_callstate(channel, "RINGING")
        self.emit("CHANNEL_STATE", channel)
        channel.profile.rdnis = ""
        channel.state_number = STATE_NUMBERS["CS_EXECUTE"]
        self._presence(channel, "CS_ROUTING", "active", "routing")
        channel.running_state = "CS_EXECUTE"
        self._set_callstate(channel, "ACTIVE")
        self.emit("CHANNEL_STATE", channel)
        if dialplan == "inline":
            actions = [_split_inline(part) for part in destination.split(",") if part]
        else:
            decision = self.static_dialplan.lookup(destination)
            actions = decision.actions or [("hangup", "NO_ROUTE_DESTINATION")]
        channel.dialplan_actions = actions
        channel.app_index = 0
        self._pump(channel)

    # -------------------------------------------------------------- recording

    def start_record(self, channel: Channel, path: str) -> None:
        channel.recordings[path] = self.now_us
        channel.set_var("record_path", path)
        self.emit("RECORD_START", channel, after=[("Record-File-Path", path)])
        self.emit(
            "MEDIA_BUG_START",
            channel,
            before=[("Media-Bug-Function", "session_record"), ("Media-Bug-Target", path)],
        )
        self.truth.recording_started(channel.uuid)
        self._caller_may_leave_message(channel)

    def _caller_may_leave_message(self, channel: Channel) -> None:
        """A caller recorded while not bridged is leaving a message: speaks, hangs up."""
        mean = self.config.callers.message_mean_s
        if channel.uuid not in self._caller_legs or channel.bridged_to or mean <= 0:
            return
        self._cancel_patience(channel)
        speaking = min(self.rng.expovariate(1.0 / mean), 10 * mean) + 1.0
        self.scheduler.call_later(
            speaking, lambda: self._hangup_if_alive(channel.uuid, "NORMAL_CLEARING")
        )

    def _stop_record(self, channel: Channel, path: str, completion: str) -> None:
        started = channel.recordings.pop(path, None)
        if started is None:
            return
        elapsed_ms = (self.now_us - started) // 1000
        channel.set_var("record_seconds", str(elapsed_ms // 1000))
        channel.set_var("record_ms", str(elapsed_ms))
        channel.set_var("record_completion_cause", completion)
        self.emit(
            "RECORD_STOP",
            channel,
            after=[("Record-File-Path", path), ("Record-Completion-Cause", completion)],
        )
        self.emit(
            "MEDIA_BUG_STOP",
            channel,
            before=[("Media-Bug-Function", "session_record"), ("Media-Bug-Target", path)],
        )

    # ------------------------------------------------------------------ hold

    def hold(self, channel: Channel, mode: str) -> None:
        want = not channel.held if mode == "toggle" else mode != "off"
        if want == channel.held:
            return
        channel.held = want
        if want:
            channel.profile.last_hold_us = self.now_us
            self._set_callstate(channel, "HELD")
            self.emit("CHANNEL_HOLD", channel)
        else:
            channel.profile.hold_accum_us += self.now_us - channel.profile.last_hold_us
            self._set_callstate(channel, "ACTIVE")
            self.emit("CHANNEL_UNHOLD", channel)

    # -------------------------------------------------------------- messages

    def sendmsg(self, uuid: str, headers: dict[str, str]) -> str:
        """`sendmsg` call-command: execute, hangup, unicast/nomedia are accepted."""
        channel = self.channels.get(uuid)
        if channel is None:
            return f"-ERR invalid session id [{uuid}]"
        command = headers.get("call-command", "")
        if command == "execute":
            app = headers.get("execute-app-name", "")
            data = headers.get("execute-app-arg", "")
            app_uuid = headers.get("event-uuid") or self.new_uuid()
            loops = int(headers.get("loops", "1") or "1")
            queue = self._msg_queue.setdefault(uuid, deque())
            for _ in range(max(1, loops)):
                queue.append((app, data, app_uuid))
            self.scheduler.call_later(0, lambda: self._pump_if_alive(uuid))
            return "+OK"
        if command == "hangup":
            cause = headers.get("hangup-cause", "NORMAL_CLEARING")
            self.scheduler.call_later(0, lambda: self._hangup_if_alive(uuid, cause))
            return "+OK"
        if command in ("unicast", "nomedia", "xferext"):
            return "+OK"
        return "-ERR invalid command"

    def _pump_if_alive(self, uuid: str) -> None:
        channel = self.channels.get(uuid)
        if channel is not None:
            self._pump(channel)

    def _hangup_if_alive(self, uuid: str, cause: str) -> None:
        channel = self.channels.get(uuid)
        if channel is not None:
            self.hangup(channel, cause)

    # ------------------------------------------------------------------- API

    def _api_event(self, command: str, argument: str | None) -> None:
        after: list[Header] = [("API-Command", command)]
        if argument:
            after.append(("API-Command-Argument", argument))
        self.emit("API", after=after)

    def execute_api(self, command: str, argument: str | None, done: ApiDone) -> None:
        """Run an API command; `done` gets the reply text (maybe later, for originate)."""
        if command == "originate":
            self.originate(argument or "", done)
            return
        handler = getattr(self, f"_api_{command}", None) if command.isidentifier() else None
        if handler is None:
            self._api_event(command, argument)
            done(f"-ERR {command} Command not found!\n")
            return
        reply: str = handler(argument or "")
        self._api_event(command, argument)
        done(reply)

    def _channel_arg(self, argument: str) -> tuple[Channel | None, list[str]]:
        parts = argument.split()
        if not parts:
            return None, []
        return self.channels.get(parts[0]), parts[1:]

    def _api_status(self, argument: str) -> str:
        return self.status_text()

    def status_text(self) -> str:
        up_us = self.now_us - self.started_us
        seconds, micros = divmod(up_us, 1_000_000)
        minutes, secs = divmod(seconds, 60)
        hours, mins = divmod(minutes, 60)
        days, hrs = divmod(hours, 24)
        years, dys = divmod(days, 365)
        node = self.config.node
        count = len(self.channels)
        return (
            f"UP {years} years, {dys} days, {hrs} hours, {mins} minutes, {secs} seconds, "
            f"{micros // 1000} milliseconds, {micros % 1000} microseconds\n"
            f"FreeSWITCH (Version {node.version} {node.git}) is ready\n"
            f"{self._sessions_since_start} session(s) since startup\n"
            f"{count} session(s) - peak {self._peak}, last 5min {self._peak} \n"
            f"0 session(s) per Sec out of max {node.sessions_per_second}, peak 0, last 5min 0 \n"
            f"{node.max_sessions} session(s) max\n"
            "min idle cpu 0.00/99.00\n"
            "Current Stack Size/Max 240K/8192K\n"
        )

    def _api_version(self, argument: str) -> str:
        node = self.config.node
        return f"FreeSWITCH Version {node.version} ({node.git})\n"

    def _api_hostname(self, argument: str) -> str:
        return self.config.node.hostname

    def _api_global_getvar(self, argument: str) -> str:
        if not argument:
            return "".join(f"{key}={value}\n" for key, value in self.global_vars.items())
        return self.global_vars.get(argument.strip(), "")

    def _api_global_setvar(self, argument: str) -> str:
        name, _, value = argument.partition("=")
        self.global_vars[name.strip()] = value.strip()
        return "+OK"

    def _api_strftime(self, argument: str) -> str:
        return _strftime(argument or "%Y-%m-%d %H:%M:%S", self.now_us)

    def _api_show(self, argument: str) -> str:
        """`show channels|calls [as json]`: rows of FreeSWITCH's `channels` table and its
        `basic_calls` view, with their column names; json as mod_commands prints it."""
        words = argument.split()
        as_json = len(words) >= 3 and [word.lower() for word in words[-2:]] == ["as", "json"]
        what = words[0].lower() if words else ""
        if what not in ("channels", "calls"):
            return "-USAGE: show channels|calls [as json]\n"
        rows = self._channel_rows() if what == "channels" else self._call_rows()
        if as_json:
            if not rows:
                return '{"row_count": 0}\n'
            document = {"row_count": len(rows), "rows": rows}
            return json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
        if not rows:
            return "\n0 total.\n"
        columns = list(rows[0])
        lines = [",".join(columns)] + [",".join(row[column] for column in columns) for row in rows]
        return "\n".join(lines) + f"\n\n{len(rows)} total.\n"

    def _channel_row(self, channel: Channel) -> dict[str, str]:
        profile = channel.profile
        initial = channel.initial or profile
        read, write = channel.read_codec, channel.write_codec
        created_s = profile.created_us // 1_000_000
        return {
            "uuid": channel.uuid,
            "direction": channel.direction,
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created_s)),
            "created_epoch": str(created_s),
            "name": channel.name,
            "state": channel.running_state,
            "cid_name": profile.caller_id_name,
            "cid_num": profile.caller_id_number,
            "ip_addr": profile.network_addr,
            "dest": profile.destination_number,
            "application": channel.current_app,
            "application_data": channel.current_app_data,
            "dialplan": profile.dialplan,
            "context": profile.context,
            "read_codec": read.name if read else "",
            "read_rate": str(read.rate) if read else "",
            "read_bit_rate": str(read.bit_rate) if read else "",
            "write_codec": write.name if write else "",
            "write_rate": str(write.rate) if write else "",
            "write_bit_rate": str(write.bit_rate) if write else "",
            "secure": "",
            "hostname": self.config.node.hostname,
            "presence_id": channel.presence_id,
            "presence_data": "",
            "accountcode": channel.get_var("accountcode") or "",
            "callstate": channel.call_state,
            "callee_name": profile.callee_id_name,
            "callee_num": profile.callee_id_number,
            "callee_direction": channel.callee_direction,
            "call_uuid": channel.call_uuid,
            "sent_callee_name": channel.sent_callee[0],
            "sent_callee_num": channel.sent_callee[1],
            "initial_cid_name": initial.caller_id_name,
            "initial_cid_num": initial.caller_id_number,
            "initial_ip_addr": initial.network_addr,
            "initial_dest": initial.destination_number,
            "initial_dialplan": initial.dialplan,
            "initial_context": initial.context,
        }

    def _channel_rows(self) -> list[dict[str, str]]:
        live = [channel for channel in self.channels.values() if not channel.destroyed]
        live.sort(key=lambda channel: channel.profile.created_us)
        return [self._channel_row(channel) for channel in live]

    def _call_rows(self) -> list[dict[str, str]]:
        """The `basic_calls` view: a bridged call is one row (its A leg with the B leg's
        columns prefixed `b_`), an unbridged channel a row whose `b_` columns are empty."""
        rows: list[dict[str, str]] = []
        for row in self._channel_rows():
            channel = self.channels[row["uuid"]]
            peer = self.channels.get(channel.bridged_to) if channel.bridged_to else None
            owner = self._bridge_owner.get(channel.uuid, False)
            if peer is not None and not owner:
                continue
            peer_row = self._channel_row(peer) if peer is not None else {}
            out = {key: row[key] for key in _CALL_COLUMNS}
            for key in _CALL_B_COLUMNS:
                out[f"b_{key}"] = peer_row.get(key, "")
            bridged_s = channel.profile.bridged_us // 1_000_000 if peer is not None else 0
            out["call_created_epoch"] = str(bridged_s) if bridged_s else ""
            rows.append(out)
        return rows

    def _api_uuid_exists(self, argument: str) -> str:
        channel, _ = self._channel_arg(argument)
        return "true" if channel is not None and not channel.destroyed else "false"

    def _api_uuid_answer(self, argument: str) -> str:
        channel, _ = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        self.scheduler.call_later(0, lambda: self.answer(channel))
        return "+OK\n"

    def _api_uuid_kill(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None or channel.hung_up:
            return "-ERR No such channel!\n"
        self.hangup(channel, cause_from_text(rest[0] if rest else ""))
        return "+OK\n"

    def _api_uuid_park(self, argument: str) -> str:
        channel, _ = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        if channel.bridged_to:
            peer = self._unlink(channel)
            if peer is not None:
                self.scheduler.call_later(0, lambda: self._after_bridge(peer))
        for pending in reversed(list(self._pending.get(channel.uuid, []))):
            if pending.app != "park":
                self._complete_app(channel, pending)
        channel.dialplan_actions, channel.app_index = [], 0
        self._park_in_place(channel)
        return "+OK\n"

    def _api_uuid_bridge(self, argument: str) -> str:
        parts = argument.split()
        if len(parts) < 2:
            return "-USAGE: <uuid> <other_uuid>\n"
        first, second = self.channels.get(parts[0]), self.channels.get(parts[1])
        if first is None or first.hung_up:
            return f"-ERR Invalid uuid {parts[0]}\n"
        if second is None or second.hung_up:
            return f"-ERR no such channel {parts[1]}\n"
        self.scheduler.call_later(0, lambda: self._bridge_if_alive(first, second))
        return f"+OK {second.uuid}\n"

    def _bridge_if_alive(self, first: Channel, second: Channel) -> None:
        if not first.hung_up and not second.hung_up:
            self.uuid_bridge(first, second)

    def _api_uuid_transfer(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        if not rest:
            return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
        if rest[0] in ("-bleg", "-both"):
            rest = rest[1:]
        destination = rest[0]
        dialplan = rest[1] if len(rest) > 1 else "XML"
        if dialplan == "inline" or destination.startswith(("bridge:", "conference:")):
            dialplan = "inline"
        self.scheduler.call_later(
            0, lambda: self._transfer_if_alive(channel, destination, dialplan)
        )
        return "+OK\n"

    def _transfer_if_alive(self, channel: Channel, destination: str, dialplan: str) -> None:
        if channel.hung_up:
            return
        if channel.bridged_to:
            peer = self._unlink(channel)
            if peer is not None:
                self._after_bridge(peer)
        self.transfer(channel, destination, dialplan)

    def _api_uuid_hold(self, argument: str) -> str:
        parts = argument.split()
        mode = "on"
        if parts and parts[0] in ("off", "toggle"):
            mode = parts.pop(0)
        channel = self.channels.get(parts[0]) if parts else None
        if channel is None:
            return "-ERR No such channel!\n"
        self.hold(channel, mode)
        return "+OK Success\n"

    def _api_uuid_audio(self, argument: str) -> str:
        """`uuid_audio <uuid> start read|write mute|level <n>` or `stop`: only muting what
        the leg sends (`start read mute <n>`, n != 0) is modelled; levels are accepted."""
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        if rest == ["stop"]:
            channel.read_muted = False
            return "+OK\n"
        if len(rest) != 4 or rest[0] != "start" or rest[1] not in ("read", "write"):
            return "-USAGE: <uuid> [start [read|write] [mute|level <level>]|stop]\n"
        if rest[2] not in ("mute", "level"):
            return "-USAGE: <uuid> [start [read|write] [mute|level <level>]|stop]\n"
        if rest[1] == "read" and rest[2] == "mute":
            channel.read_muted = rest[3] not in ("0", "")
        return "+OK\n"

    def _api_uuid_record(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR Cannot locate session!\n"
        if len(rest) < 2:
            return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
        action, path = rest[0], rest[1]
        if action == "start":
            self.start_record(channel, path)
        elif action == "stop":
            if path == "all":
                for key in list(channel.recordings):
                    self._stop_record(channel, key, "success")
            elif path not in channel.recordings:
                return "-ERR Cannot stop record session!\n"
            else:
                self._stop_record(channel, path, "success")
        elif action in ("mask", "unmask"):
            if path not in channel.recordings:
                return f"-ERR Cannot {action} recording session!\n"
            channel.set_var("record_masked", "true" if action == "mask" else "false")
        else:
            return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
        return "+OK Success\n"

    def _api_uuid_recv_dtmf(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None or not rest:
            return "-ERR No such channel!\n"
        digits = rest[0]
        self.scheduler.call_later(0, lambda: self._dtmf_if_alive(channel, digits))
        return f"+OK {channel.uuid} received DTMF {digits}.\n"

    def _dtmf_if_alive(self, channel: Channel, digits: str) -> None:
        if not channel.hung_up:
            self.receive_dtmf(channel, digits.split("@", 1)[0])

    def _api_uuid_send_dtmf(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None or not rest:
            return "-ERR No such channel!\n"
        digits = rest[0].split("@", 1)[0]
        if not digits or any(digit not in _DTMF_DIGITS for digit in digits):
            return f"-ERR Invalid DTMF [{digits}]\n"
        return "+OK Success\n"

    def _api_uuid_setvar(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        if not rest:
            return "-USAGE: <uuid> <var> [value]\n"
        name = rest[0]
        value = argument.split(None, 2)[2] if len(argument.split(None, 2)) > 2 else ""
        if value:
            channel.set_var(name, value)
            self._apply_var_side_effects(channel, name, value)
        else:
            channel.variables.pop(name, None)
        return "+OK\n"

    def _api_uuid_setvar_multi(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        for pair in " ".join(rest).split(";"):
            name, _, value = pair.partition("=")
            if name:
                channel.set_var(name, value)
        return "+OK\n"

    def _api_uuid_getvar(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        if not rest:
            return "-USAGE: <uuid> <var>\n"
        return channel.get_var(rest[0]) or "_undef_"

    def _api_uuid_dump(self, argument: str) -> str:
        channel, _ = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        return "".join(f"{key}: {value}\n" for key, value in channel.data_headers(True))

    def _api_uuid_broadcast(self, argument: str) -> str:
        channel, rest = self._channel_arg(argument)
        if channel is None:
            return "-ERR No such channel!\n"
        if not rest:
            return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
        path = rest[0]
        legs = rest[1] if len(rest) > 1 else "aleg"
        peer = self.channels.get(channel.bridged_to) if channel.bridged_to else None
        targets = [channel] if legs != "bleg" else []
        if legs in ("bleg", "both") and peer is not None:
            targets.append(peer)
        if "::" in path:
            app, _, data = path.partition("::")
        else:
            app, data = "playback", path
        for target in targets:
            self.sendmsg(
                target.uuid,
                {"call-command": "execute", "execute-app-name": app, "execute-app-arg": data},
            )
        return "+OK Message queued\n"

    def _api_uuid_playback(self, argument: str) -> str:
        return self._api_uuid_broadcast(argument)

    def _api_conference(self, argument: str) -> str:
        """`conference <name> list|kick <id>|hup <id>` (the subset the platform uses)."""
        parts = argument.split()
        if not parts:
            return "-ERR Conference command, not enough args\n"
        name = parts[0].split("@", 1)[0]
        conference = self._conferences.get(name)
        if conference is None:
            return f"Conference {name} not found\n"
        verb = parts[1] if len(parts) > 1 else "list"
        if verb == "list":
            lines = []
            for uuid, member_id in conference.members.items():
                channel = self.channels[uuid]
                profile = channel.profile
                lines.append(
                    f"{member_id};{channel.name};{uuid};{profile.caller_id_name};"
                    f"{profile.caller_id_number};hear|speak;0;0;100\n"
                )
            return "".join(lines)
        if verb in ("kick", "hup") and len(parts) > 2:
            member = next(
                (
                    self.channels[uuid]
                    for uuid, member_id in conference.members.items()
                    if str(member_id) == parts[2] or uuid == parts[2]
                ),
                None,
            )
            if member is None:
                return f"-ERR Member: {parts[2]} not found.\n"
            if verb == "hup":
                self.scheduler.call_later(
                    0, lambda: self._hangup_if_alive(member.uuid, "NORMAL_CLEARING")
                )
            else:
                self.scheduler.call_later(0, lambda: self._leave_conference(member))
            return (
                f"+OK {'kicked' if verb == 'kick' else 'hup'} {conference.members[member.uuid]}\n"
            )
        return "-ERR Conference command not found\n"

    def _leave_conference(self, channel: Channel) -> None:
        pending = self._current(channel)
        if channel.hung_up or pending is None or pending.app != "conference":
            return
        self._complete_app(channel, pending, "_none_")
        self._pump(channel)

    def _api_sofia(self, argument: str) -> str:
        return (
            f"{'Name':>25}\t{'Type':>7}\t{'Data':>42}\tState\n"
            + "=" * 97
            + "\n"
            + f"                 internal\tprofile\t  sip:mod_sofia@{self.config.node.ipv4}:5060"
            "\tRUNNING (0)\n" + "=" * 97 + "\n1 profile 0 aliases\n"
        )

    def _api_sofia_contact(self, argument: str) -> str:
        key = argument.split("/", 1)[-1]
        agent = self.agents.get(key)
        if agent is None or not agent.registered:
            return "error/user_not_registered"
        return f"sofia/internal/sip:{agent.user}@{self.config.node.ipv4}:5070"

    def _api_sim_stats(self, argument: str) -> str:
        return json.dumps(self.truth.report(), sort_keys=True)

    def _api_sim_call(self, argument: str) -> str:
        parts = argument.split()
        if not parts:
            return "-USAGE: sim_call <destination> [caller_id]\n"
        uuid = self.new_uuid()
        caller = parts[1] if len(parts) > 1 else None

        def place() -> None:
            self.place_call(parts[0], caller, call_uuid=uuid)

        self.scheduler.call_later(0, place)
        return f"+OK {uuid}\n"

    # ------------------------------------------------------------- simulated people

    def _caller_number(self) -> str:
        pool = self.config.callers.pool
        suffix = 1000 + self.rng.randrange(pool) if pool > 0 else self.rng.randrange(1000, 10000)
        return f"+1202555{suffix:04d}"

    def _start_patience(self, channel: Channel) -> None:
        mean = self.config.callers.patience_mean_s
        if mean <= 0:
            return
        wait = self.rng.expovariate(1.0 / mean)
        self._patience[channel.uuid] = self.scheduler.call_later(
            wait, lambda: self._caller_gives_up(channel)
        )

    def _cancel_patience(self, channel: Channel) -> None:
        handle = self._patience.pop(channel.uuid, None)
        if handle is not None:
            handle.cancel()

    def _caller_gives_up(self, channel: Channel) -> None:
        self._patience.pop(channel.uuid, None)
        if channel.hung_up or channel.bridged_to:
            return
        self.truth.call_abandoned(channel.uuid)
        self.hangup(channel, "NORMAL_CLEARING")

    def _caller_may_press(self, channel: Channel) -> None:
        if channel.uuid not in self._caller_legs:
            return
        behaviour = self.config.callers
        script = channel.get_var("sim_dtmf") or behaviour.dtmf_script
        if script is not None:
            digits = script
        else:
            choices = list(behaviour.dtmf_choices.items())
            if not choices:
                return
            total = sum(weight for _, weight in choices)
            draw = self.rng.random() * total
            digits = choices[-1][0]
            for digit, weight in choices:
                draw -= weight
                if draw <= 0:
                    digits = digit
                    break
        if not digits:
            return
        self.scheduler.call_later(
            behaviour.dtmf_delay_s, lambda: self._dtmf_if_alive(channel, digits)
        )

    def _start_talk(self, owner: Channel, peer: Channel) -> None:
        agent_key = self._agent_legs.get(peer.uuid) or self._agent_legs.get(owner.uuid)
        agent = self.agents.get(agent_key) if agent_key else None
        if agent is None:
            return
        agent_leg = peer if peer.uuid in self._agent_legs else owner
        talk = agent.handle_time_mean_s * self.rng.lognormvariate(
            -TALK_SIGMA * TALK_SIGMA / 2, TALK_SIGMA
        )
        talk = min(talk, self.config.callers.max_talk_s)
        self._talk_timers[agent_leg.uuid] = self.scheduler.call_later(
            talk, lambda: self._hangup_if_alive(agent_leg.uuid, "NORMAL_CLEARING")
        )

    def _stop_talk(self, channel: Channel) -> None:
        handle = self._talk_timers.pop(channel.uuid, None)
        if handle is not None:
            handle.cancel()

    def set_agent(self, agent: AgentEndpoint) -> None:
        """Add or replace an agent endpoint (its registration and behaviour)."""
        self.agents[agent.key] = agent

    def start_traffic(self, duration_s: float | None = None) -> None:
        """Schedule callers for every number: Poisson arrivals and/or fixed schedules."""
        end_us = None if duration_s is None else self.now_us + round(duration_s * 1e6)
        for number in self.config.numbers:
            for offset in number.schedule_s:
                self.scheduler.call_later(offset, functools.partial(self._arrival, number))
            if number.calls_per_minute > 0:
                self._next_arrival(number, end_us)

    def _next_arrival(self, number: TenantNumber, end_us: int | None) -> None:
        gap = self.rng.expovariate(number.calls_per_minute / 60.0)
        due = self.now_us + round(gap * 1e6)
        if end_us is not None and due > end_us:
            return

        def arrive() -> None:
            self._arrival(number)
            self._next_arrival(number, end_us)

        self.scheduler.call_at(due, arrive)

    def _arrival(self, number: TenantNumber) -> None:
        caller = self.rng.choice(number.caller_ids) if number.caller_ids else None
        self.place_call(number.number, caller)

    def start_heartbeat(self) -> None:
        interval = self.config.heartbeat_interval_s
        if interval <= 0:
            return

        def beat() -> None:
            self._heartbeat()
            self.scheduler.call_later(interval, beat)

        self.scheduler.call_later(interval, beat)

    def _heartbeat(self) -> None:
        node = self.config.node
        up_us = self.now_us - self.started_us
        self.emit(
            "HEARTBEAT",
            after=[
                ("Event-Info", "System Ready"),
                ("Up-Time", self.status_text().split("\n", 1)[0][3:]),
                ("FreeSWITCH-Version", node.version),
                ("Uptime-msec", str(up_us // 1000)),
                ("Session-Count", str(len(self.channels))),
                ("Max-Sessions", str(node.max_sessions)),
                ("Session-Per-Sec", str(node.sessions_per_second)),
                ("Session-Per-Sec-Last", "0"),
                ("Session-Per-Sec-Max", "0"),
                ("Session-Per-Sec-FiveMin", "0"),
                ("Session-Since-Startup", str(self._sessions_since_start)),
                ("Session-Peak-Max", str(self._peak)),
                ("Session-Peak-FiveMin", str(self._peak)),
                ("Idle-CPU", "99.000000"),
            ],
        )
        self._heartbeat_task += 1
        self.emit(
            "RE_SCHEDULE",
            after=[
                ("Task-ID", "1"),
                ("Task-Desc", "heartbeat"),
                ("Task-Group", "core"),
                ("Task-Runtime", str(self.now_us // 1_000_000 + 20)),
            ],
        )

    def tenant_numbers(self) -> list[TenantNumber]:
        return list(self.config.numbers)

    def add_number(self, number: TenantNumber) -> None:
        self.config.numbers.append(number)
        self.static_dialplan.add(number)

    def tenant_actions_for(self, number: TenantNumber) -> list[Action]:
        return tenant_actions(number)


# ---------------------------------------------------------------------- helpers


def _default_start() -> int:
    return time.time_ns() // 1000


def _strftime(pattern: str, now_us: int) -> str:
    return time.strftime(pattern.replace("%z", "+0000"), time.gmtime(now_us / 1_000_000))


def _timeout(variables: dict[str, str], default: float) -> float:
    for name in ("leg_timeout", "originate_timeout", "call_timeout"):
        value = variables.get(name, "")
        if value.replace(".", "", 1).isdigit():
            return float(value)
    return default


def _split_dial_vars(dial: str) -> tuple[str, dict[str, str]]:
    """Strip `{a=b,c=d}` / `[a=b]` / `<a=b>` prefixes off a dial string."""
    variables: dict[str, str] = {}
    rest = dial.strip()
    closers = {"{": "}", "[": "]", "<": ">"}
    while rest and rest[0] in closers:
        end = rest.find(closers[rest[0]])
        if end < 0:
            break
        for pair in rest[1:end].split(","):
            name, _, value = pair.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            if name:
                variables[name.strip()] = value
        rest = rest[end + 1 :]
    return rest, variables


_UNREACHABLE_CAUSES = frozenset(
    {"SUBSCRIBER_ABSENT", "USER_NOT_REGISTERED", "CHAN_NOT_IMPLEMENTED"}
)
_REFUSED_CAUSES = frozenset({"USER_BUSY", "CALL_REJECTED"})


def _race_cause(causes: list[str]) -> str:
    """The cause of a simultaneous originate nobody answered: unreachable endpoints count
    only when every endpoint was; all refusing is USER_BUSY, anyone left ringing NO_ANSWER."""
    reached = [cause for cause in causes if cause not in _UNREACHABLE_CAUSES] or causes
    if not reached:
        return "NORMAL_TEMPORARY_FAILURE"
    if len(set(reached)) == 1:
        return reached[0]
    if all(cause in _REFUSED_CAUSES for cause in reached):
        return "USER_BUSY"
    if "NO_ANSWER" in reached:
        return "NO_ANSWER"
    return reached[-1]


def _split_top_level(dial: str, separator: str) -> list[str]:
    """Split a dial string on `separator` outside `[...]`, `{...}`, `<...>` and quotes."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(dial):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "{[<":
            depth += 1
        elif not quoted and char in "}]>":
            depth -= 1
        elif char == separator and not quoted and depth <= 0:
            parts.append(dial[start:index].strip())
            start = index + 1
    parts.append(dial[start:].strip())
    return [part for part in parts if part]


def _split_originate(argument: str) -> tuple[str, str]:
    """`<dial string> <rest>`, where the dial string's `{...}` may hold quoted spaces."""
    text = argument.strip()
    index, quoted, depth = 0, False, 0
    while index < len(text):
        char = text[index]
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "{[<":
            depth += 1
        elif not quoted and char in "}]>":
            depth -= 1
        elif char == " " and not quoted and depth <= 0:
            return text[:index], text[index + 1 :].strip()
        index += 1
    return text, ""


def cause_from_text(text: str) -> str:
    """A hang-up cause given by name or Q.850 number; NORMAL_CLEARING when unknown."""
    if text in HANGUP_CAUSE_CODES:
        return text
    if text.isdigit():
        by_code = {code: name for name, code in HANGUP_CAUSE_CODES.items()}
        return by_code.get(int(text), "NORMAL_CLEARING")
    return "NORMAL_CLEARING"


def _waits_after_bridge(channel: Channel) -> bool:
    """A bridge survivor that stays up, parked: `park_after_bridge=true`, a channel an
    outbound socket controls, or `hangup_after_bridge=false` (set by the platform before it
    moves both legs of a call into a conference, so the second leg waits for its transfer)."""
    return (
        channel.get_var("park_after_bridge") == "true"
        or channel.controlled_by_socket
        or channel.get_var("hangup_after_bridge") == "false"
    )


def _flip_caller_id(profile: CallerProfile) -> None:
    """`switch_channel_flip_cid` on an answered originate: caller and callee ids swap."""
    profile.caller_id_name, profile.callee_id_name = profile.callee_id_name, profile.caller_id_name
    profile.caller_id_number, profile.callee_id_number = (
        profile.callee_id_number,
        profile.caller_id_number,
    )


def _endpoint_address(channel_name: str, default: str) -> str:
    """The far end's IP, which sofia learns from the first reply (`Caller-Network-Addr`)."""
    host = channel_name.rsplit("@", 1)[-1].split(":", 1)[0] if "@" in channel_name else ""
    parts = host.split(".")
    if len(parts) == 4 and all(part.isdigit() for part in parts):
        return host
    return default


def _other_leg_copy(profile: CallerProfile, *, keep_times: bool) -> CallerProfile:
    """`switch_caller_profile_clone` as seen in `Other-Leg-*`: no logical direction is
    copied (it reads `inbound`) and no transfer source."""
    copy = profile.snapshot(keep_times)
    copy.logical_direction = "inbound"
    copy.transfer_source = ""
    return copy


def _split_inline(part: str) -> Action:
    app, _, data = part.partition(":")
    return app, data


def replace_profile_for_loopback(
    a_profile: CallerProfile, b_uuid: str, extension: str, context: str, now_us: int
) -> CallerProfile:
    """The `-b` leg of a loopback pair: an inbound channel dialling `extension`."""
    return CallerProfile(
        direction="inbound",
        logical_direction="inbound",
        destination_number=extension,
        unique_id=b_uuid,
        source="mod_loopback",
        context=context,
        channel_name=f"loopback/{extension}-b",
        dialplan="xml",
        caller_id_number=a_profile.caller_id_number,
        orig_caller_id_number=a_profile.caller_id_number,
        callee_id_name="Outbound Call",
        callee_id_number=extension,
        ani=a_profile.caller_id_number,
        profile_created_us=now_us,
        created_us=now_us,
    )


def _inbound_variables(channel: Channel, session_id: str, now_us: int) -> list[tuple[str, str]]:
    number = channel.profile.caller_id_number
    destination = channel.profile.destination_number
    host = channel.profile.network_addr
    uri = f"{number}@{host}:5090"
    call_id = f"{channel.uuid[:8]}@{host}"
    return [
        ("direction", "inbound"),
        ("uuid", channel.uuid),
        ("call_uuid", channel.uuid),
        ("session_id", session_id),
        ("sip_from_user", number),
        ("sip_from_port", "5090"),
        ("sip_from_uri", uri),
        ("sip_from_host", host),
        ("video_media_flow", "disabled"),
        ("audio_media_flow", "disabled"),
        ("text_media_flow", "disabled"),
        ("channel_name", channel.name),
        ("sip_call_id", call_id),
        ("sip_local_network_addr", host),
        ("sip_network_ip", host),
        ("sip_network_port", "5090"),
        ("sip_invite_stamp", str(now_us)),
        ("sip_received_ip", host),
        ("sip_received_port", "5090"),
        ("sip_via_protocol", "udp"),
        ("sip_from_user_stripped", number),
        ("sip_from_tag", f"{channel.uuid[:6]}Tag001"),
        ("sofia_profile_name", "internal"),
        ("sofia_profile_url", f"sip:mod_sofia@{host}:5060"),
        ("recovery_profile_name", "internal"),
        ("sip_full_via", f"SIP/2.0/UDP {host}:5090;branch=z9hG4bK-{channel.uuid[:8]}"),
        ("sip_from_display", channel.profile.caller_id_name),
        ("sip_full_from", f"{number} <sip:{uri}>;tag={channel.uuid[:6]}Tag001"),
        ("sip_to_display", destination),
        ("sip_full_to", f"{destination} <sip:{destination}@{host}:5060>"),
        ("sip_req_user", destination),
        ("sip_req_port", "5060"),
        ("sip_req_uri", f"{destination}@{host}:5060"),
        ("sip_req_host", host),
        ("sip_to_user", destination),
        ("sip_to_port", "5060"),
        ("sip_to_uri", f"{destination}@{host}:5060"),
        ("sip_to_host", host),
        ("sip_contact_user", number),
        ("sip_contact_port", "5090"),
        ("sip_contact_uri", uri),
        ("sip_contact_host", host),
        ("rtp_use_codec_string", "OPUS,G722,PCMU,PCMA"),
        ("sip_via_host", host),
        ("sip_via_port", "5090"),
        ("max_forwards", "70"),
        ("presence_id", channel.presence_id),
        (
            "switch_r_sdp",
            f"v=0\r\no=caller 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\n"
            "t=0 0\r\nm=audio 6004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ),
        ("ep_codec_string", "CORE_PCM_MODULE.PCMU@8000h@20i@64000b"),
        ("endpoint_disposition", "DELAYED NEGOTIATION"),
    ]


def _outgoing_variables(
    channel: Channel, originator: Channel | None, session_id: str
) -> list[tuple[str, str]]:
    out = [
        ("direction", "outbound"),
        ("is_outbound", "true"),
        ("uuid", channel.uuid),
        ("session_id", session_id),
        ("sip_profile_name", "internal"),
        ("text_media_flow", "disabled"),
        ("channel_name", channel.name),
        ("sip_destination_url", "sip:" + channel.name.split("/", 2)[-1]),
    ]
    if originator is not None:
        out += [
            ("originator", originator.uuid),
            ("signal_bond", originator.uuid),
            ("call_uuid", originator.uuid),
            ("originating_leg_uuid", originator.uuid),
        ]
        for name in ("sb_tenant", "sb_number"):
            value = originator.get_var(name)
            if value:
                out.append((name, value))
    out += [
        ("originate_early_media", "true"),
        ("originate_endpoint", channel.name.split("/", 1)[0]),
        ("sofia_profile_name", "internal"),
        ("recovery_profile_name", "internal"),
    ]
    return out


def _media_variables(channel: Channel) -> list[tuple[str, str]]:
    return [
        ("remote_audio_media_flow", "sendrecv"),
        ("audio_media_flow", "sendrecv"),
        ("rtp_use_codec_name", "PCMU"),
        ("rtp_use_codec_rate", "8000"),
        ("rtp_use_codec_ptime", "20"),
        ("read_codec", "PCMU"),
        ("original_read_codec", "PCMU"),
        ("read_rate", "8000"),
        ("original_read_rate", "8000"),
        ("write_codec", "PCMU"),
        ("write_rate", "8000"),
        ("dtmf_type", "rfc2833"),
        ("local_media_ip", "127.0.0.1"),
        ("local_media_port", str(16384 + int(channel.uuid[:4], 16) % 16000)),
        ("remote_media_ip", "127.0.0.1"),
        ("remote_media_port", "6004"),
    ]


def _cdr_variables(channel: Channel, now_us: int) -> list[tuple[str, str]]:
    profile = channel.profile
    start = profile.created_us
    answer = profile.answered_us
    bridge = profile.bridged_us
    end = now_us

    def stamp(value: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value / 1e6)) if value else ""

    duration_us = end - start
    bill_us = end - answer if answer else 0
    wait_us = (answer - start) if answer else 0
    out = [
        ("hangup_cause", channel.hangup_cause),
        ("hangup_cause_q850", str(HANGUP_CAUSE_CODES.get(channel.hangup_cause, 0))),
        ("start_stamp", stamp(start)),
        ("profile_start_stamp", stamp(profile.profile_created_us)),
    ]
    if answer:
        out.append(("answer_stamp", stamp(answer)))
    if bridge:
        out.append(("bridge_stamp", stamp(bridge)))
    out += [
        ("end_stamp", stamp(end)),
        ("start_epoch", str(start // 1_000_000)),
        ("start_uepoch", str(start)),
        ("answer_epoch", str(answer // 1_000_000)),
        ("answer_uepoch", str(answer)),
        ("bridge_epoch", str(bridge // 1_000_000)),
        ("bridge_uepoch", str(bridge)),
        ("end_epoch", str(end // 1_000_000)),
        ("end_uepoch", str(end)),
        ("last_app", channel.current_app),
        ("caller_id", f'"{profile.caller_id_name}" <{profile.caller_id_number}>'),
        ("duration", str(duration_us // 1_000_000)),
        ("billsec", str(bill_us // 1_000_000)),
        ("answersec", str(wait_us // 1_000_000)),
        ("waitsec", str(wait_us // 1_000_000)),
        ("mduration", str(duration_us // 1000)),
        ("billmsec", str(bill_us // 1000)),
        ("answermsec", str(wait_us // 1000)),
        ("waitmsec", str(wait_us // 1000)),
        ("uduration", str(duration_us)),
        ("billusec", str(bill_us)),
        ("answerusec", str(wait_us)),
        ("waitusec", str(wait_us)),
    ]
    return out
