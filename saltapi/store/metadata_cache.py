"""Parsed metadata kept across requests in each process, dropped whenever the shared version moves."""

import threading


def request_version(db) -> int:
    """The metadata version, read once per request: a request's lookups all see the same metadata, and a GET
    pays one statement for it. Inside a transaction, which may change the metadata itself, it is read afresh;
    `transaction()` and the pool forget it (Connection.metadata_version) when a change or the request ends."""
    if db.metadata_version is not None and not db.in_transaction:
        return db.metadata_version
    return note_version(db, db.execute("SELECT version FROM _sc_metadata_version").fetchone()[0])


def note_version(db, version: int) -> int:
    """Keep `version` (just read) for the rest of the request, unless a transaction may still change it."""
    if not db.in_transaction:
        db.metadata_version = version
    return version


class MetadataCache:
    """Parsed metadata kept across requests, dropped whenever `_sc_metadata_version` moves.

    Every process keeps its own; any process changing the metadata bumps the version in the shared database
    (schema.sql's triggers), so the others notice on their next lookup.
    """

    def __init__(self):
        self.version = None
        self.entries: dict = {}
        self.lock = threading.Lock()

    def get(self, db, key, load):
        """The cached value for `key`, or `load()`'s result (cached unless None)."""
        version = request_version(db)
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
