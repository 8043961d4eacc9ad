"""Slowing down guessing: failed sign-ins (per account and address) and unknown API tokens (per address), counted
across processes."""

import sqlite3
import time
from collections.abc import Callable

from .connection import placeholders, transaction

MAX_FAILURES = 10
WINDOW_SECONDS = 15 * 60
# Limiters with different windows share one table: nothing younger than the longest window in use is pruned.
KEEP_SECONDS = WINDOW_SECONDS


class LoginLimiter:
    """Remembers when sign-ins failed; a key with MAX_FAILURES failures in the last WINDOW_SECONDS must wait.

    Keys are e.g. "account:<email>" and "address:<ip>" (sign-ins) or "token-address:<ip>" (unknown API tokens).
    The failures live in the database, so every worker process of a server counts the same ones, and a restart
    forgets nothing. The clock (wall time, which all processes share) is injectable so tests need no sleeping.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
    ):
        self.clock = clock
        self.max_failures = max_failures
        self.window_seconds = window_seconds

    def retry_after(self, db: sqlite3.Connection, *keys: str) -> int | None:
        """Seconds until any of `keys` may try again, or None when none of them is blocked."""
        now = self.clock()
        waits = []
        for key in keys:
            counted = db.execute(
                "SELECT at FROM _sc_login_failures WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?",
                (key, now - self.window_seconds, self.max_failures),
            ).fetchall()
            if len(counted) >= self.max_failures:
                # The attempt becomes possible again when the oldest failure that still counts leaves the window.
                oldest_counted = counted[-1][0]
                waits.append(max(1, int(oldest_counted + self.window_seconds - now + 0.999)))
        return max(waits) if waits else None

    def record_failure(self, db: sqlite3.Connection, *keys: str) -> None:
        """Count a failure against each key; failures that left the window are forgotten on the way."""
        now = self.clock()
        with transaction(db):
            keep = max(self.window_seconds, KEEP_SECONDS)
            db.execute("DELETE FROM _sc_login_failures WHERE at <= ?", (now - keep,))
            db.executemany("INSERT INTO _sc_login_failures (key, at) VALUES (?, ?)", [(key, now) for key in keys])

    def reset(self, db: sqlite3.Connection, *keys: str) -> None:
        with transaction(db):
            db.execute(f"DELETE FROM _sc_login_failures WHERE key IN ({placeholders(len(keys))})", keys)
