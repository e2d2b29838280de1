"""Settings of the tickets service (environment variables prefixed `TICKETS_`)."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class TicketsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETS_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "tickets"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8106
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9106

    db_role: str = Field(
        default="switchboard_app",
        pattern=r"^([a-z_][a-z0-9_]{0,62})?$",
        description="PostgreSQL role every transaction switches to (SET LOCAL ROLE), so that "
        "row-level security applies even to the tables' owner; empty: stay the login role",
    )
    admin_url: str = Field(
        default="http://127.0.0.1:8108", description="admin's REST API, to verify API keys"
    )
    check_agents: bool = Field(
        default=True,
        description="refuse assignees, owners and department leads that the agent directory "
        "(fed by admin's user events) does not know in the tenant",
    )
    timer_poll_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="longest sleep of the escalation timer"
    )
    timer_batch_size: int = Field(default=200, ge=1, le=10_000)
    lookup_contacts: int = Field(default=5, ge=1, le=50, description="contacts in a look-up")
    lookup_open_tickets: int = Field(default=10, ge=1, le=100)
    lookup_cache_entries: int = Field(
        default=200_000,
        ge=0,
        le=10_000_000,
        description="customers kept by the look-up cache of each instance (0: no cache)",
    )
    lookup_cache_bytes: int = Field(
        default=256 * 1024 * 1024, ge=0, description="estimated memory budget of the cache"
    )
    lookup_cache_ttl_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="longest life of a cached customer (safety net: writes evict what they touch)",
    )
    lookup_cache_warm: int = Field(
        default=5_000,
        ge=0,
        le=1_000_000,
        description="most recently active customers "
        "loaded into the cache at start (in the background)",
    )
    consumer_group: str = Field(default="tickets", min_length=1, max_length=200)
