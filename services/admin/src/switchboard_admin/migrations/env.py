from switchboard_admin.models import metadata
from switchboard_common.db import run_alembic_env

run_alembic_env(metadata)
