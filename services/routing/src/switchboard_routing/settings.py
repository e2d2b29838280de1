"""Settings of the routing service (environment variables prefixed `ROUTING_`).

The switch's CallControl address is also read from `SB_SWITCH_GRPC` and admin's REST URL from
`SB_ADMIN_HTTP` (what `switchboard up` sets); the prefixed variables win.
"""

import os
import socket
import uuid
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings

PLATFORM_ENV_NAMES: dict[str, str] = {
    "switch_grpc": "SB_SWITCH_GRPC",
    "admin_url": "SB_ADMIN_HTTP",
}
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "routing"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8103
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9103

    db_role: str = Field(
        default="switchboard_app",
        pattern=r"^([a-z_][a-z0-9_]{0,62})?$",
        description="PostgreSQL role every transaction switches to (SET LOCAL ROLE), so that "
        "row-level security applies even to the tables' owner; empty: stay the login role",
    )
    admin_url: str = Field(
        default="http://127.0.0.1:8108", description="admin's REST API, to verify API keys"
    )
    switch_grpc: str = Field(
        default="127.0.0.1:9101", description="CallControl of the switch (host:port)"
    )
    switch_grpc_nodes: dict[str, str] = Field(
        default_factory=dict,
        description="CallControl address per FreeSWITCH node id (JSON); others use switch_grpc",
    )
    consumer_group: str = Field(default="routing", min_length=1, max_length=200)
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="where the group starts on switchboard.queues.v1 when it has no offsets",
    )
    instance_id: str = Field(
        default="",
        max_length=128,
        description="name of this instance in the partition table; empty: host-pid-random",
    )
    advertised_grpc: str = Field(
        default="",
        max_length=255,
        description="host:port other routing instances use to reach this one's gRPC API "
        "(set it to the pod IP in Kubernetes); empty: grpc_host:grpc_port, or the host name "
        "when gRPC listens on every interface",
    )
    tick_interval_s: float = Field(
        default=0.25, gt=0, le=5, description="how often timers run (overflow, max wait, ...)"
    )
    flush_interval_s: float = Field(
        default=0.1, gt=0, le=5, description="how often events are written to the outbox"
    )
    snapshot_interval_s: float = Field(
        default=1.0, gt=0, le=300, description="how often changed tenants' state is saved"
    )
    bridge_grace_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="a Bridge call is abandoned (offer failed) ring timeout + this long after "
        "it was sent",
    )
    catch_up_timeout_s: float = Field(
        default=30.0, gt=0, description="longest replay of the event log on a takeover"
    )
    follow_history_from_start: bool = Field(
        default=True,
        description="on the very first takeover of a partition (no saved positions), read its "
        "agent and configuration events from the start of the topics (else from their end)",
    )
    grpc_deadline_s: float = Field(default=2.0, gt=0, le=60, description="owner look-ups")
    announcement_position_prompt: str = Field(
        default="ivr/ivr-you_are_number.wav",
        description="played before the caller's position in a periodic announcement",
    )
    announcement_wait_prompt: str = Field(
        default="ivr/ivr-estimated_wait_time_is.wav",
        description="played before the estimated wait (in minutes) in an announcement",
    )
    announcement_minutes_prompt: str = Field(
        default="time/minutes.wav", description="played after the estimated wait in minutes"
    )
    digits_prompt_template: str = Field(
        default="digits/{n}.wav", description="sound of a number ({n})"
    )
    decision_retention_s: float = Field(
        default=86_400.0, gt=0, description="how long a call's latest decision is kept"
    )

    @model_validator(mode="before")
    @classmethod
    def _read_platform_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field_name, env_name in PLATFORM_ENV_NAMES.items():
                prefixed = f"ROUTING_{field_name.upper()}"
                if field_name not in data and prefixed not in os.environ and env_name in os.environ:
                    data[field_name] = os.environ[env_name]
        return data

    @property
    def effective_instance_id(self) -> str:
        if self.instance_id:
            return self.instance_id
        return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    @property
    def effective_advertised_grpc(self) -> str:
        if self.advertised_grpc:
            return self.advertised_grpc
        host = socket.gethostname() if self.grpc_host in _WILDCARD_HOSTS else self.grpc_host
        return f"{host}:{self.grpc_port}"
