"""Fixture files (docs/fixtures.md): all-or-nothing loads, dumps, round trips, Saltcorn packs and the SQL they make."""

import copy
import hashlib
import json
import sqlite3

import pytest

import saltapi.store.sqlite
from conftest import TOKENS, bearer, load_data, schema_of
from saltapi import create_app
from saltapi.fixtures import FixtureError, dump_fixture, load_fixture
from saltapi.store.connection import connect, init_db
from saltapi.store.metadata import load_table
from saltapi.store.sqlite import casefold


def state(db) -> dict:
    """Everything stored: rows, users with their secrets, and the SQL schema (to catch half-created tables)."""
    stored = {"data": dump_fixture(db, with_secrets=True), "schema": schema_of(db)}
    if db.engine == "sqlite":  # PostgreSQL's sequences are never rolled back: a failed load leaves a gap in ids
        stored["sequences"] = [tuple(row) for row in db.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name")]
    return stored


def valid_fixture() -> dict:
    """A fixture that loads into the test data: a role, a user with a token, two tables that refer to each other."""
    return {
        "roles": [{"id": 70, "role": "reviewer"}],
        "users": [{"id": 10, "email": "new@foo.com", "role_id": 70, "api_token": "new-token-123"}],
        "tables": [
            {
                "name": "box",
                "min_role_read": 70,
                "fields": [
                    {"name": "label", "label": "Label", "type": "String", "required": True, "is_unique": True},
                    {"name": "shelf", "label": "Shelf", "type": "Key", "reftable_name": "shelf",
                     "attributes": {"summary_field": "name"}},
                    {"name": "owner", "label": "Owner", "type": "Key", "reftable_name": "users",
                     "attributes": {"summary_field": "email"}},
                ],
                "rows": [
                    {"id": 1, "label": "B1", "shelf": 2, "owner": 10},
                    {"id": 2, "label": "B2", "shelf": None, "owner": 10},
                ],
            },
            {
                "name": "shelf",
                "fields": [
                    {"name": "name", "label": "Name", "type": "String", "required": True},
                    {"name": "size", "label": "Size", "type": "Integer", "attributes": {"min": 1}},
                ],
                "rows": [{"id": 1, "name": "top", "size": 3}, {"id": 2, "name": "bottom", "size": None}],
            },
        ],
    }  # fmt: skip


def table_def(fixture: dict, name: str) -> dict:
    return next(table for table in fixture["tables"] if table["name"] == name)


# --- successful loads -----------------------------------------------------------------------------------


def test_valid_fixture_loads_and_reports_counts(loaded_db):
    progress = []
    loaded = load_fixture(loaded_db, valid_fixture(), progress=progress.append)
    assert loaded == {"roles": 1, "users": 1, "tables": 2, "rows": 4}
    assert progress == [1, 1, 1, 1]
    dumped = dump_fixture(loaded_db)
    assert {"id": 70, "role": "reviewer"} in dumped["roles"]
    assert {"id": 10, "email": "new@foo.com", "role_id": 70} in dumped["users"]
    box = table_def(dumped, "box")
    assert box["min_role_read"] == 70 and box["min_role_write"] == 1  # min_role_write defaults to admin
    assert box["rows"] == [
        {"id": 1, "label": "B1", "shelf": 2, "owner": 10},
        {"id": 2, "label": "B2", "shelf": None, "owner": 10},
    ]
    assert table_def(dumped, "shelf")["fields"][1] == {
        "name": "size", "label": "Size", "type": "Integer", "required": False, "is_unique": False,
        "attributes": {"min": 1},
    }  # fmt: skip


def test_round_trip_gives_identical_data(loaded_db, fresh_db):
    first = dump_fixture(loaded_db)
    load_fixture(fresh_db, json.loads(json.dumps(first)))
    assert dump_fixture(fresh_db) == first


def test_round_trip_with_secrets_keeps_tokens_and_passwords(loaded_db, tmp_path):
    """A dump with secrets restores hashes as they were, so the old tokens and passwords still work."""
    first = dump_fixture(loaded_db, with_secrets=True)
    assert all(set(user) == {"id", "email", "role_id", "password_hash", "api_token_hash"} for user in first["users"])
    path = tmp_path / "restored.sqlite"
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"})
    db = connect(path)
    try:
        init_db(db)
        load_fixture(db, json.loads(json.dumps(first)))
        assert dump_fixture(db, with_secrets=True) == first
    finally:
        db.close()
    client = app.test_client()
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 200
    assert client.get("/api/patients", headers=bearer(TOKENS["user"])).status_code == 401  # role 80 < 40 fails
    assert client.get("/api/patients", headers=bearer("not-a-token")).status_code == 401


def test_load_data_json_into_fresh_db_round_trips(fresh_db, tmp_path):
    """The conftest data set itself, loaded and dumped twice over (passwords hashed once per load)."""
    data = load_data()
    for user in data["users"]:
        user.pop("password")  # hashing is slow; the secrets round trip has its own test
    load_fixture(fresh_db, data)
    first = dump_fixture(fresh_db, with_secrets=True)
    other = connect(tmp_path / "other.sqlite")
    try:
        init_db(other)
        load_fixture(other, first)
        assert dump_fixture(other, with_secrets=True) == first
    finally:
        other.close()
    assert [t["name"] for t in first["tables"]] == [t["name"] for t in data["tables"]]
    for table, raw in zip(first["tables"], data["tables"]):
        assert table["rows"] == raw["rows"]


def test_tables_in_any_order_and_rows_referring_to_later_rows(fresh_db):
    """A table refers to one defined later, another to itself; rows refer to later rows and to themselves."""
    fixture = {
        "tables": [
            {"name": "employee", "fields": [
                {"name": "name", "type": "String"},
                {"name": "dept", "type": "Key", "reftable_name": "dept", "attributes": {"summary_field": "title"}},
                {"name": "boss", "type": "Key", "reftable_name": "employee", "required": True},
            ], "rows": [
                {"id": 1, "name": "ann", "dept": 2, "boss": 3},
                {"id": 2, "name": "bob", "dept": None, "boss": 2},
                {"id": 3, "name": "cid", "dept": 1, "boss": 1},
            ]},
            {"name": "dept", "fields": [
                {"name": "title", "type": "String"},
                {"name": "head", "type": "Key", "reftable_name": "employee"},
            ], "rows": [{"id": 1, "title": "ops", "head": 3}, {"id": 2, "title": "dev", "head": 1}]},
        ]
    }  # fmt: skip
    assert load_fixture(fresh_db, fixture)["rows"] == 5
    dumped = dump_fixture(fresh_db)
    assert [t["name"] for t in dumped["tables"]] == ["employee", "dept"]
    assert dumped["tables"][0]["rows"] == fixture["tables"][0]["rows"]
    assert dumped["tables"][1]["rows"] == fixture["tables"][1]["rows"]
    assert dumped["tables"][0]["fields"][0]["label"] == "name"  # the label defaults to the name
    # The foreign keys are real and restrict deletes.
    with pytest.raises(Exception, match="FOREIGN KEY|foreign_key"):
        fresh_db.execute('DELETE FROM "dept" WHERE id = 2')


def test_key_to_type_names_the_table(fresh_db):
    fixture = {
        "tables": [
            {"name": "review", "fields": [{"name": "book", "label": "Book", "type": "Key to books",
                                           "attributes": {"summary_field": "title"}}],
             "rows": [{"id": 1, "book": 1}]},
            {"name": "books", "fields": [{"name": "title", "type": "String"}], "rows": [{"id": 1, "title": "Emma"}]},
        ]
    }  # fmt: skip
    load_fixture(fresh_db, fixture)
    field = load_table(fresh_db, "review").fields[0]
    assert (field.type, field.reftable_name, field.attributes) == ("Key", "books", {"summary_field": "title"})
    assert dump_fixture(fresh_db)["tables"][0]["fields"][0]["reftable_name"] == "books"


def test_key_to_type_wins_over_reftable_name(fresh_db):
    """As in Saltcorn's Field constructor: `Key to X` names the table, whatever reftable_name says."""
    fixture = {"tables": [
        {"name": "a", "fields": []},
        {"name": "b", "fields": [{"name": "ref", "type": "Key to a", "reftable_name": "b"}], "rows": [{"ref": None}]},
    ]}  # fmt: skip
    load_fixture(fresh_db, fixture)
    assert load_table(fresh_db, "b").fields[0].reftable_name == "a"


def test_key_to_type_with_missing_table_is_refused(fresh_db):
    fixture = {"tables": [{"name": "review", "fields": [{"name": "book", "type": "Key to nowhere"}]}]}
    with pytest.raises(FixtureError, match="Field review.book: a Key needs reftable_name naming an existing table"):
        load_fixture(fresh_db, fixture)


def saltcorn_pack() -> dict:
    """Tables as Saltcorn's table pack writes them (table_pack + Field.toJson), rows beside them."""
    common = {"sublabel": None, "description": "", "stored": False, "expression": None, "fieldview": None,
              "reftype": None, "refname": "", "calculated": False, "primary_key": False}  # fmt: skip
    return {
        "tables": [
            {
                "name": "authors", "description": "", "min_role_read": 100, "min_role_write": 1, "versioned": False,
                "has_sync_info": False, "is_user_group": False, "provider_name": None, "provider_cfg": None,
                "ownership_formula": None, "ownership_field_name": None, "rls_enabled": False,
                "triggers": [{"name": "notify", "action": "run_js_code", "when_trigger": "Insert"}],
                "constraints": [{"type": "Unique", "configuration": {"fields": ["name"]}},
                                {"type": "Index", "configuration": {"field": "mentor"}},
                                {"type": "Index", "configuration": {"field": "shouty"}}],
                "fields": [
                    {**common, "name": "id", "label": "ID", "type": "Integer", "required": True, "is_unique": True,
                     "primary_key": True, "refname": "", "attributes": {}},
                    {**common, "name": "name", "label": "Name", "type": "String", "required": True,
                     "is_unique": False, "fieldview": "as_text", "typename": "String",
                     "attributes": {"max_length": 40}},
                    {**common, "name": "shouty", "label": "Shouty", "type": "String", "calculated": True,
                     "stored": True, "expression": "name.toUpperCase()", "required": False, "is_unique": False,
                     "attributes": {}},
                    {**common, "name": "mentor", "label": "Mentor", "type": "Key", "reftable_name": "authors",
                     "reftype": "Integer", "refname": "id", "fieldview": "select", "required": False,
                     "is_unique": False, "attributes": {"summary_field": "name"}},
                ],
                "rows": [
                    {"id": 1, "name": "Ann", "shouty": "ANN", "mentor": None},
                    {"id": 2, "name": "Bob", "shouty": "BOB", "mentor": 1},
                ],
            }
        ]
    }  # fmt: skip


@pytest.mark.sqlite_only  # reads SQLite's catalog (pragma_*, sqlite_master, STRICT)
def test_saltcorn_table_pack_keys_are_ignored(fresh_db):
    load_fixture(fresh_db, saltcorn_pack())
    [table] = dump_fixture(fresh_db)["tables"]
    assert set(table) == {"name", "min_role_read", "min_role_write", "fields", "rows", "constraints"}
    assert table["constraints"] == saltcorn_pack()["tables"][0]["constraints"][:2]  # shouty is calculated
    assert table["fields"] == [
        {"name": "name", "label": "Name", "type": "String", "required": True, "is_unique": False,
         "attributes": {"max_length": 40}},
        {"name": "mentor", "label": "Mentor", "type": "Key", "required": False, "is_unique": False,
         "attributes": {"summary_field": "name"}, "reftable_name": "authors"},
    ]  # fmt: skip
    assert table["rows"] == [{"id": 1, "name": "Ann", "mentor": None}, {"id": 2, "name": "Bob", "mentor": 1}]
    columns = [row["name"] for row in fresh_db.execute("SELECT name FROM pragma_table_info('authors')")]
    assert columns == ["id", "name", "mentor"]


def test_field_attributes_of_packs_are_kept(fresh_db):
    """Attributes saltapi does not check (Saltcorn keeps options as one comma-separated string) stay as given."""
    fixture = {"tables": [{"name": "shirt", "fields": [
        {"name": "size", "type": "String", "attributes": {"options": "S, M,L", "placeholder": "pick"}},
    ], "rows": [{"size": "M"}]}]}  # fmt: skip
    load_fixture(fresh_db, fixture)
    [table] = dump_fixture(fresh_db)["tables"]
    assert table["fields"][0]["attributes"] == {"options": "S, M,L", "placeholder": "pick"}
    assert table["rows"] == [{"id": 1, "size": "M"}]


@pytest.mark.sqlite_only  # reads SQLite's catalog (pragma_*, sqlite_master, STRICT)
def test_replace_drops_every_table_and_user_first(loaded_db):
    load_fixture(loaded_db, valid_fixture(), replace=True)
    dumped = dump_fixture(loaded_db)
    assert [t["name"] for t in dumped["tables"]] == ["box", "shelf"]
    assert dumped["users"] == [{"id": 10, "email": "new@foo.com", "role_id": 70}]
    assert loaded_db.execute("SELECT name FROM sqlite_master WHERE name = 'books'").fetchone() is None


def test_replace_loads_the_same_names_again(loaded_db):
    """Replacing with the instance's own dump works, cross-references and self-references included."""
    before = state(loaded_db)
    load_fixture(loaded_db, before["data"], replace=True)
    after = state(loaded_db)
    assert after["data"] == before["data"]
    assert after["schema"] == before["schema"]


# --- stored secrets -------------------------------------------------------------------------------------


def test_fixture_tokens_and_passwords_are_stored_hashed(tmp_path):
    path = tmp_path / "secret.sqlite"
    db = connect(path)
    try:
        init_db(db)
        load_fixture(db, {"users": [
            {"email": "a@foo.com", "password": "plain-password-xyzzy", "role_id": 1,
             "api_token": "plain-token-plugh-42"},
        ]})  # fmt: skip
        row = db.execute("SELECT password_hash, api_token_hash FROM _sc_users").fetchone()
        assert row["api_token_hash"] == hashlib.sha256(b"plain-token-plugh-42").hexdigest()
        assert row["password_hash"] and "plain-password-xyzzy" not in row["password_hash"]
    finally:
        db.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("secret.sqlite"))
    assert hashlib.sha256(b"plain-token-plugh-42").hexdigest().encode() in stored
    assert b"plain-token-plugh-42" not in stored
    assert b"plain-password-xyzzy" not in stored


def test_fixture_token_works_against_the_api(client, loaded_db):
    load_fixture(loaded_db, valid_fixture())
    assert client.get("/api/box", headers=bearer("new-token-123")).json == {"success": valid_fixture()["tables"][0]["rows"]}
    assert client.get("/api/box", headers=bearer(TOKENS["user"])).status_code == 401  # role 80 > 70


def test_fixture_token_of_six_characters_is_enough(fresh_db):
    load_fixture(fresh_db, {"users": [{"email": "a@foo.com", "api_token": "sixsix"}]})
    [user] = dump_fixture(fresh_db, with_secrets=True)["users"]
    assert user == {
        "id": 1, "email": "a@foo.com", "role_id": 80, "password_hash": None,
        "api_token_hash": hashlib.sha256(b"sixsix").hexdigest(),
    }  # fmt: skip


# --- the SQL schema -------------------------------------------------------------------------------------


@pytest.mark.sqlite_only  # reads SQLite's catalog (pragma_*, sqlite_master, STRICT)
def test_created_schema_is_strict_with_constraints_and_key_indexes(fresh_db):
    load_fixture(fresh_db, {"tables": [
        {"name": "shelf", "fields": [{"name": "name", "type": "String"}]},
        {"name": "box", "fields": [
            {"name": "code", "type": "String", "required": True, "is_unique": True},
            {"name": "weight", "type": "Float"},
            {"name": "full", "type": "Bool"},
            {"name": "made", "type": "Date"},
            {"name": "count", "type": "Integer"},
            {"name": "shelf", "type": "Key", "reftable_name": "shelf", "required": True},
            {"name": "owner", "type": "Key", "reftable_name": "users"},
            {"name": "inside", "type": "Key", "reftable_name": "box"},
        ]},
    ]})  # fmt: skip
    strict = fresh_db.execute("SELECT name, strict FROM pragma_table_list WHERE name IN ('shelf', 'box')")
    strict = dict(strict.fetchall())
    assert strict == {"shelf": 1, "box": 1}
    columns = {row["name"]: row for row in fresh_db.execute("SELECT * FROM pragma_table_info('box')")}
    assert {name: (row["type"], row["notnull"]) for name, row in columns.items()} == {
        "id": ("INTEGER", 0), "code": ("TEXT", 1), "weight": ("REAL", 0), "full": ("INTEGER", 0),
        "made": ("TEXT", 0), "count": ("INTEGER", 0), "shelf": ("INTEGER", 1), "owner": ("INTEGER", 0),
        "inside": ("INTEGER", 0),
    }  # fmt: skip
    assert columns["id"]["pk"] == 1
    foreign_keys = {
        row["from"]: (row["table"], row["to"], row["on_delete"])
        for row in fresh_db.execute("SELECT * FROM pragma_foreign_key_list('box')")
    }
    assert foreign_keys == {
        "shelf": ("shelf", "id", "RESTRICT"),
        "owner": ("_sc_users", "id", "RESTRICT"),
        "inside": ("box", "id", "RESTRICT"),
    }
    indexes = {}
    for index in fresh_db.execute("SELECT * FROM pragma_index_list('box')").fetchall():
        info = fresh_db.execute("SELECT name FROM pragma_index_info(?)", (index["name"],))
        indexes[tuple(row["name"] for row in info)] = (index["unique"], index["origin"])
    assert indexes == {("code",): (1, "u"), ("shelf",): (0, "c"), ("owner",): (0, "c"), ("inside",): (0, "c")}


@pytest.mark.sqlite_only  # reads SQLite's catalog (pragma_*, sqlite_master, STRICT)
def test_strict_tables_refuse_wrongly_typed_values(fresh_db):
    """STRICT is real: even SQL that skips saltapi's validation cannot store text in an Integer column."""
    load_fixture(fresh_db, {"tables": [{"name": "t", "fields": [{"name": "n", "type": "Integer"}]}]})
    with pytest.raises(Exception, match="cannot store TEXT value in INTEGER column"):
        fresh_db.execute("INSERT INTO t (n) VALUES ('abc')")


# --- hostile but valid names ----------------------------------------------------------------------------


def hostile_fixture() -> dict:
    return {"tables": [{
        "name": "select", "min_role_read": 100, "min_role_write": 100,
        "fields": [
            {"name": "from", "label": "From", "type": "String", "is_unique": True},
            {"name": "where", "label": "Where", "type": "Key", "reftable_name": "select",
             "attributes": {"summary_field": "from"}},
            {"name": "order", "label": "Order", "type": "Integer", "required": True},
        ],
        "rows": [
            {"id": 1, "from": "x'; --", "where": 2, "order": 1},
            {"id": 2, "from": 'b"c', "where": None, "order": 2},
        ],
    }]}  # fmt: skip


def test_sql_keywords_as_names_work_everywhere(loaded_db, client):
    load_fixture(loaded_db, hostile_fixture())
    assert dump_fixture(loaded_db)["tables"][-1]["rows"] == hostile_fixture()["tables"][0]["rows"]
    assert client.get("/api/select").json == {"success": hostile_fixture()["tables"][0]["rows"]}
    assert client.get("/api/select", query_string={"from": 'b"c'}).json == {
        "success": [{"id": 2, "from": 'b"c', "where": None, "order": 2}]
    }
    assert client.post("/api/select", json={"from": "new", "where": 1, "order": 3}).json == {"success": 3}
    assert client.delete("/api/select/3").json == {"success": True}
    assert client.get("/api/select/count").json == {"success": 2}
    again = dump_fixture(loaded_db)
    load_fixture(loaded_db, again, replace=True)
    assert dump_fixture(loaded_db) == again


class RecordingConnection(saltapi.store.sqlite.Connection):
    """Keeps the SQL text of every execute(), before SQLite binds the parameters."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.statements = []

    def execute(self, sql, parameters=()):
        self.statements.append(sql)
        return super().execute(sql, parameters)


def test_values_never_reach_sql_text(tmp_path):
    """Every row value is a bound parameter, however hostile."""
    db = sqlite3.connect(tmp_path / "traced.sqlite", isolation_level=None, factory=RecordingConnection)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        db.create_function("saltapi_casefold", 1, casefold, deterministic=True)  # the search index's triggers call it
        init_db(db)
        load_fixture(db, hostile_fixture())
        assert dump_fixture(db)["tables"][0]["rows"] == hostile_fixture()["tables"][0]["rows"]
    finally:
        db.close()
    assert any(sql.startswith('INSERT INTO "select" ("id", "from", "where", "order")') for sql in db.statements)
    assert not [sql for sql in db.statements if "x'; --" in sql or 'b"c' in sql]


@pytest.mark.parametrize(
    "name",
    ['a"b', "x; drop table users", "name[foo]", "a b", "1abc", "", "é", "a-b", "a.b", "x" * 64, "tab\t", "n\n"],
)
@pytest.mark.parametrize("what", ["table", "field"])
def test_bad_names_are_refused(loaded_db, name, what):
    fixture = {"tables": [{"name": "ok", "fields": [{"name": "f", "type": "String"}]}]}
    if what == "table":
        fixture["tables"][0]["name"] = name
    else:
        fixture["tables"][0]["fields"][0]["name"] = name
    before = state(loaded_db)
    with pytest.raises(FixtureError, match=f"^Invalid {what} name "):
        load_fixture(loaded_db, fixture)
    assert state(loaded_db) == before


def test_longest_name_is_accepted(fresh_db):
    name = "a" * 63
    load_fixture(fresh_db, {"tables": [{"name": name, "fields": [{"name": name, "type": "String"}]}]})
    assert dump_fixture(fresh_db)["tables"][0]["fields"][0]["name"] == name


# --- all or nothing -------------------------------------------------------------------------------------


def mutate(change):
    """A fixture made by applying `change` to a copy of the valid one."""

    def build():
        fixture = copy.deepcopy(valid_fixture())
        change(fixture)
        return fixture

    return build


def box(fixture):
    return table_def(fixture, "box")


def shelf(fixture):
    return table_def(fixture, "shelf")


def set_in(getter, key, value):
    return mutate(lambda f: getter(f).__setitem__(key, value))


def add_table(table):
    return mutate(lambda f: f["tables"].append(table))


def add_user(**user):
    return mutate(lambda f: f["users"].append(user))


def box_field(index, **changes):
    return mutate(lambda f: box(f)["fields"][index].update(changes))


def box_row(index, **changes):
    return mutate(lambda f: box(f)["rows"][index].update(changes))


def first_user(**changes):
    return mutate(lambda f: f["users"][0].update(changes))


ERRORS = {
    # structure
    "fixture is a list": (lambda: [], "A fixture must be a JSON object with roles, users and tables"),
    "fixture is null": (lambda: None, "A fixture must be a JSON object"),
    "tables not a list": (mutate(lambda f: f.update(tables={"name": "x"})), "tables must be a list"),
    "users not a list": (mutate(lambda f: f.update(users="x")), "users must be a list"),
    "roles not a list": (mutate(lambda f: f.update(roles={"id": 3})), "roles must be a list"),
    "table not an object": (mutate(lambda f: f["tables"].append("t")), "Each table must be an object"),
    "fields not a list": (set_in(shelf, "fields", {"name": "x"}), "Table shelf: fields must be a list"),
    "field not an object": (mutate(lambda f: shelf(f)["fields"].append("x")), "Table shelf: each field must be an object"),
    "rows not a list": (set_in(shelf, "rows", "x"), "Table shelf: rows must be a list"),
    "row not an object": (mutate(lambda f: shelf(f)["rows"].append([3])), "Table shelf, row 3: a row must be an object"),
    # table names
    "bad table name": (set_in(shelf, "name", "9lives"), "Invalid table name '9lives'"),
    "table name not a string": (set_in(shelf, "name", 5), "Invalid table name 5"),
    "table name a list": (set_in(shelf, "name", ["shelf"]), "Invalid table name ['shelf']"),
    "missing table name": (mutate(lambda f: shelf(f).pop("name")), "Invalid table name None"),
    "_sc_ table name": (set_in(shelf, "name", "_sc_users"), "names starting with _sc_ or sqlite_ are reserved"),
    "_SC_ table name": (set_in(shelf, "name", "_SC_x"), "names starting with _sc_ or sqlite_ are reserved"),
    "sqlite_ table name": (set_in(shelf, "name", "sqlite_stat1"), "names starting with _sc_ or sqlite_ are reserved"),
    "users table": (add_table({"name": "users", "fields": []}),
                    "Invalid table name 'users': it is the name of the built-in users table"),
    "Users table": (add_table({"name": "Users", "fields": []}),
                    "Invalid table name 'Users': it is the name of the built-in users table"),
    "same table twice": (add_table({"name": "Shelf", "fields": []}), "A table named Shelf already exists"),
    "existing table": (add_table({"name": "BOOKS", "fields": []}), "A table named BOOKS already exists"),
    "no such read role": (set_in(shelf, "min_role_read", 7), "Table shelf: there is no role 7"),
    "write role as text": (set_in(shelf, "min_role_write", "1"), "Table shelf: there is no role '1'"),
    "role as list": (set_in(shelf, "min_role_write", [1]), "Table shelf: there is no role [1]"),
    # fields
    "field named id": (box_field(0, name="id"), "Field box.id: a field may not be called id"),
    "field named ID": (box_field(0, name="ID"), "Field box.ID: a field may not be called id"),
    "same field twice": (box_field(0, name="Shelf"), "Field box.shelf: a table cannot have two fields of that name"),
    "bad field name": (box_field(0, name="a b"), "Invalid field name 'a b'"),
    "_sc_ field name": (box_field(0, name="_sc_x"), "Invalid field name '_sc_x'"),
    "unknown type": (box_field(0, type="Text"), "Field box.label: unknown type 'Text'"),
    "File type": (box_field(0, type="File"), "Field box.label: unknown type 'File'"),
    "missing type": (mutate(lambda f: box(f)["fields"][0].pop("type")), "Field box.label: unknown type None"),
    "label not a string": (box_field(0, label=5), "Field box.label: the label must be a string"),
    "attributes not an object": (box_field(0, attributes=[1]), "Field box.label: attributes must be an object"),
    "min not a number": (mutate(lambda f: shelf(f)["fields"][1]["attributes"].update(min="1")),
                         "Field shelf.size: attribute min must be a number"),
    "options not strings": (box_field(0, attributes={"options": [1, 2]}),
                            "Field box.label: attribute options must be a list of strings"),
    "max_length negative": (box_field(0, attributes={"max_length": -1}),
                            "Field box.label: attribute max_length must be a whole number of characters"),
    "Key to missing table": (box_field(1, reftable_name="cupboard"),
                             "Field box.shelf: a Key needs reftable_name naming an existing table, not 'cupboard'"),
    "Key to other case": (box_field(1, reftable_name="Shelf"), "Field box.shelf: a Key needs reftable_name"),
    "Key without table": (mutate(lambda f: box(f)["fields"][1].pop("reftable_name")),
                          "Field box.shelf: a Key needs reftable_name naming an existing table, not None"),
    "Key to a list": (box_field(1, reftable_name=["shelf"]), "Field box.shelf: a Key needs reftable_name"),
    "Key to metadata": (box_field(1, reftable_name="_sc_users"), "Field box.shelf: a Key needs reftable_name"),
    "bad summary_field": (box_field(1, attributes={"summary_field": "colour"}),
                          "Field box.shelf: summary_field 'colour' is not a field of shelf"),
    "summary_field a list": (box_field(1, attributes={"summary_field": ["name"]}),
                             "Field box.shelf: summary_field ['name'] is not a field of shelf"),
    "secret users summary_field": (box_field(2, attributes={"summary_field": "password_hash"}),
                                   "Field box.owner: summary_field 'password_hash' is not a field of users"),
    # rows
    "wrong type": (box_row(1, label=5), "Table box, row 2 (id 2): label: Must be a string"),
    "two wrong values": (box_row(0, label=5, shelf="x"),
                         "Table box, row 1 (id 1): label: Must be a string, shelf: Must be an integer id"),
    "required missing": (mutate(lambda f: box(f)["rows"][0].pop("label")), "Table box, row 1 (id 1): label: required"),
    "attribute broken": (mutate(lambda f: shelf(f)["rows"][0].update(size=0)),
                         "Table shelf, row 1 (id 1): size: Must be 1 or higher"),
    "bad row id": (box_row(0, id="one"), "Table box, row 1 (id one): id: Must be an integer"),
    "duplicate unique value": (box_row(1, label="B1"), "Table box, row 2 (id 2): Duplicate value for unique field: Label"),
    "duplicate id": (box_row(1, id=1), "Table box, row 2 (id 1): Duplicate value for unique field: ID"),
    "dangling Key": (box_row(1, shelf=99), "Table box, row id 2: shelf: No shelf row with id 99"),
    "dangling Key to users": (box_row(0, owner=999), "Table box, row id 1: owner: No users row with id 999"),
    # A field may be called rowid, which then hides SQLite's rowid: the row is found by its real id.
    "dangling Key beside a field named rowid": (
        mutate(lambda f: box(f)["fields"].append({"name": "rowid", "type": "Integer"})
               or box(f)["rows"][1].update(shelf=99, rowid=7)),
        "Table box, row id 2: shelf: No shelf row with id 99"),
    "dangling self Key": (mutate(lambda f: shelf(f)["fields"].append({"name": "up", "type": "Key", "reftable_name": "shelf"})
                                 or shelf(f)["rows"][1].update(up=5)),
                          "Table shelf, row id 2: up: No shelf row with id 5"),
    # users
    "unknown role": (first_user(role_id=55), "User new@foo.com: there is no role 55"),
    "role as text": (first_user(role_id="1"), "User new@foo.com: there is no role '1'"),
    "role as a list": (first_user(role_id=[1]), "User new@foo.com: there is no role [1]"),
    "role as bool": (first_user(role_id=True), "User new@foo.com: there is no role True"),
    "duplicate email": (add_user(email="new@foo.com"), "User new@foo.com: A user with email new@foo.com already exists"),
    "existing email": (add_user(email="ADMIN@foo.com"), "User ADMIN@foo.com: A user with email ADMIN@foo.com already exists"),
    "email missing": (add_user(role_id=1), "Each user needs an email"),
    "email not an address": (first_user(email="nobody"), "User nobody: Not an email address: 'nobody'"),
    "short token": (first_user(api_token="abcde"), "User new@foo.com: API tokens must be strings of at least 6 characters"),
    "token not a string": (first_user(api_token=1234567), "User new@foo.com: API tokens must be strings"),
    "two users one token": (add_user(email="b@foo.com", api_token="new-token-123"),
                            "User b@foo.com: Two users cannot share an API token"),
    "existing user's token": (first_user(api_token=TOKENS["admin"]), "User new@foo.com: Two users cannot share an API token"),
    "two users one token hash": (add_user(email="b@foo.com", api_token_hash=hashlib.sha256(b"new-token-123").hexdigest()),
                                 "User b@foo.com: Two users cannot share an API token"),
    "token hash not a hash": (first_user(api_token=None, api_token_hash="new-token-123"),
                              "User new@foo.com: api_token_hash must be a SHA-256 hex digest"),
    "token hash not a string": (first_user(api_token=None, api_token_hash=5),
                                "User new@foo.com: api_token_hash must be a SHA-256 hex digest"),
    "password not a string": (first_user(password=12345678), "User new@foo.com: Password must be a string"),
    "password hash not a string": (first_user(password_hash=5), "User new@foo.com: password_hash must be a string"),
    "user id taken": (first_user(id=1), "User new@foo.com: another user has id 1"),
    "user id not a number": (first_user(id="10"), "User new@foo.com: id must be a positive integer, not '10'"),
    "user id zero": (first_user(id=0), "User new@foo.com: id must be a positive integer, not 0"),
    "user id bool": (first_user(id=True), "User new@foo.com: id must be a positive integer, not True"),
    # roles
    "role id too big": (mutate(lambda f: f["roles"].append({"id": 101, "role": "x"})), "ids go from 1 to 100, not 101"),
    "role id zero": (mutate(lambda f: f["roles"].append({"id": 0, "role": "x"})), "ids go from 1 to 100, not 0"),
    "role id text": (mutate(lambda f: f["roles"].append({"id": "5", "role": "x"})), "Each role needs an integer id"),
    "role id bool": (mutate(lambda f: f["roles"].append({"id": True, "role": "x"})), "Each role needs an integer id"),
    "role without name": (mutate(lambda f: f["roles"].append({"id": 5})), "Each role needs an integer id and a name"),
    "built-in role renamed": (mutate(lambda f: f["roles"].append({"id": 1, "role": "boss"})),
                              "Role 1 is built in and cannot be renamed"),
    "role name taken": (mutate(lambda f: f["roles"].append({"id": 61, "role": "staff"})),
                        "Two roles cannot both be called staff"),
}  # fmt: skip


@pytest.mark.parametrize("build, message", ERRORS.values(), ids=ERRORS.keys())
def test_failing_fixture_changes_nothing(loaded_db, build, message):
    before = state(loaded_db)
    with pytest.raises(FixtureError) as error:
        load_fixture(loaded_db, build())
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert state(loaded_db) == before


# With `replace`, what exists goes first, so clashing with it is no error.
CLASHES = {"existing table", "existing email", "existing user's token", "user id taken"}
REPLACE_ERRORS = {case: value for case, value in ERRORS.items() if case not in CLASHES}


@pytest.mark.parametrize("build, message", REPLACE_ERRORS.values(), ids=REPLACE_ERRORS.keys())
def test_failing_replace_changes_nothing(loaded_db, build, message):
    before = state(loaded_db)
    with pytest.raises(FixtureError) as error:
        load_fixture(loaded_db, build(), replace=True)
    assert message in str(error.value)
    assert state(loaded_db) == before


@pytest.mark.parametrize("case", sorted(CLASHES - {"user id taken"}))  # the rows refer to user 10
def test_replace_allows_what_clashed_with_the_old_instance(loaded_db, case):
    load_fixture(loaded_db, ERRORS[case][0](), replace=True)
    assert [t["name"] for t in dump_fixture(loaded_db)["tables"]][:2] == ["box", "shelf"]


def test_the_valid_fixture_really_is_valid(loaded_db):
    """The error cases above differ from this fixture by one change each."""
    load_fixture(loaded_db, valid_fixture())
    load_fixture(loaded_db, {"tables": [{"name": "other", "fields": [{"name": "f", "type": "Key to box"}]}]})
    assert [t["name"] for t in dump_fixture(loaded_db)["tables"]][-3:] == ["box", "shelf", "other"]
    load_fixture(loaded_db, valid_fixture(), replace=True)
