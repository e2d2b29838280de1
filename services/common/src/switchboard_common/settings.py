"""Service settings: one pydantic-settings class per service, read from the environment.

Each service subclasses `ServiceSettings` with its own env prefix (`ROUTING_`, `ADMIN_`, ...).
Platform-wide values are also read from their unprefixed names (`DATABASE_URL`,
`KAFKA_BOOTSTRAP_SERVERS`, `SWITCHBOARD_ENV`, `SWITCHBOARD_HOME`); a prefixed variable wins.
`load_settings()` turns any problem into one `ConfigurationError` line naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard_common.errors import ConfigurationError

DEV_SECRET = "dev-only-insecure-secret"

Environment = Literal["development", "test", "production"]

SHARED_ENV_NAMES: dict[str, str] = {
    "environment": "SWITCHBOARD_ENV",
    "home": "SWITCHBOARD_HOME",
    "database_url": "DATABASE_URL",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "kafka_enable_idempotence": "KAFKA_ENABLE_IDEMPOTENCE",
    "kafka_topic_partitions": "KAFKA_TOPIC_PARTITIONS",
    "kafka_embedded": "KAFKA_EMBEDDED",
    "internal_secret": "SWITCHBOARD_INTERNAL_SECRET",
    "jwt_secret": "SWITCHBOARD_JWT_SECRET",
    "log_level": "LOG_LEVEL",
    "log_format": "LOG_FORMAT",
    "otel_exporter": "OTEL_TRACES_EXPORTER",
    "otel_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT",
}


class ServiceSettings(BaseSettings):
    """What every service needs. Subclasses set `SERVICE`, default ports and env_prefix."""

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "service"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8100
    DEFAULT_GRPC_PORT: ClassVar[int | None] = None

    environment: Environment = "development"
    home: Path = Field(default=Path(".switchboard"), description="where embedded data lives")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=-1, ge=-1, le=65535, description="-1: the service default")
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=-1, ge=-1, le=65535, description="-1: the service default")
    database_url: str = Field(default="", description="SQLAlchemy async URL; empty: SQLite")
    kafka_bootstrap_servers: str = Field(default="", description="host:port[,host:port]")
    kafka_enable_idempotence: bool = True
    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_embedded: bool = Field(
        default=False,
        description="the broker is the embedded Tansu: consumers use the short join and "
        "fetch timings it needs (see bus.settings.EMBEDDED_CONSUMER_DEFAULTS)",
    )
    internal_secret: SecretStr = SecretStr(DEV_SECRET)
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @model_validator(mode="before")
    @classmethod
    def _read_shared_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field_name, env_name in SHARED_ENV_NAMES.items():
                if field_name not in data and env_name in os.environ:
                    data[field_name] = os.environ[env_name]
        return data

    @model_validator(mode="after")
    def _check_secrets_and_ports(self) -> ServiceSettings:
        if self.http_port == -1:
            self.http_port = self.DEFAULT_HTTP_PORT
        if self.grpc_port == -1 and self.DEFAULT_GRPC_PORT is not None:
            self.grpc_port = self.DEFAULT_GRPC_PORT
        if self.environment != "development":
            for name in ("internal_secret", "jwt_secret"):
                secret: SecretStr = getattr(self, name)
                if secret.get_secret_value() == DEV_SECRET or len(secret.get_secret_value()) < 16:
                    raise ValueError(
                        f"{SHARED_ENV_NAMES[name]} must be set to a real secret (16+ characters) "
                        f"when SWITCHBOARD_ENV={self.environment}"
                    )
            if not self.database_url:
                raise ValueError(
                    f"DATABASE_URL is required when SWITCHBOARD_ENV={self.environment}"
                )
        return self

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or this service's own SQLite file under `home`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.home / f'{self.SERVICE}.db').resolve()}"

    @property
    def env_prefix(self) -> str:
        return str(self.model_config.get("env_prefix", ""))


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings or raise ConfigurationError with one line naming the variable at fault."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        first = exc.errors()[0]
        loc = [str(part) for part in first.get("loc", ())]
        if loc:
            field_name = loc[0]
            env_name = SHARED_ENV_NAMES.get(field_name, f"{prefix}{field_name.upper()}")
            raise ConfigurationError(
                f"{cls.SERVICE}: invalid setting {env_name}: {first['msg']}"
            ) from None
        raise ConfigurationError(
            f"{cls.SERVICE}: {first['msg'].removeprefix('Value error, ')}"
        ) from None
