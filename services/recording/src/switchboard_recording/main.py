"""Composition root of the recording service: settings -> adapters -> services -> servers."""

from switchboard_common.http import create_app
from switchboard_common.runtime import ServiceRuntime, database_check, lay_foundation, run_service
from switchboard_recording.settings import RecordingSettings


async def build(settings: RecordingSettings) -> ServiceRuntime:
    foundation = await lay_foundation(settings, "switchboard_recording")
    app = create_app(
        "recording",
        description="Recording policy, files, their index, retention.",
        health_checks={"database": database_check(foundation.engine)},
        max_body_bytes=settings.max_body_bytes,
    )
    return foundation.runtime(app)


def main() -> int:
    return run_service(RecordingSettings, build)
