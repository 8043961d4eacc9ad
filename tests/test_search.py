"""The search index behind `_fts`, `approximate` and `[ilike]` (store/search.py): the same answers as the scan, kept
in step with every write and schema change, made for databases that predate it."""

from urllib.parse import parse_qsl

import pytest
import requests
from werkzeug.datastructures import MultiDict

import saltapi.query
from conftest import running_server
from saltapi import create_app
from saltapi.db import get_db
from saltapi.fixtures import load_fixture
from saltapi.query import parse_read
from saltapi.store.connection import connect, init_db
from saltapi.store.metadata import Field, load_table
from saltapi.store.rows import build_select
from saltapi.store.search import drop_search_index, ensure_search_indexes, search_table_name
from saltapi.store.tables import add_field, delete_field, drop_table, update_field

TEXTS = [
    ("Straße Über", "Ärger"), ("STRASSE uber", None), ("hello", "world"), ("hel", "lo world"), ('say "hi"', "50%_off"),
    ("ǅemal", "ΣΊΣΥΦΟΣ"), (None, None), ("ab", "cd"), ("Ab cd", ""), ("ﬁne", "ﬀ"),
]  # fmt: skip
QUERIES = [
    "_fts=straße", "_fts=strasse", "_fts=über", "_fts=ÜBER", "_fts=hello", "_fts=lo wor", "_fts=hel lo", "_fts=o w",
    "_fts=ab", "_fts=b c", "_fts=%22hi%22", "_fts=50%25_", "_fts=σίσυφος", "_fts=dže", "_fts=fine", "_fts=ff",
    "_fts=xyz", "_fts=hello world", "_fts=ärger straße",
    "a=strasse&approximate=1", "a=STRA&approximate=1", "a=st&approximate=1", "b=ärg&approximate=1",
    "a[ilike]=über", "a[ilike]=llo", "b[ilike]=%25_o", "a[ilike]=e", "n[ilike]=12", "a[ilike]=hello&a[ilike]=ab",
    "_fts=hello&b[ilike]=wor", "_fts=he&n=1", "_fts=hel%00lo", "a[ilike]=%00hello", "_fts=NEAR(hello)", "_fts=hel*",
]  # fmt: skip


def fixture() -> dict:
    return {
        "tables": [
            {"name": "tag", "min_role_read": 100, "fields": [{"name": "label", "type": "String"}],
             "rows": [{"id": 1, "label": "Spezial"}]},
            {"name": "texts", "min_role_read": 100, "min_role_write": 100,
             "fields": [{"name": "a", "type": "String"}, {"name": "b", "type": "String"},
                        {"name": "n", "type": "Integer"}],
             "rows": [{"id": i, "a": a, "b": b, "n": 12 * i} for i, (a, b) in enumerate(TEXTS, start=1)]},
            {"name": "tagged", "min_role_read": 100,
             "fields": [{"name": "t", "type": "String"},
                        {"name": "tag", "type": "Key", "reftable_name": "tag",
                         "attributes": {"summary_field": "label", "include_fts": True}}],
             "rows": [{"id": 1, "t": "plain", "tag": 1}, {"id": 2, "t": "spezial", "tag": None}]},
        ]
    }  # fmt: skip


@pytest.fixture
def search_app(tmp_path):
    db = connect(tmp_path / "search.sqlite")
    init_db(db)
    load_fixture(db, fixture())
    db.close()
    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "search.sqlite"), "SECRET_KEY": "test"})


def answers(client, table: str = "texts") -> dict[str, object]:
    return {query: client.get(f"/api/{table}?{query}").json for query in QUERIES}


def casefolded_rows(db, table: str, names: list[str]) -> list[tuple]:
    columns = ", ".join(f'"{name}"' for name in names)
    return [
        (row[0], *(None if value is None else value.casefold() for value in row[1:]))
        for row in db.execute(f'SELECT id, {columns} FROM "{table}" ORDER BY id')
    ]


def indexed_rows(db, table: str, names: list[str]) -> list[tuple]:
    columns = ", ".join(f'"f_{name}"' for name in names)
    return [tuple(row) for row in db.execute(f'SELECT rowid, {columns} FROM "{search_table_name(table)}" ORDER BY rowid')]


def test_answers_are_the_same_with_and_without_the_index(search_app, monkeypatch):
    client = search_app.test_client()
    with_index = answers(client)
    assert all("success" in answer for answer in with_index.values()), with_index
    assert with_index["_fts=strasse"] == with_index["_fts=straße"] != {"success": []}
    assert [row["id"] for row in with_index["_fts=strasse"]["success"]] == [1, 2]
    assert [row["id"] for row in with_index["_fts=über"]["success"]] == [1]
    assert [row["id"] for row in with_index["_fts=o w"]["success"]] == [3, 4]  # across the space joining a and b
    assert [row["id"] for row in with_index["_fts=hel lo"]["success"]] == [4]
    assert [row["id"] for row in with_index["_fts=σίσυφος"]["success"]] == [6]
    assert [row["id"] for row in with_index["_fts=fine"]["success"]] == [10]
    monkeypatch.setattr(saltapi.query, "search_index", lambda db, table: None)  # every read a scan
    assert answers(client) == with_index


def test_the_index_serves_terms_of_three_characters_or_more(search_app):
    def sql(query: str) -> str:
        with search_app.app_context():
            table = load_table(get_db(), "texts")
            read = parse_read(get_db(), table, MultiDict(parse_qsl(query)), lambda name: True)
            return build_select(table, read.query)[0]

    for query in ("_fts=hello", "_fts=ab cde", "a[ilike]=über", "a=abc&approximate=1"):
        assert "MATCH" in sql(query), query
    for query in ("_fts=he", "_fts=a b", "a[ilike]=üb", "n[ilike]=123", "a[ilike]=hello%00", "_fts=hello%00"):
        assert "MATCH" not in sql(query), query


def test_a_term_across_a_key_summary_is_found_without_the_index(search_app):
    client = search_app.test_client()
    assert [row["id"] for row in client.get("/api/tagged?_fts=spezial").json["success"]] == [1, 2]


def test_triggers_keep_the_index_in_step_with_writes(search_app):
    client = search_app.test_client()
    assert client.post("/api/texts", json={"a": "NEU Größe", "b": "x"}).status_code == 200
    assert client.post("/api/texts/3", json={"b": "WELT"}).status_code == 200
    assert client.post("/api/texts/4", json={"n": 5}).status_code == 200
    assert client.delete("/api/texts/5").status_code == 200
    with search_app.app_context():
        db = get_db()
        assert indexed_rows(db, "texts", ["a", "b"]) == casefolded_rows(db, "texts", ["a", "b"])
    assert [row["id"] for row in client.get("/api/texts?_fts=größe").json["success"]] == [11]
    assert [row["id"] for row in client.get("/api/texts?_fts=welt").json["success"]] == [3]
    assert client.get("/api/texts?_fts=world").json["success"] == [client.get("/api/texts/4").json["success"]]


def test_schema_changes_keep_the_index_for_the_text_fields(search_app):
    with search_app.app_context():
        db = get_db()
        table_id = load_table(db, "texts").id
        add_field(db, table_id, Field(name="c", label="C", type="String"))
        db.execute("UPDATE texts SET c = 'Neu' WHERE id = 1")
        assert indexed_rows(db, "texts", ["a", "b", "c"]) == casefolded_rows(db, "texts", ["a", "b", "c"])
        update_field(db, table_id, "a", "A", required=False, is_unique=True, attributes={})  # a rebuild
        assert indexed_rows(db, "texts", ["a", "b", "c"]) == casefolded_rows(db, "texts", ["a", "b", "c"])
        delete_field(db, table_id, "n")  # DROP COLUMN, the index untouched
        db.execute("UPDATE texts SET b = 'Nach' WHERE id = 2")
        assert indexed_rows(db, "texts", ["a", "b", "c"]) == casefolded_rows(db, "texts", ["a", "b", "c"])
        delete_field(db, table_id, "b")
        assert indexed_rows(db, "texts", ["a", "c"]) == casefolded_rows(db, "texts", ["a", "c"])
        delete_field(db, table_id, "a")  # unique: a rebuild
        delete_field(db, table_id, "c")
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE '\\_sc\\_search.texts.%' ESCAPE '\\'").fetchall() == []
        drop_table(db, load_table(db, "tagged").id)
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE '\\_sc\\_search.tagged.%' ESCAPE '\\'").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert search_app.test_client().get("/api/texts?_fts=abc").json == {"success": []}


def test_a_database_without_the_index_gets_it_on_start(tmp_path):
    path = tmp_path / "old.sqlite"
    db = connect(path)
    init_db(db)
    load_fixture(db, fixture())
    for name in ("tag", "texts", "tagged"):
        drop_search_index(db, name)
    db.execute('DROP TRIGGER IF EXISTS "_sc_search.texts.update"')
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"})
    assert app.test_client().get("/api/texts?_fts=hello").json["success"][0]["id"] == 3
    assert indexed_rows(db, "texts", ["a", "b"]) == casefolded_rows(db, "texts", ["a", "b"])
    schema = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    ensure_search_indexes(db)  # idempotent
    assert db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    db.close()


def test_a_served_database_made_before_the_index_searches_and_writes_through_it(tmp_path):
    """Over HTTP, on `python app.py`: the index is made at start, used by reads, and kept by the server's writes."""
    path = tmp_path / "served.sqlite"
    db = connect(path)
    init_db(db)
    load_fixture(db, fixture())
    drop_search_index(db, "texts")
    db.close()
    with running_server(path, tmp_path / "server.log") as server:
        assert requests.get(f"{server.url}/api/texts?_fts=STRASSE", timeout=10).json() == {
            "success": [{"id": 1, "a": "Straße Über", "b": "Ärger", "n": 12},
                        {"id": 2, "a": "STRASSE uber", "b": None, "n": 24}]
        }  # fmt: skip
        assert requests.post(f"{server.url}/api/texts", json={"a": "Größe"}, timeout=10).json() == {"success": 11}
        assert requests.get(f"{server.url}/api/texts?a[ilike]=GRÖSSE", timeout=10).json()["success"][0]["id"] == 11
    db = connect(path)
    try:
        assert indexed_rows(db, "texts", ["a", "b"]) == casefolded_rows(db, "texts", ["a", "b"])
    finally:
        db.close()
