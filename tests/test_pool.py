"""Each thread keeps one connection across requests; forks and leftover transactions are handled."""

import threading

import pytest

import saltapi.store.pool
from saltapi.db import get_db

# SQLite's one-connection-per-thread pool; PostgreSQL's is psycopg_pool's.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def opened(monkeypatch) -> list:
    connections = []
    connect = saltapi.store.pool.connect

    def recording_connect(path):
        connections.append(connect(path))
        return connections[-1]

    monkeypatch.setattr(saltapi.store.pool, "connect", recording_connect)
    return connections


def test_one_thread_reuses_one_connection(client, opened):
    for _ in range(5):
        assert client.get("/api/books").status_code == 200
        assert client.get("/api/books/count").status_code == 200
    assert len(opened) == 1


def test_each_thread_has_its_own(app, opened):
    seen = []

    def request():
        with app.app_context():
            seen.append(id(get_db()))

    threads = [threading.Thread(target=request) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(set(seen)) == 3 and len(opened) == 3


def test_a_transaction_left_open_is_rolled_back_on_release(app):
    with app.app_context():
        db = get_db()
        db.execute("BEGIN")
        db.execute("INSERT INTO publisher (name) VALUES ('left open')")
    with app.app_context():
        db = get_db()
        assert not db.in_transaction
        assert db.execute("SELECT count(*) FROM publisher WHERE name = 'left open'").fetchone()[0] == 0


def test_a_forked_child_never_uses_nor_closes_its_parents_connection(app, opened, monkeypatch):
    with app.app_context():
        parent_connection = get_db()
    monkeypatch.setattr(saltapi.store.pool.os, "getpid", lambda: -1)  # as seen from a forked child
    with app.app_context():
        child_connection = get_db()
        assert child_connection is not parent_connection
        assert child_connection.execute("SELECT count(*) FROM books").fetchone()[0] == 2
    assert app.extensions["saltapi_pool"].inherited == [parent_connection]
