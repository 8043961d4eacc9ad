"""The SQLite connection: opening it, one transaction per write, identifier quoting, the schema."""

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from flask import Flask, current_app, g

BUSY_TIMEOUT_MS = 5000
DEFAULT_DATABASE = "instance/saltapi.sqlite"


class MetadataCache:
    """Parsed metadata kept across requests, dropped whenever `_sc_metadata_version` moves.

    Every process keeps its own; any process changing the metadata bumps the version in the shared file
    (schema.sql's triggers), so the others notice on their next lookup.
    """

    def __init__(self):
        self.version = None
        self.entries: dict = {}
        self.lock = threading.Lock()

    def get(self, db: sqlite3.Connection, key, load):
        """The cached value for `key`, or `load()`'s result (cached unless None)."""
        version = db.execute("SELECT version FROM _sc_metadata_version").fetchone()[0]
        with self.lock:
            if version != self.version:
                self.entries, self.version = {}, version
            if key in self.entries:
                return self.entries[key]
        value = load()
        with self.lock:
            if value is not None and version == self.version:
                self.entries[key] = value
        return value


class Connection(sqlite3.Connection):
    """A connection that may carry its app's metadata cache (None outside a request or CLI command)."""

    metadata_cache: MetadataCache | None = None


def connect(path: str | Path) -> Connection:
    """Open the database in autocommit mode; writes go through `transaction()`."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=Connection)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    # SQLite's lower() and LIKE fold ASCII only; searches should find "Über" with "über" too.
    db.create_function("saltapi_casefold", 1, casefold, deterministic=True)
    return db


def casefold(value):
    return value.casefold() if isinstance(value, str) else value


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one IMMEDIATE transaction: all of it commits, or none of it.

    IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading a read lock, and
    DDL inside the block is part of the transaction too. Rolls back on BaseException (including
    KeyboardInterrupt) and re-raises.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed COMMIT can leave the transaction open too
            db.execute("ROLLBACK")
        raise


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL; every identifier goes through here."""
    return '"' + name.replace('"', '""') + '"'


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


def init_db(db: sqlite3.Connection) -> None:
    """Create the metadata tables if missing (idempotent) and switch the file to WAL."""
    db.execute("PRAGMA journal_mode = WAL")
    schema = resources.files("saltapi").joinpath("schema.sql").read_text(encoding="utf-8")
    # executescript() commits any open transaction first, so the script brings its own.
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class ConnectionPool:
    """One open connection per thread, kept from request to request.

    A new connection costs more than most requests do (SQLite parses the whole schema on its first
    statement), so each thread keeps its own. A connection opened before a fork is never used, nor
    closed, in the child: SQLite forbids carrying connections across fork().
    """

    def __init__(self, cache: MetadataCache):
        self.cache = cache
        self.local = threading.local()
        self.inherited: list[Connection] = []

    def acquire(self, path: str) -> Connection:
        """The thread's connection to `path` (opened when it has none); it is the caller's until released."""
        db, self.local.db = getattr(self.local, "db", None), None
        if db is not None and (self.local.pid != os.getpid() or self.local.path != path):
            if self.local.pid != os.getpid():
                self.inherited.append(db)
            else:
                db.close()
            db = None
        if db is None:
            db = connect(path)
            db.metadata_cache = self.cache
        self.local.pid, self.local.path = os.getpid(), path
        return db

    def release(self, db: Connection) -> None:
        """Keep the connection for the thread's next request (a transaction left open is rolled back)."""
        if db.in_transaction:
            db.execute("ROLLBACK")
        previous, self.local.db = getattr(self.local, "db", None), db
        if previous is not None:
            previous.close()


def get_db() -> Connection:
    """The request's connection, from the thread's pool; the schema is ensured once per process."""
    if "_saltapi_db" not in g:
        state = current_app.extensions["saltapi"]
        db = current_app.extensions["saltapi_pool"].acquire(current_app.config["DATABASE"])
        if not state.schema_ready:
            init_db(db)
            state.schema_ready = True
        g._saltapi_db = db
    return g._saltapi_db


def detach_db() -> tuple[Connection, Callable[[], None]]:
    """Take the request's connection beyond the request (to stream an answer, say), with the function
    that hands it back to its pool afterwards."""
    db = get_db()
    g.pop("_saltapi_db")
    pool = current_app.extensions["saltapi_pool"]
    return db, functools.partial(pool.release, db)


def release_db(exception: BaseException | None = None) -> None:
    db = g.pop("_saltapi_db", None)
    if db is not None:
        current_app.extensions["saltapi_pool"].release(db)


def init_app(app: Flask) -> None:
    app.extensions["saltapi_pool"] = ConnectionPool(MetadataCache())
    app.teardown_appcontext(release_db)
