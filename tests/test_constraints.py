"""Table constraints (docs/fixtures.md, "A constraint"): Saltcorn's Index and Unique from fixtures and packs, in the
API's writes, on the table page and on the command line, and through schema changes and dumps."""

import pytest

from conftest import TABLE_IDS, TOKENS, bearer
from saltapi.db import get_db
from saltapi.fixtures import FixtureError, dump_fixture, load_fixture
from saltapi.store.connection import connect, init_db
from saltapi.store.constraints import add_constraint, drop_constraint, index_name
from saltapi.store.metadata import DefinitionError, Field, load_table
from saltapi.store.rows import MANY_MATCHES, Condition, Query, build_select, matches_many, select_rows
from saltapi.store.tables import add_field, delete_field, drop_table, update_field

ADMIN = bearer(TOKENS["admin"])
BOOKS, ITEMS = TABLE_IDS["books"], TABLE_IDS["items"]
DUPLICATE = {"error": "Duplicate values for fields unique together: Author, Publisher"}


def indexes(db, table: str) -> dict[str, tuple]:
    """The table's constraint indexes: name -> (unique, columns)."""
    if db.engine == "postgres":
        rows = db.execute(
            "SELECT i.relname, x.indisunique, array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY"
            " AS k (attnum, n) JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY n)"
            " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " WHERE t.relname = ? AND i.relname LIKE '\\_sc\\_constraint\\_%'",
            (table,),
        )
        return {name: (unique, tuple(columns)) for name, unique, columns in rows}
    found = {}
    for name, unique in db.execute(
        "SELECT name, \"unique\" FROM pragma_index_list(?) WHERE name LIKE '\\_sc\\_constraint\\_%' ESCAPE '\\'", (table,)
    ):
        found[name] = (bool(unique), tuple(row[0] for row in db.execute("SELECT name FROM pragma_index_info(?)", (name,))))
    return found


def shelf_fixture() -> dict:
    return {
        "tables": [{
            "name": "shelf",
            "fields": [{"name": "room", "type": "String"}, {"name": "number", "type": "Integer"},
                       {"name": "note", "type": "String"}],
            "constraints": [
                {"type": "Index", "configuration": {"field": "note"}},
                {"type": "Unique", "configuration": {"fields": ["room", "number"], "errormsg": "taken"}},
                {"type": "Index", "configuration": {"field": "_fts"}},
            ],
            "rows": [{"id": 1, "room": "A", "number": 1}, {"id": 2, "room": "A", "number": 2},
                     {"id": 3, "room": "A", "number": None}, {"id": 4, "room": "A", "number": None}],
        }]
    }  # fmt: skip


def test_fixture_constraints_are_indexes_and_dump_back(fresh_db, tmp_path):
    load_fixture(fresh_db, shelf_fixture())
    table = load_table(fresh_db, "shelf")
    assert [(c.type, c.fields) for c in table.constraints] == [
        ("Index", ("note",)), ("Unique", ("room", "number")), ("Index", ("_fts",))
    ]
    assert indexes(fresh_db, "shelf") == {
        index_name(table.constraints[0].id): (False, ("note",)),
        index_name(table.constraints[1].id): (True, ("room", "number")),
    }
    dumped = dump_fixture(fresh_db)
    expected = shelf_fixture()["tables"][0]["constraints"]
    expected[1]["configuration"] = {"fields": ["room", "number"]}  # Saltcorn's errormsg is not kept
    assert dumped["tables"][0]["constraints"] == expected
    again = connect(tmp_path / "again.sqlite")
    try:
        init_db(again)
        load_fixture(again, dumped)
        assert dump_fixture(again) == dumped
    finally:
        again.close()


def test_a_table_without_constraints_dumps_without_the_key(fresh_db):
    load_fixture(fresh_db, {"tables": [{"name": "t", "fields": [{"name": "a", "type": "String"}]}]})
    assert "constraints" not in dump_fixture(fresh_db)["tables"][0]


@pytest.mark.parametrize(
    "constraints, message",
    [
        ([{"type": "Formula", "configuration": {"formula": "number > 0"}}],
         "Table shelf: Formula constraints are not supported (saltapi does not evaluate formulas)"),
        ([{"type": "Index", "configuration": {"field": "floor"}}], "Table shelf: Index on floor: floor is not one of its fields"),
        ([{"type": "Unique", "configuration": {"fields": []}}], "Table shelf: a Unique constraint needs at least one field"),
        ([{"type": "Unique", "configuration": {"fields": ["room", "room"]}}], "Table shelf: Unique on room, room names a field twice"),
        ([{"type": "Check", "configuration": {}}], "Table shelf: unknown constraint type 'Check'; use Index or Unique"),
        ([{"type": "Index", "configuration": {"field": "note"}}] * 2, "The table has Index on note already"),
        ([{"type": "Index", "configuration": {"fild": "note"}}],
         "tables[0].constraints[0].configuration: unknown key 'fild'; did you mean 'field'?"),
        ([{"type": "Index", "configuraton": {"field": "note"}}],
         "tables[0].constraints[0]: unknown key 'configuraton'; did you mean 'configuration'?"),
    ],
)  # fmt: skip
def test_bad_constraints_are_refused_and_nothing_is_loaded(fresh_db, constraints, message):
    fixture = shelf_fixture()
    fixture["tables"][0]["constraints"] = constraints
    with pytest.raises(FixtureError) as error:
        load_fixture(fresh_db, fixture)
    assert str(error.value) == message
    assert load_table(fresh_db, "shelf") is None


def test_rows_breaking_a_unique_in_a_fixture_are_named(fresh_db):
    fixture = shelf_fixture()
    fixture["tables"][0]["rows"].append({"id": 5, "room": "A", "number": 2})
    with pytest.raises(FixtureError, match=r"^Table shelf, row 5 \(id 5\): Duplicate values for fields unique together: room, number$"):
        load_fixture(fresh_db, fixture)


@pytest.fixture
def unique_books(app):
    with app.app_context():
        return add_constraint(get_db(), BOOKS, "Unique", ["author", "publisher"])


def test_api_insert_breaking_a_unique_is_a_400_naming_the_fields(client, unique_books, snapshot):
    before = snapshot()
    response = client.post("/api/books", json={"author": "Leo Tolstoy", "pages": 1, "publisher": 1}, headers=ADMIN)
    assert (response.status_code, response.json) == (400, DUPLICATE)
    assert snapshot() == before
    assert client.post("/api/books", json={"author": "Leo Tolstoy", "pages": 1, "publisher": 2}, headers=ADMIN).status_code == 200
    # A NULL among the values never clashes, as in SQL: Melville's book has no publisher.
    for _ in range(2):
        assert client.post("/api/books", json={"author": "Herman Melville", "pages": 1}, headers=ADMIN).status_code == 200


def test_api_update_breaking_a_unique_is_a_400_and_counts_the_unchanged_fields(client, unique_books, snapshot):
    assert client.post("/api/books", json={"author": "Ann", "pages": 1, "publisher": 1}, headers=ADMIN).status_code == 200
    before = snapshot()
    response = client.post("/api/books/3", json={"author": "Leo Tolstoy"}, headers=ADMIN)  # publisher 1 stays
    assert (response.status_code, response.json) == (400, DUPLICATE)
    assert snapshot() == before
    # The row's own values are no clash.
    assert client.post("/api/books/2", json={"author": "Leo Tolstoy", "publisher": 1}, headers=ADMIN).status_code == 200


def test_a_unique_over_rows_that_break_it_is_refused(app, loaded_db):
    loaded_db.execute("UPDATE books SET author = 'X', pages = 1")
    with pytest.raises(DefinitionError, match=r'^Cannot make author, pages unique: the values "X", 1 are in 2 rows'):
        add_constraint(loaded_db, BOOKS, "Unique", ["author", "pages"])
    assert load_table(loaded_db, "books").constraints == ()
    assert indexes(loaded_db, "books") == {}


@pytest.mark.parametrize(
    "kind, fields, message",
    [
        ("Index", ["author", "pages"], "Table books: an Index is on exactly one field"),
        ("Index", ["id"], "Table books: Index on id: id is not one of its fields"),
        ("Unique", "author", "Table books: a constraint's fields must be a list of field names"),
    ],
)
def test_add_constraint_checks_its_fields(loaded_db, kind, fields, message):
    with pytest.raises(DefinitionError) as error:
        add_constraint(loaded_db, BOOKS, kind, fields)
    assert str(error.value) == message


@pytest.mark.sqlite_only  # SQLite's table rebuild and its integrity_check
def test_indexes_survive_a_rebuild_and_go_with_their_field(loaded_db):
    unique = add_constraint(loaded_db, BOOKS, "Unique", ["author", "pages"])
    index = add_constraint(loaded_db, BOOKS, "Index", ["pages"])
    update_field(loaded_db, BOOKS, "author", "Author", required=True, is_unique=False, attributes={})  # a rebuild
    assert indexes(loaded_db, "books") == {
        index_name(unique.id): (True, ("author", "pages")), index_name(index.id): (False, ("pages",))
    }
    add_field(loaded_db, BOOKS, Field(name="isbn", label="ISBN", type="String"))
    delete_field(loaded_db, BOOKS, "pages")  # a plain column: DROP COLUMN, after its constraints
    assert load_table(loaded_db, "books").constraints == ()
    assert indexes(loaded_db, "books") == {}
    assert [tuple(row) for row in loaded_db.execute("PRAGMA integrity_check")] == [("ok",)]


@pytest.mark.sqlite_only  # reads SQLite's EXPLAIN QUERY PLAN
def test_a_sorted_read_uses_the_index(loaded_db):
    index = add_constraint(loaded_db, BOOKS, "Index", ["pages"])
    plan = " ".join(row[3] for row in loaded_db.execute('EXPLAIN QUERY PLAN SELECT * FROM books ORDER BY "pages"'))
    assert index_name(index.id) in plan
    drop_constraint(loaded_db, BOOKS, index.id)
    assert indexes(loaded_db, "books") == {}


def test_drop_table_takes_its_constraints(loaded_db):
    add_constraint(loaded_db, TABLE_IDS["items"], "Index", ["qty"])
    drop_table(loaded_db, TABLE_IDS["items"])
    assert loaded_db.execute("SELECT count(*) FROM _sc_table_constraints").fetchone()[0] == 0


# The table page


def test_the_table_page_adds_and_deletes_constraints(client, admin, db_path):
    response = admin.post(f"/table/{BOOKS}/constraints", {"type": "Unique", "fields": ["author", "pages"]})
    assert response.status_code == 302
    page = client.get(f"/table/{BOOKS}").text
    assert "Added Unique on author, pages." in page
    db = connect(db_path)
    try:
        [constraint] = load_table(db, "books").constraints
        assert list(indexes(db, "books").values()) == [(True, ("author", "pages"))]
    finally:
        db.close()
    assert f"/table/{BOOKS}/constraints/{constraint.id}/delete" in page
    response = admin.post(f"/table/{BOOKS}/constraints/{constraint.id}/delete")
    assert response.status_code == 302
    assert "Deleted Unique on author, pages." in client.get(f"/table/{BOOKS}").text
    db = connect(db_path)
    try:
        assert (load_table(db, "books").constraints, indexes(db, "books")) == ((), {})
    finally:
        db.close()


def test_the_table_page_shows_what_is_wrong(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/table/{BOOKS}/constraints", {"type": "Index", "fields": ["author", "pages"]})
    assert response.status_code == 400
    assert "Table books: an Index is on exactly one field" in response.text
    assert admin.post(f"/table/{BOOKS}/constraints/999/delete").status_code == 404
    assert snapshot() == before


@pytest.mark.parametrize("path", [f"/table/{BOOKS}/constraints", f"/table/{BOOKS}/constraints/1/delete"])
def test_constraint_forms_need_an_admin_and_a_csrf_token(client, web, admin, db_path, path):
    assert client.post(path, data={"type": "Index", "fields": "author"}).status_code == 403  # no CSRF token
    web.logout()
    web.login("staff")
    assert web.post(path, {"type": "Index", "fields": "author"}).status_code == 403
    db = connect(db_path)
    try:
        assert load_table(db, "books").constraints == ()
    finally:
        db.close()


# The command line


def said(runner, *args) -> str:
    """What a command printed on standard output (the `Database:` line is standard error's)."""
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_commands_create_and_drop_constraints(runner, db_path):
    assert said(runner, "create-index", "books", "pages") == "Created Index on pages in books.\n"
    assert said(runner, "create-unique", "books", "author", "pages") == "Created Unique on author, pages in books.\n"
    db = connect(db_path)
    try:
        assert sorted(indexes(db, "books").values()) == [(False, ("pages",)), (True, ("author", "pages"))]
    finally:
        db.close()
    assert said(runner, "drop-unique", "books", "author", "pages") == "Dropped Unique on author, pages from books.\n"
    assert said(runner, "drop-index", "books", "pages") == "Dropped Index on pages from books.\n"
    db = connect(db_path)
    try:
        assert indexes(db, "books") == {}
    finally:
        db.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["create-index", "nope", "a"], "Error: No table nope"),
        (["create-index", "books", "nope"], "Error: Table books: Index on nope: nope is not one of its fields"),
        (["drop-index", "books", "author"], "Error: books has no Index on author"),
        (["drop-unique", "books", "author", "pages"], "Error: books has no Unique on author, pages"),
    ],
)
def test_commands_fail_in_one_line(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == message


# Sorted pages of many matches


@pytest.mark.sqlite_only  # reads SQLite's EXPLAIN QUERY PLAN
def test_a_page_of_many_matches_reads_the_sort_index_with_the_same_rows(fresh_db):
    load_fixture(fresh_db, {"tables": [{
        "name": "events",
        "fields": [{"name": "kind", "type": "Integer"}, {"name": "score", "type": "Integer"}],
        "constraints": [{"type": "Index", "configuration": {"field": "kind"}},
                        {"type": "Index", "configuration": {"field": "score"}}],
    }]})  # fmt: skip
    fresh_db.execute("BEGIN")
    fresh_db.executemany(
        'INSERT INTO events (kind, score) VALUES (?, ?)', ((i % 2, (i * 7919) % 100) for i in range(2 * MANY_MATCHES))
    )
    fresh_db.execute("COMMIT")
    table = load_table(fresh_db, "events")

    def page(kind: int, order_by: str = "score", limit: int = 20) -> Query:
        return Query(filters=((Condition("kind", "=", kind),),), order_by=order_by, descending=True, limit=limit)

    def plan(query: Query, many_match: bool) -> str:
        sql, params = build_select(table, query, many_match)
        return " ".join(row[3] for row in fresh_db.execute("EXPLAIN QUERY PLAN " + sql, params))

    many = page(1)
    assert matches_many(fresh_db, table, many)
    assert "TEMP B-TREE" in plan(many, False) and "TEMP B-TREE" not in plan(many, True)
    assert select_rows(fresh_db, table, many) == [
        dict(zip(("id", "kind", "score"), row)) for row in fresh_db.execute(
            "SELECT id, kind, score FROM events WHERE kind = 1 ORDER BY score DESC, id DESC LIMIT 20"
        )
    ]  # fmt: skip
    assert not matches_many(fresh_db, table, page(7))  # no match: a sort of nothing
    assert not matches_many(fresh_db, table, page(1, order_by="id"))  # id order needs no sort
    assert not matches_many(fresh_db, table, page(1, limit=MANY_MATCHES))  # a page that big: sort the matches
    assert build_select(table, many, True)[0].endswith(
        'WHERE likely(("kind" = ?)) ORDER BY "score" DESC NULLS LAST, "id" DESC LIMIT ? OFFSET ?'
    )
