"""Long lists are streamed: the JSON is written in chunks as rows are read, and the connection is pooled again
after; a list that fits in one chunk is one plain body."""

import json
import sqlite3

import pytest
from werkzeug.wsgi import ClosingIterator

import saltapi.store.pool
from saltapi.db import get_db
from saltapi.responses import ROWS_PER_CHUNK, json_array_response
from saltapi.store.connection import transaction

# Watches the SQLite connections of the pool's threads; PostgreSQL's come from psycopg_pool.
pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize("count", [0, 1, ROWS_PER_CHUNK, ROWS_PER_CHUNK + 1, ROWS_PER_CHUNK * 2 + 3])
def test_chunks_join_into_the_same_json(app, count):
    items = [{"id": i, "text": f"row {i}", "flag": i % 2 == 0} for i in range(count)]
    closed = []
    response = json_array_response('{"success":', ClosingIterator(iter(items), lambda: closed.append(True)), "}")
    assert response.is_streamed == (count > ROWS_PER_CHUNK)
    assert closed == ([] if response.is_streamed else [True])  # a short list lets go of its rows at once
    with app.test_request_context():
        chunks = list(response.iter_encoded())
    response.close()
    assert json.loads(b"".join(chunks)) == {"success": items}
    if response.is_streamed:  # head with the first chunk and one item more, a chunk per ROWS_PER_CHUNK, the tail
        assert len(chunks) == 2 + -(-(count - ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK)
    else:
        assert len(chunks) == 1
    assert closed == [True]


@pytest.fixture
def connections(monkeypatch) -> list[sqlite3.Connection]:
    opened = []
    connect = saltapi.store.pool.connect

    def recording_connect(path):
        db = connect(path)
        opened.append(db)
        return db

    monkeypatch.setattr(saltapi.store.pool, "connect", recording_connect)
    return opened


def is_closed(db: sqlite3.Connection) -> bool:
    try:
        db.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_a_long_list_streams_every_row_then_returns_the_connection(app, client, connections):
    with app.app_context():
        db = get_db()
        with transaction(db):
            db.executemany("INSERT INTO publisher (name) VALUES (?)", [(f"P{i}",) for i in range(1000)])
    response = client.get("/api/publisher", headers={"Authorization": "Bearer admin-token-0001"}, buffered=False)
    assert response.is_streamed
    rows = json.loads(response.get_data())["success"]
    response.close()
    assert [row["id"] for row in rows] == list(range(1, 1003))
    assert app.extensions["saltapi_pool"].local.db is connections[0]  # back in the pool once the stream closed


def test_a_short_list_is_one_body_and_returns_the_connection_at_once(app, client, connections):
    response = client.get("/api/books", buffered=False)
    assert app.extensions["saltapi_pool"].local.db is connections[0]  # before the body is read
    assert response.headers["Content-Length"] == str(len(response.get_data()))  # a streamed answer has none


def test_an_abandoned_stream_still_returns_the_connection(app, client, connections):
    with app.app_context():
        db = get_db()
        with transaction(db):
            db.executemany("INSERT INTO publisher (name) VALUES (?)", [(f"P{i}",) for i in range(ROWS_PER_CHUNK)])
    response = client.get("/api/publisher", headers={"Authorization": "Bearer admin-token-0001"}, buffered=False)
    next(response.response)
    assert app.extensions["saltapi_pool"].local.db is None  # the stream has it
    response.close()
    assert app.extensions["saltapi_pool"].local.db is connections[0]
    assert not is_closed(connections[0])
