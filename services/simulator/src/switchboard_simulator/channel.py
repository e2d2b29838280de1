"""A simulated FreeSWITCH channel: caller profile, states, variables and the event headers
FreeSWITCH derives from them (`switch_channel_event_set_data` and friends)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from switchboard_simulator.wire import Header

STATE_NUMBERS: dict[str, int] = {
    "CS_NEW": 0,
    "CS_INIT": 1,
    "CS_ROUTING": 2,
    "CS_SOFT_EXECUTE": 3,
    "CS_EXECUTE": 4,
    "CS_EXCHANGE_MEDIA": 5,
    "CS_PARK": 6,
    "CS_CONSUME_MEDIA": 7,
    "CS_HIBERNATE": 8,
    "CS_RESET": 9,
    "CS_HANGUP": 10,
    "CS_REPORTING": 11,
    "CS_DESTROY": 12,
    "CS_NONE": 13,
}

CALL_STATE_NUMBERS: dict[str, int] = {
    "DOWN": 0,
    "DIALING": 1,
    "RINGING": 2,
    "EARLY": 3,
    "ACTIVE": 4,
    "HELD": 5,
    "RING_WAIT": 6,
    "HANGUP": 7,
    "UNHELD": 8,
}

HANGUP_CAUSE_CODES: dict[str, int] = {
    "NONE": 0,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": 3,
    "CHANNEL_UNACCEPTABLE": 6,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "FACILITY_REJECTED": 29,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "INTERWORKING": 127,
    "ORIGINATOR_CANCEL": 487,
    "LOSE_RACE": 502,
    "MANAGER_REQUEST": 503,
    "BLIND_TRANSFER": 600,
    "ATTENDED_TRANSFER": 601,
    "ALLOTTED_TIMEOUT": 602,
    "MEDIA_TIMEOUT": 604,
    "PICKED_OFF": 605,
    "USER_NOT_REGISTERED": 606,
    "PROGRESS_TIMEOUT": 607,
}


class Leg(Enum):
    """How a channel came to exist, which decides its profile and variables."""

    INBOUND = "inbound"
    ORIGINATED = "originated"
    BRIDGED = "bridged"
    LOOPBACK_A = "loopback_a"
    LOOPBACK_B = "loopback_b"


@dataclass(slots=True)
class CallerProfile:
    """The caller profile FreeSWITCH serializes with a `Caller-` or `Other-Leg-` prefix."""

    direction: str
    logical_direction: str
    destination_number: str
    unique_id: str
    source: str
    context: str
    channel_name: str
    username: str = ""
    dialplan: str = ""
    caller_id_name: str = ""
    caller_id_number: str = ""
    orig_caller_id_name: str = ""
    orig_caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    network_addr: str = ""
    ani: str = ""
    rdnis: str = ""
    transfer_source: str = ""
    profile_index: int = 1
    profile_created_us: int = 0
    created_us: int = 0
    answered_us: int = 0
    progress_us: int = 0
    progress_media_us: int = 0
    hangup_us: int = 0
    transfer_us: int = 0
    resurrect_us: int = 0
    bridged_us: int = 0
    last_hold_us: int = 0
    hold_accum_us: int = 0

    def headers(self, prefix: str, with_index: bool = True) -> list[Header]:
        optional_before = [
            ("Username", self.username),
            ("Dialplan", self.dialplan),
            ("Caller-ID-Name", self.caller_id_name),
            ("Caller-ID-Number", self.caller_id_number),
            ("Orig-Caller-ID-Name", self.orig_caller_id_name),
            ("Orig-Caller-ID-Number", self.orig_caller_id_number),
            ("Callee-ID-Name", self.callee_id_name),
            ("Callee-ID-Number", self.callee_id_number),
            ("Network-Addr", self.network_addr),
            ("ANI", self.ani),
            ("RDNIS", self.rdnis),
            ("Destination-Number", self.destination_number),
            ("Unique-ID", self.unique_id),
            ("Source", self.source),
            ("Transfer-Source", self.transfer_source),
            ("Context", self.context),
            ("Channel-Name", self.channel_name),
        ]
        out: list[Header] = [
            (f"{prefix}-Direction", self.direction),
            (f"{prefix}-Logical-Direction", self.logical_direction),
        ]
        out += [(f"{prefix}-{name}", value) for name, value in optional_before if value]
        if with_index:
            out.append((f"{prefix}-Profile-Index", str(self.profile_index)))
        times = [
            ("Profile-Created-Time", self.profile_created_us),
            ("Channel-Created-Time", self.created_us),
            ("Channel-Answered-Time", self.answered_us),
            ("Channel-Progress-Time", self.progress_us),
            ("Channel-Progress-Media-Time", self.progress_media_us),
            ("Channel-Hangup-Time", self.hangup_us),
            ("Channel-Transfer-Time", self.transfer_us),
            ("Channel-Resurrect-Time", self.resurrect_us),
            ("Channel-Bridged-Time", self.bridged_us),
            ("Channel-Last-Hold", self.last_hold_us),
            ("Channel-Hold-Accum", self.hold_accum_us),
        ]
        out += [(f"{prefix}-{name}", str(value)) for name, value in times]
        out += [
            (f"{prefix}-Screen-Bit", "true"),
            (f"{prefix}-Privacy-Hide-Name", "false"),
            (f"{prefix}-Privacy-Hide-Number", "false"),
        ]
        return out

    def snapshot(self, keep_times: bool) -> CallerProfile:
        copy = replace(self)
        if not keep_times:
            copy.transfer_source = copy.rdnis = ""
            copy.profile_created_us = copy.created_us = copy.answered_us = 0
            copy.progress_us = copy.progress_media_us = copy.hangup_us = 0
            copy.transfer_us = copy.resurrect_us = copy.bridged_us = 0
            copy.last_hold_us = copy.hold_accum_us = 0
        return copy


@dataclass(slots=True)
class Codec:
    name: str
    rate: int
    bit_rate: int


@dataclass(eq=False)
class Channel:
    """A live channel and everything the event headers are made of."""

    uuid: str
    name: str
    direction: str
    leg: Leg
    profile: CallerProfile
    call_uuid: str
    hit_dialplan: bool = False
    presence_id: str = ""
    running_state: str = "CS_NEW"
    state_number: int = 0
    call_state: str = "DOWN"
    answer_state: str = "ringing"
    hangup_cause: str = ""
    read_codec: Codec | None = None
    write_codec: Codec | None = None
    variables: dict[str, str] = field(default_factory=dict)
    other_type: str = ""
    other_profile: CallerProfile | None = None
    tenant: str = ""
    number: str = ""
    bridged_to: str = ""
    parked: bool = False
    held: bool = False
    read_muted: bool = False
    presence_count: int = 0
    current_app: str = ""
    current_app_data: str = ""
    current_app_uuid: str = ""
    dialplan_actions: list[tuple[str, str]] = field(default_factory=list)
    app_index: int = 0
    recordings: dict[str, int] = field(default_factory=dict)
    controlled_by_socket: bool = False
    destroyed: bool = False
    hung_up: bool = False
    profile_visible: bool = True
    callee_direction: str = ""
    sent_callee: tuple[str, str] = ("", "")
    initial: CallerProfile | None = None

    def set_var(self, name: str, value: str) -> None:
        self.variables.pop(name, None)
        self.variables[name] = value

    def get_var(self, name: str) -> str | None:
        return self.variables.get(name)

    def basic_headers(self) -> list[Header]:
        """`switch_channel_event_set_basic_data`: state, identity, answer state, codecs."""
        out: list[Header] = [
            ("Channel-State", self.running_state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", str(self.state_number)),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
        ]
        if self.presence_id:
            out.append(("Channel-Presence-ID", self.presence_id))
        out += [("Channel-Call-UUID", self.call_uuid), ("Answer-State", self.answer_state)]
        if self.hangup_cause:
            out.append(("Hangup-Cause", self.hangup_cause))
        if self.read_codec is not None:
            out += [
                ("Channel-Read-Codec-Name", self.read_codec.name),
                ("Channel-Read-Codec-Rate", str(self.read_codec.rate)),
                ("Channel-Read-Codec-Bit-Rate", str(self.read_codec.bit_rate)),
            ]
        if self.write_codec is not None:
            out += [
                ("Channel-Write-Codec-Name", self.write_codec.name),
                ("Channel-Write-Codec-Rate", str(self.write_codec.rate)),
                ("Channel-Write-Codec-Bit-Rate", str(self.write_codec.bit_rate)),
            ]
        return out

    def profile_headers(self) -> list[Header]:
        if not self.profile_visible:
            return []
        out = self.profile.headers("Caller")
        if self.other_profile is not None and self.other_type:
            out.append(("Other-Type", self.other_type))
            out += self.other_profile.headers("Other-Leg", with_index=False)
        return out

    def variable_headers(self) -> list[Header]:
        return [(f"variable_{name}", value) for name, value in self.variables.items()]

    def data_headers(self, with_variables: bool) -> list[Header]:
        out = self.basic_headers() + self.profile_headers()
        if with_variables:
            out += self.variable_headers()
        return out
