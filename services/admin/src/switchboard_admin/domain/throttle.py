"""Login throttling: failures counted in a sliding window per user and per address; past a
free allowance each further attempt must wait exponentially longer (1 s, 2 s, 4 s, ...).

Pure and clock-free: callers pass `now` (seconds, monotonic) to every method.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    window_s: float = 900.0
    free_failures: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0
    max_tracked_keys: int = 100_000

    def delay_after(self, failures: int) -> float:
        """How long to wait after `failures` failures in the window (0 within the allowance)."""
        extra = failures - self.free_failures
        if extra <= 0:
            return 0.0
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** min(extra - 1, 30)))


class SlidingWindowThrottle:
    """Failure history per key (a user, an address) with exponential back-off."""

    def __init__(self, policy: ThrottlePolicy) -> None:
        self.policy = policy
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float:
        """Seconds to wait before `key` may try again; 0 when it may try now."""
        history = self._recent(key, now)
        if not history:
            return 0.0
        wait_until = history[-1] + self.policy.delay_after(len(history))
        return max(0.0, wait_until - now)

    def record_failure(self, key: str, now: float) -> None:
        history = self._recent(key, now)
        if history is None:
            if len(self._failures) >= self.policy.max_tracked_keys:
                self._evict(now)
            history = self._failures.setdefault(key, deque())
        history.append(now)

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str, now: float) -> int:
        history = self._recent(key, now)
        return len(history) if history else 0

    def _recent(self, key: str, now: float) -> deque[float] | None:
        history = self._failures.get(key)
        if history is None:
            return None
        horizon = now - self.policy.window_s
        while history and history[0] <= horizon:
            history.popleft()
        if not history:
            del self._failures[key]
            return None
        return history

    def _evict(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.policy.max_tracked_keys:
            self._failures.pop(next(iter(self._failures)))


class LoginThrottle:
    """One throttle for user names (tenant + username) and one for client addresses."""

    def __init__(self, per_user: ThrottlePolicy, per_address: ThrottlePolicy) -> None:
        self.users = SlidingWindowThrottle(per_user)
        self.addresses = SlidingWindowThrottle(per_address)

    def retry_after(self, user_key: str, address: str, now: float) -> float:
        return max(self.users.retry_after(user_key, now), self.addresses.retry_after(address, now))

    def failed(self, user_key: str, address: str, now: float) -> None:
        self.users.record_failure(user_key, now)
        self.addresses.record_failure(address, now)

    def succeeded(self, user_key: str) -> None:
        self.users.reset(user_key)
