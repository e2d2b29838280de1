"""Pytest plugin: a fresh PostgreSQL database per test session.

`PG_ADMIN_URL` (default postgresql://postgres@127.0.0.1:5432/postgres) is where databases are
created; set `SWITCHBOARD_KEEP_TEST_DB=1` to keep them for inspection.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_database(prefix: str = "sbtest") -> str:
    """Create an empty database and return its async SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (asyncpg URL)."""
    try:
        url = create_database()
    except OSError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}")
    yield url
    if not os.environ.get("SWITCHBOARD_KEEP_TEST_DB"):
        drop_database(url)


@pytest.fixture()
def fresh_pg_url() -> Iterator[str]:
    """A fresh database for one test (for migration tests)."""
    url = create_database("sbtest1")
    yield url
    drop_database(url)
