"""Connections to either engine: choosing it from the database name, one transaction per write, identifier
quoting, the schema, and the per-engine operations the rest of store/ asks for through `engine_of()`.

A database is a SQLite file path, or a `postgresql://` URL (psycopg 3, the `saltapi[postgres]` extra).
"""

import contextlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from . import sqlite
from .errors import ConstraintViolation, DatabaseUnavailable

DEFAULT_DATABASE = "instance/saltapi.sqlite"
POSTGRES_URL_PREFIXES = ("postgresql://", "postgres://")

# A row that breaks a constraint no pre-check caught: SQLite's own error (its hot path is left alone), or the
# ConstraintViolation PostgreSQL's connection raises.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (*sqlite.INTEGRITY_ERRORS, ConstraintViolation)
# What a statement raises when the database may be unusable right now; `is_unavailable` tells which are not bugs.
OPERATIONAL_ERRORS: tuple[type[Exception], ...] = (*sqlite.OPERATIONAL_ERRORS, DatabaseUnavailable)

# sqlite.Connection or postgres.Connection: both take `?` placeholders and give rows readable by name and position.
Connection = Any
Row = Any  # sqlite3.Row or postgres.Row


def is_postgres(database) -> bool:
    return isinstance(database, str) and database.startswith(POSTGRES_URL_PREFIXES)


def postgres() -> ModuleType:
    """The PostgreSQL engine, imported only when asked for: psycopg is an optional dependency."""
    try:
        from . import postgres as engine
    except ImportError as error:
        raise RuntimeError(
            f"PostgreSQL needs psycopg 3 and psycopg_pool: pip install 'saltapi[postgres]' ({error})"
        ) from None
    return engine


def engine_of(db: Connection) -> ModuleType:
    """The module of the engine behind a connection (store/sqlite.py or store/postgres.py)."""
    return postgres() if db.engine == "postgres" else sqlite


def engine_for(database) -> ModuleType:
    return postgres() if is_postgres(database) else sqlite


def is_new(database) -> bool:
    """Has saltapi's schema never been created there (no SQLite file yet, or no metadata tables in PostgreSQL)?"""
    if not is_postgres(database):
        return not os.path.exists(database)
    db = connect(database)
    try:
        return db.execute("SELECT to_regclass('_sc_metadata_version') IS NULL").fetchone()[0]
    finally:
        db.close()


def is_database_url(database: str) -> bool:
    """`postgresql://...` and the like name a server, not a file."""
    return "://" in database


def database_label(database: str) -> str:
    """The database as a person should see it: a file's absolute path, a URL without its password."""
    if not is_database_url(database):
        return os.path.abspath(database)
    parts = urlsplit(database)
    if parts.password is None:
        return database
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def connect(database) -> Connection:
    """A connection of its own to a SQLite file or a PostgreSQL URL, in autocommit mode; writes go through
    `transaction()`."""
    return engine_for(database).connect(database)


def transaction(db: Connection) -> contextlib.AbstractContextManager:
    """One write transaction: all of the block commits, or none of it (see each engine's `transaction`)."""
    if db.engine == "sqlite":
        return sqlite.transaction(db)
    return postgres().transaction(db)


def init_db(db: Connection) -> None:
    """Create the metadata tables if missing (idempotent)."""
    engine_of(db).init_db(db)


def defer_foreign_keys(db: Connection) -> None:
    """Check references at COMMIT, not per statement, for the rest of the transaction (rows may come before the
    rows they refer to)."""
    engine_of(db).defer_foreign_keys(db)


def dangling_key(db: Connection) -> tuple[str, int, str, str, object] | None:
    """(table, row id, column, referenced SQL table, value) of a reference to a row that does not exist: what a
    transaction with deferred foreign keys must look for before COMMIT."""
    return engine_of(db).dangling_key(db)


def is_unavailable(error: BaseException) -> bool:
    """Is this the database being unusable right now (a 503 the client may retry), rather than a bug?"""
    return isinstance(error, DatabaseUnavailable) or sqlite.is_unavailable(error)


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL; every identifier goes through here."""
    return '"' + name.replace('"', '""') + '"'


def placeholders(count: int) -> str:
    return ", ".join("?" * count)


def set_trace(db: Connection, callback: Callable[[str], None] | None) -> None:
    """Call `callback` with each statement's text from now on (None stops it): how tests count statements."""
    if db.engine == "sqlite":
        db.set_trace_callback(callback)
    else:
        db.trace = callback
