"""Settings of the reporting service (environment variables prefixed `REPORTING_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="REPORTING_", extra="ignore", validate_default=True
    )

    SERVICE: ClassVar[str] = "reporting"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8107
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9107
