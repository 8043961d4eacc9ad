"""Every route x each token place x each role: allowed where docs/api.md §1 says so, 401 elsewhere."""

import pytest

from conftest import TOKENS, bearer
from saltapi.db import get_db
from saltapi.store.connection import transaction
from saltapi.store.metadata import Field, load_table
from saltapi.store.tables import TableDefinition, create_tables
from saltapi.writes import insert_row

ROLE_IDS = {"admin": 1, "staff": 40, "user": 80, "public": 100}
# table -> (min_role_read, min_role_write, a valid new row, a valid partial update)
TABLES = {
    "books": (100, 1, {"author": "Ursula K. Le Guin", "pages": 183}, {"pages": 200}),
    "patients": (40, 1, {"name": "Grace Hopper", "favbook": 2}, {"name": "Kirk D."}),
    "notes": (80, 40, {"title": "a new note"}, {"title": "renamed"}),
}
READ_ROUTES = ("list", "count", "get")
WRITE_ROUTES = ("insert", "update", "delete", "delete_alias")
PLACES = ("header", "query", "body")
CALLERS = [(role, place) for role in ("admin", "staff", "user") for place in PLACES] + [("public", None)]


def send(client, method: str, url: str, body: dict | None, role: str, place: str | None):
    """Make the request with the role's token in the given place (none for the public)."""
    headers, query = {}, {}
    if place == "header":
        headers = bearer(TOKENS[role])
    elif place == "query":
        query = {"access_token": TOKENS[role]}
    elif place == "body":
        body = {**(body or {}), "access_token": TOKENS[role]}
    return client.open(url, method=method, json=body, query_string=query, headers=headers)


def add_row(app, table_name: str, values: dict) -> int:
    with app.app_context():
        db = get_db()
        return insert_row(db, load_table(db, table_name), values)


def request_for(app, table_name: str, route: str):
    """(method, url, body) for a route; delete routes get a fresh row nobody refers to."""
    new_row, update = TABLES[table_name][2:]
    base = f"/api/{table_name}"
    if route in ("delete", "delete_alias"):
        row_id = add_row(app, table_name, new_row)
        return ("DELETE", f"{base}/{row_id}", None) if route == "delete" else ("POST", f"{base}/delete/{row_id}", None)
    return {
        "list": ("GET", base, None),
        "count": ("GET", f"{base}/count", None),
        "get": ("GET", f"{base}/1", None),
        "insert": ("POST", base, new_row),
        "update": ("POST", f"{base}/1", update),
    }[route]


@pytest.mark.parametrize("role, place", CALLERS)
@pytest.mark.parametrize("route", READ_ROUTES + WRITE_ROUTES)
@pytest.mark.parametrize("table_name", TABLES)
def test_role_decides_access(app, client, snapshot, table_name, route, role, place):
    min_role_read, min_role_write = TABLES[table_name][:2]
    method, url, body = request_for(app, table_name, route)
    caller = "public" if method == "GET" and place == "body" else role  # a GET's body is never read (issue 12)
    allowed = ROLE_IDS[caller] <= (min_role_read if route in READ_ROUTES else min_role_write)
    before = snapshot()

    response = send(client, method, url, body, role, place)

    if allowed:
        assert response.status_code == 200, response.json
        assert set(response.json) == {"success"}
        assert (snapshot() == before) == (route in READ_ROUTES)
    else:
        assert response.status_code == 401
        assert response.json == {"error": "Not authorized"}
        assert snapshot() == before


def test_allowed_reads_answer_the_rows(client):
    rows = client.get("/api/patients", headers=bearer(TOKENS["staff"])).json["success"]
    assert rows == [
        {"id": 1, "name": "Kirk Douglas", "favbook": 1, "parent": None},
        {"id": 2, "name": "Michael Douglas", "favbook": 2, "parent": 1},
    ]
    assert client.get("/api/patients/count", query_string={"access_token": TOKENS["admin"]}).json == {"success": 2}
    # A GET's body is never read (issue 12), so a token there is not seen: the caller is the public.
    assert client.get("/api/patients/2", json={"access_token": TOKENS["staff"]}).status_code == 401


def test_allowed_writes_do_what_they_say(client):
    auth = bearer(TOKENS["staff"])
    new_id = client.post("/api/notes", json={"title": "x", "owner": 2}, headers=auth).json["success"]
    assert client.get(f"/api/notes/{new_id}", headers=auth).json["success"] == {"id": new_id, "title": "x", "owner": 2}

    assert client.post(f"/api/notes/{new_id}", json={"title": "y"}, headers=auth).json == {"success": True}
    assert client.get(f"/api/notes/{new_id}", headers=auth).json["success"] == {"id": new_id, "title": "y", "owner": 2}

    assert client.delete(f"/api/notes/{new_id}", headers=auth).json == {"success": True}
    assert client.get(f"/api/notes/{new_id}", headers=auth).status_code == 404


def test_body_token_is_never_stored(client):
    response = client.post("/api/notes", data={"title": "from a form", "access_token": TOKENS["staff"]})
    assert response.status_code == 200
    row = client.get(f"/api/notes/{response.json['success']}", headers=bearer(TOKENS["staff"])).json["success"]
    assert row == {"id": response.json["success"], "title": "from a form", "owner": None}


@pytest.mark.parametrize(
    "header",
    ["Bearer staff-token-0002", "bearer staff-token-0002", "BEARER   staff-token-0002  "],
)
def test_bearer_scheme_is_case_insensitive(client, header):
    assert client.get("/api/patients", headers={"Authorization": header}).status_code == 200


def test_other_authorization_schemes_are_ignored(client):
    basic = {"Authorization": "Basic YWRtaW5AZm9vLmNvbTpwdw=="}
    assert client.get("/api/books", headers=basic).status_code == 200
    assert client.get("/api/patients", headers=basic).json == {"error": "Not authorized"}


def test_users_table_shows_no_secrets(client):
    response = client.get("/api/users", headers=bearer(TOKENS["admin"]))
    assert response.json["success"][0] == {"id": 1, "email": "admin@foo.com", "role_id": 1}
    assert all(set(row) == {"id", "email", "role_id"} for row in response.json["success"])
    assert client.get("/api/users", headers=bearer(TOKENS["staff"])).status_code == 401


def test_access_token_is_never_a_column_even_when_a_field_has_that_name(app, client):
    with app.app_context():
        db = get_db()
        with transaction(db):
            fields = (Field(name="access_token", label="Token", type="String"), Field(name="note", label="Note", type="String"))
            create_tables(db, [TableDefinition(name="vault", fields=fields, min_role_read=40, min_role_write=40)])

    new_id = client.post("/api/vault", json={"note": "n", "access_token": TOKENS["staff"]}).json["success"]
    row = client.get(f"/api/vault/{new_id}", query_string={"access_token": TOKENS["staff"]}).json["success"]
    assert row == {"id": new_id, "access_token": None, "note": "n"}
    assert client.post(f"/api/vault/{new_id}", data={"access_token": TOKENS["staff"], "note": "m"}).json == {"success": True}
    assert client.get("/api/vault/count", headers=bearer(TOKENS["staff"])).json == {"success": 1}
