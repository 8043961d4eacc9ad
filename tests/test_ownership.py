"""Row ownership (docs/api.md §7a): route by route, for an owner, another user, staff, admin and the public, with the
token in each of its three places and through a browser session; metadata, fixtures and packs.

`tickets` (staff read and write) is owned through its `owner` field; `diary` lets users write but only admins
read, so users reach its existing rows only as owners. User 3 (user@foo.com) and user 5 (other@foo.com) are
plain users (role 80).
"""

import concurrent.futures
import json
import threading
import urllib.parse
import warnings

import pytest
import requests
from openapi_spec_validator import validate

with warnings.catch_warnings():  # as in test_pysaltcorn.py: pysaltcorn imports the deprecated cgi module
    warnings.filterwarnings("ignore", message="'cgi' is deprecated", category=DeprecationWarning)
    from pysaltcorn import SaltcornAuthError, SaltcornClient, SaltcornTransportError

from conftest import (
    PASSWORDS,
    TOKENS,
    WebActions,
    bearer,
    checkpoint,
    copy_database,
    csrf_from,
    drop_database,
    running_server,
)  # fmt: skip
from saltapi.db import get_db
from saltapi.fixtures import FixtureError, dump_fixture, load_fixture
from saltapi.store.connection import connect
from saltapi.store.metadata import load_table
from saltapi.store.rows import Query, build_count, build_delete, build_distinct, build_get, build_update, owned_by
from saltapi.store.tables import DefinitionError, delete_field, drop_table, set_table_settings

OWNER, OTHER = 3, 5
TOKENS = {**TOKENS, "other": "other-token-0005"}
OTHER_PASSWORD = "Oth3rPassw0rd!"
TICKETS = [
    {"id": 1, "title": "user's first", "pages": 10, "book": 1, "owner": OWNER},
    {"id": 2, "title": "other's", "pages": 20, "book": 2, "owner": OTHER},
    {"id": 3, "title": "user's second", "pages": 30, "book": None, "owner": OWNER},
    {"id": 4, "title": "admin's", "pages": 40, "book": 1, "owner": 1},
    {"id": 5, "title": "nobody's", "pages": 50, "book": None, "owner": None},
]
TICKETS_IDS = [row["id"] for row in TICKETS]
DIARY = [{"id": 1, "text": "dear diary", "owner": OWNER}, {"id": 2, "text": "other's diary", "owner": OTHER}]
OWNED = {
    "users": [
        {"id": OTHER, "email": "other@foo.com", "password": OTHER_PASSWORD, "role_id": 80, "api_token": TOKENS["other"]}
    ],
    "tables": [
        {
            "name": "tickets", "min_role_read": 40, "min_role_write": 40, "ownership_field_name": "owner",
            "fields": [
                {"name": "title", "label": "Title", "type": "String", "required": True},
                {"name": "pages", "label": "Pages", "type": "Integer", "attributes": {"min": 0}},
                {"name": "book", "label": "Book", "type": "Key", "reftable_name": "books",
                 "attributes": {"summary_field": "author"}},
                {"name": "owner", "label": "Owner", "type": "Key", "reftable_name": "users",
                 "attributes": {"summary_field": "email"}},
            ],
            "rows": TICKETS,
        },
        {
            "name": "diary", "min_role_read": 1, "min_role_write": 80, "ownership_field_name": "owner",
            "fields": [
                {"name": "text", "label": "Text", "type": "String"},
                {"name": "owner", "label": "Owner", "type": "Key", "reftable_name": "users"},
            ],
            "rows": DIARY,
        },
    ],
}  # fmt: skip
ROLES = ("owner", "other", "staff", "admin", "public")
WHO = {"owner": "user", "other": "other", "staff": "staff", "admin": "admin"}
PLACES = ("header", "query", "body")
READ_PLACES = ("header", "query")  # a GET's body is never read
NOT_FOUND = {"error": "Not found"}
NOT_AUTHORIZED = {"error": "Not authorized"}


def visible(role: str, rows: list[dict]) -> list[dict]:
    """The rows of `tickets` a role reads: staff and admin all, a user only their own, the public none."""
    if role in ("staff", "admin"):
        return rows
    return [row for row in rows if row["owner"] == {"owner": OWNER, "other": OTHER}[role]]


@pytest.fixture(scope="module")
def owned_template(template_db, tmp_path_factory):
    database = copy_database(template_db, tmp_path_factory.mktemp("owned") / "owned.sqlite")
    db = connect(database)
    try:
        load_fixture(db, OWNED)
    finally:
        db.close()
    checkpoint(database)
    return database


@pytest.fixture
def db_path(owned_template, tmp_path):
    """Overrides conftest's: this module's tests start from tests/data.json plus OWNED."""
    database = copy_database(owned_template, tmp_path / "saltapi.sqlite")
    yield database
    drop_database(database)


def send(client, method: str, url: str, role: str, place: str = "header", body: dict | None = None, **query):
    """The request with the role's token in `place` (none for the public)."""
    headers = {}
    if role != "public":
        token = TOKENS[WHO[role]]
        if place == "header":
            headers = bearer(token)
        elif place == "query":
            query["access_token"] = token
        else:
            body = {**(body or {}), "access_token": token}
    return client.open(url, method=method, json=body, query_string=query, headers=headers)


def rows_of(db_path, table: str) -> list[dict]:
    db = connect(db_path)
    try:
        return [dict(row) for row in db.execute(f'SELECT * FROM "{table}" ORDER BY id')]
    finally:
        db.close()


# Reads


@pytest.mark.parametrize("place", READ_PLACES)
@pytest.mark.parametrize("role", ROLES)
def test_list_count_and_get_see_only_the_callers_rows(client, role, place):
    listed = send(client, "GET", "/api/tickets", role, place)
    counted = send(client, "GET", "/api/tickets/count", role, place)
    if role == "public":
        assert (listed.status_code, listed.json) == (401, NOT_AUTHORIZED)
        assert (counted.status_code, counted.json) == (401, NOT_AUTHORIZED)
        return
    mine = visible(role, TICKETS)
    assert (listed.status_code, listed.json) == (200, {"success": mine})
    assert (counted.status_code, counted.json) == (200, {"success": len(mine)})
    for row in TICKETS:
        got = send(client, "GET", f"/api/tickets/{row['id']}", role, place)
        expected = (200, {"success": row}) if row in mine else (404, NOT_FOUND)
        assert (got.status_code, got.json) == expected
    missing = send(client, "GET", "/api/tickets/999", role, place)
    assert (missing.status_code, missing.json) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    "query, ids",
    [
        ({"sortBy": "pages", "sortDesc": "true"}, [3, 1]),
        ({"limit": "1"}, [1]),
        ({"limit": "1", "offset": "1"}, [3]),
        ({"offset": "1"}, [3]),
        ({"title": "other's"}, []),
        ({"owner": str(OTHER)}, []),
        ({"_gte_pages": "20"}, [3]),
        ({"_fts": "second"}, [3]),
        ({"id": ["1", "2", "4"]}, [1]),
    ],
)
def test_an_owners_query_works_within_their_rows(client, query, ids):
    response = send(client, "GET", "/api/tickets", "owner", **query)
    assert response.status_code == 200, response.json
    assert [row["id"] for row in response.json["success"]] == ids
    counted = send(client, "GET", "/api/tickets/count", "owner", **query)
    expected_count = len(ids) if "limit" not in query and "offset" not in query else 2
    assert counted.json == {"success": expected_count}


def test_fields_and_dereference_work_for_an_owner(client):
    response = send(client, "GET", "/api/tickets", "owner", fields="title,book_author", dereference="book")
    assert response.json == {
        "success": [{"title": "user's first", "book_author": "Herman Melville"}, {"title": "user's second", "book_author": None}]
    }


@pytest.mark.parametrize("page, data_ids", [(1, [1]), (2, [3]), (3, [])])
def test_tabulator_last_page_counts_only_the_owners_rows(client, page, data_ids):
    response = send(client, "GET", "/api/tickets", "owner", tabulator_pagination_format="true", page=page, size=1)
    assert response.json["last_page"] == 2
    assert [row["id"] for row in response.json["data"]] == data_ids


@pytest.mark.parametrize("role", ROLES)
def test_distinct_covers_only_the_callers_rows(client, role):
    response = send(client, "GET", "/api/tickets/distinct/pages", role)
    if role == "public":
        assert (response.status_code, response.json) == (401, NOT_AUTHORIZED)
    else:
        assert response.json == {"success": sorted(row["pages"] for row in visible(role, TICKETS))}


def test_distinct_of_the_owner_key_lists_users_only_for_who_may_read_them(client):
    """A Key's options list the referenced table, under that table's own rule: users are admin-only."""
    assert send(client, "GET", "/api/tickets/distinct/owner", "owner").json == {"success": [{"label": "", "value": ""}]}
    options = send(client, "GET", "/api/tickets/distinct/owner", "admin").json["success"]
    assert {"label": "other@foo.com", "value": OTHER} in options


def test_the_users_table_has_no_ownership(client):
    assert send(client, "GET", "/api/users", "owner").status_code == 401
    response = send(client, "POST", f"/api/users/{OWNER}", "owner", body={"email": "x@foo.com"})
    assert (response.status_code, response.json) == (400, {"error": "The users table is read-only through the API"})


# Inserts


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("owner_value", [OWNER, str(OWNER), {"id": OWNER}])
def test_an_owner_inserts_rows_that_name_them(client, db_path, place, owner_value):
    response = send(client, "POST", "/api/tickets", "owner", place, body={"title": "new", "owner": owner_value})
    assert (response.status_code, response.json) == (200, {"success": 6})
    assert rows_of(db_path, "tickets")[-1] == {"id": 6, "title": "new", "pages": None, "book": None, "owner": OWNER}


@pytest.mark.parametrize(
    "body, error",
    [
        ({"title": "new"}, "Not authorized"),  # the owner is never filled in
        ({"title": "new", "owner": None}, "Not authorized"),
        ({"title": "new", "owner": ""}, "Not authorized"),
        ({"title": "new", "owner": OTHER}, "Not authorized"),
        ({"title": "new", "owner": 999}, "Not authorized"),
        ({"pages": -1, "owner": OTHER}, "pages: Must be 0 or higher, title: required"),  # validation comes first
        ({"title": "new", "owner": "me"}, "owner: Must be an integer id"),
    ],
)
@pytest.mark.parametrize("place", PLACES)
def test_an_owners_insert_must_name_them(client, snapshot, place, body, error):
    before = snapshot()
    response = send(client, "POST", "/api/tickets", "owner", place, body=body)
    assert (response.status_code, response.json) == (400, {"error": error})
    assert snapshot() == before


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_the_write_role_inserts_for_anyone(client, db_path, role):
    for owner in (OTHER, None):
        response = send(client, "POST", "/api/tickets", role, body={"title": "for someone", "owner": owner})
        assert response.status_code == 200, response.json
    assert [row["owner"] for row in rows_of(db_path, "tickets")[-2:]] == [OTHER, None]


def test_the_public_owns_nothing(client, snapshot):
    """Even a body naming no owner, on a table the public may not write, stays 401."""
    before = snapshot()
    for method, url in [("POST", "/api/tickets"), ("POST", "/api/tickets/5"), ("DELETE", "/api/tickets/5")]:
        response = send(client, method, url, "public", body={"title": "x"})
        assert (response.status_code, response.json) == (401, NOT_AUTHORIZED)
    assert snapshot() == before


# Updates and deletes

DELETES = [("DELETE", "/api/{table}/{id}"), ("POST", "/api/{table}/delete/{id}")]


@pytest.mark.parametrize("place", PLACES)
def test_an_owner_updates_and_deletes_their_rows(client, db_path, place):
    response = send(client, "POST", "/api/tickets/1", "owner", place, body={"title": "renamed", "owner": OWNER})
    assert (response.status_code, response.json) == (200, {"success": True})
    response = send(client, "POST", "/api/tickets/3", "owner", place, body={"pages": 31})
    assert (response.status_code, response.json) == (200, {"success": True})
    assert [(row["title"], row["pages"]) for row in rows_of(db_path, "tickets")[:3:2]] == [("renamed", 10), ("user's second", 31)]
    for (method, url), row_id in zip(DELETES, (1, 3)):
        response = send(client, method, url.format(table="tickets", id=row_id), "owner", place)
        assert (response.status_code, response.json) == (200, {"success": True})
    assert [row["id"] for row in rows_of(db_path, "tickets")] == [2, 4, 5]


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("row_id", [2, 4, 5, 999])  # another user's, the admin's, nobody's, missing
@pytest.mark.parametrize("table", ["tickets", "diary"])
def test_others_rows_and_missing_rows_are_not_found_alike(client, snapshot, table, row_id, place):
    """The same 404 whether the row is someone else's or absent, so an owner cannot probe for ids."""
    before = snapshot()
    attempts = [("POST", f"/api/{table}/{row_id}", {"owner": OWNER})]
    attempts += [(method, url.format(table=table, id=row_id), None) for method, url in DELETES]
    for method, url, body in attempts:
        response = send(client, method, url, "owner", place, body=body)
        assert (response.status_code, response.json) == (404, NOT_FOUND)
    assert snapshot() == before


@pytest.mark.parametrize(
    "body, status, error",
    [
        ({"owner": OTHER}, 400, "Not authorized"),
        ({"owner": None}, 400, "Not authorized"),  # a row is never orphaned
        ({"owner": ""}, 400, "Not authorized"),
        ({"title": "mine still", "owner": 999}, 400, "Not authorized"),
        ({"pages": "x", "owner": OTHER}, 400, "pages: Must be an integer"),  # validation comes first
        ({"id": 2}, 400, "id: Cannot be changed"),
    ],
)
def test_an_owner_cannot_give_a_row_away(client, snapshot, body, status, error):
    before = snapshot()
    response = send(client, "POST", "/api/tickets/1", "owner", body=body)
    assert (response.status_code, response.json) == (status, {"error": error})
    assert snapshot() == before


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_the_write_role_with_the_read_role_changes_any_row(client, db_path, role):
    assert send(client, "POST", "/api/tickets/2", role, body={"owner": None}).json == {"success": True}
    assert send(client, "DELETE", "/api/tickets/4", role).json == {"success": True}
    assert [(row["id"], row["owner"]) for row in rows_of(db_path, "tickets")] == [
        (1, OWNER), (2, None), (3, OWNER), (5, None)
    ]  # fmt: skip


def test_the_write_role_without_the_read_role_is_owner_checked(client, db_path):
    """`diary`: users may write, only admins read. A user inserts for anyone (the write role), reads only their
    own rows, and updates or deletes only those: symmetric rules where Saltcorn checks updates only."""
    assert send(client, "GET", "/api/diary", "owner").json == {"success": [DIARY[0]]}
    assert send(client, "POST", "/api/diary", "owner", body={"text": "for other", "owner": OTHER}).json == {"success": 3}
    assert send(client, "POST", "/api/diary/1", "owner", body={"text": "edited"}).json == {"success": True}
    assert send(client, "POST", "/api/diary/1", "owner", body={"owner": OTHER}).json == NOT_AUTHORIZED
    assert send(client, "DELETE", "/api/diary/3", "owner").json == NOT_FOUND  # the row it gave away
    assert send(client, "DELETE", "/api/diary/1", "owner").json == {"success": True}
    assert rows_of(db_path, "diary") == [DIARY[1], {"id": 3, "text": "for other", "owner": OTHER}]


def test_without_an_owner_field_a_weak_role_stays_unauthorized(app, client, snapshot):
    with app.app_context():
        db = get_db()
        set_table_settings(db, load_table(db, "tickets").id, 40, 40, None)
    before = snapshot()
    for method, url in [("GET", "/api/tickets"), ("GET", "/api/tickets/1"), ("POST", "/api/tickets/1")]:
        response = send(client, method, url, "owner", body={"title": "x"} if method == "POST" else None)
        assert (response.status_code, response.json) == (401, NOT_AUTHORIZED)
    assert snapshot() == before


# A browser session: the same rules, with the CSRF token on writes


@pytest.fixture
def signed_in(client) -> WebActions:
    web = WebActions(client)
    assert web.login("user").status_code == 302
    return web


def test_a_signed_in_owner_reads_their_rows(signed_in):
    assert signed_in.client.get("/api/tickets").json == {"success": visible("owner", TICKETS)}
    assert signed_in.client.get("/api/tickets/2").status_code == 404


def test_a_signed_in_owners_writes_need_the_csrf_token(signed_in, db_path, snapshot):
    client = signed_in.client
    before = snapshot()
    response = client.post("/api/tickets", json={"title": "via session", "owner": OWNER})
    assert (response.status_code, response.json) == (403, {"error": "CSRF token missing or invalid"})
    assert snapshot() == before
    csrf = {"X-CSRF-Token": signed_in.csrf()}
    assert client.post("/api/tickets", json={"title": "via session", "owner": OWNER}, headers=csrf).json == {"success": 6}
    assert client.post("/api/tickets", json={"title": "x", "owner": OTHER}, headers=csrf).json == NOT_AUTHORIZED
    assert client.post("/api/tickets/2", json={"title": "x"}, headers=csrf).json == NOT_FOUND
    assert client.delete("/api/tickets/2", headers=csrf).json == NOT_FOUND
    assert client.delete("/api/tickets/6", headers=csrf).json == {"success": True}
    assert rows_of(db_path, "tickets") == [{**row} for row in TICKETS]


# Metadata: fixtures, packs and schema changes


def test_a_dump_carries_the_ownership_field_and_loads_back(loaded_db):
    dumped = dump_fixture(loaded_db)
    tables = {table["name"]: table for table in dumped["tables"]}
    assert tables["tickets"]["ownership_field_name"] == "owner"
    assert "ownership_field_name" not in tables["books"]
    load_fixture(loaded_db, dumped, replace=True)
    assert load_table(loaded_db, "tickets").owner_field == "owner"


@pytest.mark.parametrize(
    "change, error",
    [
        ({"ownership_field_name": "title"}, "Table t: the ownership field must be one of its Keys to users, not 'title'"),
        ({"ownership_field_name": "missing"}, "Table t: the ownership field must be one of its Keys to users, not 'missing'"),
        ({"ownership_field_name": "book"}, "Table t: the ownership field must be one of its Keys to users, not 'book'"),
        (
            {"ownership_formula": "user.id === owner"},
            "Table t: ownership_formula is not supported (saltapi does not evaluate formulas);"
            " name a Key to users in ownership_field_name instead",
        ),
    ],
)
def test_a_fixture_with_a_bad_ownership_is_refused(fresh_db, change, error):
    table = {
        "name": "t",
        "fields": [
            {"name": "title", "type": "String"},
            {"name": "book", "type": "Key", "reftable_name": "t"},
            {"name": "owner", "type": "Key to users"},
        ],
        **change,
    }
    with pytest.raises(FixtureError) as excinfo:
        load_fixture(fresh_db, {"tables": [table]})
    assert str(excinfo.value) == error
    assert fresh_db.execute("SELECT count(*) FROM _sc_tables").fetchone()[0] == 0


def test_a_saltcorn_pack_with_null_ownership_keys_loads(fresh_db):
    pack = {"name": "t", "ownership_field_id": None, "ownership_field_name": None, "ownership_formula": None,
            "fields": [{"name": "owner", "type": "Key to users"}]}  # fmt: skip
    load_fixture(fresh_db, {"tables": [pack]})
    assert load_table(fresh_db, "t").owner_field is None


def test_deleting_the_owner_field_ends_the_ownership(loaded_db):
    table = load_table(loaded_db, "tickets")
    delete_field(loaded_db, table.id, "owner")
    assert load_table(loaded_db, "tickets").owner_field is None
    assert loaded_db.execute("SELECT count(*) FROM _sc_table_owners WHERE table_id = ?", (table.id,)).fetchone()[0] == 0


def test_dropping_an_owned_table_leaves_no_ownership_behind(loaded_db):
    drop_table(loaded_db, load_table(loaded_db, "diary").id)
    assert [row[0] for row in loaded_db.execute("SELECT table_id FROM _sc_table_owners")] == [
        load_table(loaded_db, "tickets").id
    ]


@pytest.mark.parametrize("field_name", ["title", "book", "nope"])
def test_only_a_key_to_users_can_be_the_owner_field(loaded_db, field_name):
    table = load_table(loaded_db, "tickets")
    with pytest.raises(DefinitionError):
        set_table_settings(loaded_db, table.id, 40, 40, field_name)
    assert load_table(loaded_db, "tickets").owner_field == "owner"


# The web UI: the settings page names the owner field; the rows pages follow the API's rules


def table_id(db_path, name: str) -> int:
    db = connect(db_path)
    try:
        return load_table(db, name).id
    finally:
        db.close()


def test_the_settings_page_offers_the_keys_to_users(admin, db_path):
    page = admin.client.get(f"/table/{table_id(db_path, 'tickets')}").text
    select = page[page.index('<select id="owner_field"') : page.index("</select>", page.index('id="owner_field"'))]
    assert '<option value="">None</option>' in select
    assert '<option value="owner" selected>owner</option>' in select
    assert "book" not in select and "title" not in select


@pytest.mark.parametrize("chosen, owner_field", [("", None), ("owner", "owner")])
def test_saving_the_settings_sets_the_ownership(admin, db_path, chosen, owner_field):
    url = f"/table/{table_id(db_path, 'tickets')}/settings"
    response = admin.post(url, {"min_role_read": "40", "min_role_write": "40", "owner_field": chosen})
    assert response.status_code == 302
    db = connect(db_path)
    assert load_table(db, "tickets").owner_field == owner_field
    db.close()


def test_the_settings_refuse_a_field_that_is_no_key_to_users(admin, db_path):
    url = f"/table/{table_id(db_path, 'tickets')}/settings"
    response = admin.post(url, {"min_role_read": "1", "min_role_write": "1", "owner_field": "book"})
    assert response.status_code == 400
    assert "the ownership field must be one of its Keys to users, not &#39;book&#39;" in response.text
    db = connect(db_path)
    table = load_table(db, "tickets")
    db.close()
    assert (table.min_role_read, table.owner_field) == (40, "owner")  # nothing was saved


def test_the_home_page_counts_only_the_owners_rows(signed_in):
    page = signed_in.client.get("/").text
    row = page[page.index(">tickets</a>") :].split("</tr>")[0]
    assert '<td class="num">2 <span class="muted">(yours)</span></td>' in row


def test_the_rows_page_lists_only_the_owners_rows(signed_in, db_path):
    page = signed_in.client.get(f"/table/{table_id(db_path, 'tickets')}/rows").text
    assert "user&#39;s first" in page and "user&#39;s second" in page
    assert "other&#39;s" not in page and "admin&#39;s" not in page and "nobody&#39;s" not in page


def test_the_rows_pages_change_only_the_owners_rows(signed_in, db_path):
    rows_url = f"/table/{table_id(db_path, 'tickets')}/rows"
    assert signed_in.client.get(f"{rows_url}/2").status_code == 404
    assert signed_in.post(f"{rows_url}/2", {"f.title": "taken"}).status_code == 404
    signed_in.post(f"{rows_url}/2/delete")
    assert signed_in.post(f"{rows_url}/1", {"f.title": "edited", "f.owner": str(OWNER)}).status_code == 302
    given_away = signed_in.post(f"{rows_url}/3", {"f.title": "user's second", "f.owner": str(OTHER)})
    assert given_away.status_code == 400 and "Not authorized" in given_away.text
    new_form = signed_in.client.get(f"{rows_url}/new").text
    assert f'value="{OWNER}"' in new_form  # the form suggests the user as owner
    assert signed_in.post(f"{rows_url}/new", {"f.title": "added", "f.owner": str(OWNER)}).status_code == 302
    refused = signed_in.post(f"{rows_url}/new", {"f.title": "for other", "f.owner": str(OTHER)})
    assert refused.status_code == 400 and "Not authorized" in refused.text
    assert signed_in.post(f"{rows_url}/3/delete").status_code == 302
    assert [(row["id"], row["title"], row["owner"]) for row in rows_of(db_path, "tickets")] == [
        (1, "edited", OWNER), (2, "other's", OTHER), (4, "admin's", 1), (5, "nobody's", None), (6, "added", OWNER)
    ]  # fmt: skip


# The OpenAPI document tells each caller what ownership lets them do


def document(client, role: str) -> dict:
    response = send(client, "GET", "/api/openapi.json", role)
    assert response.status_code == 200, response.json
    validate(response.json)
    return response.json


def descriptions(doc: dict, table: str) -> dict[str, str]:
    """operationId -> description, for the operations of one table."""
    return {
        operation["operationId"]: operation["description"]
        for path, item in doc["paths"].items()
        if path.split("/")[2] == table
        for method, operation in item.items()
        if method != "parameters"
    }


READ_NOTE = "Ownership: you see only the rows whose `owner` is your user id ({me}); the others are neither listed nor counted."
ONE_NOTE = "Ownership: only a row whose `owner` is your user id ({me}); another's row is a 404, as a missing one."
INSERT_NOTE = "Ownership: the body must give `owner` your user id ({me}); omitted, null or another id is a 400 `Not authorized`."
CHANGE_NOTE = "Ownership: only rows whose `owner` is your user id ({me}); another's row is a 404"


@pytest.mark.parametrize("role, me", [("owner", OWNER), ("other", OTHER)])
def test_an_owner_only_callers_document_says_what_ownership_lets_them_do(client, role, me):
    doc = document(client, role)
    tickets = descriptions(doc, "tickets")
    assert set(tickets) == {
        "tickets.list", "tickets.count", "tickets.distinct", "tickets.read", "tickets.insert", "tickets.update",
        "tickets.delete", "tickets.deleteByPost",
    }  # fmt: skip
    for kind in ("list", "count"):
        assert tickets[f"tickets.{kind}"].endswith(READ_NOTE.format(me=me))
    assert tickets["tickets.read"].endswith(ONE_NOTE.format(me=me))
    assert tickets["tickets.insert"].endswith(INSERT_NOTE.format(me=me))
    for kind in ("update", "delete", "deleteByPost"):
        assert CHANGE_NOTE.format(me=me) in tickets[f"tickets.{kind}"]
    diary = descriptions(doc, "diary")
    assert "Ownership" not in diary["diary.insert"]  # users may write diary rows: no owner check on inserts
    assert CHANGE_NOTE.format(me=me) in diary["diary.update"] and READ_NOTE.format(me=me) in diary["diary.list"]
    assert "ownership field `owner`" in next(tag["description"] for tag in doc["tags"] if tag["name"] == "tickets")


def test_staff_reach_every_ticket_and_only_their_own_diary_rows(client):
    doc = document(client, "staff")
    assert not any("Ownership" in text for text in descriptions(doc, "tickets").values())
    diary = descriptions(doc, "diary")
    assert READ_NOTE.format(me=2) in diary["diary.list"] and "Ownership" not in diary["diary.insert"]


def test_the_public_document_has_no_owned_table(client):
    doc = document(client, "public")
    assert not any(path.startswith(("/api/tickets", "/api/diary")) for path in doc["paths"])
    assert "Ownership:" not in json.dumps(doc)


# Over HTTP against `python app.py`: pysaltcorn, and two users racing each other


@pytest.fixture(scope="module")
def owned_server(owned_template, tmp_path_factory):
    """A server of its own on a copy of this module's data; the tests below put back what they change."""
    directory = tmp_path_factory.mktemp("owned-live")
    database = copy_database(owned_template, directory / "owned.sqlite")
    with running_server(database, directory / "server.log") as server:
        yield server


def pysaltcorn_client(server, who: str) -> SaltcornClient:
    """A pysaltcorn client with the API token as the URL's password, for user `token` (its default user)."""
    parts = urllib.parse.urlsplit(server.url)
    netloc = f"token:{urllib.parse.quote(TOKENS[WHO[who]], safe='')}@{parts.netloc}"
    return SaltcornClient(parts._replace(netloc=netloc).geturl())


def refusal(excinfo) -> tuple[int, dict]:
    response = excinfo.value.__cause__.response
    return response.status_code, response.json()


def test_pysaltcorn_reads_and_writes_an_owners_rows(owned_server):
    client = pysaltcorn_client(owned_server, "owner")
    assert client.row_list("tickets") == visible("owner", TICKETS)
    assert client.row_list("tickets", sortBy="pages", sortDesc="true", limit=1) == [TICKETS[2]]
    assert client.field_distinct_values("tickets", "pages", timeout=10) == [10, 30]
    new_id = client.row_insert("tickets", {"title": "via pysaltcorn", "owner": OWNER})
    assert client.row_update("tickets", {"id": new_id, "pages": 7}) is True
    assert client.row_list("tickets", id=new_id) == [{"id": new_id, "title": "via pysaltcorn", "pages": 7, "book": None, "owner": OWNER}]
    assert client.row_delete("tickets", new_id) is True
    assert client.row_list("tickets") == visible("owner", TICKETS)


@pytest.mark.parametrize(
    "call, answer",
    [
        (lambda client: client.row_insert("tickets", {"title": "x", "owner": OTHER}), (400, NOT_AUTHORIZED)),
        (lambda client: client.row_insert("tickets", {"title": "x"}), (400, NOT_AUTHORIZED)),
        (lambda client: client.row_update("tickets", {"id": 2, "title": "x"}), (404, NOT_FOUND)),
        (lambda client: client.row_update("tickets", {"id": 1, "owner": None}), (400, NOT_AUTHORIZED)),
        (lambda client: client.row_delete("tickets", 2), (404, NOT_FOUND)),
        (lambda client: client.row_delete("tickets", 999), (404, NOT_FOUND)),
    ],
)
def test_pysaltcorn_meets_the_ownership_refusals(owned_server, call, answer):
    with pytest.raises(SaltcornTransportError) as excinfo:
        call(pysaltcorn_client(owned_server, "owner"))
    assert refusal(excinfo) == answer
    assert pysaltcorn_client(owned_server, "admin").row_list("tickets") == TICKETS


def test_pysaltcorn_through_a_session_follows_ownership(owned_server):
    client = SaltcornClient(owned_server.url, csrf_fixup=True)
    client.login_session("other@foo.com", OTHER_PASSWORD)
    assert client.row_list("tickets") == visible("other", TICKETS)
    new_id = client.row_insert("tickets", {"title": "other's session row", "owner": OTHER})
    assert client.row_update("tickets", {"id": new_id, "pages": 1}) is True
    with pytest.raises(SaltcornTransportError) as excinfo:
        client.row_update("tickets", {"id": 1, "title": "taken"})
    assert refusal(excinfo) == (404, NOT_FOUND)
    # pysaltcorn sends its CSRF token with POST only, so its DELETE through a session is refused (403, docs/api.md §3).
    assert pysaltcorn_client(owned_server, "other").row_delete("tickets", new_id) is True
    with pytest.raises(SaltcornAuthError):
        SaltcornClient(owned_server.url).row_list("tickets")  # pysaltcorn's default: an empty token, 401


RACE_ROWS = 120
RACERS = {"owner": OWNER, "other": OTHER}


def race(url: str, who: str, ids: list[int], start: threading.Barrier) -> list[tuple[int, str, int]]:
    """One user's pass over every row, theirs and the other's: rename it, claim it, try to give it away, and delete
    every fourth; returns (row id, action, status) for each request."""
    answers = []
    with requests.Session() as session:
        session.headers.update(bearer(TOKENS[WHO[who]]))
        start.wait()
        for row_id in ids:
            for action, method, path, body in [
                ("rename", "POST", f"/api/tickets/{row_id}", {"title": f"by {who}"}),
                ("claim", "POST", f"/api/tickets/{row_id}", {"title": f"by {who}", "owner": RACERS[who]}),
                ("give", "POST", f"/api/tickets/{row_id}", {"owner": OTHER if who == "owner" else OWNER}),
                *([("delete", "DELETE", f"/api/tickets/{row_id}", None)] if row_id % 4 == 0 else []),
            ]:
                response = session.request(method, url + path, json=body, timeout=30)
                answers.append((row_id, action, response.status_code))
    return answers


def test_two_users_racing_never_touch_each_others_rows(owned_template, tmp_path):
    """Two users, two threads each, go over the same rows at once; whatever the interleaving, each reaches only
    their own rows: every answer and the final table are as if they had taken turns."""
    database = copy_database(owned_template, tmp_path / "race.sqlite")
    with running_server(database, tmp_path / "server.log") as server:
        owners = {}
        for index in range(RACE_ROWS):
            owner = OWNER if index % 2 else OTHER
            response = requests.post(
                f"{server.url}/api/tickets", json={"title": "racing", "owner": owner},
                headers=bearer(TOKENS["admin"]), timeout=30,
            )  # fmt: skip
            owners[response.json()["success"]] = owner
        ids = sorted(owners)
        orders = {("owner", 0): ids, ("owner", 1): ids[::-1], ("other", 0): ids[1::2] + ids[::2],
                  ("other", 1): ids[::-3] + [i for i in ids if i not in ids[::-3]]}  # fmt: skip
        start = threading.Barrier(len(orders))
        with concurrent.futures.ThreadPoolExecutor(len(orders)) as pool:
            futures = {key: pool.submit(race, server.url, key[0], order, start) for key, order in orders.items()}
            answers = {key: future.result() for key, future in futures.items()}
        rows = {row["id"]: row for row in rows_of(database, "tickets")}

    for (who, _), their_answers in answers.items():
        for row_id, action, status in their_answers:
            mine = owners[row_id] == RACERS[who]
            if action == "give":  # refused before the row is even looked for
                assert status == 400, (who, row_id, action, status)
            elif action in ("rename", "claim"):  # one's own row may be gone already, deleted by one's other thread
                expected = ((200, 404) if row_id % 4 == 0 else (200,)) if mine else (404,)
                assert status in expected, (who, row_id, action, status)
            else:
                assert status in ((200, 404) if mine else (404,)), (who, row_id, action, status)
    for row_id, owner in owners.items():
        if row_id % 4 == 0:
            assert row_id not in rows  # deleted by its owner, once
        else:
            owner_name = next(name for name, user_id in RACERS.items() if user_id == owner)
            assert rows[row_id] == {"id": row_id, "title": f"by {owner_name}", "pages": None, "book": None, "owner": owner}
    deletes = [(row_id, status) for their in answers.values() for row_id, action, status in their if action == "delete"]
    assert sorted(row_id for row_id, status in deletes if status == 200) == [i for i in ids if i % 4 == 0]
    assert [row_id for row_id in TICKETS_IDS if row_id not in rows] == []  # the fixture's rows were not touched


def admin_browser(server) -> requests.Session:
    """A requests session signed in to the web UI as the admin, as a browser would be."""
    browser = requests.Session()
    page = browser.get(f"{server.url}/auth/login", timeout=30)
    email, password = PASSWORDS["admin"]
    response = browser.post(
        f"{server.url}/auth/login", data={"email": email, "password": password, "_csrf": csrf_from(page.text)},
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    assert response.status_code == 302
    return browser


def test_every_server_process_sees_a_new_ownership_at_the_next_request(owned_server):
    """Ownership is metadata: a change made through one worker applies in all of them at once."""
    settings = f"{owned_server.url}/table/{table_id(owned_server.db_path, 'tickets')}/settings"
    with admin_browser(owned_server) as browser:
        csrf = csrf_from(browser.get(settings.removesuffix("/settings"), timeout=30).text)
        for owner_field, answer in [("", 401), ("owner", 200)]:
            form = {"min_role_read": "40", "min_role_write": "40", "owner_field": owner_field, "_csrf": csrf}
            assert browser.post(settings, data=form, allow_redirects=False, timeout=30).status_code == 302
            for _ in range(8):  # each on a new connection, which any worker may take: every one must know
                response = requests.get(f"{owned_server.url}/api/tickets", headers=bearer(TOKENS["user"]), timeout=30)
                assert response.status_code == answer


# The owner condition is in the statement itself, so no check before it can go stale


def test_the_builders_put_the_owner_condition_in_the_statement(loaded_db):
    table, mine = load_table(loaded_db, "diary"), owned_by(load_table(loaded_db, "diary"), OWNER)
    assert build_get(table, 7, mine) == ('SELECT "id", "text", "owner" FROM "diary" WHERE "id" = ? AND ("owner" = ?)', [7, OWNER])
    assert build_update(table, 7, {"text": "x"}, mine) == (
        'UPDATE "diary" SET "text" = ? WHERE "id" = ? AND ("owner" = ?)', ["x", 7, OWNER]
    )
    assert build_delete(table, 7, mine) == ('DELETE FROM "diary" WHERE "id" = ? AND ("owner" = ?)', [7, OWNER])
    assert build_distinct(table, "text", mine) == (
        'SELECT DISTINCT "text" FROM "diary" WHERE ("text" IS NOT NULL) AND ("owner" = ?) ORDER BY "text"', [OWNER]
    )
    assert build_count(table, Query(filters=mine)) == ('SELECT count(*) FROM "diary" AS "_sc_row" WHERE ("owner" = ?)', [OWNER])
    assert owned_by(table, None) == ()


def traced(app, client, method: str, path: str, **kwargs) -> list[str]:
    """The statements of a request on a warm process (as tests/test_statements.py counts them), values inlined."""
    client.open(path, method=method, **kwargs)
    db = app.extensions["saltapi_pool"].local.db
    statements = []
    db.set_trace_callback(statements.append)
    try:
        client.open(path, method=method, **kwargs)
    finally:
        db.set_trace_callback(None)
    return [sql for sql in statements if not sql.startswith("-- ")]


TICKET_COLUMNS = 'SELECT "id", "title", "pages", "book", "owner" FROM "tickets"'


@pytest.mark.sqlite_only  # reads SQLite's trace, which shows the values bound into each statement
@pytest.mark.parametrize(
    "method, path, body, owner_statements",
    [
        ("GET", "/api/tickets/1", None, [f'{TICKET_COLUMNS} WHERE "id" = 1 AND ("owner" = 3)']),
        ("GET", "/api/tickets/count", None, ['SELECT count(*) FROM "tickets" AS "_sc_row" WHERE ("owner" = 3)']),
        (
            "POST", "/api/tickets/1", {"pages": 11},
            [f'{TICKET_COLUMNS} WHERE "id" = 1 AND ("owner" = 3)',
             'UPDATE "tickets" SET "pages" = 11 WHERE "id" = 1 AND ("owner" = 3)'],
        ),
        (
            "DELETE", "/api/tickets/2", None,  # another's row: looked for as the caller's, so not found at once
            [f'{TICKET_COLUMNS} WHERE "id" = 2 AND ("owner" = 3)'],
        ),
    ],
)  # fmt: skip
def test_the_owner_condition_is_in_the_statement_that_reads_or_writes(app, client, method, path, body, owner_statements):
    statements = traced(app, client, method, path, json=body, headers=bearer(TOKENS["user"]))
    assert [sql for sql in statements if '"tickets"' in sql] == owner_statements
