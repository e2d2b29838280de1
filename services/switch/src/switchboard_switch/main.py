"""Composition root of the switch service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_switch.settings import SwitchSettings


async def build(settings: SwitchSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_switch")
    app = create_app(
        "switch",
        description=(
            "One FreeSWITCH node's ESL link and live channel cache; "
            "call events on Kafka; gRPC CallControl."
        ),
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(SwitchSettings, build)
