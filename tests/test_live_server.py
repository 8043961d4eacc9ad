"""Every API route of docs/api.md §4 over real HTTP, against the session's `python app.py` on tests/data.json.

The server is shared by the whole session, so tests that write make their own rows, and never touch the fixture
rows; `patients` and `publisher` are listed whole, so a row added there is removed by the same test.
"""

import uuid

import pytest
import requests

from conftest import TOKENS, bearer
from saltapi.store.connection import connect

TIMEOUT = 10
KIRK = {"id": 1, "name": "Kirk Douglas", "favbook": 1, "parent": None}
MICHAEL = {"id": 2, "name": "Michael Douglas", "favbook": 2, "parent": 1}
MELVILLE = {"id": 1, "author": "Herman Melville", "pages": 967, "publisher": None}
TOLSTOY = {"id": 2, "author": "Leo Tolstoy", "pages": 728, "publisher": 1}
STAFF = bearer(TOKENS["staff"])
ADMIN = bearer(TOKENS["admin"])
NOT_FOUND = {"error": "Not found"}
NOT_AUTHORIZED = {"error": "Not authorized"}
TWO_PLACES = {"error": "Send the API token in only one place"}


def call(server, method: str, path: str, **kwargs) -> requests.Response:
    """Send one request; every answer under /api/ must be JSON, whatever its status."""
    response = requests.request(method, server.url + path, timeout=TIMEOUT, **kwargs)
    assert response.headers["Content-Type"] == "application/json", (method, path, response.text)
    return response


def unique_text(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def insert_book(server, **values) -> int:
    body = {"author": unique_text("Author"), "pages": 1, **values}
    response = call(server, "POST", "/api/books", headers=ADMIN, json=body)
    assert response.status_code == 200, response.text
    return response.json()["success"]


def table_id(server, name: str) -> int:
    """The table's numeric id, read straight from the server's database."""
    db = connect(server.db_path)
    try:
        return db.execute("SELECT id FROM _sc_tables WHERE name = ?", (name,)).fetchone()[0]
    finally:
        db.close()


# Reading


def test_list_public_table(live_server):
    response = call(live_server, "GET", "/api/books", params={"id": [1, 2]})
    assert response.status_code == 200
    assert response.json() == {"success": [MELVILLE, TOLSTOY]}


def test_list_staff_table(live_server):
    response = call(live_server, "GET", "/api/patients", headers=STAFF)
    assert (response.status_code, response.json()) == (200, {"success": [KIRK, MICHAEL]})


def test_list_by_numeric_table_id(live_server):
    response = call(live_server, "GET", f"/api/{table_id(live_server, 'patients')}", headers=STAFF)
    assert (response.status_code, response.json()) == (200, {"success": [KIRK, MICHAEL]})


@pytest.mark.parametrize(
    "query, rows",
    [
        ("name=Kirk%20Douglas", [KIRK]),
        ("name=kirk%20douglas", []),
        ("name=Kirk%20Douglas&name=Michael%20Douglas", [KIRK, MICHAEL]),
        ("name[]=Kirk%20Douglas&name[]=Michael%20Douglas", [KIRK, MICHAEL]),
        ("id=2", [MICHAEL]),
        ("id=1&id=2&id=3", [KIRK, MICHAEL]),
        ("parent=null", [KIRK]),
        ("parent=1", [MICHAEL]),
        ("parent=1&parent=null", [KIRK, MICHAEL]),
        ("favbook=2&name=Kirk%20Douglas", []),
        ("nosuchfield=1", [KIRK, MICHAEL]),
    ],
)
def test_list_equality_filters(live_server, query, rows):
    response = call(live_server, "GET", f"/api/patients?{query}", headers=STAFF)
    assert (response.status_code, response.json()) == (200, {"success": rows})
    count = call(live_server, "GET", f"/api/patients/count?{query}", headers=STAFF)
    assert (count.status_code, count.json()) == (200, {"success": len(rows)})


def test_count_ignores_limit_and_offset(live_server):
    response = call(live_server, "GET", "/api/patients/count?limit=1&offset=1", headers=STAFF)
    assert (response.status_code, response.json()) == (200, {"success": 2})


def test_count_by_numeric_table_id(live_server):
    response = call(live_server, "GET", f"/api/{table_id(live_server, 'publisher')}/count", headers=ADMIN)
    assert (response.status_code, response.json()) == (200, {"success": 2})


@pytest.mark.parametrize(
    "path, headers, values",
    [
        ("/api/patients/distinct/name", STAFF, ["Kirk Douglas", "Michael Douglas"]),
        (
            "/api/books/distinct/publisher",
            ADMIN,
            [{"label": "", "value": ""}, {"label": "AK Press", "value": 1}, {"label": "No starch", "value": 2}],
        ),
        ("/api/books/distinct/publisher", {}, [{"label": "", "value": ""}]),
    ],
)
def test_distinct(live_server, path, headers, values):
    response = call(live_server, "GET", path, headers=headers)
    assert (response.status_code, response.json()) == (200, {"success": values})


def test_single_row(live_server):
    response = call(live_server, "GET", "/api/patients/2", headers=STAFF)
    assert (response.status_code, response.json()) == (200, {"success": MICHAEL})


@pytest.mark.parametrize("path", ["/api/books/999999", "/api/books/0", "/api/books/99999999999999999999"])
def test_single_row_missing(live_server, path):
    response = call(live_server, "GET", path)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_read_needs_role(live_server):
    for headers in ({}, bearer(TOKENS["user"])):
        response = call(live_server, "GET", "/api/patients", headers=headers)
        assert (response.status_code, response.json()) == (401, NOT_AUTHORIZED)


# Writing


def test_insert_json(live_server):
    author = unique_text("Json author")
    body = {"author": author, "pages": 12, "publisher": 2}
    response = call(live_server, "POST", "/api/books", headers=ADMIN, json=body)
    assert response.status_code == 200
    new_id = response.json()["success"]
    assert isinstance(new_id, int) and new_id > 2
    row = call(live_server, "GET", f"/api/books/{new_id}").json()
    assert row == {"success": {"id": new_id, "author": author, "pages": 12, "publisher": 2}}


def test_insert_form(live_server):
    author = unique_text("Form author")
    body = {"author": author, "pages": " 34 ", "publisher": ""}
    response = call(live_server, "POST", "/api/books", headers=ADMIN, data=body)
    assert response.status_code == 200, response.text
    new_id = response.json()["success"]
    row = call(live_server, "GET", f"/api/books/{new_id}").json()
    assert row == {"success": {"id": new_id, "author": author, "pages": 34, "publisher": None}}


def test_insert_needs_role(live_server):
    author = unique_text("Refused author")
    response = call(live_server, "POST", "/api/books", headers=STAFF, json={"author": author, "pages": 1})
    assert (response.status_code, response.json()) == (401, NOT_AUTHORIZED)
    assert call(live_server, "GET", "/api/books", params={"author": author}).json() == {"success": []}


def test_insert_invalid_changes_nothing(live_server):
    author = unique_text("Invalid author")
    response = call(live_server, "POST", "/api/books", headers=ADMIN, json={"author": author, "pages": -10})
    assert (response.status_code, response.json()) == (400, {"error": "pages: Must be 0 or higher"})
    assert call(live_server, "GET", "/api/books", params={"author": author}).json() == {"success": []}


@pytest.mark.parametrize("body_kind", ["json", "data"])
def test_body_over_one_mib_is_413(live_server, body_kind):
    code = unique_text("Big")[-8:]
    body = {"code": code, "size": "M" + " " * 1024 * 1024}
    response = call(live_server, "POST", "/api/items", **{body_kind: body})
    assert response.status_code == 413
    assert isinstance(response.json()["error"], str)
    assert call(live_server, "GET", "/api/items", params={"code": code}).json() == {"success": []}


@pytest.mark.parametrize("body_kind", ["json", "data"])
def test_update_changes_only_given_fields(live_server, body_kind):
    author = unique_text("Update author")
    book_id = insert_book(live_server, author=author, pages=10, publisher=1)
    response = call(live_server, "POST", f"/api/books/{book_id}", headers=ADMIN, **{body_kind: {"pages": "11"}})
    assert (response.status_code, response.json()) == (200, {"success": True})
    row = call(live_server, "GET", f"/api/books/{book_id}").json()
    assert row == {"success": {"id": book_id, "author": author, "pages": 11, "publisher": 1}}


def test_update_missing_row(live_server):
    response = call(live_server, "POST", "/api/books/999999", headers=ADMIN, json={"pages": 1})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("method, path", [("DELETE", "/api/books/{}"), ("POST", "/api/books/delete/{}")])
def test_delete(live_server, method, path):
    book_id = insert_book(live_server)
    response = call(live_server, method, path.format(book_id), headers=ADMIN)
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert call(live_server, "GET", f"/api/books/{book_id}").status_code == 404
    again = call(live_server, method, path.format(book_id), headers=ADMIN)
    assert (again.status_code, again.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("method, path", [("DELETE", "/api/books/{}"), ("POST", "/api/books/delete/{}")])
def test_delete_needs_role(live_server, method, path):
    book_id = insert_book(live_server)
    response = call(live_server, method, path.format(book_id), headers=STAFF)
    assert (response.status_code, response.json()) == (401, NOT_AUTHORIZED)
    assert call(live_server, "GET", f"/api/books/{book_id}").status_code == 200


def test_delete_referenced_row_is_refused(live_server):
    book_id = insert_book(live_server)
    body = {"name": unique_text("Reader"), "favbook": book_id}
    patient = call(live_server, "POST", "/api/patients", headers=ADMIN, json=body)
    assert patient.status_code == 200, patient.text
    try:
        response = call(live_server, "DELETE", f"/api/books/{book_id}", headers=ADMIN)
        refused = {"error": "Cannot delete: referenced by patients.favbook"}
        assert (response.status_code, response.json()) == (400, refused)
        assert call(live_server, "GET", f"/api/books/{book_id}").status_code == 200
    finally:  # other tests list every patient
        cleanup = call(live_server, "DELETE", f"/api/patients/{patient.json()['success']}", headers=ADMIN)
        assert cleanup.status_code == 200


# Credentials

STAFF_TOKEN = TOKENS["staff"]
TOKEN_PLACES = {
    "header": {"headers": {"Authorization": f"Bearer {STAFF_TOKEN}"}},
    "header, lower-case scheme": {"headers": {"Authorization": f"bearer {STAFF_TOKEN}"}},
    "query": {"params": {"access_token": STAFF_TOKEN}},
    "json body": {"json": {"access_token": STAFF_TOKEN}},
    "form body": {"data": {"access_token": STAFF_TOKEN}},
}


def with_body(place: dict, values: dict) -> dict:
    """The request arguments of `place`, with `values` added to its body (a JSON body unless it is a form)."""
    kwargs = {key: dict(value) for key, value in place.items()}
    body_kind = "data" if "data" in kwargs else "json"
    kwargs[body_kind] = {**kwargs.get(body_kind, {}), **values}
    return kwargs


@pytest.mark.parametrize("place", TOKEN_PLACES.values(), ids=TOKEN_PLACES.keys())
def test_token_place_authorizes_a_write(live_server, place):
    """notes needs staff to write: each place must identify the staff user, and the token is never a column."""
    title = unique_text("Note")
    response = call(live_server, "POST", "/api/notes", **with_body(place, {"title": title}))
    assert response.status_code == 200, response.text
    note_id = response.json()["success"]
    row = call(live_server, "GET", f"/api/notes/{note_id}", headers=STAFF).json()
    assert row == {"success": {"id": note_id, "title": title, "owner": None}}


@pytest.mark.parametrize("place", ["header", "header, lower-case scheme", "query"])
def test_token_place_authorizes_a_read(live_server, place):
    response = call(live_server, "GET", "/api/patients/1", **TOKEN_PLACES[place])
    assert (response.status_code, response.json()) == (200, {"success": KIRK})


def test_write_without_token_is_refused(live_server):
    title = unique_text("Public note")
    response = call(live_server, "POST", "/api/notes", json={"title": title})
    assert (response.status_code, response.json()) == (401, NOT_AUTHORIZED)
    assert call(live_server, "GET", "/api/notes", headers=STAFF, params={"title": title}).json() == {"success": []}


UNKNOWN_TOKEN = "no-such-token-999"
TWICE_BODY = {"title": "twice", "access_token": STAFF_TOKEN}


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/api/books", {"headers": bearer(UNKNOWN_TOKEN)}),
        ("GET", "/api/books", {"params": {"access_token": UNKNOWN_TOKEN}}),
        ("GET", "/api/books/1", {"headers": {"Authorization": "Bearer"}}),
        ("GET", "/api/books/count", {"headers": {"Authorization": f"Bearer {UNKNOWN_TOKEN} extra"}}),
        ("POST", "/api/items", {"json": {"size": "M", "access_token": UNKNOWN_TOKEN}}),
        ("POST", "/api/items", {"data": {"size": "M", "access_token": UNKNOWN_TOKEN}}),
        ("DELETE", "/api/items/1", {"headers": bearer(UNKNOWN_TOKEN)}),
    ],
)
def test_unknown_token_is_401_even_on_public_tables(live_server, method, path, kwargs):
    before = call(live_server, "GET", "/api/items").json()
    response = call(live_server, method, path, **kwargs)
    assert (response.status_code, response.json()) == (401, NOT_AUTHORIZED)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert call(live_server, "GET", "/api/items").json() == before


def test_other_authorization_scheme_is_ignored(live_server):
    response = call(live_server, "GET", "/api/books/1", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (response.status_code, response.json()) == (200, {"success": MELVILLE})


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("GET", "/api/patients", {"headers": STAFF, "params": {"access_token": STAFF_TOKEN}}),
        ("GET", "/api/patients?access_token=staff-token-0002&access_token=staff-token-0002", {}),
        ("POST", "/api/notes", {"headers": STAFF, "json": TWICE_BODY}),
        ("POST", "/api/notes", {"params": {"access_token": STAFF_TOKEN}, "json": TWICE_BODY}),
        ("POST", "/api/notes", {"params": {"access_token": STAFF_TOKEN}, "data": TWICE_BODY}),
    ],
)
def test_token_in_two_places_is_400(live_server, method, path, kwargs):
    before = call(live_server, "GET", "/api/notes/count", headers=STAFF).json()
    response = call(live_server, method, path, **kwargs)
    assert (response.status_code, response.json()) == (400, TWO_PLACES)
    assert call(live_server, "GET", "/api/notes/count", headers=STAFF).json() == before


# Routing errors


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/"),
        ("GET", "/api/nosuchtable"),
        ("GET", "/api/Books"),
        ("GET", "/api/nosuchtable/count"),
        ("POST", "/api/nosuchtable"),
        ("GET", "/api/books/1/extra"),
        ("GET", "/api/books/abc"),
        ("POST", "/api/books/delete/abc"),
        ("DELETE", "/api/books/-1"),
    ],
)
def test_unknown_route_is_404_json(live_server, method, path):
    response = call(live_server, method, path, headers=ADMIN)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/api/books", {"GET", "POST"}),
        ("DELETE", "/api/books", {"GET", "POST"}),
        ("PATCH", "/api/books/1", {"GET", "POST", "DELETE"}),
        ("PUT", "/api/books/1", {"GET", "POST", "DELETE"}),
        ("POST", "/api/books/count", {"GET"}),
        ("GET", "/api/books/delete/1", {"POST"}),
    ],
)
def test_wrong_method_is_405_json_with_allow(live_server, method, path, allowed):
    response = call(live_server, method, path, headers=ADMIN, json={"author": "never", "pages": 1})
    assert (response.status_code, response.json()) == (405, {"error": "Method not allowed"})
    allow = {name.strip() for name in response.headers["Allow"].split(",")}
    assert allowed <= allow and method not in allow


def test_options_answers_no_content_with_allow(live_server):
    response = requests.options(live_server.url + "/api/books/1", timeout=TIMEOUT)
    assert (response.status_code, response.content) == (204, b"")
    assert {"GET", "POST", "DELETE"} <= {name.strip() for name in response.headers["Allow"].split(",")}
