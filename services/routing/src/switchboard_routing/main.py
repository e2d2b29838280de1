"""Composition root of the routing service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_routing.settings import RoutingSettings


async def build(settings: RoutingSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_routing")
    app = create_app(
        "routing",
        description="Queues, skills, agent availability, routing decisions, staffing maths.",
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(RoutingSettings, build)
