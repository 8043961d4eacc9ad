"""The API's session path (docs/api.md §3): a signed-in browser may call /api/...; a token, when sent, alone decides; a
write that only the session cookie authenticates needs the session's CSRF token (X-CSRF-Token or another header
csurf reads, such as pysaltcorn's CSRF-Token, or `_csrf`).
"""

import pytest

from conftest import TOKENS, WebActions, bearer

CSRF_ERROR = {"error": "CSRF token missing or invalid"}
NOTE = {"title": "from the browser"}
CSRF_HEADERS = ["X-CSRF-Token", "CSRF-Token", "XSRF-Token", "X-XSRF-Token"]  # docs/api.md §3's, then csurf's


@pytest.fixture
def staff(web):
    web.login("staff")
    return web


def test_signed_in_browser_reads_by_its_role(client, staff):
    response = client.get("/api/patients")
    assert response.status_code == 200
    assert [row["name"] for row in response.json["success"]] == ["Kirk Douglas", "Michael Douglas"]
    assert client.get("/api/publisher").status_code == 401  # admins only; staff is not enough


def test_signed_out_browser_is_public(client, web):
    web.login("staff")
    web.logout()
    assert client.get("/api/patients").status_code == 401
    assert client.get("/api/books").status_code == 200


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("post", "/api/notes", {"json": NOTE}),
        ("post", "/api/notes", {"data": NOTE}),
        ("post", "/api/notes/1", {"json": NOTE}),
        ("delete", "/api/notes/1", {}),
        ("post", "/api/notes/delete/1", {}),
    ],
    ids=["insert json", "insert form", "update", "delete", "delete by post"],
)
def test_cookie_only_write_without_csrf_is_403(client, staff, snapshot, method, path, kwargs):
    before = snapshot()
    response = getattr(client, method)(path, **kwargs)
    assert (response.status_code, response.json) == (403, CSRF_ERROR)
    assert snapshot() == before


@pytest.mark.parametrize("header", CSRF_HEADERS)
def test_cookie_only_write_with_a_wrong_csrf_token_is_403(client, staff, snapshot, header):
    before = snapshot()
    response = client.post("/api/notes", json=NOTE, headers={header: "not-the-token"})
    assert (response.status_code, response.json) == (403, CSRF_ERROR)
    response = client.post("/api/notes", json=NOTE, headers={header: ""})
    assert (response.status_code, response.json) == (403, CSRF_ERROR)
    assert snapshot() == before


@pytest.mark.parametrize("header", CSRF_HEADERS)
def test_cookie_write_with_csrf_header_works(client, staff, header):
    response = client.post("/api/notes", json=NOTE, headers={header: staff.csrf()})
    assert response.status_code == 200
    new_id = response.json["success"]
    assert client.get(f"/api/notes/{new_id}").json["success"]["title"] == "from the browser"
    deleted = client.delete(f"/api/notes/{new_id}", headers={header: staff.csrf()})
    assert deleted.json == {"success": True}


def test_a_wrong_csrf_header_is_not_saved_by_a_right_field(client, staff, snapshot):
    """One token is judged: a header, when sent, decides over the body's `_csrf` (which is still never stored)."""
    before = snapshot()
    response = client.post("/api/notes", json={**NOTE, "_csrf": staff.csrf()}, headers={"CSRF-Token": "wrong"})
    assert (response.status_code, response.json) == (403, CSRF_ERROR)
    assert snapshot() == before
    response = client.post("/api/notes", json={**NOTE, "_csrf": "wrong"}, headers={"CSRF-Token": staff.csrf()})
    assert response.status_code == 200
    row = client.get(f"/api/notes/{response.json['success']}").json["success"]
    assert set(row) == {"id", "title", "owner"}


def test_a_csrf_token_from_another_session_is_403(app, client, staff, snapshot):
    other = WebActions(app.test_client())
    other.login("staff")
    before = snapshot()
    response = client.post("/api/notes", json=NOTE, headers={"CSRF-Token": other.csrf()})
    assert (response.status_code, response.json) == (403, CSRF_ERROR)
    assert snapshot() == before


@pytest.mark.parametrize("body_kind", ["data", "json"])
def test_cookie_write_with_csrf_field_works_and_stores_no_csrf(client, staff, body_kind):
    response = client.post("/api/notes", **{body_kind: {**NOTE, "_csrf": staff.csrf()}})
    assert response.status_code == 200
    row = client.get(f"/api/notes/{response.json['success']}").json["success"]
    assert set(row) == {"id", "title", "owner"}


def test_role_rules_still_apply_to_the_session(client, web, snapshot):
    web.login("user")  # notes: users read, staff write
    before = snapshot()
    response = client.post("/api/notes", json=NOTE, headers={"X-CSRF-Token": web.csrf()})
    assert (response.status_code, response.json) == (401, {"error": "Not authorized"})
    assert snapshot() == before


def test_token_decides_over_the_session(client, web):
    web.login("admin")
    assert client.get("/api/publisher").status_code == 200
    # A user's token on an admins-only table: the admin's cookie does not help.
    response = client.get("/api/publisher", headers=bearer(TOKENS["user"]))
    assert (response.status_code, response.json) == (401, {"error": "Not authorized"})
    response = client.get("/api/publisher", headers=bearer("no-such-token"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_token_writes_need_no_csrf_even_with_a_session(client, web):
    web.login("user")
    response = client.post("/api/notes", json=NOTE, headers=bearer(TOKENS["staff"]))
    assert response.status_code == 200


def test_public_write_with_a_session_still_needs_csrf(client, staff, snapshot):
    """items is writable by the public; a signed-in browser's write is still the user's, so still CSRF-checked."""
    before = snapshot()
    response = client.post("/api/items", json={"code": "ZZ"})
    assert (response.status_code, response.json) == (403, CSRF_ERROR)
    assert snapshot() == before
    assert client.post("/api/items", json={"code": "ZZ"}, headers={"X-CSRF-Token": staff.csrf()}).status_code == 200


def test_an_anonymous_session_writes_as_the_public(client):
    client.get("/auth/login")  # a session with a CSRF token but nobody signed in
    assert client.post("/api/items", json={"code": "YY"}).status_code == 200
    assert client.post("/api/notes", json=NOTE).status_code == 401
