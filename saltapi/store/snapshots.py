"""Snapshots of a whole database, in memory, restored with SQLite's backup API (test resets, demo resets)."""

import secrets
import sqlite3


def take_snapshot(db: sqlite3.Connection) -> sqlite3.Connection:
    """An in-memory copy of the whole database (schema, rows, users, sequences), for `restore_snapshot`."""
    snapshot = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    db.backup(snapshot)
    return snapshot


def restore_snapshot(snapshot: sqlite3.Connection, db: sqlite3.Connection) -> None:
    """Make the database behind `db` an exact copy of the snapshot again, with SQLite's backup API.

    Safe while other connections and processes use the file: the copy is one write transaction under
    SQLite's own locks, so a reader sees the old database or the new one, never a mix, and a file in WAL
    mode stays in it. The restored metadata version is a new random number: the old one may already name
    other metadata in some process's cache (db.MetadataCache compares versions for equality only).
    """
    snapshot.execute("UPDATE _sc_metadata_version SET version = ?", (secrets.randbits(62),))
    snapshot.backup(db)
