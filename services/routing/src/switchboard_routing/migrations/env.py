from switchboard_common.db import run_alembic_env
from switchboard_routing.models import metadata

run_alembic_env(metadata)
