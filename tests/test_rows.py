"""The pure SQL builders: quoted identifiers, bound values, stable order."""

from saltapi.store.metadata import Field, Table
from saltapi.store.rows import Condition, Query, build_count, build_delete, build_insert, build_select, build_update

TABLE = Table(
    id=1,
    name='we"ird',
    min_role_read=1,
    min_role_write=1,
    fields=(Field(name="author", label="Author", type="String"), Field(name="pages", label="Pages", type="Integer")),
)
COLUMNS = '"id", "author", "pages"'


def test_select_all_in_id_order():
    assert build_select(TABLE, Query()) == (f'SELECT {COLUMNS} FROM "we""ird" AS "_sc_row" ORDER BY "id" ASC', [])


def test_select_filters_are_an_and_of_ors_with_bound_values():
    query = Query(filters=((Condition("author", "=", "x'y"), Condition("author", "is null")), (Condition("pages", "=", 3),)))
    sql, params = build_select(TABLE, query)
    assert sql == f'SELECT {COLUMNS} FROM "we""ird" AS "_sc_row" WHERE ("author" = ? OR "author" IS NULL) AND ("pages" = ?) ORDER BY "id" ASC'
    assert params == ["x'y", 3]


def test_select_sorts_ties_by_id_and_pages_with_bound_limits():
    sql, params = build_select(TABLE, Query(order_by="pages", descending=True, limit=10, offset=20))
    assert sql.endswith('ORDER BY "pages" DESC NULLS LAST, "id" DESC LIMIT ? OFFSET ?')
    assert params == [10, 20]
    assert build_select(TABLE, Query(offset=5))[1] == [2**63 - 1, 5]  # no limit, in a way both engines take


def test_count():
    assert build_count(TABLE, Query(filters=((Condition("pages", "=", 1),),))) == (
        'SELECT count(*) FROM "we""ird" AS "_sc_row" WHERE ("pages" = ?)',
        [1],
    )


def test_writes():
    assert build_insert(TABLE, {"author": "a", "pages": 2}) == (
        'INSERT INTO "we""ird" ("author", "pages") VALUES (?, ?)',
        ["a", 2],
    )
    assert build_insert(TABLE, {}) == ('INSERT INTO "we""ird" DEFAULT VALUES', [])
    assert build_update(TABLE, 7, {"pages": 2}) == ('UPDATE "we""ird" SET "pages" = ? WHERE "id" = ?', [2, 7])
    assert build_delete(TABLE, 7) == ('DELETE FROM "we""ird" WHERE "id" = ?', [7])
