"""Storage helpers against real PostgreSQL: migrations per service, RLS per transaction."""

import pytest
from sqlalchemy import text

from switchboard_cli.supervisor import SERVICES
from switchboard_common import db


async def test_every_service_migrates_into_one_database_with_its_own_history(
    fresh_pg_url: str,
) -> None:
    for name, *_ in SERVICES:
        await db.upgrade(name, f"switchboard_{name}", fresh_pg_url)
    engine = db.create_engine(fresh_pg_url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_name LIKE 'alembic_version_%'"
            )
        )
        tables = {row[0] for row in rows}
    await engine.dispose()
    assert tables == {f"alembic_version_{name}" for name, *_ in SERVICES}


async def test_rls_confines_rows_to_the_tenant_of_the_transaction(fresh_pg_url: str) -> None:
    engine = db.create_engine(fresh_pg_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE notes (id serial PRIMARY KEY, tenant_id text NOT NULL, body text)")
        )
        for statement in db.rls_policy_statements("notes"):
            await connection.execute(text(statement))
        await connection.execute(text("DROP ROLE IF EXISTS sb_rls_probe"))
        await connection.execute(text("CREATE ROLE sb_rls_probe"))
        await connection.execute(text("GRANT SELECT, INSERT ON notes TO sb_rls_probe"))
        await connection.execute(text("GRANT USAGE ON SEQUENCE notes_id_seq TO sb_rls_probe"))
    sessions = db.make_sessionmaker(engine)
    for tenant in ("acme", "globex"):
        async with db.tenant_transaction(sessions, tenant) as session:
            await session.execute(text("SET LOCAL ROLE sb_rls_probe"))
            await session.execute(
                text("INSERT INTO notes (tenant_id, body) VALUES (:t, 'hi')"), {"t": tenant}
            )
    async with db.tenant_transaction(sessions, "acme") as session:
        await session.execute(text("SET LOCAL ROLE sb_rls_probe"))
        seen = (await session.execute(text("SELECT tenant_id FROM notes"))).scalars().all()
        assert seen == ["acme"]
        with pytest.raises(Exception, match="row-level security"):
            async with session.begin_nested():
                await session.execute(
                    text("INSERT INTO notes (tenant_id, body) VALUES ('globex', 'x')")
                )
    async with sessions() as session, session.begin():
        await session.execute(text("SET LOCAL ROLE sb_rls_probe"))
        unscoped = (await session.execute(text("SELECT count(*) FROM notes"))).scalar_one()
        assert unscoped == 0
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE notes"))
        await connection.execute(text("DROP ROLE sb_rls_probe"))
    await engine.dispose()


def test_bad_tenant_id_is_refused_before_touching_the_database() -> None:
    sessions = db.make_sessionmaker(db.create_engine("sqlite+aiosqlite:///:memory:"))
    with pytest.raises(ValueError):
        db.tenant_transaction(sessions, "x'; DROP TABLE y; --").__aenter__().send(None)


def test_unsupported_backend_is_a_clear_configuration_error() -> None:
    from switchboard_common.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        db.create_engine("mysql+aiomysql://x/y")
