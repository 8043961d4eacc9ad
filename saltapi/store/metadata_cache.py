"""Parsed metadata kept across requests in each process, dropped whenever the shared version moves."""

import sqlite3
import threading


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
