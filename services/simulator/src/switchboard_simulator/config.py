"""Configuration of the simulated world: tenant numbers, agent endpoints, callers, node."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard_common.errors import ValidationFailed

AGENT_OUTCOMES = ("answer", "busy", "no_answer", "reject")


@dataclass(slots=True)
class CallerBehaviour:
    """How simulated callers behave: patience and key presses."""

    patience_mean_s: float = 90.0
    dtmf_script: str | None = None
    dtmf_choices: dict[str, float] = field(default_factory=lambda: {"1": 0.5, "2": 0.3, "0": 0.2})
    dtmf_delay_s: float = 1.5
    max_talk_s: float = 3600.0
    pool: int = 0
    """Callers' numbers come from +12025551000 up to this many (regulars the CRM may know);
    0 = any +1202555xxxx at random."""
    message_mean_s: float = 6.0
    """A caller recorded alone (voicemail) speaks this long on average, then hangs up;
    0 = the caller stays until the platform ends the recording."""


@dataclass(slots=True)
class TenantNumber:
    """A dialled number owned by a tenant, with its arrival process."""

    number: str
    tenant: str
    calls_per_minute: float = 0.0
    schedule_s: list[float] = field(default_factory=list)
    actions: list[tuple[str, str]] | None = None
    caller_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AgentEndpoint:
    """A SIP endpoint an agent answers on, e.g. `1001@acme.example`."""

    user: str
    domain: str
    registered: bool = True
    outcome: str = "answer"
    answer_delay_s: tuple[float, float] = (1.0, 4.0)
    handle_time_mean_s: float = 120.0
    busy_probability: float = 0.0
    no_answer_probability: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.user}@{self.domain}"

    def __post_init__(self) -> None:
        if self.outcome not in AGENT_OUTCOMES:
            raise ValidationFailed(
                f"unknown agent outcome {self.outcome!r}",
                field="outcome",
                error_id="invalid-agent-outcome",
                details={"allowed": list(AGENT_OUTCOMES)},
            )


@dataclass(slots=True)
class NodeIdentity:
    """What the node says about itself in every event."""

    hostname: str = "sim-fs"
    ipv4: str = "127.0.0.1"
    ipv6: str = "::1"
    core_uuid: str = ""
    version: str = "1.10.12-release"
    git: str = "git 0000000 2026-01-01 00:00:00Z 64bit"
    max_sessions: int = 1000
    sessions_per_second: int = 30


@dataclass(slots=True)
class WorldConfig:
    """Everything the pure world model needs; the socket layer adds ports and URLs."""

    seed: int = 1
    deterministic_ids: bool = False
    numbers: list[TenantNumber] = field(default_factory=list)
    agents: list[AgentEndpoint] = field(default_factory=list)
    callers: CallerBehaviour = field(default_factory=CallerBehaviour)
    node: NodeIdentity = field(default_factory=NodeIdentity)
    default_domain: str = "default.example"
    public_prelude: bool = True
    unknown_number_cause: str = "UNALLOCATED_NUMBER"
    default_ring_timeout_s: float = 60.0
    outbound_socket: str | None = None
    heartbeat_interval_s: float = 20.0
    traffic_duration_s: float | None = None
    playback_seconds: float = 1.0
    socket_park_delay_s: float = 0.02
    """How long after an outbound client's `connect` the async `socket` app parks the
    channel (FreeSWITCH polls for the connect; the recorded park came ~20 ms later)."""
