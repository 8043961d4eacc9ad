"""The tables pages (docs/api.md §7) and the schema changes behind them: ALTER TABLE where SQLite can, else its
documented table rebuild, always in one transaction, with foreign keys, ids and indexes intact afterwards.
"""

import sqlite3
from pathlib import Path

import pytest

import saltapi.store.tables
from conftest import TABLE_IDS, TOKENS, bearer, schema_of
from saltapi.db import get_db
from saltapi.store.connection import connect
from saltapi.store.metadata import Field
from saltapi.store.tables import DefinitionError, add_field

ADMIN = bearer(TOKENS["admin"])
BOOKS, PATIENTS, PUBLISHER, NOTES, ITEMS = TABLE_IDS.values()


@pytest.fixture
def rebuilds(monkeypatch) -> list[str]:
    """The names of the tables rebuilt during the test (the rest of the changes were ALTER TABLE)."""
    rebuilt, original = [], saltapi.store.sqlite.rebuild_table

    def recording(db, table_name, *args, **kwargs):
        rebuilt.append(table_name)
        return original(db, table_name, *args, **kwargs)

    monkeypatch.setattr(saltapi.store.sqlite, "rebuild_table", recording)
    return rebuilt


def schema(db_path) -> list[tuple]:
    db = connect(db_path)
    try:
        return schema_of(db)
    finally:
        db.close()


def raw(db_path, sql: str, params=()) -> list[tuple]:
    db = connect(db_path)
    try:
        return [tuple(row) for row in db.execute(sql, params)]
    finally:
        db.close()


def assert_database_sound(db_path) -> None:
    """SQLite's own checks, after a rebuild with foreign keys off (PostgreSQL never turns them off)."""
    if not isinstance(db_path, Path):
        return
    assert raw(db_path, "PRAGMA integrity_check") == [("ok",)]
    assert raw(db_path, "PRAGMA foreign_key_check") == []
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name LIKE '_sc_rebuild_%'") == []


def rows(client, table: str) -> list[dict]:
    response = client.get(f"/api/{table}", headers=ADMIN)
    assert response.status_code == 200, response.json
    return response.json["success"]


def flashed(client, location: str) -> str:
    return client.get(location).text


# Who may use the pages

PAGES = [
    ("get", "/table"),
    ("get", f"/table/{BOOKS}"),
    ("get", f"/table/{BOOKS}/field/new"),
    ("get", f"/table/{BOOKS}/field/author"),
    ("post", "/table"),
    ("post", f"/table/delete/{ITEMS}"),
    ("post", f"/table/{BOOKS}/settings"),
    ("post", f"/table/{BOOKS}/field/new"),
    ("post", f"/table/{BOOKS}/field/author"),
    ("post", f"/table/{ITEMS}/field/size/delete"),
]
FORM = {"name": "x", "type": "String", "min_role_read": "1", "min_role_write": "1", "label": "X"}


@pytest.mark.parametrize("method, path", PAGES)
def test_signed_out_goes_to_login(client, web, snapshot, method, path):
    before = snapshot()
    response = client.get(path) if method == "get" else web.post(path, FORM)
    assert response.status_code == 302
    assert response.location.startswith("/auth/login?next=")
    assert snapshot() == before


@pytest.mark.parametrize("method, path", PAGES)
def test_non_admins_get_403(client, web, snapshot, db_path, method, path):
    web.login("staff")
    before, tables_before = snapshot(), schema(db_path)
    response = client.get(path) if method == "get" else web.post(path, FORM)
    assert response.status_code == 403
    assert "This page is for admins only." in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)


@pytest.mark.parametrize("path", [path for method, path in PAGES if method == "post"])
def test_forms_without_csrf_are_refused(client, admin, snapshot, db_path, path):
    before, tables_before = snapshot(), schema(db_path)
    response = client.post(path, data=FORM)
    assert response.status_code == 403
    assert "CSRF token missing or invalid" in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)


def test_list_shows_tables_with_roles_and_counts(client, admin):
    page = client.get("/table").text
    for name in ("books", "patients", "publisher", "notes", "items"):
        assert f">{name}</a>" in page
    assert "Create a table" in page


def test_unknown_table_and_field_are_404(client, admin):
    assert client.get("/table/999").status_code == 404
    assert client.get(f"/table/{BOOKS}/field/nope").status_code == 404
    assert admin.post(f"/table/{BOOKS}/field/nope/delete").status_code == 404


# Creating and deleting tables


def test_create_table(client, admin, db_path):
    response = admin.post("/table", {"name": "shelves", "min_role_read": "80", "min_role_write": "40"})
    assert response.status_code == 302
    page = client.get(response.location)
    assert "Created table shelves." in page.text
    assert client.get("/api/shelves", headers=bearer(TOKENS["user"])).json == {"success": []}
    assert client.post("/api/shelves", json={}, headers=bearer(TOKENS["user"])).status_code == 401
    assert client.post("/api/shelves", json={}, headers=bearer(TOKENS["staff"])).json == {"success": 1}


@pytest.mark.parametrize(
    "name, message",
    [
        ("1st", "Invalid table name &#39;1st&#39;"),
        ("books", "A table named books already exists"),
        ("Books", "A table named Books already exists"),
        ("users", "it is the name of the built-in users table"),
        ("_sc_mine", "names starting with _sc_ or sqlite_ are reserved"),
        ("", "Invalid table name"),
    ],
)
def test_create_table_bad_name_is_shown_next_to_the_form(client, admin, snapshot, db_path, name, message):
    before, tables_before = snapshot(), schema(db_path)
    response = admin.post("/table", {"name": name, "min_role_read": "1", "min_role_write": "1"})
    assert response.status_code == 400
    assert message in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)


def test_create_table_needs_real_roles(client, admin, snapshot):
    before = snapshot()
    response = admin.post("/table", {"name": "shelves", "min_role_read": "3", "min_role_write": "1"})
    assert response.status_code == 400
    assert "Minimum role to read: choose one of the roles" in response.text
    assert snapshot() == before


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_delete_table(client, admin, db_path):
    response = admin.post(f"/table/delete/{ITEMS}")
    assert response.location == "/table"
    assert "Deleted table items and its rows." in client.get("/table").text
    assert client.get("/api/items").status_code == 404
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE tbl_name = 'items'") == []
    assert raw(db_path, "SELECT count(*) FROM _sc_fields WHERE table_id = ?", (ITEMS,)) == [(0,)]
    assert_database_sound(db_path)


def test_a_table_that_refers_to_itself_can_be_deleted(client, admin, db_path):
    """patients.parent refers to patients: its rows go with it (which SQLite refuses with foreign keys on)."""
    response = admin.post(f"/table/delete/{PATIENTS}")
    assert response.location == "/table"
    assert client.get("/api/patients").status_code == 404
    assert_database_sound(db_path)


def test_deleting_a_referenced_table_is_refused(client, admin, snapshot, db_path):
    before, tables_before = snapshot(), schema(db_path)
    response = admin.post(f"/table/delete/{BOOKS}")
    assert response.location == f"/table/{BOOKS}"
    page = client.get(response.location).text
    assert "Cannot delete table books: patients.favbook refers to it; delete or change those fields first" in page
    assert (snapshot(), schema(db_path)) == (before, tables_before)


# Settings: the roles


def test_settings_offer_every_role_by_name(client, admin):
    page = client.get(f"/table/{BOOKS}").text
    assert "Minimum role to read" in page and "Minimum role to write" in page
    for role_id, role in [(1, "admin"), (40, "staff"), (60, "editor"), (80, "user"), (100, "public")]:
        assert f'<option value="{role_id}"' in page and f">{role}</option>" in page


def test_settings_take_effect_on_the_next_request(client, admin):
    assert client.get("/api/publisher", headers=bearer(TOKENS["user"])).status_code == 401
    response = admin.post(f"/table/{PUBLISHER}/settings", {"min_role_read": "100", "min_role_write": "80"})
    assert response.location == f"/table/{PUBLISHER}"
    assert "Saved the settings of publisher" in client.get(response.location).text
    admin.logout()
    assert client.get("/api/publisher").status_code == 200
    assert client.post("/api/publisher", json={"name": "Verso"}, headers=bearer(TOKENS["user"])).status_code == 200
    assert client.post("/api/publisher", json={"name": "Verso"}, headers=bearer("nope-nope")).status_code == 401


def test_settings_refuse_an_unknown_role(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/table/{BOOKS}/settings", {"min_role_read": "101", "min_role_write": "1"})
    assert response.status_code == 400
    assert "Minimum role to read: choose one of the roles" in response.text
    assert snapshot() == before


# Adding fields


def add(admin, table_id: int, **form):
    return admin.post(f"/table/{table_id}/field/new", {"type": "String", **form})


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_add_a_nullable_field_is_an_alter_table(client, admin, db_path, rebuilds):
    response = add(admin, BOOKS, name="subtitle", label="Subtitle", max_length="40")
    assert response.location == f"/table/{BOOKS}"
    assert rebuilds == []
    assert [row["subtitle"] for row in rows(client, "books")] == [None, None]
    too_long = client.post("/api/books", json={"author": "A", "pages": 1, "subtitle": "x" * 41}, headers=ADMIN)
    assert too_long.json == {"error": "subtitle: Must be at most 40 characters"}
    assert_database_sound(db_path)


def test_add_a_required_field_to_a_table_with_rows_needs_a_value(client, admin, snapshot, db_path):
    before, tables_before = snapshot(), schema(db_path)
    response = add(admin, BOOKS, name="year", type="Integer", required="on")
    assert response.status_code == 400
    message = "books has rows already: a required field needs a value for them (or add it as not required)"
    assert message in response.text
    response = add(admin, BOOKS, name="year", type="Integer", required="on", fill_value="soon")
    assert response.status_code == 400
    assert "Value for the existing rows: Must be an integer" in response.text
    response = add(admin, BOOKS, name="year", type="Integer", required="on", fill_value="-5", min="0")
    assert "Value for the existing rows: Must be 0 or higher" in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_add_a_required_field_fills_existing_rows(client, admin, db_path, rebuilds):
    response = add(admin, BOOKS, name="year", type="Integer", required="on", fill_value="1900")
    assert response.location == f"/table/{BOOKS}"
    assert rebuilds == ["books"]
    assert [row["year"] for row in rows(client, "books")] == [1900, 1900]
    assert raw(db_path, "SELECT \"notnull\" FROM pragma_table_info('books') WHERE name = 'year'") == [(1,)]
    missing = client.post("/api/books", json={"author": "A", "pages": 1}, headers=ADMIN)
    assert missing.json == {"error": "year: required"}
    # The rebuilt books is still what patients.favbook refers to, with ON DELETE RESTRICT.
    with pytest.raises(sqlite3.IntegrityError):
        raw(db_path, "DELETE FROM books WHERE id = 1")
    assert_database_sound(db_path)


def test_add_a_required_field_to_an_empty_table_needs_no_value(client, admin):
    created = admin.post("/table", {"name": "shelves", "min_role_read": "1", "min_role_write": "1"})
    response = add(admin, int(created.location.rsplit("/", 1)[1]), name="label", required="on")
    assert response.status_code == 302
    assert client.post("/api/shelves", json={}, headers=ADMIN).json == {"error": "label: required"}


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_add_a_unique_field_is_a_rebuild(client, admin, db_path, rebuilds):
    response = add(admin, BOOKS, name="isbn", label="ISBN", is_unique="on")
    assert response.status_code == 302
    assert rebuilds == ["books"]
    assert client.post("/api/books/1", json={"isbn": "X1"}, headers=ADMIN).json == {"success": True}
    duplicate = client.post("/api/books/2", json={"isbn": "X1"}, headers=ADMIN)
    assert duplicate.json == {"error": "Duplicate value for unique field: ISBN"}
    with pytest.raises(sqlite3.IntegrityError):  # a real UNIQUE constraint, not only the API's check
        raw(db_path, "UPDATE books SET isbn = 'X1' WHERE id = 2")
    assert_database_sound(db_path)


def test_a_unique_required_field_cannot_give_every_row_one_value(client, admin, snapshot):
    before = snapshot()
    response = add(admin, BOOKS, name="isbn", is_unique="on", required="on", fill_value="X")
    assert response.status_code == 400
    assert "A unique field cannot give one value to every existing row" in response.text
    assert snapshot() == before


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_add_a_key_field(client, admin, db_path, rebuilds):
    response = add(admin, PUBLISHER, name="parent", type="Key", reftable_name="publisher", summary_field="name")
    assert response.status_code == 302
    assert rebuilds == []
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE name = '_sc_idx_publisher.parent'") != []
    assert client.post("/api/publisher/2", json={"parent": 1}, headers=ADMIN).json == {"success": True}
    bad = client.post("/api/publisher/2", json={"parent": 99}, headers=ADMIN)
    assert bad.json == {"error": "parent: No publisher row with id 99"}
    referenced = client.delete("/api/publisher/1", headers=ADMIN)
    assert referenced.json == {"error": "Cannot delete: referenced by books.publisher"}
    response = client.get("/api/publisher?dereference=parent", headers=ADMIN)
    assert response.json["success"][1]["parent_name"] == "AK Press"


def test_add_a_key_to_users(client, admin):
    response = add(admin, BOOKS, name="reviewer", type="Key", reftable_name="users", summary_field="email")
    assert response.status_code == 302
    assert client.post("/api/books/1", json={"reviewer": 2}, headers=ADMIN).json == {"success": True}
    deleted = admin.post("/useradmin/delete/2")
    assert "rows of books refer to this user in reviewer" in client.get(deleted.location).text


@pytest.mark.parametrize(
    "form, message",
    [
        ({"name": "id"}, "a field may not be called id"),
        ({"name": "Author"}, "a table cannot have two fields of that name"),
        ({"name": "2nd"}, "Invalid field name &#39;2nd&#39;"),
        ({"name": "_sc_x"}, "names starting with _sc_ or sqlite_ are reserved"),
        ({"name": "kind", "type": "Blob"}, "unknown type &#39;Blob&#39;"),
        (
            {"name": "ref", "type": "Key", "reftable_name": "nowhere"},
            "a Key needs reftable_name naming an existing table",
        ),
        (
            {"name": "ref", "type": "Key", "reftable_name": "publisher", "summary_field": "nope"},
            "summary_field &#39;nope&#39; is not a field of publisher",
        ),
        ({"name": "n", "type": "Integer", "min": "ten"}, "Minimum must be an integer"),
        ({"name": "n", "type": "Float", "max": "1e999"}, "Maximum must be a number"),
        ({"name": "n", "type": "Integer", "min": "5", "max": "1"}, "The minimum cannot be more than the maximum"),
        ({"name": "s", "max_length": "-1"}, "Maximum length must be a whole number of characters"),
    ],
)
def test_add_field_bad_input_is_shown_next_to_the_form(client, admin, snapshot, db_path, form, message):
    before, tables_before = snapshot(), schema(db_path)
    response = add(admin, BOOKS, **form)
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{form["name"]}"' in response.text  # what was typed stays
    assert (snapshot(), schema(db_path)) == (before, tables_before)


def test_labels_are_escaped(client, admin):
    add(admin, BOOKS, name="note", label="<script>alert('x')</script>")
    for path in (f"/table/{BOOKS}", f"/table/{BOOKS}/rows", f"/table/{BOOKS}/rows/new"):
        page = client.get(path).text
        assert "<script>alert(" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


# Editing fields


def edit(admin, table_id: int, name: str, **form):
    return admin.post(f"/table/{table_id}/field/{name}", form)


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_edit_label_and_attributes_keeps_rows(client, admin, db_path, rebuilds):
    before, tables_before = rows(client, "books"), schema(db_path)
    response = edit(admin, BOOKS, "pages", label="Page count", required="on", min="100", max="5000")
    assert response.location == f"/table/{BOOKS}"
    assert rebuilds == []
    assert (rows(client, "books"), schema(db_path)) == (before, tables_before)  # no DDL for label or attributes
    assert "Page count" in client.get(f"/table/{BOOKS}").text
    low = client.post("/api/books", json={"author": "A", "pages": 50}, headers=ADMIN)
    assert low.json == {"error": "pages: Must be 100 or higher"}


def test_edit_string_options(client, admin):
    edit(admin, ITEMS, "size", label="Size", options="S, M, L, XL")
    assert client.post("/api/items", json={"size": "XL"}, headers=ADMIN).status_code == 200
    too_big = client.post("/api/items", json={"size": "XXL"}, headers=ADMIN)
    assert too_big.json == {"error": "size: Must be one of: S, M, L, XL"}
    page = client.get(f"/table/{ITEMS}/field/size").text
    assert 'value="S, M, L, XL"' in page


def test_making_a_field_with_nulls_required_is_refused(client, admin, snapshot, db_path):
    before, tables_before = snapshot(), schema(db_path)
    response = edit(admin, ITEMS, "qty", label="Quantity", required="on")
    assert response.status_code == 400
    assert "Cannot make Quantity required: 1 row has no value in it; fill them in first" in response.text
    response = edit(admin, BOOKS, "publisher", label="Publisher", required="on", summary_field="name")
    assert "Cannot make Publisher required: 1 row has no value in it" in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_making_a_field_required_rebuilds_the_table(client, admin, db_path, rebuilds):
    form = {"label": "Favourite book", "required": "on", "summary_field": "author", "include_fts": "on"}
    response = edit(admin, PATIENTS, "favbook", **form)
    assert response.status_code == 302
    assert rebuilds == ["patients"]
    assert raw(db_path, "SELECT \"notnull\" FROM pragma_table_info('patients') WHERE name = 'favbook'") == [(1,)]
    assert client.post("/api/patients", json={"name": "X"}, headers=ADMIN).json == {"error": "favbook: required"}
    # Its Keys (to books, and to itself) and their indexes survived.
    names = {row[0] for row in raw(db_path, "SELECT name FROM sqlite_master WHERE tbl_name = 'patients'")}
    assert {"_sc_idx_patients.favbook", "_sc_idx_patients.parent"} <= names
    with pytest.raises(sqlite3.IntegrityError):
        raw(db_path, "UPDATE patients SET parent = 99 WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError):
        raw(db_path, "DELETE FROM patients WHERE id = 1")  # row 2's parent
    assert client.get("/api/patients?_fts=melville", headers=ADMIN).json["success"][0]["name"] == "Kirk Douglas"
    assert_database_sound(db_path)


def test_making_a_field_unique_with_duplicates_is_refused(client, admin, snapshot, db_path):
    client.post("/api/books", json={"author": "Leo Tolstoy", "pages": 1}, headers=ADMIN)
    before, tables_before = snapshot(), schema(db_path)
    response = edit(admin, BOOKS, "author", label="Author", required="on", is_unique="on")
    assert response.status_code == 400
    assert "Cannot make Author unique: the value &#34;Leo Tolstoy&#34; is in 2 rows; change them first" in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)


def test_a_rebuild_keeps_ids_and_never_reuses_deleted_ones(client, admin, db_path):
    third = client.post("/api/books", json={"author": "C", "pages": 3}, headers=ADMIN).json["success"]
    client.delete(f"/api/books/{third}", headers=ADMIN)
    response = edit(admin, BOOKS, "pages", label="Pages", required="on", is_unique="on", min="0")
    assert response.status_code == 302
    assert [row["id"] for row in rows(client, "books")] == [1, 2]
    fourth = client.post("/api/books", json={"author": "D", "pages": 4}, headers=ADMIN).json["success"]
    assert fourth == third + 1
    assert client.post("/api/books", json={"author": "E", "pages": 4}, headers=ADMIN).json == {
        "error": "Duplicate value for unique field: Pages"
    }
    assert_database_sound(db_path)


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_making_a_field_optional_again_drops_the_constraint(client, admin, db_path):
    response = edit(admin, BOOKS, "author", label="Author")
    assert response.status_code == 302
    assert raw(db_path, "SELECT \"notnull\" FROM pragma_table_info('books') WHERE name = 'author'") == [(0,)]
    assert client.post("/api/books", json={"pages": 1}, headers=ADMIN).status_code == 200


def test_a_failed_schema_change_changes_nothing(client, admin, snapshot, db_path, monkeypatch):
    """Everything (rebuild, metadata) is one transaction: a failure at the very end undoes all of it."""

    def fail(db, names):
        raise DefinitionError("checked and found wanting")

    monkeypatch.setattr(saltapi.store.tables, "check_keys", fail)
    before, tables_before = snapshot(), schema(db_path)
    response = edit(admin, PATIENTS, "name", label="Full name", required="on", is_unique="on")
    assert response.status_code == 400
    assert "checked and found wanting" in response.text
    assert (snapshot(), schema(db_path)) == (before, tables_before)
    assert_database_sound(db_path)


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_foreign_keys_are_on_again_after_a_schema_change(app):
    with app.app_context():
        db = get_db()
        add_field(db, BOOKS, Field(name="isbn", label="ISBN", type="String", is_unique=True))
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with pytest.raises(DefinitionError):
            add_field(db, BOOKS, Field(name="isbn", label="ISBN", type="String"))
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert not db.in_transaction


# Deleting fields


@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_delete_a_plain_field(client, admin, db_path, rebuilds):
    response = admin.post(f"/table/{ITEMS}/field/size/delete")
    assert response.location == f"/table/{ITEMS}"
    assert rebuilds == []
    assert "Deleted field size and its values." in client.get(response.location).text
    assert "size" not in rows(client, "items")[0]
    assert "size" not in {row[0] for row in raw(db_path, "SELECT name FROM pragma_table_info('items')")}
    assert_database_sound(db_path)


@pytest.mark.parametrize("table_id, table, field", [(BOOKS, "books", "publisher"), (ITEMS, "items", "code")])
@pytest.mark.sqlite_only  # asserts SQLite's rebuilds, catalog or errors
def test_delete_an_indexed_or_unique_field_rebuilds(client, admin, db_path, rebuilds, table_id, table, field):
    response = admin.post(f"/table/{table_id}/field/{field}/delete")
    assert response.status_code == 302
    assert rebuilds == [table]
    assert field not in rows(client, table)[0]
    assert raw(db_path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)) == []
    assert_database_sound(db_path)


def test_delete_the_last_key_to_a_table_lets_the_table_go(client, admin, db_path):
    admin.post(f"/table/{BOOKS}/field/publisher/delete")
    response = admin.post(f"/table/delete/{PUBLISHER}")
    assert response.location == "/table"
    assert_database_sound(db_path)


def test_deleting_a_summary_field_is_refused(client, admin, snapshot, db_path):
    before, tables_before = snapshot(), schema(db_path)
    response = admin.post(f"/table/{BOOKS}/field/author/delete")
    page = client.get(response.location).text
    assert "Cannot delete author: patients.favbook shows it as summary field; change that first" in page
    assert (snapshot(), schema(db_path)) == (before, tables_before)
