"""The escalation timer: fires SLA reminders and escalations when their time comes.

Each ticket stores its next wake-up time (`next_wakeup_at`, computed by the pure
`scheduler.next_wakeup`); the timer looks for tickets whose time has come and lets
`TicketsService.fire_due_actions` fire them under a row lock (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so instances share the work) and a unique action key (so nothing fires twice,
across restarts and instances). Time comes from the injected clock: tests drive
`run_once()` with a clock of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from switchboard_tickets.repository import TicketsStore
from switchboard_tickets.services import Clock, TicketsService, utc_now

log = logging.getLogger(__name__)

MAX_ROUNDS = 20
"""Batches one `run_once` takes at most (the rest waits for the next run)."""


class EscalationTimer:
    def __init__(
        self,
        store: TicketsStore,
        tickets: TicketsService,
        *,
        clock: Clock = utc_now,
        poll_interval_s: float = 5.0,
        batch_size: int = 200,
        min_sleep_s: float = 0.05,
    ) -> None:
        self._store = store
        self._tickets = tickets
        self._clock = clock
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._min_sleep_s = min_sleep_s
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._planned: datetime | None = None
        self.fired_total = 0

    async def run_once(self) -> int:
        """Fire everything due now; how many reminders and escalations fired."""
        now = self._clock()
        fired = 0
        seen: set[tuple[str, str]] = set()
        for _ in range(MAX_ROUNDS):
            async with self._store.platform() as platform:
                due = await platform.due_tickets(now, limit=self._batch_size)
            fresh = [item for item in due if item not in seen]
            for tenant_id, ticket_id in fresh:
                seen.add((tenant_id, ticket_id))
                try:
                    fired += await self._tickets.fire_due_actions(tenant_id, ticket_id, now)
                except Exception:
                    log.exception("escalation timer: ticket %s of %s failed", ticket_id, tenant_id)
            if len(due) < self._batch_size or not fresh:
                break
        self.fired_total += fired
        return fired

    def wakeup_at(self, at: datetime) -> None:
        """A ticket now needs the timer at `at`: wake up early if that is before the plan."""
        if self._planned is None or at < self._planned:
            self._wakeup.set()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="tickets-escalation-timer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 10.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _delay(self) -> float:
        delay = self._poll_interval_s
        async with self._store.platform() as platform:
            earliest = await platform.earliest_wakeup()
        if earliest is not None:
            delay = min(delay, (earliest - self._clock()).total_seconds())
        return max(delay, self._min_sleep_s)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                await self.run_once()
                delay = await self._delay()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("escalation timer: run failed, retrying", exc_info=True)
                delay = self._poll_interval_s
            self._planned = self._clock() + timedelta(seconds=delay)
            waiters = [
                asyncio.ensure_future(self._wakeup.wait()),
                asyncio.ensure_future(self._stopping.wait()),
            ]
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
