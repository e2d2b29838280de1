"""Settings of the recording service (environment variables prefixed `RECORDING_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class RecordingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECORDING_", extra="ignore", validate_default=True
    )

    SERVICE: ClassVar[str] = "recording"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8105
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9105
