"""Signing in and out, the first admin, the session cookie, slowed-down guessing, and the account page (SPEC §7)."""

import re

import pytest

from conftest import PASSWORDS, WebActions, bearer, csrf_from
from saltapi import create_app
from saltapi.db import get_db, transaction
from saltapi.login_limits import MAX_FAILURES, WINDOW_SECONDS, LoginLimiter
from saltapi.startup import prepare
from saltapi.users import find_user


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def empty_app(tmp_path):
    """An instance with no users and no tables."""
    return create_app({"TESTING": True, "DATABASE": str(tmp_path / "empty.sqlite"), "SECRET_KEY": "test"})


@pytest.fixture
def clock(app) -> FakeClock:
    clock = FakeClock()
    app.extensions["saltapi"].login_limiter.clock = clock
    return clock


def test_login_page_has_a_form_with_csrf(client):
    page = client.get("/auth/login")
    assert page.status_code == 200
    assert 'name="email"' in page.text and 'name="password"' in page.text
    assert csrf_from(page.text)


def test_login_signs_in_and_goes_home(client, web):
    response = web.login("admin")
    assert (response.status_code, response.location) == (302, "/")
    home = client.get("/")
    assert home.status_code == 200
    assert "admin@foo.com" in home.text
    assert "Settings" in home.text and "/useradmin" in home.text and "/table" in home.text


def test_login_returns_to_the_page_asked_for(client, web):
    first = client.get("/useradmin")
    assert first.status_code == 302
    assert first.location.startswith("/auth/login?next=")
    email, password = PASSWORDS["admin"]
    response = client.post(
        "/auth/login", data={"email": email, "password": password, "next": "/useradmin", "_csrf": web.csrf()}
    )
    assert response.location == "/useradmin"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_site(client, web, target):
    email, password = PASSWORDS["admin"]
    form = {"email": email, "password": password, "next": target, "_csrf": web.csrf()}
    response = client.post("/auth/login", data=form)
    assert response.location == "/"


def test_wrong_password_is_refused_next_to_the_form(client, web):
    response = web.login("admin", password="wrong")
    assert response.status_code == 400
    assert "Incorrect email or password." in response.text
    assert 'value="admin@foo.com"' in response.text  # the email stays in the box
    assert client.get("/useradmin").status_code == 302


def test_unknown_email_is_refused_the_same_way(web):
    response = web.login("nobody@foo.com", password="whatever")
    assert response.status_code == 400
    assert "Incorrect email or password." in response.text


def test_login_without_csrf_is_refused(client):
    email, password = PASSWORDS["admin"]
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 403
    assert "CSRF token missing or invalid" in response.text
    assert client.get("/useradmin").status_code == 302  # not signed in


def test_login_with_a_token_from_another_session_is_refused(app, client):
    other = WebActions(app.test_client())
    email, password = PASSWORDS["admin"]
    response = client.post("/auth/login", data={"email": email, "password": password, "_csrf": other.csrf()})
    assert response.status_code == 403


def test_session_cookie_is_httponly_and_lax(web):
    cookie = web.login("admin").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app):
    client = app.test_client()
    page = client.get("/auth/login", base_url="https://localhost")
    email, password = PASSWORDS["admin"]
    response = client.post(
        "/auth/login",
        data={"email": email, "password": password, "_csrf": csrf_from(page.text)},
        base_url="https://localhost",
    )
    assert response.status_code == 302
    assert "; Secure" in response.headers["Set-Cookie"]


def test_signing_in_replaces_the_csrf_token(web):
    before = web.csrf()
    web.login("admin")
    assert web.csrf() != before


def test_logout_get_asks_and_post_signs_out(client, web):
    web.login("admin")
    ask = client.get("/auth/logout")
    assert ask.status_code == 200 and "Sign out?" in ask.text
    assert client.get("/useradmin").status_code == 200  # GET changed nothing
    response = web.logout()
    assert (response.status_code, response.location) == (302, "/auth/login")
    assert client.get("/useradmin").status_code == 302


def test_logout_without_csrf_is_refused(client, web):
    web.login("admin")
    assert client.post("/auth/logout").status_code == 403
    assert client.get("/useradmin").status_code == 200


def test_a_deleted_user_is_signed_out(app, client, web):
    web.login("staff")
    assert client.get("/auth/settings").status_code == 200
    with app.app_context():
        db = get_db()
        with transaction(db):
            db.execute("DELETE FROM _sc_users WHERE email = 'staff@foo.com'")
    assert client.get("/auth/settings").status_code == 302


# The first admin


def test_create_first_user_makes_a_signed_in_admin(empty_app):
    client = empty_app.test_client()
    assert client.get("/").location == "/auth/create_first_user"
    assert client.get("/auth/login").location == "/auth/create_first_user"
    web = WebActions(client)
    response = web.post("/auth/create_first_user", {"email": "first@example.com", "password": "long-enough"})
    assert (response.status_code, response.location) == (302, "/")
    with empty_app.app_context():
        user = find_user(get_db(), "first@example.com")
    assert user.role_id == 1
    assert client.get("/useradmin").status_code == 200
    assert "first@example.com" in client.get("/useradmin").text


def test_create_first_user_is_gone_once_a_user_exists(client, web):
    assert client.get("/auth/create_first_user").location == "/auth/login"
    response = web.post("/auth/create_first_user", {"email": "intruder@example.com", "password": "long-enough"})
    assert response.location == "/auth/login"
    web.login("admin")
    assert "intruder@example.com" not in client.get("/useradmin").text


@pytest.mark.parametrize(
    "email, password, message",
    [
        ("first@example.com", "short", "The password must have at least 8 characters"),
        ("not-an-email", "long-enough", "Not an email address: &#39;not-an-email&#39;"),
    ],
)
def test_create_first_user_shows_bad_input_next_to_the_form(empty_app, email, password, message):
    client = empty_app.test_client()
    response = WebActions(client).post("/auth/create_first_user", {"email": email, "password": password})
    assert response.status_code == 400
    assert message in response.text
    assert client.get("/").location == "/auth/create_first_user"  # still nobody


def test_create_first_user_needs_csrf(empty_app):
    client = empty_app.test_client()
    response = client.post("/auth/create_first_user", data={"email": "a@example.com", "password": "long-enough"})
    assert response.status_code == 403
    assert client.get("/").location == "/auth/create_first_user"


def test_create_first_user_escapes_what_was_typed(empty_app):
    client = empty_app.test_client()
    attack = '"><script>alert(1)</script>'
    response = WebActions(client).post("/auth/create_first_user", {"email": attack, "password": "x"})
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


# Slowing down guessing


def fail_login(app, email: str, address: str = "127.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return WebActions(client).login(email, password="wrong guess")


def test_ten_failures_for_an_account_block_it_with_429(app, clock):
    for number in range(MAX_FAILURES):
        assert fail_login(app, "admin@foo.com", f"10.0.0.{number}").status_code == 400
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.0.1.1"
    blocked = WebActions(client).login("admin")  # even the right password waits
    assert blocked.status_code == 429
    assert "Too many failed sign-ins for this account or from this address. Try again in 15 minutes." in blocked.text
    assert blocked.headers["Retry-After"] == str(WINDOW_SECONDS)
    assert client.get("/useradmin").status_code == 302
    # Other accounts are not affected from other addresses.
    assert fail_login(app, "staff@foo.com", "10.0.2.1").status_code == 400


def test_ten_failures_from_an_address_block_it_with_429(app, clock):
    for number in range(MAX_FAILURES):
        assert fail_login(app, f"guess{number}@foo.com", "192.0.2.7").status_code == 400
    assert fail_login(app, "admin@foo.com", "192.0.2.7").status_code == 429
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.0.2.8"
    assert WebActions(client).login("admin").status_code == 302  # another address may sign in


def test_a_block_ends_when_the_failures_leave_the_window(app, clock):
    for _ in range(MAX_FAILURES):
        fail_login(app, "admin@foo.com")
    clock.now += WINDOW_SECONDS - 60
    assert fail_login(app, "admin@foo.com").status_code == 429
    clock.now += 61
    assert WebActions(app.test_client()).login("admin").status_code == 302


def test_nine_failures_do_not_block(app, clock):
    for _ in range(MAX_FAILURES - 1):
        fail_login(app, "admin@foo.com")
    assert WebActions(app.test_client()).login("admin").status_code == 302


def test_limiter_counts_each_key_in_a_sliding_window():
    clock = FakeClock()
    limiter = LoginLimiter(clock=clock, max_failures=3, window_seconds=100)
    for _ in range(3):
        assert limiter.retry_after("a") is None
        limiter.record_failure("a", "b")
        clock.now += 10
    assert limiter.retry_after("a") == 70  # failures at 0, 10 and 20 s; now 30 s; the first leaves at 100 s
    assert limiter.retry_after("c") is None
    limiter.reset("a")
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a", "b") == 70
    clock.now += 69
    assert limiter.retry_after("b") == 1
    clock.now += 1
    assert limiter.retry_after("b") is None


# The account page and its own API token


def test_settings_needs_sign_in(client):
    response = client.get("/auth/settings")
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")


def new_token_on(html: str) -> str | None:
    match = re.search(r'id="new-api-token"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else None


def test_own_token_is_shown_once_and_works(client, web):
    web.login("user")
    page = client.get("/auth/settings")
    assert "user@foo.com" in page.text
    assert ">Reset<" in page.text  # the fixture gave this user a token
    response = web.post("/auth/settings/gen-api-token")
    assert (response.status_code, response.location) == (302, "/auth/settings")
    shown = client.get("/auth/settings").text
    token = new_token_on(shown)
    assert token and len(token) == 36
    assert "Copy" in shown
    again = client.get("/auth/settings").text
    assert token not in again and new_token_on(again) is None
    assert "A token exists, made " in again
    assert client.get("/api/notes", headers=bearer(token)).status_code == 200
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 401


def test_own_token_can_be_removed(client, web):
    web.login("user")
    assert web.post("/auth/settings/remove-api-token").location == "/auth/settings"
    page = client.get("/auth/settings").text
    assert "No API token." in page and ">Generate<" in page
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 401


def test_own_token_card_follows_min_role_apikeygen(app, client, web):
    with app.app_context():
        db = get_db()
        with transaction(db):
            db.execute("INSERT INTO _sc_config (key, value) VALUES ('min_role_apikeygen', '40')")
    web.login("user")
    page = client.get("/auth/settings").text
    assert "Your role may not have an API token." in page
    assert "gen-api-token" not in page
    web.post("/auth/settings/gen-api-token")
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 200  # unchanged
    web.logout()
    web.login("staff")
    assert ">Reset<" in client.get("/auth/settings").text


def test_own_token_forms_need_csrf(client, web):
    web.login("user")
    assert client.post("/auth/settings/gen-api-token").status_code == 403
    assert client.post("/auth/settings/remove-api-token").status_code == 403
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 200


# The console on first start


def test_first_start_points_to_the_web_page_and_the_cli(empty_app):
    lines = prepare(empty_app, demo=False, server_url="http://127.0.0.1:5000")
    text = "\n".join(lines)
    assert "http://127.0.0.1:5000/auth/create_first_user" in text
    assert "flask --app app create-user admin@example.com --role admin" in text
    assert "/auth/create_first_user" in "\n".join(prepare(empty_app, demo=False))
