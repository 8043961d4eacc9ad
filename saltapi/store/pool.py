"""Connections kept open from request to request, never carried across fork(): one per thread for SQLite,
psycopg_pool's for PostgreSQL."""

import os
import threading
from collections.abc import Callable
from typing import Any

from .connection import Connection, is_postgres, postgres, set_trace
from .metadata_cache import MetadataCache
from .sqlite import connect


class ConnectionPool:
    """One open SQLite connection per thread, kept from request to request; PostgreSQL's come from a pool.

    A new connection costs more than most requests do (SQLite parses the whole schema on its first
    statement), so each thread keeps its own. A connection opened before a fork is never used, nor
    closed, in the child: SQLite forbids carrying connections across fork(), and a PostgreSQL pool's
    sockets and threads belong to the process that opened it.
    """

    def __init__(self, cache: MetadataCache):
        self.cache = cache
        self.local = threading.local()
        self.inherited: list[Connection] = []
        self.postgres_pool: Any = None  # postgres.Pool, made on first use (psycopg is optional)
        self.trace: Callable[[str], None] | None = None  # sees every statement of every connection handed out

    def acquire(self, database: str) -> Connection:
        """The thread's connection to `database` (opened when it has none); it is the caller's until released."""
        if is_postgres(database):
            if self.postgres_pool is None:
                self.postgres_pool = postgres().Pool(self.cache)
            db = self.postgres_pool.acquire(database)
            if self.trace is not None:
                set_trace(db, self.trace)
            return db
        db, self.local.db = getattr(self.local, "db", None), None
        if db is not None and (self.local.pid != os.getpid() or self.local.path != database):
            if self.local.pid != os.getpid():
                self.inherited.append(db)
            else:
                db.close()
            db = None
        if db is None:
            db = connect(database)
            db.metadata_cache = self.cache
        self.local.pid, self.local.path = os.getpid(), database
        if self.trace is not None:
            set_trace(db, self.trace)
        return db

    def release(self, db: Connection) -> None:
        """Keep the connection for the next request (a transaction left open is rolled back)."""
        db.metadata_version = db.token_owner = None  # the next request reads them afresh
        if self.trace is not None:
            set_trace(db, None)
        if db.engine == "postgres":
            self.postgres_pool.release(db)
            return
        if db.in_transaction:
            db.execute("ROLLBACK")
        previous, self.local.db = getattr(self.local, "db", None), db
        if previous is not None:
            previous.close()

    def close(self) -> None:
        """Close the PostgreSQL pools this process opened (SQLite's connections close with their threads)."""
        if self.postgres_pool is not None:
            self.postgres_pool.close()
