"""Settings of the admin service (environment variables prefixed `ADMIN_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import DEV_SECRET, ServiceSettings


class AdminSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ADMIN_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "admin"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8108
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9108

    operator_token: SecretStr = Field(
        default=SecretStr(DEV_SECRET),
        description="platform operator bearer token (ADMIN_OPERATOR_TOKEN)",
    )
    db_role: str = Field(
        default="switchboard_app",
        pattern=r"^([a-z_][a-z0-9_]{0,62})?$",
        description=(
            "PostgreSQL role every transaction switches to (SET LOCAL ROLE), so that row-level "
            "security applies even when DATABASE_URL logs in as the tables' owner or a "
            "superuser; empty: stay the login role"
        ),
    )
    access_token_ttl_s: int = Field(default=900, ge=60, le=86_400)
    sip_domain_suffix: str = Field(
        default="sip.switchboard.local", description="default SIP domain: <slug>.<suffix>"
    )
    suspended_announcement: str = Field(
        default="", description="sound played to callers of a suspended tenant before rejection"
    )
    password_time_cost: int = Field(default=3, ge=1, le=20, description="argon2 passes")
    password_memory_kib: int = Field(default=65_536, ge=64, le=1_048_576)
    password_parallelism: int = Field(default=4, ge=1, le=16)
    login_window_s: float = Field(default=900.0, gt=0)
    login_free_failures_per_user: int = Field(default=5, ge=1)
    login_free_failures_per_address: int = Field(default=20, ge=1)
    api_key_touch_interval_s: float = Field(
        default=60.0, ge=0, description="how often an API key's last-used time is written"
    )

    @model_validator(mode="after")
    def _check_operator_token(self) -> AdminSettings:
        token = self.operator_token.get_secret_value()
        if self.environment != "development" and (token == DEV_SECRET or len(token) < 16):
            raise ValueError(
                "ADMIN_OPERATOR_TOKEN must be set to a real secret (16+ characters) "
                f"when SWITCHBOARD_ENV={self.environment}"
            )
        return self
