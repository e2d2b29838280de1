from switchboard_common.db import run_alembic_env
from switchboard_recording.models import metadata

run_alembic_env(metadata)
