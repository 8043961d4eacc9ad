"""CORS like Saltcorn (issue 12 item 8): any origin's scripts may call /api/ with a token, never with cookies; a
setting restricts the origins or turns it off; cookie-only writes still need the CSRF token."""

import pytest
from playwright.sync_api import sync_playwright

from conftest import TOKENS, bearer, running_server
from saltapi import create_app
from saltapi.cors import ALLOWED_HEADERS, SETTING

ELSEWHERE = "https://app.example"
PREFLIGHT = {
    "Origin": ELSEWHERE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def app_with(db_path, origins: str):
    return create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test", SETTING: origins})


@pytest.mark.parametrize("path", ["/api/books", "/api/books/1", "/api/books/count", "/api/openapi.json", "/api/nope/x/y"])
def test_api_answers_carry_allow_origin_any(client, path):
    response = client.get(path, headers={"Origin": ELSEWHERE})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize("path", ["/api/books", "/api/books/1", "/api/books/delete/1"])
def test_preflights_allow_authorization_and_content_type(client, snapshot, path):
    before = snapshot()
    response = client.options(path, headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"] == ALLOWED_HEADERS
    assert {"GET", "POST", "DELETE"} <= set(response.headers["Access-Control-Allow-Methods"].split(", "))
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.data == b""
    assert snapshot() == before


def test_errors_carry_it_too_so_scripts_can_read_them(client):
    response = client.get("/api/books", headers={"Origin": ELSEWHERE, **bearer("no-such-token")})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "WWW-Authenticate" in response.headers["Access-Control-Expose-Headers"]


def test_pages_carry_no_cors_headers(client):
    response = client.get("/auth/login", headers={"Origin": ELSEWHERE})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_cookie_only_write_from_another_origin_still_needs_the_csrf_token(admin, snapshot):
    before = snapshot()
    response = admin.client.post("/api/books", json={"author": "a", "pages": 1}, headers={"Origin": ELSEWHERE})
    assert (response.status_code, response.json) == (403, {"error": "CSRF token missing or invalid"})
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert snapshot() == before


def test_listed_origins_only(db_path):
    client = app_with(db_path, "https://a.example, https://b.example/").test_client()
    for origin in ("https://a.example", "https://b.example"):
        response = client.get("/api/books", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "Origin" in response.headers["Vary"]
    other = client.options("/api/books", headers={**PREFLIGHT, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Headers" not in other.headers
    assert "Origin" in other.headers["Vary"]


@pytest.mark.parametrize("setting", ["off", "", "OFF"])
def test_turned_off(db_path, setting):
    client = app_with(db_path, setting).test_client()
    assert "Access-Control-Allow-Origin" not in client.get("/api/books", headers={"Origin": ELSEWHERE}).headers
    assert "Access-Control-Allow-Origin" not in client.options("/api/books", headers=PREFLIGHT).headers


def test_the_environment_variable_sets_it(db_path, monkeypatch):
    monkeypatch.setenv(SETTING, "https://a.example")
    client = create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test"}).test_client()
    assert client.get("/api/books", headers={"Origin": "https://a.example"}).headers["Access-Control-Allow-Origin"] == (
        "https://a.example"
    )
    assert "Access-Control-Allow-Origin" not in client.get("/api/books", headers={"Origin": ELSEWHERE}).headers


def test_a_browser_script_of_another_origin_reads_and_writes_with_a_token(db_path, tmp_path):
    """Chromium itself enforces CORS: a page of another origin fetches a public table, writes with a token (a
    preflighted request), and cannot get an answer while sending cookies."""
    with running_server(db_path, tmp_path / "server.log") as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless=new", "--no-sandbox"])
        try:
            page = browser.new_page()
            # A document of origin http://localhost:<port> (an API answer: no CSP) calling http://127.0.0.1:<port>.
            page.goto(server.url.replace("127.0.0.1", "localhost") + "/api/openapi.json")
            results = page.evaluate(
                """async ([base, token]) => {
                    const list = await (await fetch(base + "/api/books")).json();
                    const write = await fetch(base + "/api/books", {method: "POST",
                        headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
                        body: JSON.stringify({author: "Italo Calvino", pages: 260})});
                    let withCookies;
                    try { await fetch(base + "/api/books", {credentials: "include"}); withCookies = "answered"; }
                    catch (error) { withCookies = "blocked"; }
                    return [list.success.length, write.status, (await write.json()).success, withCookies];
                }""",
                [server.url, TOKENS["admin"]],
            )
        finally:
            browser.close()
    assert results == [2, 200, 3, "blocked"]
