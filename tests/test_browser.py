"""The web UI end to end, in a real headless Chromium (Debian's `chromium`, driven by Playwright) against a real
`python app.py`: first admin, a user's API token made, reset and used, and a table opened to the public.

Screenshots of the pages go to the temp directory (SALTAPI_SCREENSHOTS names another), for a person to look at.
"""

import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from conftest import SCREENSHOTS, bearer, load_data, running_server
from saltapi import create_app
from saltapi.db import get_db
from saltapi.fixtures import load_fixture
from saltapi.store.connection import connect

HTTP_TIMEOUT = 10
ADMIN_EMAIL, ADMIN_PASSWORD = "boss@example.com", "correct horse battery"


def server_env() -> dict[str, str]:
    """Our environment without saltapi's or Flask's variables (a developer's shell may set them)."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("SALTAPI_", "FLASK_"))}


@pytest.fixture
def tables_without_users(tmp_path) -> Path:
    """A database with the test tables (patients is read by staff) and rows, but no users at all."""
    data = load_data()
    data = {"roles": data["roles"], "tables": [t for t in data["tables"] if t["name"] != "notes"]}  # notes names users
    path = tmp_path / "browser.sqlite"
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "test"})
    with app.app_context():
        load_fixture(get_db(), data)
    db = connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def api_get(server, path: str, token: str | None = None) -> requests.Response:
    return requests.get(server.url + path, headers=bearer(token) if token else {}, timeout=HTTP_TIMEOUT)


def shown_token(page) -> str:
    token = page.locator("#new-api-token").input_value()
    assert len(token) == 36
    return token

pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
def test_first_admin_token_and_public_table(tables_without_users, tmp_path, chromium_page):
    page = chromium_page
    with running_server(tables_without_users, tmp_path / "server.log", ("--no-demo",), env=server_env()) as server:
        assert "/auth/create_first_user" in server.output()

        # No users yet: the start page leads to making the first admin, who is then signed in.
        page.goto(server.url + "/")
        expect(page).to_have_url(server.url + "/auth/create_first_user")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Create admin").click()
        expect(page.locator(".topbar")).to_contain_text(ADMIN_EMAIL)

        # Sign out and in again, through the account menu and the sign-in form.
        page.locator("details.account > summary").click()
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(server.url + "/auth/login")
        page.screenshot(path=SCREENSHOTS / "saltapi-login.png")
        page.get_by_label("Email").fill(ADMIN_EMAIL)
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("link", name="patients")).to_be_visible()

        # Settings -> Users: make a staff user and open their page.
        page.get_by_text("Settings", exact=True).click()
        page.get_by_role("link", name="Users", exact=True).click()
        expect(page).to_have_url(server.url + "/useradmin")
        page.locator("#new-email").fill("staff@example.com")
        page.locator("#new-password").fill("staff password")
        page.locator("#new-role").select_option(label="staff")
        page.get_by_role("button", name="Create user").click()
        expect(page.get_by_role("heading", name="staff@example.com")).to_be_visible()

        # Generate: the token is shown once, and works on a table staff may read.
        assert api_get(server, "/api/patients").status_code == 401
        page.get_by_role("button", name="Generate").click()
        first = shown_token(page)
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == first
        page.screenshot(path=SCREENSHOTS / "saltapi-token.png", full_page=True)
        response = api_get(server, "/api/patients", first)
        assert response.status_code == 200
        assert [row["name"] for row in response.json()["success"]] == ["Kirk Douglas", "Michael Douglas"]

        # Reset (after the confirmation): the old token fails loudly, the new one works.
        page.reload()
        expect(page.locator("#new-api-token")).to_have_count(0)
        expect(page.locator("#api-token")).to_contain_text("A token exists, made ")
        page.get_by_role("button", name="Reset").click()
        second = shown_token(page)
        assert second != first
        old = api_get(server, "/api/patients", first)
        assert (old.status_code, old.json()) == (401, {"error": "Not authorized"})
        assert api_get(server, "/api/patients", second).status_code == 200

        # Settings -> Tables -> patients: readable by the public from the next request on.
        page.get_by_text("Settings", exact=True).click()
        page.get_by_role("link", name="Tables", exact=True).click()
        page.get_by_role("link", name="patients", exact=True).click()
        page.get_by_label("Minimum role to read").select_option(label="public")
        page.get_by_role("button", name="Save settings").click()
        expect(page.locator(".alert-success")).to_contain_text("Saved the settings of patients")
        page.screenshot(path=SCREENSHOTS / "saltapi-table.png", full_page=True)
        public = api_get(server, "/api/patients")
        assert public.status_code == 200
        assert len(public.json()["success"]) == 2

        # The rows page shows what the API shows.
        page.get_by_role("link", name="Rows (2)").click()
        expect(page.locator("table.rows")).to_contain_text("Michael Douglas")
        page.screenshot(path=SCREENSHOTS / "saltapi-rows.png", full_page=True)
