"""Composition root of the cti service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_cti.settings import CtiSettings


async def build(settings: CtiSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_cti")
    app = create_app(
        "cti",
        description=(
            "Agent sessions, agent state machine, screen pop, call controls, desktop pages."
        ),
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(CtiSettings, build)
