"""Composition root of the reporting service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_reporting.settings import ReportingSettings


async def build(settings: ReportingSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_reporting")
    app = create_app(
        "reporting",
        description="CDRs, live statistics, historical reports, alerts.",
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(ReportingSettings, build)
