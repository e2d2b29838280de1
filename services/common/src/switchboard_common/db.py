"""Storage helpers: async SQLAlchemy engines for PostgreSQL (asyncpg) and SQLite (aiosqlite),
tenant-scoped transactions for row-level security, and Alembic migrations per service.

Every service owns its tables and its own Alembic history (version table
`alembic_version_<service>`), so several services can share one PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from switchboard_common.errors import ConfigurationError

TENANT_SETTING = "app.tenant_id"
_TENANT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_postgres(url_or_engine: str | AsyncEngine) -> bool:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine.dialect.name == "postgresql"
    return make_url(url_or_engine).get_backend_name() == "postgresql"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(f"invalid setting DATABASE_URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            url = parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
        return create_async_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    raise ConfigurationError(
        f"invalid setting DATABASE_URL: backend {backend!r} is not supported (postgresql or sqlite)"
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def tenant_transaction(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str
) -> AsyncIterator[AsyncSession]:
    """A session in one transaction scoped to a tenant.

    On PostgreSQL the tenant is set with `set_config(..., true)` (the same as `SET LOCAL`), so
    the row-level-security policies see it for this transaction only.
    """
    if not _TENANT_ID_PATTERN.match(tenant_id):
        raise ValueError(f"invalid tenant id {tenant_id!r}")
    async with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(
                text("SELECT set_config(:name, :tenant, true)"),
                {"name": TENANT_SETTING, "tenant": tenant_id},
            )
        yield session


def rls_policy_statements(table: str, column: str = "tenant_id") -> list[str]:
    """PostgreSQL statements that confine `table` to the tenant set for the transaction."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_tenant_isolation ON {table} "
        f"USING ({column} = current_setting('{TENANT_SETTING}', true)) "
        f"WITH CHECK ({column} = current_setting('{TENANT_SETTING}', true))",
    ]


def migrations_dir(package: str) -> Path:
    """The Alembic script folder of a service package (`<package>/migrations`)."""
    import importlib

    module = importlib.import_module(package)
    assert module.__file__ is not None
    return Path(module.__file__).parent / "migrations"


def _alembic_config(service: str, package: str, url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir(package)))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["version_table"] = f"alembic_version_{service}"
    config.attributes["service"] = service
    return config


def upgrade_sync(service: str, package: str, url: str, revision: str = "head") -> None:
    """Run a service's migrations to `revision` (blocking; runs its own event loop)."""
    from alembic import command

    command.upgrade(_alembic_config(service, package, url), revision)


def downgrade_sync(service: str, package: str, url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(_alembic_config(service, package, url), revision)


async def upgrade(service: str, package: str, url: str, revision: str = "head") -> None:
    """Run migrations from async code (in a worker thread with its own loop)."""
    await asyncio.to_thread(upgrade_sync, service, package, url, revision)


def run_alembic_env(target_metadata: Any) -> None:
    """The body of every service's `migrations/env.py` (online mode, async engines)."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    version_table = config.attributes.get("version_table", "alembic_version")

    def do_migrations(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(do_migrations)
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())
