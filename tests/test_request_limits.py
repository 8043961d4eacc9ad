"""Bodies are refused cheaply and before anything parses them, on every route (issue 12, items 2 and 3), and the
web UI answers what no page handles with its own error page, never a 500 (item 9)."""

import json

import pytest
import requests
from werkzeug.formparser import FormDataParser

import saltapi.body
from conftest import TOKENS, bearer
from saltapi.body import MAX_FORM_FIELDS, MAX_JSON_CONTAINERS, MAX_NESTING
from saltapi.limits import MAX_BODY_BYTES

FORM = "application/x-www-form-urlencoded"
TOO_LARGE = "Request body too large (the limit is 1 MiB)"
# Every page route that takes a POST, signed out or in: the limits hold before sign-in and CSRF are looked at.
PAGE_POSTS = [
    "/auth/login", "/auth/logout", "/auth/create_first_user", "/auth/gen-api-token", "/useradmin/save",
    "/useradmin/set-role/1", "/table", "/table/1/settings", "/table/1/field/new", "/table/1/rows/new", "/table/1/rows/1",
]  # fmt: skip
MANY_EMPTY_FIELDS = b"&" * MAX_BODY_BYTES  # ~1,000,000 fields, within the size limit
MANY_EMPTY_ARRAYS = b"[" + b",".join([b"[]"] * 349_000) + b"]"  # the body: 1 MiB of empty arrays


@pytest.fixture
def parsed(monkeypatch) -> list[str]:
    """What got parsed during the test: each form werkzeug parses, each JSON text saltapi gives json.loads."""
    calls: list[str] = []
    parse_form, loads = FormDataParser.parse, json.loads

    def spy_form(self, *args, **kwargs):
        calls.append("form")
        return parse_form(self, *args, **kwargs)

    class SpyJson:
        @staticmethod
        def loads(*args, **kwargs):
            calls.append("json")
            return loads(*args, **kwargs)

    monkeypatch.setattr(FormDataParser, "parse", spy_form)
    monkeypatch.setattr(saltapi.body, "json", SpyJson)  # in body.py only: metadata reads JSON too
    return calls


def is_page(response) -> bool:
    """The web UI's own error page (not JSON, not Werkzeug's bare page)."""
    return response.mimetype == "text/html" and "Back to the start page" in response.text


# --- item 2: size everywhere ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGE_POSTS)
def test_every_page_refuses_a_body_over_1_mib_with_its_own_page(client, parsed, path):
    response = client.post(path, data=b"email=a&password=" + b"p" * MAX_BODY_BYTES, content_type=FORM)
    assert response.status_code == 413
    assert is_page(response) and TOO_LARGE in response.text
    assert parsed == []


@pytest.mark.parametrize("path", PAGE_POSTS)
def test_every_page_refuses_a_form_of_a_million_fields_unparsed(client, parsed, path):
    response = client.post(path, data=MANY_EMPTY_FIELDS, content_type=FORM)
    assert response.status_code == 400
    assert is_page(response) and f"Too many form fields (the limit is {MAX_FORM_FIELDS})" in response.text
    assert parsed == []


def test_a_form_of_1000_fields_is_still_read(admin, snapshot):
    """The field limit is far above any real form: the sign-in form with 997 extra fields still signs in."""
    admin.logout()
    fields = {f"x{i}": "" for i in range(MAX_FORM_FIELDS - 3)}
    response = admin.post("/auth/login", {"email": "admin@foo.com", "password": "AhGGr6rhu45", **fields})
    assert response.status_code == 302


@pytest.mark.parametrize("path", ["/", "/auth/login", "/useradmin", "/api/books", "/api/books/1", "/nowhere"])
def test_a_get_announcing_a_body_over_1_mib_is_refused_unread(client, parsed, path):
    response = client.get(path, environ_overrides={"CONTENT_LENGTH": str(MAX_BODY_BYTES + 1)})
    assert response.status_code == (413 if path != "/nowhere" else 404)
    assert parsed == []


def test_a_chunked_form_over_1_mib_to_a_page_is_413(live_server):
    """Without a Content-Length too, on the real server: the body is read up to the limit and no further."""

    def chunks():
        yield b"email=a%40b.c&password="
        for _ in range(3 * 64):
            yield b"p" * (16 * 1024)

    response = requests.post(f"{live_server.url}/auth/login", data=chunks(), headers={"Content-Type": FORM}, timeout=30)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert "Back to the start page" in response.text


# --- item 3: cheap refusal -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("body", [MANY_EMPTY_ARRAYS, b"{not json", b"[" * 100_000], ids=["arrays", "invalid", "deep"])
def test_bodies_of_get_head_and_options_are_never_parsed(client, parsed, method, body):
    response = client.open("/api/books", method=method, data=body, content_type="application/json")
    assert response.status_code in (200, 204)
    assert parsed == []


@pytest.mark.parametrize("place", ["header", "query"])
def test_an_unknown_token_is_refused_before_the_body_is_read(client, parsed, snapshot, place):
    before = snapshot()
    headers, query = (bearer("no-such-token"), {}) if place == "header" else ({}, {"access_token": "no-such-token"})
    response = client.post(
        "/api/books", data=MANY_EMPTY_ARRAYS, content_type="application/json", headers=headers, query_string=query
    )
    assert (response.status_code, response.json) == (401, {"error": "Not authorized"})
    assert parsed == []
    assert snapshot() == before


def test_a_correct_token_beside_a_body_token_is_still_two_places(client, snapshot):
    before = snapshot()
    response = client.post("/api/books", json={"access_token": TOKENS["admin"]}, headers=bearer(TOKENS["admin"]))
    assert (response.status_code, response.json) == (400, {"error": "Send the API token in only one place"})
    assert snapshot() == before


@pytest.mark.parametrize("auth", ["admin", "public"])
def test_a_million_empty_arrays_are_refused_without_parsing(client, parsed, snapshot, auth):
    before = snapshot()
    headers = bearer(TOKENS["admin"]) if auth == "admin" else {}
    response = client.post("/api/books", data=MANY_EMPTY_ARRAYS, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json == {"error": f"JSON body with more than {MAX_JSON_CONTAINERS} arrays and objects"}
    assert parsed == []
    assert snapshot() == before


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


TOO_DEEP = f"JSON nested deeper than {MAX_NESTING} levels"
DEPTHS = {
    # (body, the error or None)
    "32 arrays": ('{"x": ' + nested(31) + ', "author": "a", "pages": 1}', None),
    "33 arrays": ('{"x": ' + nested(32) + ', "author": "a", "pages": 1}', TOO_DEEP),
    "33 alternating": ('{"x": ' + "[{\"a\": " * 16 + "[]" + "}]" * 16 + ', "author": "a", "pages": 1}', TOO_DEEP),
    "32 alternating": ('{"x": ' + "[{\"a\": " * 15 + "[]" + "}]" * 15 + ', "author": "a", "pages": 1}', None),
    "brackets in strings": ('{"author": "' + "[" * 100 + '", "pages": 1}', None),
    "escaped quotes": ('{"author": "\\"[[[[' + "[" * 40 + '\\\\", "pages": 1, "x": ' + nested(31) + "}", None),
    "many flat ones": ('{"x": [' + ",".join(["[]"] * (MAX_JSON_CONTAINERS - 2)) + '], "author": "a", "pages": 1}', None),
    "unclosed, 900 deep": ("[" * 900, "Invalid JSON body"),
    "unclosed, 100,000 deep": ("[" * 100_000, f"JSON body with more than {MAX_JSON_CONTAINERS} arrays and objects"),
}


@pytest.mark.parametrize("body, error", DEPTHS.values(), ids=DEPTHS.keys())
def test_nesting_is_counted_on_the_raw_text(client, body, error):
    response = client.post("/api/books", data=body, content_type="application/json", headers=bearer(TOKENS["admin"]))
    if error:
        assert (response.status_code, response.json) == (400, {"error": error})
    else:
        assert response.status_code == 200, response.json


def test_a_form_of_a_million_fields_to_the_api_is_refused_unparsed(client, parsed):
    response = client.post("/api/books", data=MANY_EMPTY_FIELDS, content_type=FORM, headers=bearer(TOKENS["admin"]))
    assert (response.status_code, response.json) == (400, {"error": f"Too many form fields (the limit is {MAX_FORM_FIELDS})"})
    assert parsed == []


# --- item 9: no 500s from the UI, its own error pages -------------------------------------------------------

BIG = "99999999999999999999"  # beyond 64 bits


@pytest.mark.parametrize(
    "path",
    [f"/useradmin/{BIG}", f"/table/{BIG}", f"/table/{BIG}/rows", f"/table/1/rows/{BIG}", f"/table/{BIG}/field/new",
     "/useradmin/١", "/table/١"],
)  # fmt: skip
def test_ids_beyond_64_bits_in_pages_are_404_pages(admin, path):
    response = admin.client.get(path)
    assert response.status_code == 404
    assert is_page(response)


@pytest.mark.parametrize("path", [f"/useradmin/set-role/{BIG}", f"/useradmin/delete/{BIG}", f"/table/1/rows/{BIG}/delete"])
def test_posts_to_ids_beyond_64_bits_are_404_pages(admin, path):
    response = admin.post(path, {"role_id": "1"})
    assert response.status_code == 404
    assert is_page(response)


@pytest.mark.parametrize("target", ["/%0D%0ASet-Cookie:%20x=1", "/%0Aevil", "/ok%09tab", "/%7F"])
def test_next_with_control_characters_goes_home_when_signed_in(admin, target):
    response = admin.client.get(f"/auth/login?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/%0D%0ASet-Cookie:%20x=1"])
def test_next_with_control_characters_goes_home_after_signing_in(web, target):
    email, password = "admin@foo.com", "AhGGr6rhu45"
    response = web.post("/auth/login", {"email": email, "password": password, "next": "/\r\nSet-Cookie: x=1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_unknown_pages_get_the_ui_error_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert is_page(response)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_wrong_methods_on_pages_get_the_ui_error_page(client):
    response = client.delete("/auth/login")
    assert response.status_code == 405
    assert is_page(response)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_api_errors_stay_json(client):
    assert client.get("/api/books/x/y/z").json == {"error": "Not found"}
    response = client.put("/api/books")
    assert (response.status_code, response.json) == (405, {"error": "Method not allowed"})


def test_unknown_pages_on_the_real_server_are_the_ui_page(live_server):
    response = requests.get(f"{live_server.url}/nope", timeout=10)
    assert response.status_code == 404
    assert "Back to the start page" in response.text
