"""What only PostgreSQL does: its own column types and constraints, writers serialised by the advisory lock, a
constraint broken by another program answered with the field's own message, and text compared as SQLite does."""

import threading

import pytest

from conftest import TABLE_IDS, TOKENS, bearer
from saltapi.store.connection import connect
from saltapi.store.errors import ConstraintViolation
from test_web_tables import add, edit

ADMIN = bearer(TOKENS["admin"])
BOOKS, PUBLISHER = TABLE_IDS["books"], TABLE_IDS["publisher"]


def columns(db, table: str) -> dict[str, tuple]:
    rows = db.execute(
        "SELECT column_name, data_type, is_nullable, collation_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return {row[0]: tuple(row[1:]) for row in rows}


@pytest.mark.postgres_only
def test_user_tables_are_plain_tables_with_real_types(db_path):
    db = connect(db_path)
    try:
        assert columns(db, "books") == {
            "id": ("bigint", "NO", None),
            "author": ("text", "NO", "C"),
            "pages": ("bigint", "NO", None),
            "publisher": ("bigint", "YES", None),
        }
        constraints = {
            row[0]: row[1]
            for row in db.execute(
                "SELECT contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'books'::regclass"
            )
        }
        assert constraints["p"] == "PRIMARY KEY (id)"
        assert constraints["f"].startswith("FOREIGN KEY (publisher) REFERENCES publisher(id) ON DELETE RESTRICT")
    finally:
        db.close()


def test_text_sorts_by_code_point_as_sqlite_binary_does(client, engine):
    for author in ("b", "B", "a", "Ä", "_", "Z"):
        assert client.post("/api/books", json={"author": author, "pages": 1}, headers=ADMIN).status_code == 200
    rows = client.get("/api/books", query_string={"sortBy": "author"}, headers=ADMIN).json["success"]
    authors = [row["author"] for row in rows]
    assert authors == sorted(authors)  # Python compares code points, as SQLite's BINARY and "C" do


@pytest.mark.parametrize("term, found", [("über", True), ("ÜBER", True), ("strasse", True), ("STRAßE", True)])
def test_search_folds_case_as_python_does(client, engine, term, found):
    client.post("/api/books", json={"author": "Über Straße", "pages": 1}, headers=ADMIN)
    rows = client.get("/api/books", query_string={"_fts": term}, headers=ADMIN).json["success"]
    assert ("Über Straße" in [row["author"] for row in rows]) is found


@pytest.mark.postgres_only
def test_a_unique_value_another_program_commits_meanwhile_is_the_fields_400(client, db_path):
    """Another program (not saltapi: it takes no advisory lock) holds an uncommitted row with the value; saltapi's
    pre-check cannot see it, its INSERT waits on the unique index, and once the other commits it is refused with
    the field's own message, never a 500."""
    other = connect(db_path)
    try:
        other.run("BEGIN")
        other.execute("ALTER TABLE publisher ADD CONSTRAINT publisher_name_unique UNIQUE (name)")
        other.run("COMMIT")
        other.run("BEGIN")
        other.execute("INSERT INTO publisher (name) VALUES ('Racing')")
        answers = []
        request = threading.Thread(
            target=lambda: answers.append(client.post("/api/publisher", json={"name": "Racing"}, headers=ADMIN))
        )
        request.start()
        watcher = connect(db_path)
        try:
            while not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT%'"
            ).fetchone()[0]:
                threading.Event().wait(0.01)  # waiting for saltapi's INSERT to block on the other's row
        finally:
            watcher.close()
        other.run("COMMIT")
        request.join()
    finally:
        other.close()
    assert (answers[0].status_code, answers[0].json) == (400, {"error": "Duplicate value for unique field: Name"})


# Schema changes are PostgreSQL's ALTER TABLE; the constraints they leave are real (tests/test_web_tables.py has
# what the API and the pages answer, on both engines).


def catalog(db_path, sql: str, params=()) -> list[tuple]:
    db = connect(db_path)
    try:
        return [tuple(row) for row in db.execute(sql, params)]
    finally:
        db.close()


def columns_of(db_path, table: str) -> dict[str, tuple]:
    db = connect(db_path)
    try:
        return columns(db, table)
    finally:
        db.close()


def refused(db_path, sql: str) -> str:
    """The store's error for a statement another program runs (ConstraintViolation's kind)."""
    db = connect(db_path)
    try:
        with pytest.raises(ConstraintViolation) as error:
            db.execute(sql)
        return error.value.kind
    finally:
        db.close()


@pytest.mark.postgres_only
def test_a_required_field_added_to_rows_is_filled_then_not_null(client, admin, db_path):
    assert add(admin, BOOKS, name="year", type="Integer", required="on", fill_value="1900").status_code == 302
    assert columns_of(db_path, "books")["year"] == ("bigint", "NO", None)
    assert [row["year"] for row in client.get("/api/books", headers=ADMIN).json["success"]] == [1900, 1900]
    assert refused(db_path, "UPDATE books SET year = NULL WHERE id = 1") == "not_null"
    assert refused(db_path, "DELETE FROM books WHERE id = 1") == "foreign_key"  # patients.favbook still refers


@pytest.mark.postgres_only
def test_unique_and_required_come_and_go_with_alter_table(client, admin, db_path):
    assert add(admin, BOOKS, name="isbn", label="ISBN", is_unique="on").status_code == 302
    client.post("/api/books/1", json={"isbn": "X1"}, headers=ADMIN)
    assert refused(db_path, "UPDATE books SET isbn = 'X1' WHERE id = 2") == "unique"
    assert edit(admin, BOOKS, "isbn", label="ISBN").status_code == 302  # no longer unique
    assert client.post("/api/books/2", json={"isbn": "X1"}, headers=ADMIN).json == {"success": True}
    assert edit(admin, BOOKS, "author", label="Author").status_code == 302  # no longer required
    assert columns_of(db_path, "books")["author"] == ("text", "YES", "C")


@pytest.mark.postgres_only
def test_a_key_field_gets_a_foreign_key_and_an_index_and_loses_them_with_the_column(client, admin, db_path):
    response = add(admin, PUBLISHER, name="parent", type="Key", reftable_name="publisher", summary_field="name")
    assert response.status_code == 302
    indexes = "SELECT indexdef FROM pg_indexes WHERE tablename = 'publisher' AND indexdef LIKE '%(parent)'"
    assert len(catalog(db_path, indexes)) == 1
    assert refused(db_path, "UPDATE publisher SET parent = 99 WHERE id = 1") == "foreign_key"
    assert admin.post(f"/table/{PUBLISHER}/field/parent/delete").status_code == 302
    assert catalog(db_path, indexes) == []
    assert "parent" not in columns_of(db_path, "publisher")
