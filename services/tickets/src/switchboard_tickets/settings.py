"""Settings of the tickets service (environment variables prefixed `TICKETS_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class TicketsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETS_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "tickets"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8106
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9106
