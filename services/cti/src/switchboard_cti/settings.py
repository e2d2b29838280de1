"""Settings of the cti service (environment variables prefixed `CTI_`).

The addresses of the other services are also read from the names `switchboard up` sets
(`SB_SWITCH_GRPC`, `SB_TICKETS_GRPC`, `SB_TICKETS_HTTP`, `SB_ADMIN_HTTP`); the prefixed
variables win.
"""

import os
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings

PLATFORM_ENV_NAMES: dict[str, str] = {
    "switch_grpc": "SB_SWITCH_GRPC",
    "tickets_grpc": "SB_TICKETS_GRPC",
    "tickets_url": "SB_TICKETS_HTTP",
    "admin_url": "SB_ADMIN_HTTP",
}


class CtiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "cti"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8104
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9104

    switch_grpc: str = Field(default="127.0.0.1:9101", description="CallControl (host:port)")
    switch_grpc_nodes: dict[str, str] = Field(
        default_factory=dict,
        description="CallControl address per FreeSWITCH node id (JSON); others use switch_grpc",
    )
    tickets_grpc: str = Field(default="", description="CustomerLookup (host:port); empty: none")
    tickets_url: str = Field(default="", description="tickets REST API; empty: no tickets")
    admin_url: str = Field(default="", description="admin REST API (login, API keys)")
    consumer_group: str = Field(default="cti", min_length=1, max_length=200)
    live_offset_reset: Literal["earliest", "latest"] = Field(
        default="latest",
        description="where a new consumer group starts on call/queue/ivr topics",
    )
    callcontrol_deadline_s: float = Field(default=5.0, gt=0, le=60)
    lookup_deadline_s: float = Field(
        default=0.4, gt=0, le=10, description="CustomerLookup deadline (the pop waits no longer)"
    )
    tickets_timeout_s: float = Field(default=5.0, gt=0, le=60)
    pop_card_wait_s: float = Field(
        default=0.15,
        ge=0,
        le=5,
        description="how long an offer waits for a card still being looked up before popping "
        "without it (the card follows as its own message)",
    )
    desktop_lost_grace_s: float = Field(
        default=30.0, gt=0, description="an available agent without a desktop goes not ready"
    )
    ws_send_queue: int = Field(default=256, ge=8, description="pushes queued per desktop")
    ws_ping_interval_s: float = Field(default=20.0, gt=0)
    agent_endpoint_template: str = Field(
        default="user/{extension}@{domain}",
        description="dial string of an agent ({extension}, {domain}: the tenant's SIP domain)",
    )
    number_endpoint_template: str = Field(
        default="sofia/gateway/pstn/{number}", description="dial string of a number (E.164)"
    )
    default_region: str = Field(default="US", min_length=2, max_length=2)
    recording_path_template: str = Field(
        default="/var/lib/switchboard/recordings/{tenant}/{call_id}.wav",
        description="where agent-started recordings go ({tenant}, {call_id})",
    )
    consult_timeout_s: int = Field(default=30, ge=5, le=120)
    synthetic_agents: int = Field(
        default=0, ge=0, le=500, description="demo agents per synthetic tenant (0: none)"
    )
    synthetic_tenants: list[str] = Field(
        default_factory=lambda: ["acme", "globex"],
        description="tenant slugs (or ids) whose demo agents are synthetic",
    )
    synthetic_password: SecretStr = Field(
        default=SecretStr(""),
        description="password of the demo agent users at admin; empty: tokens are minted "
        "with the shared JWT secret (development only)",
    )
    synthetic_username_template: str = Field(
        default="{extension}",
        description="admin username of a demo agent ({agent_id}, {extension}), for the login",
    )
    synthetic_talk_wrap_s: tuple[float, float] = Field(
        default=(2.0, 6.0), description="range of the synthetic agents' wrap-up time"
    )
    synthetic_seed: int = 1
    synthetic_directory_wait_s: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="how long synthetic agents wait for admin's events to name each synthetic "
        "tenant and its agent users before starting (0: start at once)",
    )

    @model_validator(mode="before")
    @classmethod
    def _read_platform_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field_name, env_name in PLATFORM_ENV_NAMES.items():
                prefixed = f"CTI_{field_name.upper()}"
                if field_name not in data and prefixed not in os.environ and env_name in os.environ:
                    data[field_name] = os.environ[env_name]
        return data
