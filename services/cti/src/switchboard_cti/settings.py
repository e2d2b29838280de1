"""Settings of the cti service (environment variables prefixed `CTI_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class CtiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CTI_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "cti"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8104
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9104
