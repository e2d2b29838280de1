"""Virtual time: a microsecond clock and a deterministic task scheduler."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True, slots=True)
class _Task:
    due_us: int
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class TaskHandle:
    """Lets the owner of a scheduled task cancel it."""

    __slots__ = ("_task",)

    def __init__(self, task: _Task) -> None:
        self._task = task

    def cancel(self) -> None:
        self._task.cancelled = True

    @property
    def due_us(self) -> int:
        return self._task.due_us


class Scheduler:
    """Runs callbacks at virtual times, in time order then in scheduling order."""

    def __init__(self, start_us: int) -> None:
        self.now_us = start_us
        self._heap: list[_Task] = []
        self._order = 0
        self.on_schedule: Callable[[], None] | None = None

    def call_at(self, due_us: int, callback: Callable[[], None]) -> TaskHandle:
        self._order += 1
        task = _Task(max(due_us, self.now_us), self._order, callback)
        heapq.heappush(self._heap, task)
        if self.on_schedule is not None:
            self.on_schedule()
        return TaskHandle(task)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> TaskHandle:
        return self.call_at(self.now_us + round(delay_s * 1_000_000), callback)

    def next_due_us(self) -> int | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due_us if self._heap else None

    def run_until(self, until_us: int) -> int:
        """Run every task due at or before `until_us`; the clock ends at `until_us`."""
        ran = 0
        while True:
            due = self.next_due_us()
            if due is None or due > until_us:
                break
            task = heapq.heappop(self._heap)
            self.now_us = max(self.now_us, task.due_us)
            task.callback()
            ran += 1
        self.now_us = max(self.now_us, until_us)
        return ran
