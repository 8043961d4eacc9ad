"""Headers every answer carries (nosniff on the API, no framing of pages), and the bounds on an API query string."""

import pytest

from conftest import TOKENS, bearer

ADMIN = bearer(TOKENS["admin"])
QUERY_TOO_LONG = {"error": "Query string too long (the limit is 6 KiB)"}
TOO_MANY_PARAMETERS = {"error": "Too many query parameters (the limit is 500)"}

API_ANSWERS = [
    ("GET", "/api/books", None, 200),
    ("GET", "/api/books?tabulator_pagination_format=true&size=1", None, 200),
    ("GET", "/api/books/count", None, 200),
    ("GET", "/api/books/distinct/author", None, 200),
    ("GET", "/api/books/1", None, 200),
    ("GET", "/api/openapi.json", None, 200),
    ("POST", "/api/books", {"author": "a", "pages": 1}, 200),
    ("POST", "/api/books/1", {"pages": 2}, 200),
    ("DELETE", "/api/books/2", None, 400),
    ("POST", "/api/books", {"pages": -1}, 400),
    ("GET", "/api/patients?access_token=nope-nope", None, 401),
    ("GET", "/api/nope", None, 404),
    ("GET", "/api/books/1/2/3", None, 404),
    ("GET", "/api/", None, 404),
    ("PUT", "/api/books/1", None, 405),
    ("OPTIONS", "/api/books", None, 204),
    ("POST", "/api/books", "x" * (1024 * 1024 + 1), 413),
    ("GET", "/api/books?a=" + "b" * 9000, None, 414),
]


@pytest.mark.parametrize("method, url, body, status", API_ANSWERS, ids=[f"{m} {u[:40]} {s}" for m, u, _, s in API_ANSWERS])
def test_every_api_answer_is_nosniff(client, method, url, body, status):
    response = client.open(url, method=method, json=body, headers=ADMIN if "access_token" not in url else {})
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def assert_unframeable(response) -> None:
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path, status",
    [("/auth/login", 200), ("/", 302), ("/useradmin", 302), ("/saltapi/static/style.css", 200)],
)
def test_pages_cannot_be_framed_signed_out(client, path, status):
    with client.get(path) as response:  # a static file's answer holds the file open until closed
        assert response.status_code == status
        assert_unframeable(response)


@pytest.mark.parametrize(
    "path, status",
    [("/", 200), ("/useradmin", 200), ("/useradmin/2", 200), ("/table", 200), ("/table/1", 200),
     ("/table/1/rows", 200), ("/auth/settings", 200), ("/useradmin/999", 404)],
)  # fmt: skip
def test_pages_cannot_be_framed_signed_in(client, admin, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert_unframeable(response)


def test_refused_forms_and_forbidden_pages_cannot_be_framed(client, web):
    assert_unframeable(client.post("/auth/login", data={"email": "x", "password": "y"}))  # no CSRF token: 403
    web.login("user")
    response = client.get("/useradmin")
    assert response.status_code == 403
    assert_unframeable(response)


@pytest.mark.parametrize("path", ["/api/books", "/api/books/count", "/api/books/distinct/author", "/api/books/1"])
def test_a_query_string_of_6_kib_is_served_and_one_byte_more_is_414(client, path):
    filler = "x" * (6 * 1024 - len("a="))
    assert client.get(f"{path}?a={filler}").status_code == 200
    response = client.get(f"{path}?a={filler}x")
    assert (response.status_code, response.json) == (414, QUERY_TOO_LONG)


@pytest.mark.parametrize("path", ["/api/books", "/api/books/count", "/api/books/distinct/author", "/api/books/1"])
def test_500_parameters_are_served_and_501_are_400(client, path):
    assert client.get(path + "?" + "&".join(f"k{n}=1" for n in range(500))).status_code == 200
    response = client.get(path + "?" + "&".join(f"k{n}=1" for n in range(501)))
    assert (response.status_code, response.json) == (400, TOO_MANY_PARAMETERS)
    response = client.get(path + "?" + "&".join(["id=1"] * 501))  # repeats count too
    assert (response.status_code, response.json) == (400, TOO_MANY_PARAMETERS)


def test_the_limits_come_before_credentials_and_the_table(client, snapshot):
    before = snapshot()
    long_query = "?a=" + "x" * 9000
    for method, url, headers in [
        ("GET", "/api/nope" + long_query, {}),
        ("GET", "/api/patients" + long_query, bearer("unknown-token")),
        ("POST", "/api/books" + long_query, ADMIN),
        ("DELETE", "/api/books/1" + long_query, ADMIN),
    ]:
        response = client.open(url, method=method, json={"author": "a", "pages": 1}, headers=headers)
        assert (response.status_code, response.json) == (414, QUERY_TOO_LONG), (method, url[:20])
    assert snapshot() == before


def test_pages_keep_their_own_query_strings(client, admin):
    """The limits are the API's: a page's query string is not the API's to judge."""
    assert client.get("/table/1/rows?" + "&".join(f"k{n}=1" for n in range(600))).status_code == 200
