"""Settings of the switch service (environment variables prefixed `SWITCH_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class SwitchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCH_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "switch"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8101
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9101
