"""Settings of the switch service (environment variables prefixed `SWITCH_`).

The FreeSWITCH link is also read from the unprefixed `FREESWITCH_ESL` (host:port) and
`FREESWITCH_ESL_PASSWORD`, the names the Helm chart and `switchboard up` set.
"""

import socket
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from switchboard_common.settings import ServiceSettings


class SwitchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCH_", extra="ignore", validate_default=True)

    SERVICE: ClassVar[str] = "switch"
    DEFAULT_HTTP_PORT: ClassVar[int] = 8101
    DEFAULT_GRPC_PORT: ClassVar[int | None] = 9101

    freeswitch_esl: str = Field(
        default="127.0.0.1:8021",
        validation_alias=AliasChoices("SWITCH_FREESWITCH_ESL", "FREESWITCH_ESL"),
        pattern=r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$",
        description="host:port of the node's event socket",
    )
    freeswitch_esl_password: SecretStr = Field(
        default=SecretStr("ClueCon"),
        validation_alias=AliasChoices("SWITCH_FREESWITCH_ESL_PASSWORD", "FREESWITCH_ESL_PASSWORD"),
    )
    node_id: str = Field(default_factory=socket.gethostname, min_length=1, max_length=64)
    esl_event_format: Literal["json", "plain"] = "json"
    esl_reconnect_max_s: float = Field(default=2.0, gt=0, le=60)
    command_timeout_s: float = Field(default=5.0, gt=0, le=120)
    event_buffer: int = Field(default=100_000, ge=100)

    @property
    def esl_host(self) -> str:
        return self.freeswitch_esl.rsplit(":", 1)[0]

    @property
    def esl_port(self) -> int:
        return int(self.freeswitch_esl.rsplit(":", 1)[1])
