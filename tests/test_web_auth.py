"""Signing in and out, the first admin, the session cookie, slowed guessing, and the account page (docs/api.md §7)."""

import re

import pytest
from flask import Flask

from conftest import PASSWORDS, WebActions, bearer, csrf_from
from saltapi import create_app, init_app
from saltapi.db import get_db
from saltapi.startup import prepare
from saltapi.store.connection import connect, transaction
from saltapi.store.login_limits import (
    FREE_FAILURES,
    KEEP_SECONDS,
    MAX_DELAY_SECONDS,
    LoginLimiter,
)
from saltapi.store.users import find_user


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


# What Saltcorn clients (pysaltcorn) look for on the pages, exactly as they look for it.
SALTCORN_CSRF_INPUT = re.compile('<input type="hidden" name="_csrf" value="([^"]*)">')
SALTCORN_ALERTS = re.compile('<div id="alerts-area">(.*?)</div>', re.S)
SALTCORN_TOKEN_CARD = re.compile('<div class="card(.*?)<form action="/auth/gen-api-token"', re.S)
SALTCORN_TOKEN = re.compile("<code>([0-9a-z-]*)</code>", re.S)


def set_cookies(response) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name."""
    return {header.partition("=")[0]: header for header in response.headers.getlist("Set-Cookie")}


def saltcorn_alert(html: str) -> str | None:
    """The message a Saltcorn client reads off a page (pysaltcorn: the alerts area without its tags)."""
    match = SALTCORN_ALERTS.search(html)
    return re.sub("<[^>]*>", "", match.group(1)).strip() if match else None


def saltcorn_token(html: str) -> str | None:
    """The API token a Saltcorn client reads off the account page (pysaltcorn's auth_get_token)."""
    card = SALTCORN_TOKEN_CARD.search(html)
    token = SALTCORN_TOKEN.search(card.group(1)) if card else None
    return token.group(1) if token else None


def test_login_page_has_a_form_with_csrf(client):
    page = client.get("/auth/login")
    assert page.status_code == 200
    assert 'name="email"' in page.text and 'name="password"' in page.text
    assert SALTCORN_CSRF_INPUT.search(page.text).group(1) == csrf_from(page.text)
    assert saltcorn_alert(page.text) is None


def test_login_page_when_signed_in_leads_to_a_page_with_the_csrf_token(client, web):
    """Saltcorn clients fetch /auth/login (following redirects) for the session's CSRF token, signed in or not."""
    web.login("staff")
    page = client.get("/auth/login", follow_redirects=True)
    assert page.status_code == 200
    assert SALTCORN_CSRF_INPUT.search(page.text).group(1) == web.csrf()


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
    """The sign-in page again, with 200 as Saltcorn's: Saltcorn clients read the message in the alerts area."""
    response = web.login("admin", password="wrong")
    assert response.status_code == 200
    assert saltcorn_alert(response.text) == "Incorrect email or password."
    assert 'value="admin@foo.com"' in response.text  # the email stays in the box
    assert "loggedin" not in set_cookies(response)
    assert client.get("/useradmin").status_code == 302


def test_unknown_email_is_refused_the_same_way(web):
    response = web.login("nobody@foo.com", password="whatever")
    assert response.status_code == 200
    assert saltcorn_alert(response.text) == "Incorrect email or password."


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
    cookie = set_cookies(web.login("admin"))["connect.sid"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_signing_in_sets_saltcorns_cookie_names(client, web):
    """The session cookie is `connect.sid` and a `loggedin=true` marker comes with it, as on Saltcorn."""
    cookies = set_cookies(web.login("admin"))
    assert set(cookies) == {"connect.sid", "loggedin"}
    assert cookies["loggedin"].startswith("loggedin=true; ")
    assert "Path=/" in cookies["loggedin"] and "SameSite=Lax" in cookies["loggedin"]
    assert client.get_cookie("session") is None


def test_the_loggedin_marker_is_no_credential(app, client, web):
    """Only the session cookie signs a browser in; the marker alone is worth nothing."""
    web.login("admin")
    other = app.test_client()
    other.set_cookie("loggedin", "true")
    assert other.get("/useradmin").status_code == 302


def test_signing_out_clears_the_loggedin_marker(client, web):
    web.login("admin")
    assert client.get_cookie("loggedin").value == "true"
    cookie = set_cookies(web.logout())["loggedin"]
    assert cookie.startswith("loggedin=; ") and "Max-Age=0" in cookie
    assert client.get_cookie("loggedin") is None


@pytest.mark.parametrize(
    "host_config, cookie_name",
    [({}, "connect.sid"), ({"SESSION_COOKIE_NAME": "host_session"}, "host_session")],
    ids=["flask default replaced", "host's own name kept"],
)
def test_a_host_app_keeps_a_session_cookie_name_of_its_own(db_path, host_config, cookie_name):
    host = Flask("host")
    host.config.update(DATABASE=str(db_path), SECRET_KEY="test", TESTING=True, **host_config)
    init_app(host)
    assert host.config["SESSION_COOKIE_NAME"] == cookie_name
    client = host.test_client()
    cookies = set_cookies(WebActions(client).login("admin"))
    assert set(cookies) == {cookie_name, "loggedin"}
    assert client.get("/useradmin").status_code == 200


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
    cookies = set_cookies(response)
    assert "; Secure" in cookies["connect.sid"] and "; Secure" in cookies["loggedin"]


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
    assert set(set_cookies(response)) == {"connect.sid", "loggedin"}
    assert "Welcome! You are signed in as first@example.com, an admin." in client.get("/").text
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


def sign_in_from(app, address: str, who: str = "admin"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return WebActions(client).login(who)


def test_failures_from_everywhere_never_lock_an_account_for_its_owner(app, clock):
    """Saltcorn-style hard locks let anyone keep the admin out; here no failure elsewhere counts against them."""
    for number in range(5 * FREE_FAILURES):
        assert fail_login(app, "admin@foo.com", f"10.0.{number // 250}.{number % 250}").status_code == 200
    assert sign_in_from(app, "10.9.9.9").status_code == 302


def test_failures_for_an_account_from_one_address_make_it_wait_there_only(app, clock):
    for _ in range(FREE_FAILURES):
        assert fail_login(app, "admin@foo.com", "10.0.0.1").status_code == 200
    blocked = sign_in_from(app, "10.0.0.1")  # even the right password waits: else guessing were not slowed
    assert blocked.status_code == 429
    assert "Too many failed sign-ins from this address. Try again in 1 second." in blocked.text
    assert blocked.headers["Retry-After"] == "1"
    assert sign_in_from(app, "10.0.0.2").status_code == 302  # the owner, elsewhere
    clock.now += 1
    assert sign_in_from(app, "10.0.0.1").status_code == 302  # the wait is over; success clears the count


def test_the_wait_grows_with_each_further_failure_up_to_15_minutes(app, clock):
    for _ in range(FREE_FAILURES):
        fail_login(app, "admin@foo.com")
    waits = []
    for _ in range(12):  # 2,823 s in all: every failure is still within the hour
        waits.append(int(fail_login(app, "admin@foo.com").headers["Retry-After"]))
        clock.now += waits[-1]
        assert fail_login(app, "admin@foo.com").status_code == 200  # one more try, counted
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert MAX_DELAY_SECONDS == 900


def test_failures_from_an_address_make_it_wait_for_every_account(app, clock):
    for number in range(FREE_FAILURES):
        assert fail_login(app, f"guess{number}@foo.com", "192.0.2.7").status_code == 200
    assert fail_login(app, "admin@foo.com", "192.0.2.7").status_code == 429
    assert sign_in_from(app, "192.0.2.8").status_code == 302  # another address may sign in


def test_failures_are_forgotten_after_an_hour(app, clock):
    for _ in range(FREE_FAILURES + 5):
        fail_login(app, "admin@foo.com")
        clock.now += 60
    clock.now += KEEP_SECONDS
    for _ in range(FREE_FAILURES):
        assert fail_login(app, "admin@foo.com").status_code == 200


def test_nine_failures_do_not_slow(app, clock):
    for _ in range(FREE_FAILURES - 1):
        fail_login(app, "admin@foo.com")
    assert WebActions(app.test_client()).login("admin").status_code == 302


def test_limiter_waits_after_the_latest_failure(db_path):
    clock = FakeClock()
    limiter = LoginLimiter(free_failures=3, first_delay=10, max_delay=25, window_seconds=100, clock=clock)
    db = connect(db_path)
    try:
        for _ in range(3):
            assert limiter.retry_after(db, "a") is None
            limiter.record_failure(db, "a", "b")
            clock.now += 1
        assert limiter.retry_after(db, "a") == 9  # 10 s after the latest failure, which was 1 s ago
        assert limiter.retry_after(db, "c") is None
        limiter.record_failure(db, "b")
        assert limiter.retry_after(db, "a", "b") == 20  # b failed 4 times: 20 s
        limiter.record_failure(db, "b")
        assert limiter.retry_after(db, "b") == 25  # at most max_delay
        limiter.reset(db, "a")
        assert limiter.retry_after(db, "a") is None
        clock.now += 100
        assert limiter.retry_after(db, "b") is None  # left the window
    finally:
        db.close()


def test_failures_are_counted_across_processes(app, db_path, clock):
    """Two apps on one file stand for two worker processes: the failures of one slow the other."""
    other_worker = create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test"})
    other_worker.extensions["saltapi"].login_limiter.clock = clock
    for worker in [app, other_worker] * (FREE_FAILURES // 2):
        fail_login(worker, "admin@foo.com")
    assert WebActions(app.test_client()).login("admin").status_code == 429
    assert WebActions(other_worker.test_client()).login("admin").status_code == 429


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
    assert saltcorn_token(page.text) is None  # only a hash is kept: an old token is never shown again
    response = web.post("/auth/gen-api-token")
    assert (response.status_code, response.location) == (302, "/auth/settings")
    shown = client.get("/auth/settings").text
    token = new_token_on(shown)
    assert token and len(token) == 36
    assert saltcorn_token(shown) == token  # where Saltcorn clients read it
    assert "Copy" in shown
    again = client.get("/auth/settings").text
    assert token not in again and new_token_on(again) is None and saltcorn_token(again) is None
    assert "A token exists, made " in again
    assert client.get("/api/notes", headers=bearer(token)).status_code == 200
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 401


def test_own_token_can_be_removed(client, web):
    web.login("user")
    assert web.post("/auth/remove-api-token").location == "/auth/settings"
    page = client.get("/auth/settings").text
    assert "No API token." in page and ">Generate<" in page
    assert SALTCORN_TOKEN_CARD.search(page) and saltcorn_token(page) is None
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
    assert web.post("/auth/gen-api-token").location == "/auth/settings"
    assert "Your role may not have an API token." in client.get("/auth/settings").text
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 200  # unchanged
    web.logout()
    web.login("staff")
    assert ">Reset<" in client.get("/auth/settings").text


@pytest.mark.parametrize("path", ["/auth/gen-api-token", "/auth/remove-api-token"])
def test_own_token_forms_need_csrf(client, web, snapshot, path):
    web.login("user")
    before = snapshot()
    assert client.post(path).status_code == 403
    assert client.post(path, headers={"CSRF-Token": "not-the-token"}).status_code == 403
    assert client.post(path, headers={"CSRF-Token": ""}, data={"_csrf": "not-the-token"}).status_code == 403
    assert snapshot() == before
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 200


@pytest.mark.parametrize("header", ["CSRF-Token", "X-CSRF-Token", "XSRF-Token", "X-XSRF-Token"])
def test_auth_forms_take_the_csrf_token_from_a_header(client, web, header):
    """As Saltcorn clients send it: pysaltcorn posts /auth/gen-api-token with `CSRF-Token` and no form at all."""
    web.login("user")
    response = client.post("/auth/gen-api-token", headers={header: web.csrf()})
    assert (response.status_code, response.location) == (302, "/auth/settings")
    token = saltcorn_token(client.get("/auth/settings").text)
    assert client.get("/api/notes", headers=bearer(token)).status_code == 200
    response = client.post("/auth/remove-api-token", headers={header: web.csrf()})
    assert (response.status_code, response.location) == (302, "/auth/settings")
    assert client.get("/api/notes", headers=bearer(token)).status_code == 401


def test_the_own_token_routes_are_saltcorns_only(client, web):
    web.login("user")
    for old in ("/auth/settings/gen-api-token", "/auth/settings/remove-api-token"):
        assert web.post(old).status_code == 404
    assert client.get("/api/notes", headers=bearer("user-token-0003")).status_code == 200


# The console on first start


def test_first_start_points_to_the_web_page_and_the_cli(empty_app):
    lines = prepare(empty_app, demo=False, server_url="http://127.0.0.1:5000")
    text = "\n".join(lines)
    assert "http://127.0.0.1:5000/auth/create_first_user" in text
    assert " create-user admin@example.com --role admin --db " in text
    assert "/auth/create_first_user" in "\n".join(prepare(empty_app, demo=False))
