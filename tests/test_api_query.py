"""docs/api.md §5, parameter by parameter and combined, against a model of the data computed in Python.

The catalog has 137 rows with many ties in `rating`, so off-by-one paging and unstable sorting show up.
"""

import datetime
import math

import pytest
from werkzeug.datastructures import MultiDict

from conftest import TOKENS, bearer
from saltapi.db import get_db
from saltapi.fixtures import load_fixture
from saltapi.query import parse_read
from saltapi.store.metadata import load_table
from saltapi.store.rows import build_select

ROW_COUNT = 137
STAFF = bearer(TOKENS["staff"])
ADMIN = bearer(TOKENS["admin"])
SHELVES = [{"id": 1, "name": "Attic"}, {"id": 2, "name": "Basement"}, {"id": 3, "name": "Über-shelf"}]


def catalog_row(i: int) -> dict:
    day = datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 40)
    return {
        "id": i,
        "title": ["Book", "book", "BOOK"][i % 3] + f" {i:03d}" + (" 100%_off" if i % 25 == 0 else ""),
        "genre": [None, "sci-fi", "poetry", "Crime"][i % 4],
        "rating": i % 7,
        "price": None if i % 11 == 0 else round(i * 1.25, 2),
        "instock": [True, False, None][i % 3],
        "published": day.isoformat() if i % 2 else f"{day.isoformat()}T{i % 24:02d}:30:00.000Z",
        "shelf": None if i % 5 == 0 else SHELVES[i % 3]["id"],
    }


ROWS = [catalog_row(i) for i in range(1, ROW_COUNT + 1)]
CATALOG_FIXTURE = {
    "tables": [
        {
            "name": "catalog", "min_role_read": 100, "min_role_write": 1,
            "fields": [
                {"name": "title", "type": "String", "required": True},
                {"name": "genre", "type": "String"},
                {"name": "rating", "type": "Integer"},
                {"name": "price", "type": "Float"},
                {"name": "instock", "type": "Bool"},
                {"name": "published", "type": "Date"},
                {"name": "shelf", "type": "Key to shelves", "attributes": {"summary_field": "name", "include_fts": True}},
            ],
            "rows": ROWS,
        },
        {
            "name": "shelves", "min_role_read": 40, "min_role_write": 1,
            "fields": [{"name": "name", "type": "String", "is_unique": True}],
            "rows": SHELVES,
        },
    ]
}  # fmt: skip
SHELF_NAMES = {shelf["id"]: shelf["name"] for shelf in SHELVES}


@pytest.fixture
def catalog(app):
    with app.app_context():
        load_fixture(get_db(), CATALOG_FIXTURE)


def get(client, query, headers=None, table="catalog", status=200):
    response = client.get(f"/api/{table}", query_string=query, headers=headers or {})
    assert response.status_code == status, response.json
    return response.json


def rows(client, query, headers=None, table="catalog") -> list[dict]:
    return get(client, query, headers, table)["success"]


def ids_of(found: list[dict]) -> list[int]:
    return [row["id"] for row in found]


def ids_where(predicate) -> list[int]:
    return [row["id"] for row in ROWS if predicate(row)]


# fields


@pytest.mark.parametrize(
    "fields, keys",
    [
        ("title,id", ["title", "id"]),
        ("rating", ["rating"]),
        ("rating,nosuch,id", ["rating", "id"]),
        (" id , title ", ["id", "title"]),
        ("", ["id", "title", "genre", "rating", "price", "instock", "published", "shelf"]),
    ],
)
def test_fields_selects_and_orders_keys(client, catalog, fields, keys):
    found = rows(client, {"fields": fields, "limit": "3"})
    assert [list(row) for row in found] == [keys] * 3


def test_fields_can_select_dereferenced_keys(client, catalog):
    found = rows(client, {"fields": "shelf_name,id", "dereference": "shelf", "id": "1"}, STAFF)
    assert found == [{"shelf_name": "Basement", "id": 1}]


# limit and offset


@pytest.mark.parametrize(
    "limit, offset",
    [(1, None), (10, None), (10, 0), (10, 130), (10, 136), (10, 137), (500, 5), (None, 130), (None, 0), (2**53 - 1, 1)],
)
def test_limit_and_offset_slice_the_id_order(client, catalog, limit, offset):
    query = {key: str(value) for key, value in (("limit", limit), ("offset", offset)) if value is not None}
    start = offset or 0
    expected = [row["id"] for row in ROWS][start : None if limit is None else start + limit]
    assert ids_of(rows(client, query)) == expected


@pytest.mark.parametrize(
    "query, message",
    [
        ({"limit": "0"}, "Invalid limit parameter"),
        ({"limit": "-1"}, "Invalid limit parameter"),
        ({"limit": "abc"}, "Invalid limit parameter"),
        ({"limit": "1.5"}, "Invalid limit parameter"),
        ({"limit": ""}, "Invalid limit parameter"),
        ({"limit": str(2**53)}, "Invalid limit parameter"),
        ({"limit": "1e3"}, "Invalid limit parameter"),
        ({"offset": "-1"}, "Invalid offset parameter"),
        ({"offset": "x"}, "Invalid offset parameter"),
        ({"offset": str(2**53)}, "Invalid offset parameter"),
        ({"limit": "5", "offset": "0.5"}, "Invalid offset parameter"),
    ],
)
def test_invalid_limit_or_offset(client, catalog, query, message):
    assert get(client, query, status=400) == {"error": message}


# sortBy and sortDesc


def sorted_ids(key: str, descending: bool = False) -> list[int]:
    """The model of ORDER BY key, id (NULLs first ascending, as SQLite does)."""

    def sort_key(row):
        value = row[key]
        return (value is not None, value if value is not None else 0, row["id"])

    return [row["id"] for row in sorted(ROWS, key=sort_key, reverse=descending)]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"sortBy": "rating"}, sorted_ids("rating")),
        ({"sortBy": "rating", "sortDesc": "true"}, sorted_ids("rating", True)),
        ({"sortBy": "rating", "sortDesc": "false"}, sorted_ids("rating")),
        ({"sortBy": "rating", "sortDesc": ""}, sorted_ids("rating", True)),
        ({"sortBy": "price", "sortDesc": "1"}, sorted_ids("price", True)),
        ({"sortBy": "title"}, sorted_ids("title")),
        ({"sortDesc": "on"}, sorted_ids("id", True)),
        ({"sortBy": "nosuch"}, sorted_ids("id")),
        ({"sortBy": "id", "sortDesc": "yes"}, sorted_ids("id", True)),
    ],
)
def test_sorting(client, catalog, query, expected):
    assert ids_of(rows(client, query)) == expected


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("page_size", [1, 7, 10, 50])
def test_paging_through_ties_never_repeats_or_skips(client, catalog, page_size, descending):
    seen = []
    for offset in range(0, ROW_COUNT + page_size, page_size):
        query = {"sortBy": "rating", "limit": str(page_size), "offset": str(offset)}
        if descending:
            query["sortDesc"] = "true"
        seen += ids_of(rows(client, query))
    assert seen == sorted_ids("rating", descending)


# filters: approximate, prefixes, operators


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"title": "BOOK 007"}, []),
        ({"title": "BOOK 007", "approximate": "true"}, [7]),
        ({"title": "BOOK 01", "approximate": "1"}, ids_where(lambda r: "book 01" in r["title"].lower())),
        ({"title": "100%_off", "approximate": "1"}, ids_where(lambda r: "100%_off" in r["title"])),
        ({"title": "0%", "approximate": "1"}, ids_where(lambda r: "0%" in r["title"])),
        ({"title": "_", "approximate": "1"}, ids_where(lambda r: "_" in r["title"])),
        ({"genre": "crime", "approximate": "1"}, ids_where(lambda r: r["genre"] == "Crime")),
        ({"genre": "null", "approximate": "1"}, ids_where(lambda r: r["genre"] is None)),
        ({"rating": "3", "approximate": "1"}, ids_where(lambda r: r["rating"] == 3)),
        ({"title": "book 00", "approximate": ""}, []),
        ([("genre", "poe"), ("genre", "sci"), ("approximate", "1")], ids_where(lambda r: r["genre"] in ("poetry", "sci-fi"))),
    ],
)
def test_approximate(client, catalog, query, expected):
    assert ids_of(rows(client, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"_gte_rating": "5"}, ids_where(lambda r: r["rating"] >= 5)),
        ({"_lte_rating": "1"}, ids_where(lambda r: r["rating"] <= 1)),
        ({"_gt_rating": "5"}, ids_where(lambda r: r["rating"] > 5)),
        ({"_lt_rating": "1"}, ids_where(lambda r: r["rating"] < 1)),
        ({"_gt_price": "150.5"}, ids_where(lambda r: r["price"] is not None and r["price"] > 150.5)),
        ({"_not_genre": "Crime"}, ids_where(lambda r: r["genre"] not in (None, "Crime"))),
        ({"_not_genre": "null"}, ids_where(lambda r: r["genre"] is not None)),
        ({"_not_shelf": "1"}, ids_where(lambda r: r["shelf"] not in (None, 1))),
        ({"_gte_id": "130", "_lt_id": "133"}, [130, 131, 132]),
        ({"_gte_rating": "2", "_lte_rating": "2"}, ids_where(lambda r: r["rating"] == 2)),
        ({"_gte_rating": ""}, ids_where(lambda r: True)),
        ({"_gte_title": "book 13"}, ids_where(lambda r: r["title"] >= "book 13")),
        ({"_fromdate_published": "2024-02-08"}, ids_where(lambda r: r["published"] >= "2024-02-08")),
        ({"_todate_published": "2024-01-02"}, ids_where(lambda r: r["published"][:10] <= "2024-01-02")),
        (
            {"_fromdate_published": "2024-01-03", "_todate_published": "2024-01-03"},
            ids_where(lambda r: r["published"][:10] == "2024-01-03"),
        ),
        (
            {"_todate_published": "2024-01-02T10:00:00Z"},
            ids_where(lambda r: r["published"] <= "2024-01-02T10:00:00.000Z"),
        ),
        ({"_gte_instock": "true"}, ids_where(lambda r: r["instock"] is True)),
    ],
)
def test_prefixed_comparisons(client, catalog, query, expected):
    assert ids_of(rows(client, query)) == expected


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"rating[gt]": "5"}, ids_where(lambda r: r["rating"] > 5)),
        ({"rating[lt]": "1"}, ids_where(lambda r: r["rating"] < 1)),
        ({"rating[gte]": "6"}, ids_where(lambda r: r["rating"] >= 6)),
        ({"rating[lte]": "0"}, ids_where(lambda r: r["rating"] <= 0)),
        ({"rating[eq]": "4"}, ids_where(lambda r: r["rating"] == 4)),
        ({"genre[eq]": "null"}, ids_where(lambda r: r["genre"] is None)),
        ({"title[ilike]": "k 12"}, ids_where(lambda r: "k 12" in r["title"].lower())),
        ({"genre[ilike]": "CRI"}, ids_where(lambda r: r["genre"] == "Crime")),
        # on a number, its text (PostgreSQL has saltapi_casefold overloads for that; SQLite's instr() converts)
        ({"rating[ilike]": "3"}, ids_where(lambda r: r["rating"] is not None and "3" in str(r["rating"]))),
        ({"id[ilike]": "1"}, ids_where(lambda r: "1" in str(r["id"]))),
        ({"rating[in]": "1,3"}, ids_where(lambda r: r["rating"] in (1, 3))),
        ({"genre[in]": "poetry,Crime"}, ids_where(lambda r: r["genre"] in ("poetry", "Crime"))),
        ({"id[in]": "5"}, [5]),
        ({"rating[gte]": "2", "rating[lte]": "3"}, ids_where(lambda r: 2 <= r["rating"] <= 3)),
        ({"nosuch[gt]": "1"}, ids_where(lambda r: True)),
        ({"published[gte]": "2024-02-09"}, ids_where(lambda r: r["published"] >= "2024-02-09")),
    ],
)
def test_operator_objects(client, catalog, query, expected):
    assert ids_of(rows(client, query)) == expected


@pytest.mark.parametrize(
    "query, message",
    [
        ({"rating[like]": "1"}, "rating: Unknown operator [like]; use one of gt, lt, gte, lte, eq, ilike, in"),
        ({"rating[gt]": "x"}, "rating: Must be an integer"),
        ({"rating[in]": "1,x"}, "rating: Must be an integer"),
        ({"_gte_rating": "1.5"}, "rating: Must be an integer"),
        ({"_fromdate_published": "soon"}, "published: Must be a date"),
        ({"_not_shelf": "x"}, "shelf: Must be an integer id"),
        ({"price": "cheap", "instock": "maybe"}, "price: Must be a number, instock: Must be true or false"),
    ],
)
def test_filter_errors_are_400(client, catalog, query, message):
    assert get(client, query, status=400) == {"error": message}
    assert client.get("/api/catalog/count", query_string=query).json == {"error": message}


# _fts and dereference


@pytest.mark.parametrize(
    "term, headers, expected",
    [
        ("sci-FI", None, ids_where(lambda r: r["genre"] == "sci-fi")),
        ("book 12", None, ids_where(lambda r: "book 12" in r["title"].lower())),
        ("basement", None, []),  # shelves are staff-only: their names are not searched for the public
        ("basement", STAFF, ids_where(lambda r: r["shelf"] == 2)),
        ("über", STAFF, ids_where(lambda r: r["shelf"] == 3)),
        ("poetry basement", STAFF, ids_where(lambda r: r["genre"] == "poetry" and r["shelf"] == 2)),
        ("basement poetry", STAFF, []),  # the row's text is its String fields, then the summaries
        ("", None, ids_where(lambda r: True)),
    ],
)
def test_full_text_search(client, catalog, term, headers, expected):
    assert ids_of(rows(client, {"_fts": term}, headers)) == expected


def test_full_text_search_includes_summaries_of_readable_tables_only(client):
    found = rows(client, {"_fts": "melville"}, STAFF, table="patients")
    assert ids_of(found) == [1]


def test_dereference_adds_the_summary(client, catalog):
    found = rows(client, {"dereference": "shelf", "limit": "6"}, STAFF)
    assert [(row["shelf"], row["shelf_name"]) for row in found] == [
        (row["shelf"], SHELF_NAMES.get(row["shelf"])) for row in ROWS[:6]
    ]
    assert list(found[0])[-1] == "shelf_name"


def test_dereference_is_omitted_for_tables_the_caller_may_not_read(client, catalog):
    assert "shelf_name" not in rows(client, {"dereference": "shelf", "limit": "1"})[0]


@pytest.mark.parametrize(
    "query",
    [{"dereference": "title"}, {"dereference": "nosuch"}, {"dereference": ""}],
)
def test_dereference_of_non_keys_is_ignored(client, catalog, query):
    assert list(rows(client, {**query, "limit": "1"}, STAFF)[0]) == list(ROWS[0])


def test_dereference_is_repeatable_and_reaches_users(client):
    found = rows(client, [("dereference", "favbook"), ("dereference", "parent")], STAFF, table="patients")
    assert found[1] == {"id": 2, "name": "Michael Douglas", "favbook": 2, "parent": 1,
                        "favbook_author": "Leo Tolstoy", "parent_name": "Kirk Douglas"}  # fmt: skip
    assert found[0]["parent_name"] is None
    assert rows(client, {"dereference": "owner"}, ADMIN, table="notes")[0]["owner_email"] == "user@foo.com"
    assert "owner_email" not in rows(client, {"dereference": "owner"}, STAFF, table="notes")[0]


# tabulator paging


@pytest.mark.parametrize("page, size", [(1, 10), (2, 10), (14, 10), (15, 10), (1, 137), (3, 50)])
def test_tabulator_pagination_format(client, catalog, page, size):
    answer = get(client, {"tabulator_pagination_format": "true", "page": str(page), "size": str(size)})
    assert answer["last_page"] == math.ceil(ROW_COUNT / size)
    assert ids_of(answer["data"]) == [row["id"] for row in ROWS][(page - 1) * size : page * size]


def test_tabulator_counts_filtered_rows_and_sorts(client, catalog):
    query = {"tabulator_pagination_format": "true", "page": "1", "size": "5", "rating": "2",
             "sort[0][field]": "price", "sort[0][dir]": "desc"}  # fmt: skip
    answer = get(client, query)
    expected = [i for i in sorted_ids("price", True) if ROWS[i - 1]["rating"] == 2]
    assert answer["last_page"] == math.ceil(len(expected) / 5)
    assert ids_of(answer["data"]) == expected[:5]


@pytest.mark.parametrize(
    "query, message",
    [
        ({"page": "0", "size": "5"}, "Invalid page parameter"),
        ({"page": "x", "size": "5"}, "Invalid page parameter"),
        ({"page": "1"}, "Invalid size parameter"),
        ({"page": "1", "size": "0"}, "Invalid size parameter"),
        ({"page": str(2**52), "size": "100"}, "Invalid page parameter"),
    ],
)
def test_tabulator_errors(client, catalog, query, message):
    assert get(client, {**query, "tabulator_pagination_format": "true"}, status=400) == {"error": message}


# count and distinct


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, ROW_COUNT),
        ({"rating": "3"}, len(ids_where(lambda r: r["rating"] == 3))),
        ({"rating": "3", "limit": "2", "offset": "1"}, len(ids_where(lambda r: r["rating"] == 3))),
        ({"_fts": "book 1"}, len(ids_where(lambda r: "book 1" in r["title"].lower()))),
        ({"rating[in]": "1,2", "genre": "null"}, len(ids_where(lambda r: r["rating"] in (1, 2) and r["genre"] is None))),
    ],
)
def test_count(client, catalog, query, expected):
    assert client.get("/api/catalog/count", query_string=query).json == {"success": expected}


@pytest.mark.parametrize(
    "field, expected",
    [
        ("genre", ["Crime", "poetry", "sci-fi"]),
        ("rating", list(range(7))),
        ("instock", [False, True]),
    ],
)
def test_distinct_plain_fields(client, catalog, field, expected):
    assert client.get(f"/api/catalog/distinct/{field}").json == {"success": expected}


def test_distinct_of_a_key_is_an_option_list(client, catalog):
    options = [{"label": "", "value": ""}] + [{"label": s["name"], "value": s["id"]} for s in SHELVES]
    assert client.get("/api/catalog/distinct/shelf", headers=STAFF).json == {"success": options}
    assert client.get("/api/catalog/distinct/shelf").json == {"success": [{"label": "", "value": ""}]}


def test_distinct_of_a_required_key_has_no_empty_option(client, catalog):
    with client.application.app_context():
        load_fixture(get_db(), {"tables": [{"name": "loans", "min_role_read": 100, "fields": [
            {"name": "shelf", "type": "Key", "reftable_name": "shelves", "required": True,
             "attributes": {"summary_field": "name"}}]}]})  # fmt: skip
    response = client.get("/api/loans/distinct/shelf", headers=STAFF)
    assert response.json == {"success": [{"label": s["name"], "value": s["id"]} for s in SHELVES]}


def test_distinct_unknown_field_is_404(client, catalog):
    assert client.get("/api/catalog/distinct/nosuch").status_code == 404
    assert client.get("/api/catalog/distinct/Genre").status_code == 404


# numeric table ids


def test_numeric_table_ids_work_on_the_three_get_routes(app, client, catalog):
    with app.app_context():
        table_id = load_table(get_db(), "catalog").id
    assert ids_of(rows(client, {"limit": "2"}, table=str(table_id))) == [1, 2]
    assert client.get(f"/api/{table_id}/count").json == {"success": ROW_COUNT}
    assert client.get(f"/api/{table_id}/distinct/rating").json == {"success": list(range(7))}
    assert client.get(f"/api/{table_id}/1").status_code == 404
    assert client.post(f"/api/{table_id}", json={"title": "x"}, headers=ADMIN).status_code == 404
    assert client.get("/api/999999/count").status_code == 404


# combinations


def test_filter_sort_fields_paging_dereference_and_approximate_together(client, catalog):
    query = {"title": "BOOK 1", "approximate": "1", "_gte_rating": "2", "sortBy": "rating", "sortDesc": "true",
             "fields": "id,rating,shelf_name", "dereference": "shelf", "limit": "5", "offset": "3"}  # fmt: skip
    matching = [i for i in sorted_ids("rating", True) if "book 1" in ROWS[i - 1]["title"].lower() and ROWS[i - 1]["rating"] >= 2]
    expected = [{"id": i, "rating": ROWS[i - 1]["rating"], "shelf_name": SHELF_NAMES.get(ROWS[i - 1]["shelf"])}
                for i in matching[3:8]]  # fmt: skip
    assert rows(client, query, STAFF) == expected
    count_query = {key: value for key, value in query.items() if key in ("title", "approximate", "_gte_rating")}
    assert client.get("/api/catalog/count", query_string=count_query).json == {"success": len(matching)}


# indexes


@pytest.mark.sqlite_only  # reads SQLite's EXPLAIN QUERY PLAN; PostgreSQL gets the same indexes from the same DDL
@pytest.mark.parametrize("query", [{"id": "5"}, {"shelf": "2"}, {"name": "Attic"}])
def test_filters_on_ids_keys_and_unique_fields_use_an_index(app, catalog, query):
    table_name = "shelves" if "name" in query else "catalog"
    with app.app_context():
        db = get_db()
        table = load_table(db, table_name)
        sql, params = build_select(table, parse_read(db, table, MultiDict(query), lambda name: True).query)
        plan = " | ".join(row["detail"] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "SEARCH" in plan and ("INDEX" in plan or "PRIMARY KEY" in plan), plan
    assert f"SCAN {'_sc_row'}" not in plan, plan


def test_dereference_never_hides_a_field_of_the_same_name(app, client):
    with app.app_context():
        load_fixture(get_db(), {"tables": [
            {"name": "pubs", "min_role_read": 100, "fields": [{"name": "name", "type": "String"}], "rows": [{"id": 1, "name": "Summary"}]},
            {"name": "works", "min_role_read": 100, "fields": [
                {"name": "pub", "type": "Key to pubs", "attributes": {"summary_field": "name"}},
                {"name": "pub_name", "type": "String"}], "rows": [{"id": 1, "pub": 1, "pub_name": "own value"}]}]})  # fmt: skip
    assert rows(client, {"dereference": "pub"}, table="works") == [{"id": 1, "pub": 1, "pub_name": "own value"}]
