"""Snapshots of a whole database, in memory, restored whole (test resets, demo resets).

A snapshot is an in-memory SQLite database whatever the engine: SQLite's backup API makes and restores it for a
SQLite file; for PostgreSQL, the instance is copied into it and back (store/instance.py).
"""

import secrets

from . import sqlite
from .connection import Connection, init_db, transaction
from .instance import copy_instance


def take_snapshot(db: Connection) -> sqlite.Connection:
    """An in-memory copy of the whole database (schema, rows, users, sequences), for `restore_snapshot`."""
    snapshot = sqlite.connect(":memory:")
    if db.engine == "sqlite":
        db.backup(snapshot)
        return snapshot
    init_db(snapshot)
    with transaction(snapshot):
        copy_instance(db, snapshot)
    return snapshot


def restore_snapshot(snapshot: sqlite.Connection, db: Connection) -> None:
    """Make the database behind `db` an exact copy of the snapshot again.

    Safe while other connections and processes use it: the copy is one write transaction (SQLite's backup API
    under SQLite's own locks; on PostgreSQL one transaction under the write lock), so a reader sees the old
    database or the new one, never a mix, and a SQLite file in WAL mode stays in it. The restored metadata
    version is a new random number: the old one may already name other metadata in some process's cache
    (MetadataCache compares versions for equality only).
    """
    if db.engine == "sqlite":
        snapshot.execute("UPDATE _sc_metadata_version SET version = ?", (secrets.randbits(62),))
        snapshot.backup(db)
        return
    init_db(db)
    with transaction(db):
        copy_instance(snapshot, db)  # gives it a new metadata version too
