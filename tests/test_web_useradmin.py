"""The users pages (docs/api.md §7): admins only; create, change role, delete, and each user's "API token" card."""

import re

import pytest

from conftest import TOKENS, bearer
from saltapi.db import get_db
from saltapi.store.users import find_user

STAFF_ID, USER_ID = 2, 3


def new_token_on(html: str) -> str | None:
    match = re.search(r'id="new-api-token"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else None


def user_in_db(app, email: str):
    with app.app_context():
        return find_user(get_db(), email)


PAGES = [
    ("get", "/useradmin"),
    ("get", f"/useradmin/{STAFF_ID}"),
    ("post", "/useradmin/save"),
    ("post", f"/useradmin/set-role/{STAFF_ID}"),
    ("post", f"/useradmin/delete/{STAFF_ID}"),
    ("post", f"/useradmin/gen-api-token/{STAFF_ID}"),
    ("post", f"/useradmin/remove-api-token/{STAFF_ID}"),
]


@pytest.mark.parametrize("method, path", PAGES)
def test_signed_out_goes_to_login(client, web, snapshot, method, path):
    before = snapshot()
    response = client.get(path) if method == "get" else web.post(path, {"role_id": "1", "email": "x@y.z"})
    assert response.status_code == 302
    assert response.location.startswith("/auth/login?next=")
    assert snapshot() == before


@pytest.mark.parametrize("method, path", PAGES)
@pytest.mark.parametrize("who", ["staff", "user"])
def test_non_admins_get_403(client, web, snapshot, who, method, path):
    web.login(who)
    before = snapshot()
    response = client.get(path) if method == "get" else web.post(path, {"role_id": "1", "email": "x@y.z"})
    assert response.status_code == 403
    assert "This page is for admins only." in response.text
    assert snapshot() == before


@pytest.mark.parametrize("method, path", [p for p in PAGES if p[0] == "post"])
def test_forms_without_csrf_are_refused(client, admin, snapshot, method, path):
    before = snapshot()
    response = client.post(path, data={"role_id": "1", "email": "x@y.z", "password": "long-enough"})
    assert response.status_code == 403
    assert "CSRF token missing or invalid" in response.text
    assert snapshot() == before


def test_list_shows_every_user_with_role_and_token(client, admin):
    page = client.get("/useradmin").text
    for email in ("admin@foo.com", "staff@foo.com", "user@foo.com", "tokenless@foo.com"):
        assert email in page
    assert "staff" in page and "Create a user" in page
    assert "admin-token-0001" not in page


def test_menu_leads_to_users_and_tables(client, admin):
    home = client.get("/").text
    assert 'href="/useradmin">Users<' in home
    assert 'href="/table">Tables<' in home
    assert 'href="/auth/settings">Account<' in home


def test_create_user(app, client, admin):
    response = admin.post("/useradmin/save", {"email": "new@foo.com", "password": "long-enough", "role_id": "40"})
    assert response.status_code == 302
    user = user_in_db(app, "new@foo.com")
    assert response.location == f"/useradmin/{user.id}"
    assert user.role_id == 40
    client.get("/useradmin")
    admin.logout()
    assert admin.login("new@foo.com", password="long-enough").status_code == 302


@pytest.mark.parametrize(
    "form, message",
    [
        (
            {"email": "staff@foo.com", "password": "long-enough", "role_id": "80"},
            "A user with email staff@foo.com already exists",
        ),
        ({"email": "no-at-sign", "password": "long-enough", "role_id": "80"}, "Not an email address"),
        (
            {"email": "short@foo.com", "password": "short", "role_id": "80"},
            "The password must have at least 8 characters",
        ),
        ({"email": "role@foo.com", "password": "long-enough", "role_id": "7"}, "Choose a role."),
        ({"email": "role@foo.com", "password": "long-enough", "role_id": "admin"}, "Choose a role."),
    ],
)
def test_create_user_shows_bad_input_next_to_the_form(client, admin, snapshot, form, message):
    before = snapshot()
    response = admin.post("/useradmin/save", form)
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{form["email"]}"' in response.text
    assert snapshot() == before


def test_what_users_typed_is_escaped(app, client, admin):
    attack = '<img src=x onerror=alert(1)>@foo.com'
    response = admin.post("/useradmin/save", {"email": attack, "password": "long-enough", "role_id": "80"})
    assert response.status_code == 302
    for page in (client.get("/useradmin").text, client.get(response.location).text):
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;@foo.com" in page


def test_change_role(app, client, admin):
    response = admin.post(f"/useradmin/set-role/{STAFF_ID}", {"role_id": "60"})
    assert response.location == f"/useradmin/{STAFF_ID}"
    assert "staff@foo.com is now editor." in client.get(response.location).text
    assert user_in_db(app, "staff@foo.com").role_id == 60
    # The staff token now reads with the new role at once.
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 401


def test_the_last_admin_keeps_the_role(app, client, admin, snapshot):
    before = snapshot()
    response = admin.post("/useradmin/set-role/1", {"role_id": "40"})
    assert "admin@foo.com is the last admin; make another user admin first" in client.get(response.location).text
    assert snapshot() == before
    admin.post(f"/useradmin/set-role/{STAFF_ID}", {"role_id": "1"})
    admin.post("/useradmin/set-role/1", {"role_id": "40"})
    assert user_in_db(app, "admin@foo.com").role_id == 40
    # Demoted themself: a role change ends the user's sessions, this one too (issue 12).
    assert client.get("/useradmin").location.startswith("/auth/login")


def test_change_role_to_no_role_is_refused(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/useradmin/set-role/{STAFF_ID}", {"role_id": "3"})
    assert "Choose a role." in client.get(response.location).text
    assert snapshot() == before


def test_delete_user(app, client, admin):
    response = admin.post("/useradmin/delete/4")
    assert response.location == "/useradmin"
    assert "Deleted tokenless@foo.com." in client.get("/useradmin").text
    assert user_in_db(app, "tokenless@foo.com") is None


def test_deleting_the_last_admin_is_refused(client, admin, snapshot):
    before = snapshot()
    response = admin.post("/useradmin/delete/1")
    assert response.location == "/useradmin/1"
    assert "admin@foo.com is the last admin and cannot be deleted" in client.get(response.location).text
    assert snapshot() == before


def test_deleting_a_user_that_rows_refer_to_is_refused(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/useradmin/delete/{USER_ID}")
    page = client.get(response.location).text
    assert "user@foo.com cannot be deleted: rows of notes refer to this user in owner" in page
    assert snapshot() == before


def test_unknown_user_is_404(client, admin):
    response = client.get("/useradmin/999")
    assert response.status_code == 404
    assert "There is no user with id 999." in response.text
    assert admin.post("/useradmin/gen-api-token/999").status_code == 404


# The API token card


def test_token_card_generate_when_there_is_none(client, admin):
    page = client.get("/useradmin/4").text
    assert "No API token." in page
    assert ">Generate<" in page and ">Reset<" not in page


def test_generate_shows_the_token_once_and_it_works(client, admin):
    response = admin.post("/useradmin/gen-api-token/4")
    assert (response.status_code, response.location) == (302, "/useradmin/4")
    shown = client.get("/useradmin/4").text
    token = new_token_on(shown)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", token)
    assert 'data-copy="#new-api-token"' in shown
    later = client.get("/useradmin/4").text
    assert token not in later
    assert re.search(r"A token exists, made \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", later)
    assert ">Reset<" in later and ">Remove<" in later and ">Generate<" not in later
    assert 'data-confirm="Reset the API token? The old token stops working at once."' in later
    assert client.get("/api/notes", headers=bearer(token)).status_code == 200


def test_a_token_is_shown_only_on_its_own_users_page(client, admin):
    admin.post("/useradmin/gen-api-token/4")
    assert new_token_on(client.get(f"/useradmin/{STAFF_ID}").text) is None
    assert new_token_on(client.get("/useradmin/4").text) is None  # the stash went with the first page


def test_reset_invalidates_the_old_token(client, admin):
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 200
    admin.post(f"/useradmin/gen-api-token/{STAFF_ID}")
    token = new_token_on(client.get(f"/useradmin/{STAFF_ID}").text)
    old = client.get("/api/patients", headers=bearer(TOKENS["staff"]))
    assert (old.status_code, old.json) == (401, {"error": "Not authorized"})
    assert client.get("/api/patients", headers=bearer(token)).status_code == 200


def test_remove_token(client, admin):
    response = admin.post(f"/useradmin/remove-api-token/{STAFF_ID}")
    assert response.location == f"/useradmin/{STAFF_ID}"
    page = client.get(response.location).text
    assert "Removed the API token of staff@foo.com; it no longer works." in page
    assert "No API token." in page
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 401
