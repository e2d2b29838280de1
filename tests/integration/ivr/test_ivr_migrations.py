"""The ivr migration on a fresh PostgreSQL database: tables, row-level security on every
tenant table, and a clean downgrade and upgrade again."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from switchboard_common import db
from switchboard_ivr import models


async def test_the_migration_secures_tenant_tables_and_goes_back_and_forth(
    fresh_pg_url: str,
) -> None:
    await db.upgrade("ivr", "switchboard_ivr", fresh_pg_url)
    engine = db.create_engine(fresh_pg_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.text(
                        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                        "WHERE relname LIKE 'ivr_%' AND relkind = 'r'"
                    )
                )
            ).all()
        secured = {row.relname for row in rows if row.relrowsecurity and row.relforcerowsecurity}
        assert secured == set(models.TENANT_TABLES)
        assert {row.relname for row in rows} == set(models.TENANT_TABLES) | set(
            models.PLATFORM_TABLES
        )

        await asyncio.to_thread(db.downgrade_sync, "ivr", "switchboard_ivr", fresh_pg_url)
        async with engine.connect() as connection:
            left = (
                await connection.execute(
                    sa.text("SELECT count(*) FROM pg_class WHERE relname LIKE 'ivr\\_%'")
                )
            ).scalar()
        assert left == 0
        await db.upgrade("ivr", "switchboard_ivr", fresh_pg_url)
    finally:
        await engine.dispose()
