"""Composition root of the tickets service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_tickets.settings import TicketsSettings


async def build(settings: TicketsSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_tickets")
    app = create_app(
        "tickets",
        description="Customers (CRM) and tickets (SLA, escalation).",
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(TicketsSettings, build)
