"""Composition root of the admin service: settings -> adapters -> services -> servers."""

from switchboard_admin.settings import AdminSettings
from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service


async def build(settings: AdminSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_admin")
    app = create_app(
        "admin",
        description=(
            "Tenants, users, roles, API keys, numbers, quotas, FreeSWITCH directory and dialplan."
        ),
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(AdminSettings, build)
