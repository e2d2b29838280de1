"""Settings of the ivr service (environment variables prefixed `IVR_`).

The switch's CallControl address is also read from `SB_SWITCH_GRPC` and admin's REST URL from
`SB_ADMIN_HTTP` (what `switchboard up` sets); the prefixed variables win.
"""

import os
from typing import Any, ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings

PLATFORM_ENV_NAMES: dict[str, str] = {
    "switch_grpc": "SB_SWITCH_GRPC",
    "admin_url": "SB_ADMIN_HTTP",
}


class IvrSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IVR_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "ivr"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8102
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9102

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
    consumer_group: str = Field(default="ivr", min_length=1, max_length=200)
    grpc_deadline_s: float = Field(default=5.0, gt=0, le=60, description="short commands")
    media_deadline_s: float = Field(
        default=300.0, gt=0, le=3600, description="playback and digit collection"
    )
    liveness_interval_s: float = Field(
        default=30.0, gt=0, description="how often a waiting run checks that its call still exists"
    )
    handover_max_age_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="a call handed to routing stops counting against the quota after this "
        "long without its call.ended",
    )
    config_cache_ttl_s: float = Field(
        default=5.0, ge=0, description="how long a tenant's prompts, calendars, blacklist stay"
    )
    webhook_max_bytes: int = Field(default=65_536, ge=1024, description="largest webhook answer")
    voicemail_path_template: str = Field(
        default="/var/lib/switchboard/voicemail/{tenant}/{mailbox}/{call_id}.wav",
        description="where FreeSWITCH records voicemail ({tenant}, {mailbox}, {call_id})",
    )
    transfer_dial_template: str = Field(
        default="sofia/gateway/pstn/{number}",
        description="dial string of a transfer to an external number ({number}: E.164)",
    )
    apology_sound: str = Field(
        default="ivr/ivr-call_cannot_be_completed_as_dialed.wav",
        description="played when a run fails or a number leads nowhere",
    )
    prompt_fallback_template: str = Field(
        default="",
        description="path of a prompt missing from the tenant catalog ({language}, {prompt}); "
        "empty: such prompts play the default sound and cannot be published",
    )
    shutdown_grace_s: float = Field(default=3.0, gt=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _read_platform_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field_name, env_name in PLATFORM_ENV_NAMES.items():
                prefixed = f"IVR_{field_name.upper()}"
                if field_name not in data and prefixed not in os.environ and env_name in os.environ:
                    data[field_name] = os.environ[env_name]
        return data
