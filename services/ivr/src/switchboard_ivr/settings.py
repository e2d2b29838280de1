"""Settings of the ivr service (environment variables prefixed `IVR_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class IvrSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IVR_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "ivr"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8102
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9102
