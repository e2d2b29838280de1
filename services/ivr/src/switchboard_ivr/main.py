"""Composition root of the ivr service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_ivr.settings import IvrSettings


async def build(settings: IvrSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_ivr")
    app = create_app(
        "ivr",
        description="IVR flows and their runs.",
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(IvrSettings, build)
