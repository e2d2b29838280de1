"""Admin's hand-written migration: it matches the models, runs on SQLite and PostgreSQL,
downgrades cleanly, and can run again (the application role is cluster-wide)."""

import asyncio
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from switchboard_admin.models import TENANT_TABLES, metadata
from switchboard_common import db


def _ours(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "table" or name in metadata.tables


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would change to reach the models (admin's tables only)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": _ours}
    )
    return list(compare_metadata(context, metadata))


async def schema_differences(url: str) -> list[Any]:
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(differences)
    finally:
        await engine.dispose()


async def round_trip(url: str) -> None:
    await asyncio.to_thread(db.downgrade_sync, "admin", "switchboard_admin", url)
    assert len(await schema_differences(url)) >= len(metadata.tables)
    await db.upgrade("admin", "switchboard_admin", url)
    assert await schema_differences(url) == []


async def test_postgres_upgrade_matches_models_and_round_trips(fresh_pg_url: str) -> None:
    assert await schema_differences(fresh_pg_url) != []
    await db.upgrade("admin", "switchboard_admin", fresh_pg_url)
    assert await schema_differences(fresh_pg_url) == []
    engine = db.create_engine(fresh_pg_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            policies = await connection.execute(
                text("SELECT tablename FROM pg_policies WHERE tablename LIKE 'admin_%'")
            )
            assert set(policies.scalars().all()) == set(TENANT_TABLES)
            grants = await connection.execute(
                text(
                    "SELECT DISTINCT table_name FROM information_schema.role_table_grants "
                    "WHERE grantee = 'switchboard_app' AND table_name LIKE 'admin_%'"
                )
            )
            assert set(grants.scalars().all()) == set(metadata.tables)
    finally:
        await engine.dispose()
    await round_trip(fresh_pg_url)


async def test_sqlite_upgrade_matches_models_and_round_trips(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    await db.upgrade("admin", "switchboard_admin", url)
    assert await schema_differences(url) == []
    await round_trip(url)
