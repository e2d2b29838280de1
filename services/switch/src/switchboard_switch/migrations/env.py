from switchboard_common.db import run_alembic_env
from switchboard_switch.models import metadata

run_alembic_env(metadata)
