"""Slowing down password guessing: failed sign-ins counted per account and per address, in this process."""

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60
MAX_KEYS = 10_000  # beyond this, expired entries are swept so memory stays bounded under a spray of names


class LoginLimiter:
    """Remembers when sign-ins failed; a key with MAX_FAILURES failures in the last WINDOW_SECONDS must wait.

    Keys are e.g. ("account", email) and ("address", ip). The clock is injectable so tests need no sleeping.
    The counts live in memory: a restart forgets them, and each server process counts on its own.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
    ):
        self.clock = clock
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.failures: dict[Hashable, deque[float]] = {}
        self.lock = threading.Lock()

    def recent(self, key: Hashable, now: float) -> deque[float]:
        """The key's failures inside the window (older ones are dropped); call with the lock held."""
        times = self.failures.get(key, deque())
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            self.failures.pop(key, None)
        return times

    def retry_after(self, *keys: Hashable) -> int | None:
        """Seconds until any of `keys` may try again, or None when none of them is blocked."""
        with self.lock:
            now = self.clock()
            waits = []
            for key in keys:
                times = self.recent(key, now)
                if len(times) >= self.max_failures:
                    # The attempt becomes possible again when the oldest failure that still counts leaves the window.
                    oldest_counted = times[-self.max_failures]
                    waits.append(max(1, int(oldest_counted + self.window_seconds - now + 0.999)))
            return max(waits) if waits else None

    def record_failure(self, *keys: Hashable) -> None:
        with self.lock:
            now = self.clock()
            if len(self.failures) >= MAX_KEYS:
                for key in list(self.failures):
                    self.recent(key, now)
            for key in keys:
                times = self.recent(key, now)
                times.append(now)
                while len(times) > self.max_failures:
                    times.popleft()  # only the last MAX_FAILURES decide anything
                self.failures[key] = times

    def reset(self, key: Hashable) -> None:
        with self.lock:
            self.failures.pop(key, None)
