"""Settings of the admin service (environment variables prefixed `ADMIN_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class AdminSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ADMIN_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "admin"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8108
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9108
