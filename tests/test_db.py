"""The connection helpers: pragmas on every connection, all-or-nothing transactions, identifier quoting."""

import sqlite3

import pytest

import saltapi.store.sqlite
from saltapi.store.connection import connect, quote_identifier, transaction

# SQLite's connection settings (PRAGMAs, WAL) and its transaction statements.
pytestmark = pytest.mark.sqlite_only


def test_every_connection_enforces_keys_and_waits_for_locks(db_path):
    db = connect(db_path)
    try:
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_transaction_rolls_back_everything_on_error(db_path):
    db = connect(db_path)
    try:
        with pytest.raises(RuntimeError):
            with transaction(db):
                db.execute("INSERT INTO publisher (name) VALUES ('half')")
                db.execute("CREATE TABLE extra (x)")
                raise RuntimeError("crash in the middle")
        assert db.execute("SELECT count(*) FROM publisher WHERE name = 'half'").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
        assert not db.in_transaction
    finally:
        db.close()


@pytest.mark.parametrize(
    "name, quoted", [("books", '"books"'), ('a"b', '"a""b"'), ("select", '"select"'), ('"', '""""')]
)
def test_quote_identifier(name, quoted):
    assert quote_identifier(name) == quoted


class FailingCommit(saltapi.store.sqlite.Connection):
    def execute(self, sql, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)


def test_a_failing_commit_leaves_no_transaction_open(db_path):
    db = sqlite3.connect(db_path, isolation_level=None, factory=FailingCommit)
    try:
        with pytest.raises(sqlite3.OperationalError):
            with transaction(db):
                db.execute("INSERT INTO publisher (name) VALUES ('never')")
        assert not db.in_transaction
        assert db.execute("SELECT count(*) FROM publisher WHERE name = 'never'").fetchone()[0] == 0
    finally:
        db.close()
