"""The SQLite connection: opening it, one transaction per write, identifier quoting, the schema."""

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from .metadata_cache import MetadataCache

BUSY_TIMEOUT_MS = 5000
DEFAULT_DATABASE = "instance/saltapi.sqlite"


class Connection(sqlite3.Connection):
    """A connection that may carry its app's metadata cache (None outside a request or CLI command), and what its
    current request has read already: the metadata version and a token's owner (None until read, and again after
    each write; users.prefetch_token_owner reads both at once)."""

    metadata_cache: MetadataCache | None = None
    metadata_version: int | None = None
    token_owner: tuple | None = None  # (token hash, its _sc_users row or None)


def create_private(path: str | Path) -> None:
    """Make a missing database file readable by its owner only; SQLite gives its -wal and -shm files the same mode.

    It holds password hashes and, for a moment, sealed tokens: no other user of the machine may read it.
    """
    if str(path) == ":memory:" or str(path).startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def connect(path: str | Path) -> Connection:
    """Open the database in autocommit mode (creating it private); writes go through `transaction()`."""
    create_private(path)
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
    finally:
        if isinstance(db, Connection):  # the block may have changed the metadata or the users
            db.metadata_version = db.token_owner = None


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
