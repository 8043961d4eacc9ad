"""Hostile names in paths, query keys and body keys; SQL keywords as real names; values never in SQL text."""

import sqlite3
from urllib.parse import quote

import pytest

import saltapi.store.sqlite
from conftest import TOKENS, bearer
from saltapi.db import get_db
from saltapi.store.connection import transaction
from saltapi.store.metadata import Field
from saltapi.store.tables import TableDefinition, create_tables

ADMIN = bearer(TOKENS["admin"])
HOSTILE = ['books"; drop table users; --', 'a"b', "select", "name[foo]", "x; drop table users", "books'--", "books/**/"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_table_names_are_not_found(client, snapshot, name):
    before = snapshot()
    path = f"/api/{quote(name, safe='')}"
    for method, url in [("GET", path), ("GET", f"{path}/count"), ("GET", f"{path}/1"), ("POST", path),
                        ("POST", f"{path}/1"), ("DELETE", f"{path}/1"), ("POST", f"{path}/delete/1")]:  # fmt: skip
        response = client.open(url, method=method, json={"author": "x"}, headers=ADMIN)
        assert (response.status_code, response.json) == (404, {"error": "Not found"}), (method, url)
    assert snapshot() == before


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_query_keys_are_ignored(client, name):
    response = client.get("/api/books", query_string={name: "1", "author": "Leo Tolstoy"})
    assert response.status_code == 200
    assert [row["id"] for row in response.json["success"]] == [2]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_body_keys_are_ignored(client, name):
    response = client.post("/api/books", json={name: "1", "author": "A", "pages": 3}, headers=ADMIN)
    assert response.status_code == 200
    row = client.get(f"/api/books/{response.json['success']}").json["success"]
    assert row == {"id": response.json["success"], "author": "A", "pages": 3, "publisher": None}


@pytest.mark.parametrize("value", HOSTILE + ["O'Brien", "%"])
def test_hostile_values_are_stored_and_found_as_given(client, value):
    new_id = client.post("/api/books", json={"author": value, "pages": 1}, headers=ADMIN).json["success"]
    found = client.get("/api/books", query_string={"author": value}).json["success"]
    assert [row["id"] for row in found] == [new_id]
    assert found[0]["author"] == value


def test_nul_characters_are_refused_and_found_nowhere(client, snapshot):
    """PostgreSQL's text cannot hold U+0000, so no engine stores it (a copy between them must always work);
    looking it up finds nothing."""
    before = snapshot()
    response = client.post("/api/books", json={"author": "\0 nul", "pages": 1}, headers=ADMIN)
    assert (response.status_code, response.json) == (400, {"error": "author: Must not contain NUL characters"})
    assert snapshot() == before
    assert client.get("/api/books", query_string={"_fts": "\0"}).json == {"success": []}
    assert client.get("/api/books", query_string={"author": "\0"}).json == {
        "error": "author: Must not contain NUL characters"
    }
    assert client.get("/api/%00").json == {"error": "Not found"}
    assert client.get("/api/books", headers=bearer("admin\0token")).status_code == 401


@pytest.fixture
def keyword_table(app):
    """A table and fields named with SQL keywords: valid names, so they must work everywhere."""
    with app.app_context():
        db = get_db()
        with transaction(db):
            fields = (
                Field(name="from", label="From", type="String", required=True),
                Field(name="order", label="Order", type="Integer", is_unique=True),
                Field(name="where", label="Where", type="Key", reftable_name="select"),
            )
            create_tables(db, [TableDefinition(name="select", fields=fields, min_role_read=100, min_role_write=100)])
    return "select"


def test_sql_keywords_work_as_names(client, keyword_table):
    first = client.post("/api/select", json={"from": "a", "order": 1}).json["success"]
    second = client.post("/api/select", json={"from": "b", "order": 2, "where": first}).json["success"]
    assert client.get("/api/select", query_string={"where": first}).json["success"] == [
        {"id": second, "from": "b", "order": 2, "where": first}
    ]
    assert client.get("/api/select/count", query_string={"order": 1}).json == {"success": 1}
    assert client.post(f"/api/select/{second}", json={"order": 1}).json == {
        "error": "Duplicate value for unique field: Order"
    }
    assert client.delete(f"/api/select/{first}").json == {"error": "Cannot delete: referenced by select.where"}
    assert client.delete(f"/api/select/{second}").json == {"success": True}


class RecordingConnection(saltapi.store.sqlite.Connection):
    """Keeps the SQL text handed to execute() before SQLite binds anything (trace callbacks show it expanded)."""

    statements: list[str] = []

    def execute(self, sql, *args):
        self.statements.append(sql)
        return super().execute(sql, *args)


@pytest.mark.sqlite_only  # records sqlite3's SQL text; tests/test_statements.py traces both engines
def test_values_never_reach_sql_text(client, monkeypatch):
    """Every value is a bound parameter: no value of any request appears in the SQL text."""
    original_connect = sqlite3.connect
    monkeypatch.setattr(RecordingConnection, "statements", [])
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: original_connect(*a, **{**kw, "factory": RecordingConnection}))
    marker = "Zq9marker"
    new_id = client.post("/api/books", json={"author": marker, "pages": 424242}, headers=ADMIN).json["success"]
    client.post(f"/api/books/{new_id}", json={"author": marker + "2", "publisher": 2}, headers=ADMIN)
    client.get("/api/books", query_string={"author": marker, "pages": "424242", "publisher": "2"})
    client.get("/api/books/count", query_string={"author": marker})
    client.get(f"/api/books/{new_id}")
    client.delete(f"/api/books/{new_id}", headers=ADMIN)
    client.get("/api/books", headers=bearer("token-" + marker))

    statements = RecordingConnection.statements
    assert len(statements) > 10
    assert [s for s in statements if marker in s or "424242" in s] == []


@pytest.mark.sqlite_only  # SQLite's integrity_check of the file
def test_database_file_is_intact_after_hostile_requests(client, db_path):
    for name in HOSTILE:
        client.get(f"/api/{quote(name, safe='')}", headers=ADMIN)
        client.post("/api/books", json={name: name}, headers=ADMIN)
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM _sc_users").fetchone()[0] == 4
    finally:
        db.close()
