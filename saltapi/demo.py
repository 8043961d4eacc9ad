"""Demo instances: the demo data plus demo users, restored on demand (`reset-demo`) or every few minutes.

A reset copies a snapshot of a freshly loaded demo over the database with SQLite's backup API, so it is one
write transaction that a running server's readers never see half done, and table ids, row ids and
sequences come back exactly as on a fresh start.
"""

import json
import logging
import threading
from importlib import resources
from pathlib import Path

from .fixtures import load_fixture
from .store.connection import Connection, connect, database_label, init_db
from .store.metadata import ADMIN_ROLE_ID, STAFF_ROLE_ID, USER_ROLE_ID, table_names
from .store.snapshots import restore_snapshot, take_snapshot

log = logging.getLogger(__name__)

# Known to everyone who reads the README or the console: only for instances that are meant to be thrown away.
DEMO_USERS = (
    {"id": 1, "email": "admin@example.com", "password": "demo-admin-password", "role_id": ADMIN_ROLE_ID,
     "api_token": "demo-admin-token"},
    {"id": 2, "email": "staff@example.com", "password": "demo-staff-password", "role_id": STAFF_ROLE_ID,
     "api_token": "demo-staff-token"},
    {"id": 3, "email": "user@example.com", "password": "demo-user-password", "role_id": USER_ROLE_ID,
     "api_token": "demo-user-token"},
)  # fmt: skip


def demo_tables() -> dict:
    """The demo data set a first start loads: tables and rows, no users."""
    return json.loads(resources.files("saltapi").joinpath("demo.json").read_text(encoding="utf-8"))


def demo_data() -> dict:
    """The demo data set with the demo users, as a fixture."""
    return {**demo_tables(), "users": [dict(user) for user in DEMO_USERS]}


def build_demo_snapshot() -> Connection:
    """A fresh demo instance, in memory (password hashing is slow on purpose: build it once, restore it often)."""
    db = connect(":memory:")
    try:
        init_db(db)
        load_fixture(db, demo_data())
        return take_snapshot(db)
    finally:
        db.close()


def reset_demo(database: str | Path, snapshot: Connection | None = None) -> list[str]:
    """Make the database a fresh demo instance (creating the file if needed); return its table names.

    Safe while a server uses the file. Pass a snapshot from build_demo_snapshot() to skip rebuilding it.
    """
    db = connect(database)
    try:
        restore_snapshot(snapshot or build_demo_snapshot(), db)
        init_db(db)  # a new SQLite file becomes WAL like any other; an existing one already is
        return table_names(db)
    finally:
        db.close()


def demo_lines(database: str | Path, tables: list[str]) -> list[str]:
    """What the console says about a demo instance: what it holds and how to sign in."""
    lines = [f"Demo instance in {database_label(str(database))}, tables: {', '.join(tables)}. Everything in it can be reset."]
    lines.append("Demo users (their passwords and API tokens are public: never use them for real data):")
    for user in DEMO_USERS:
        lines.append(f"    {user['email']:<18}  password {user['password']:<20}  API token {user['api_token']}")
    return lines


class PeriodicDemoReset:
    """Resets a database to the demo every `interval` seconds, in a daemon thread of the serving process."""

    def __init__(self, database: str | Path, interval: float, snapshot: Connection | None = None):
        if interval <= 0:
            raise ValueError("The interval between demo resets must be positive")
        self.database = database
        self.interval = interval
        self.snapshot = snapshot or build_demo_snapshot()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, name="saltapi demo reset", daemon=True)

    def reset(self) -> None:
        """Reset now; the thread calls this, and tests can too."""
        reset_demo(self.database, self.snapshot)
        log.info("reset %s to the demo data", self.database)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.reset()
            except Exception:  # a failed reset (disk full, file locked for 5 s) must not end the resets
                log.exception("resetting %s to the demo data failed", self.database)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.stopped.set()
        self.thread.join(timeout)
