"""Slowing down guessing, counted across processes: failed sign-ins (per address, and per account at an address)
and unknown API tokens (per address).

A key names who guessed (an address, an account tried from an address), never only what was guessed at, so no
failure of one client ever blocks another: an account is never locked for everyone. After its free failures, a
key must wait after each further one, twice as long each time, up to a cap; failures older than the window are
forgotten. An admin clears the counters with `saltapi unlock`.
"""

import math
import time
from collections.abc import Callable

from .connection import Connection, transaction

# Every limiter shares one table: nothing younger than the longest window in use is pruned.
KEEP_SECONDS = 60 * 60
# Sign-ins: per address and per account at an address, 10 failures free, then 1 s, 2 s, 4 s ... up to 15 minutes.
FREE_FAILURES = 10
FIRST_DELAY_SECONDS = 1
MAX_DELAY_SECONDS = 15 * 60


def address_key(address: str | None) -> str:
    return f"address:{address}"


def account_address_key(email: str, address: str | None) -> str:
    """An account (its email as typed, trimmed and case-folded) tried from one address."""
    return f"account-address:{email.strip().casefold()}\n{address}"


def token_address_key(address: str | None) -> str:
    return f"token-address:{address}"


class LoginLimiter:
    """After `free_failures` failures in the last `window_seconds`, a key waits `first_delay` seconds after its
    latest failure, doubled for each failure beyond, at most `max_delay`.

    The failures live in the database, so every worker process counts the same ones and a restart forgets none.
    The clock (wall time, which all processes share) is injectable so tests need no sleeping.
    """

    def __init__(
        self,
        free_failures: int = FREE_FAILURES,
        first_delay: float = FIRST_DELAY_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        window_seconds: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self.free_failures = free_failures
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.window_seconds = min(window_seconds, KEEP_SECONDS)
        self.clock = clock

    def delay(self, failures: int) -> float:
        """How long a key with this many counted failures waits after the latest one."""
        if failures < self.free_failures:
            return 0
        return min(self.max_delay, self.first_delay * 2 ** min(failures - self.free_failures, 64))

    def retry_after(self, db: Connection, *keys: str) -> int | None:
        """Whole seconds until every one of `keys` may try again, or None when none of them must wait."""
        now = self.clock()
        waits = []
        for key in keys:
            failures, latest = db.execute(
                "SELECT count(*), max(at) FROM _sc_login_failures WHERE key = ? AND at > ?",
                (key, now - self.window_seconds),
            ).fetchone()
            wait = (latest or now) + self.delay(failures) - now
            if failures and wait > 0:
                waits.append(max(1, math.ceil(wait)))
        return max(waits) if waits else None

    def record_failure(self, db: Connection, *keys: str) -> None:
        """Count a failure against each key; failures older than any window are forgotten on the way."""
        now = self.clock()
        with transaction(db):
            db.execute("DELETE FROM _sc_login_failures WHERE at <= ?", (now - KEEP_SECONDS,))
            db.executemany("INSERT INTO _sc_login_failures (key, at) VALUES (?, ?)", [(key, now) for key in keys])

    def reset(self, db: Connection, *keys: str) -> None:
        with transaction(db):
            db.executemany("DELETE FROM _sc_login_failures WHERE key = ?", [(key,) for key in keys])


def clear_failures(db: Connection, email: str | None = None, address: str | None = None) -> int:
    """Forget failures (all of them, or those of an account and/or an address); return how many were forgotten."""
    conditions, params = [], []
    if email is not None:
        prefix = account_address_key(email, "")
        conditions.append("substr(key, 1, ?) = ?")
        params += [len(prefix), prefix]
    if address is not None:
        suffix = f"\n{address}"
        # The key's last len(suffix) characters, in words both SQLite and PostgreSQL read alike (not substr(key, -n)).
        address_condition = "(key IN (?, ?) OR substr(key, length(key) - ? + 1) = ?)"
        if email is not None:  # that account from that address only
            conditions = ["key = ?"]
            params = [account_address_key(email, address)]
        else:
            conditions.append(address_condition)
            params += [address_key(address), token_address_key(address), len(suffix), suffix]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    with transaction(db):
        return db.execute(f"DELETE FROM _sc_login_failures{where}", params).rowcount
