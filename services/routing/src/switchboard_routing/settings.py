"""Settings of the routing service (environment variables prefixed `ROUTING_`)."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "routing"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8103
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9103
