"""Bad requests: each gets the right status and exact JSON error, and the database does not change."""

import json

import pytest

from conftest import TOKENS, bearer

ADMIN = bearer(TOKENS["admin"])
JSON = {"Content-Type": "application/json"}
BOOK = {"author": "A", "pages": 1}
NOT_FOUND = (404, {"error": "Not found"})


def case(case_id, method, url, body=None, headers=ADMIN, expected=None, raw=None):
    """One bad request: `body` is sent as JSON, `raw` as bytes with a JSON content type."""
    return pytest.param(method, url, body, raw, headers, expected, id=case_id)


def error(status: int, message: str):
    return status, {"error": message}


CASES = [
    # bodies
    case("invalid json", "POST", "/api/books", raw=b'{"author": "x",', expected=error(400, "Invalid JSON body")),
    case("not utf-8", "POST", "/api/books", raw=b'{"author": "\xff"}', expected=error(400, "Invalid JSON body")),
    case("array body", "POST", "/api/books", raw=b"[1, 2]", expected=error(400, "Body must be a JSON object")),
    case("string body", "POST", "/api/books", raw=b'"x"', expected=error(400, "Body must be a JSON object")),
    case("NaN", "POST", "/api/books", raw=b'{"author": "a", "pages": NaN}', expected=error(400, "Invalid JSON body")),
    case("Infinity", "POST", "/api/books", raw=b'{"pages": -Infinity}', expected=error(400, "Invalid JSON body")),
    case("1e999", "POST", "/api/books", raw=b'{"author": "a", "pages": 1e999}', expected=error(400, "Invalid JSON body")),
    case(
        "33 levels", "POST", "/api/books", raw=b'{"a": ' + b"[" * 32 + b"]" * 32 + b"}",
        expected=error(400, "JSON nested deeper than 32 levels"),
    ),
    case(
        "100000 levels", "POST", "/api/books", raw=b"[" * 100_000 + b"]" * 100_000,
        expected=error(400, "JSON nested deeper than 32 levels"),
    ),
    case(
        "over 1 MiB", "POST", "/api/books", raw=json.dumps({"author": "x" * (1024 * 1024), "pages": 1}).encode(),
        expected=error(413, "Request body too large (the limit is 1 MiB)"),
    ),
    case(
        "text/plain", "POST", "/api/books", headers={**ADMIN, "Content-Type": "text/plain"}, raw=b"author=x",
        expected=error(400, "Unsupported body type: send application/json or application/x-www-form-urlencoded"),
    ),
    # conversion (docs/api.md §6)
    case("string for Integer", "POST", "/api/books", {"author": "a", "pages": "abc"}, expected=error(400, "pages: Must be an integer")),
    case("12.7 for Integer", "POST", "/api/books", {"author": "a", "pages": 12.7}, expected=error(400, "pages: Must be an integer")),
    case("object for Integer", "POST", "/api/books", {"author": "a", "pages": {"a": 1}}, expected=error(400, "pages: Must be an integer")),
    case("bool for Integer", "POST", "/api/books", {"author": "a", "pages": True}, expected=error(400, "pages: Must be an integer")),
    case("2**63 for Integer", "POST", "/api/books", {"author": "a", "pages": 2**63}, expected=error(400, "pages: Must be an integer")),
    case("number for String", "POST", "/api/books", {"author": 5, "pages": 1}, expected=error(400, "author: Must be a string")),
    case("lone surrogate", "POST", "/api/books", raw=b'{"author": "\\ud800", "pages": 1}', expected=error(400, "author: Must be a string")),
    case("bad Key", "POST", "/api/books", {**BOOK, "publisher": "x"}, expected=error(400, "publisher: Must be an integer id")),
    case("bad Float", "POST", "/api/items", {"price": "cheap"}, expected=error(400, "price: Must be a number")),
    case("huge Float", "POST", "/api/items", {"price": 10**400}, expected=error(400, "price: Must be a number")),
    case("bad Bool", "POST", "/api/items", {"active": "maybe"}, expected=error(400, "active: Must be true or false")),
    case("bad Date", "POST", "/api/items", {"due": "2024-13-01"}, expected=error(400, "due: Must be a date")),
    # attributes
    case("below min", "POST", "/api/items", {"qty": 0}, expected=error(400, "qty: Must be 1 or higher")),
    case("above max", "POST", "/api/items", {"qty": 101}, expected=error(400, "qty: Must be 100 or less")),
    case("Float below min", "POST", "/api/items", {"price": 0.25}, expected=error(400, "price: Must be 0.5 or higher")),
    case("Float above max", "POST", "/api/items", {"price": 1000}, expected=error(400, "price: Must be 999.5 or less")),
    case("too short", "POST", "/api/items", {"code": "A"}, expected=error(400, "code: Must be at least 2 characters")),
    case("too long", "POST", "/api/items", {"code": "ABCDEFGHI"}, expected=error(400, "code: Must be at most 8 characters")),
    case("not an option", "POST", "/api/items", {"size": "XL"}, expected=error(400, "size: Must be one of: S, M, L")),
    # required, and the order of messages
    case("empty body", "POST", "/api/books", {}, expected=error(400, "author: required, pages: required")),
    case("docs/api.md §6 example", "POST", "/api/books", {"pages": -10}, expected=error(400, "pages: Must be 0 or higher, author: required")),
    case("null for required", "POST", "/api/books", {"author": None, "pages": 1}, expected=error(400, "author: required")),
    case(
        "body order", "POST", "/api/items", raw=b'{"qty": 0, "code": "A"}',  # json= would sort the keys
        expected=error(400, "qty: Must be 1 or higher, code: Must be at least 2 characters"),
    ),
    case("update null required", "POST", "/api/books/1", {"author": None}, expected=error(400, "author: required")),
    case("update wrong type", "POST", "/api/books/1", {"pages": "many"}, expected=error(400, "pages: Must be an integer")),
    # ids
    case("change id", "POST", "/api/books/1", {"id": 2}, expected=error(400, "id: Cannot be changed")),
    case("bad insert id", "POST", "/api/books", {**BOOK, "id": "one"}, expected=error(400, "id: Must be an integer")),
    case("taken insert id", "POST", "/api/books", {**BOOK, "id": 1}, expected=error(400, "Duplicate value for unique field: ID")),
    # constraints
    case("duplicate unique", "POST", "/api/items", {"code": "AA"}, expected=error(400, "Duplicate value for unique field: Code")),
    case("update to duplicate", "POST", "/api/items/2", {"code": "AA"}, expected=error(400, "Duplicate value for unique field: Code")),
    case("dangling Key", "POST", "/api/books", {**BOOK, "publisher": 99}, expected=error(400, "publisher: No publisher row with id 99")),
    case("dangling Key to users", "POST", "/api/notes", {"title": "t", "owner": 99}, expected=error(400, "owner: No users row with id 99")),
    case("update dangling Key", "POST", "/api/patients/1", {"parent": 42}, expected=error(400, "parent: No patients row with id 42")),
    case("delete referenced", "DELETE", "/api/books/1", expected=error(400, "Cannot delete: referenced by patients.favbook")),
    case("delete self-referenced", "POST", "/api/patients/delete/1", expected=error(400, "Cannot delete: referenced by patients.parent")),
    case("delete referenced publisher", "DELETE", "/api/publisher/1", expected=error(400, "Cannot delete: referenced by books.publisher")),
    # unknown things
    case("unknown table", "GET", "/api/nope", expected=NOT_FOUND),
    case("unknown table, bad token", "GET", "/api/nope", headers=bearer("wrong-token"), expected=NOT_FOUND),
    case("case-sensitive table", "GET", "/api/Books", expected=NOT_FOUND),
    case("unknown row", "GET", "/api/books/99", expected=NOT_FOUND),
    case("update unknown row", "POST", "/api/books/99", {"pages": 5}, expected=NOT_FOUND),
    case("delete unknown row", "DELETE", "/api/books/99", expected=NOT_FOUND),
    case("delete alias unknown row", "POST", "/api/books/delete/99", expected=NOT_FOUND),
    case("id past 64 bits", "GET", "/api/books/99999999999999999999", expected=NOT_FOUND),
    case("unknown route", "GET", "/api/books/1/extra", expected=NOT_FOUND),
    case("api root", "GET", "/api/", expected=NOT_FOUND),
    case("api without slash", "GET", "/api", expected=NOT_FOUND),
    case("users are read-only", "POST", "/api/users", {"email": "x@y.z"}, expected=error(400, "The users table is read-only through the API")),
    case("users delete", "DELETE", "/api/users/2", expected=error(400, "The users table is read-only through the API")),
    # credentials (docs/api.md §3)
    case(
        "token in two places", "GET", "/api/books?access_token=admin-token-0001",
        expected=error(400, "Send the API token in only one place"),
    ),
    case(
        "token twice in the query", "GET", "/api/books?access_token=a-token&access_token=b-token", headers={},
        expected=error(400, "Send the API token in only one place"),
    ),
    case(
        "header and body token", "POST", "/api/books", {**BOOK, "access_token": TOKENS["admin"]},
        expected=error(400, "Send the API token in only one place"),
    ),
    case("unknown token, public table", "GET", "/api/books", headers=bearer("not-a-token"), expected=error(401, "Not authorized")),
    case("empty bearer", "GET", "/api/books", headers={"Authorization": "Bearer "}, expected=error(401, "Not authorized")),
    case("two-word bearer", "GET", "/api/books", headers={"Authorization": "Bearer a b"}, expected=error(401, "Not authorized")),
    case("empty query token", "GET", "/api/books?access_token=", headers={}, expected=error(401, "Not authorized")),
    case("number as body token", "POST", "/api/books", {**BOOK, "access_token": 1}, headers={}, expected=error(401, "Not authorized")),
    case("public write", "POST", "/api/books", BOOK, headers={}, expected=error(401, "Not authorized")),
    case("user reads staff table", "GET", "/api/patients", headers=bearer(TOKENS["user"]), expected=error(401, "Not authorized")),
    # filters
    case("filter not an integer", "GET", "/api/books?pages=abc", expected=error(400, "pages: Must be an integer")),
    case("filter id 1.5", "GET", "/api/books?id=1.5", expected=error(400, "id: Must be an integer")),
    case("filter bad Key", "GET", "/api/books?publisher=x", expected=error(400, "publisher: Must be an integer id")),
    case("count filter bad Bool", "GET", "/api/items/count?active=maybe", expected=error(400, "active: Must be true or false")),
    case(
        "several bad filters", "GET", "/api/items?qty=x&due=never",
        expected=error(400, "qty: Must be an integer, due: Must be a date"),
    ),
]


@pytest.mark.parametrize("method, url, body, raw, headers, expected", CASES)
def test_bad_request(client, snapshot, method, url, body, raw, headers, expected):
    before = snapshot()
    if raw is not None:
        response = client.open(url, method=method, data=raw, headers={**JSON, **headers})
    else:
        response = client.open(url, method=method, json=body, headers=headers)
    assert (response.status_code, response.get_json()) == expected
    assert response.mimetype == "application/json"
    assert snapshot() == before


def test_unknown_token_says_why_in_the_header(client):
    response = client.get("/api/books", headers=bearer("reset-long-ago"))
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_role_refusal_asks_for_a_bearer_token(client):
    assert client.get("/api/patients").headers["WWW-Authenticate"] == "Bearer"


def test_wrong_method_lists_the_allowed_ones(client):
    response = client.put("/api/books/1", json={"pages": 3}, headers=ADMIN)
    assert response.status_code == 405
    assert response.json == {"error": "Method not allowed"}
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST", "DELETE"}


def test_pages_outside_the_api_keep_html_errors(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_unexpected_errors_are_json_500(app, client, monkeypatch):
    def explode(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr("saltapi.api.views.count_rows", explode)
    app.testing = False  # let the error handler answer instead of re-raising into the test
    response = client.get("/api/books/count")
    assert (response.status_code, response.json) == (500, {"error": "Internal server error"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_negative_id_chosen_on_insert_stays_reachable(client):
    assert client.post("/api/books", json={"id": -5, "author": "A", "pages": 1}, headers=ADMIN).json == {"success": -5}
    assert client.get("/api/books/-5").json["success"]["id"] == -5
    assert client.post("/api/books/-5", json={"pages": 2}, headers=ADMIN).json == {"success": True}
    assert client.delete("/api/books/-5", headers=ADMIN).json == {"success": True}
    assert client.get(f"/api/books/{-(2**63) - 1}").status_code == 404
