"""Keeping the look-up cache of every instance correct, and warming it.

- `ChangeListener`: on PostgreSQL the cache is off until it listens. It LISTENs on the
  database channel where each committed transaction names the customers it touched
  (`repository.announce_changes`), and evicts them. Writes without a Kafka event (customer
  edit or delete, ticket edits, contact history) reach the other instances this way. While
  the connection is down the cache is cleared and kept off (no invalidation could arrive);
  it reconnects by itself.
- `LookupCacheWarmer`: loads the most recently active customers in the background at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from switchboard_tickets.lookup_cache import LookupCache
from switchboard_tickets.repository import CHANGES_CHANNEL, parse_changes
from switchboard_tickets.services import CustomersService

log = logging.getLogger(__name__)


class ChangeListener:
    """Component: evicts from `cache` the customers other transactions touched."""

    def __init__(
        self, engine: AsyncEngine, cache: LookupCache, *, retry_interval_s: float = 1.0
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._retry_interval_s = retry_interval_s
        self._connection: AsyncConnection | None = None
        self._driver: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bounds = (cache.max_entries, cache.max_bytes)
        self.listening = False
        if engine.dialect.name == "postgresql":
            cache.max_entries = 0

    @property
    def needed(self) -> bool:
        """Whether the cache depends on this listener (several instances may share the
        database only on PostgreSQL)."""
        return self._engine.dialect.name == "postgresql"

    async def start(self) -> None:
        if not self.needed:
            return
        await self._listen()
        self._task = asyncio.create_task(self._supervise(), name="tickets-cache-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        changes = parse_changes(payload)
        if changes is not None:
            self._cache.apply_change(*changes)

    def _on_termination(self, _connection: Any) -> None:
        self._connection_lost()

    def _connection_lost(self) -> None:
        self.listening = False
        self._cache.max_entries = 0
        self._cache.clear()
        self._lost.set()

    async def _listen(self) -> None:
        """Open the listening connection; the cache is on only while it listens."""
        connection = await self._engine.connect()
        try:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            await driver.add_listener(CHANGES_CHANNEL, self._on_notification)
            driver.add_termination_listener(self._on_termination)
        except BaseException:
            await connection.close()
            raise
        self._connection, self._driver = connection, driver
        self._lost.clear()
        self._cache.clear()
        self._cache.max_entries, self._cache.max_bytes = self._bounds
        self.listening = True

    async def _close(self) -> None:
        connection, driver = self._connection, self._driver
        self._connection = self._driver = None
        self.listening = False
        if driver is not None and not driver.is_closed():
            with contextlib.suppress(Exception):
                await driver.remove_listener(CHANGES_CHANNEL, self._on_notification)
            driver.remove_termination_listener(self._on_termination)
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()

    async def _supervise(self) -> None:
        while True:
            await self._lost.wait()
            await self._close()
            while True:
                await asyncio.sleep(self._retry_interval_s)
                try:
                    await self._listen()
                    break
                except Exception:
                    log.warning("cannot listen for customer changes; retrying", exc_info=True)

    def simulate_loss(self) -> None:
        """As if the listening connection broke (tests and operators)."""
        self._connection_lost()


class LookupCacheWarmer:
    """Component: fills the look-up cache with recently active customers, in the background
    (the service takes traffic meanwhile: a look-up that misses fills its customer)."""

    def __init__(self, customers: CustomersService, count: int) -> None:
        self._customers = customers
        self._count = count
        self._task: asyncio.Task[int] | None = None

    async def start(self) -> None:
        if self._count > 0:
            self._task = asyncio.create_task(
                self._customers.warm_cache(self._count), name="tickets-cache-warmer"
            )
            self._task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def wait(self) -> int:
        """How many customers the warm-up loaded (0 if none was started)."""
        return await self._task if self._task is not None else 0


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("look-up cache warm-up failed", exc_info=task.exception())
