"""Connections kept open from request to request, one per thread, never carried across fork()."""

import os
import threading

from .connection import Connection, connect
from .metadata_cache import MetadataCache


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
        db.metadata_version = db.token_owner = None  # the next request reads them afresh
        previous, self.local.db = getattr(self.local, "db", None), db
        if previous is not None:
            previous.close()
