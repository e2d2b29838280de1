"""The tickets migrations go up, down and up again on PostgreSQL, with row-level security."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from switchboard_common import db
from switchboard_tickets import models


async def test_migrations_round_trip_and_secure_every_tenant_table(fresh_pg_url: str) -> None:
    await db.upgrade("tickets", "switchboard_tickets", fresh_pg_url)
    await asyncio.to_thread(db.downgrade_sync, "tickets", "switchboard_tickets", fresh_pg_url)
    engine = db.create_engine(fresh_pg_url)
    try:
        async with engine.connect() as connection:
            left = await connection.scalar(
                sa.text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_name LIKE 'tickets\\_%' ESCAPE '\\'"
                )
            )
        assert left == 0
    finally:
        await engine.dispose()

    await db.upgrade("tickets", "switchboard_tickets", fresh_pg_url)
    engine = db.create_engine(fresh_pg_url)
    try:
        async with engine.connect() as connection:
            secured = await connection.execute(
                sa.text(
                    "SELECT relname FROM pg_class "
                    "WHERE relrowsecurity AND relforcerowsecurity AND relname LIKE 'tickets%'"
                )
            )
            policies = await connection.execute(
                sa.text("SELECT tablename, policyname FROM pg_policies")
            )
            columns = await connection.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'tickets_tickets'"
                )
            )
        assert {row[0] for row in secured} == set(models.TENANT_TABLES)
        assert {(table, name) for table, name in policies} >= {
            (table, f"{table}_tenant_isolation") for table in models.TENANT_TABLES
        }
        assert "search_vector" in {row[0] for row in columns}
    finally:
        await engine.dispose()


async def test_the_models_match_the_migrated_schema(fresh_pg_url: str) -> None:
    await db.upgrade("tickets", "switchboard_tickets", fresh_pg_url)
    engine = db.create_engine(fresh_pg_url)
    try:
        async with engine.connect() as connection:

            def compare(sync_connection: sa.Connection) -> list[object]:
                from alembic.autogenerate import compare_metadata
                from alembic.migration import MigrationContext

                context = MigrationContext.configure(sync_connection, opts={"compare_type": False})
                return list(compare_metadata(context, models.metadata))

            differences = await connection.run_sync(compare)
        postgres_only = ("search_vector", "alembic_version")
        unexpected = [d for d in differences if not any(n in repr(d) for n in postgres_only)]
        assert unexpected == []
        assert len(differences) == 3, "the search column, its index, the version table"
    finally:
        await engine.dispose()
