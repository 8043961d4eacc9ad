"""What a deployment needs besides the API: `GET /healthz` for a load balancer or service manager, and `/api/docs`,
Swagger UI served from the package (never a CDN) on the caller's own OpenAPI document."""

import re
from urllib.parse import urlsplit

import pytest
import requests

from conftest import ROOT, SCREENSHOTS, WebActions
from saltapi import create_app

HTTP_TIMEOUT = 10
ASSET = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"')


def test_healthz_is_ok_without_credentials(client):
    answer = client.get("/healthz")
    assert (answer.status_code, answer.json) == (200, {"status": "ok"})
    assert answer.mimetype == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path):
    not_a_database = tmp_path / "a directory"
    not_a_database.mkdir()
    app = create_app({"TESTING": True, "DATABASE": str(not_a_database), "SECRET_KEY": "test"})
    answer = app.test_client().get("/healthz")
    assert (answer.status_code, answer.json) == (503, {"status": "unavailable", "error": "The database does not answer"})
    assert answer.headers["Cache-Control"] == "no-store"


def test_healthz_over_http(live_server):
    answer = requests.get(f"{live_server.url}/healthz", timeout=HTTP_TIMEOUT)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


def test_behind_a_local_tls_proxy_the_session_cookie_is_secure(live_server):
    """README "Deploying": nginx on the same machine says X-Forwarded-Proto: https, and the cookie gets Secure."""
    plain = requests.get(f"{live_server.url}/auth/login", timeout=HTTP_TIMEOUT)
    proxied = requests.get(f"{live_server.url}/auth/login", headers={"X-Forwarded-Proto": "https"}, timeout=HTTP_TIMEOUT)
    assert "connect.sid=" in plain.headers["Set-Cookie"] and "Secure" not in plain.headers["Set-Cookie"]
    assert "connect.sid=" in proxied.headers["Set-Cookie"] and "Secure" in proxied.headers["Set-Cookie"]


def page_assets(html: str) -> list[str]:
    return [url.replace("&amp;", "&") for url in ASSET.findall(html)]


def test_api_docs_loads_only_its_own_assets(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assets = page_assets(page.text)
    assert {urlsplit(url).path for url in assets} >= {
        "/saltapi/static/swagger-ui/swagger-ui-bundle.js", "/saltapi/static/swagger-ui/swagger-ui.css",
        "/saltapi/static/api_docs.js",
    }  # fmt: skip
    for url in assets:
        assert not urlsplit(url).netloc, url  # nothing from another host
        if url.startswith("data:"):  # the empty icon that spares a request for /favicon.ico
            continue
        asset = client.get(url)
        assert asset.status_code == 200, url
        asset.close()
    assert 'data-url="/api/openapi.json"' in page.text


def test_api_docs_names_the_signed_in_caller(client):
    WebActions(client).login("staff")
    assert "The API as staff@foo.com may use it" in client.get("/api/docs").text


def test_the_web_ui_links_to_the_api_docs(client):
    assert 'href="/api/docs"' in client.get("/auth/login").text


def test_the_vendored_files_are_only_what_the_page_loads():
    folder = ROOT / "saltapi" / "web" / "static" / "swagger-ui"
    assert sorted(path.name for path in folder.iterdir()) == [
        "LICENSE", "NOTICE", "README.txt", "swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css",
    ]  # fmt: skip
    assert sum(path.stat().st_size for path in folder.iterdir()) < 2_000_000


@pytest.mark.slow
def test_api_docs_renders_in_a_browser_from_this_server_alone(live_server, chromium_page):
    """Swagger UI draws the public's operations, and every request the page makes goes to this server."""
    requested: list[str] = []
    chromium_page.on("request", lambda request: requested.append(request.url))
    problems: list[str] = []
    chromium_page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    chromium_page.on("pageerror", lambda error: problems.append(str(error)))
    chromium_page.goto(f"{live_server.url}/api/docs")
    chromium_page.locator(".opblock-summary-path", has_text="/api/books").first.wait_for()
    assert chromium_page.locator(".info .title").inner_text().startswith("saltapi")
    assert requested and all(url.startswith(live_server.url + "/") for url in requested), requested
    assert f"{live_server.url}/api/openapi.json" in requested
    assert problems == []  # a Content-Security-Policy refusal would show here
    chromium_page.screenshot(path=SCREENSHOTS / "saltapi-api-docs.png", full_page=True)
