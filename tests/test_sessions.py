"""Sessions end on the server (issue 12 item 4) and passwords can be changed and set (item 7).

A session cookie copied before the event is the attacker's view: it must be worthless after signing out, a
password change, a role change or the user's deletion, and after the idle time.
"""

import time

import pytest
from click.testing import CliRunner

from conftest import PASSWORDS, WebActions, csrf_from
from saltapi import create_app
from saltapi.auth import IDLE_MINUTES_SETTING, SESSION_SEEN
from saltapi.store.users import MIN_PASSWORD_LENGTH

ADMIN_EMAIL, ADMIN_PASSWORD = PASSWORDS["admin"]
USER_EMAIL, USER_PASSWORD = PASSWORDS["user"]
NEW_PASSWORD = "a new password 1"
SHORT = f"The password must have at least {MIN_PASSWORD_LENGTH} characters"


def signed_in_as(app, who: str) -> WebActions:
    web = WebActions(app.test_client())
    assert web.login(who).status_code == 302
    return web


def copy_of(app, web: WebActions) -> WebActions:
    """Another browser holding a copy of `web`'s cookies (what a thief or a shared computer keeps)."""
    other = app.test_client()
    for cookie in web.client._cookies.values():
        other.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return WebActions(other)


def is_signed_in(web: WebActions) -> bool:
    return web.client.get("/auth/settings").status_code == 200


def account_page_csrf(web: WebActions) -> str:
    return csrf_from(web.client.get("/auth/settings").text)


# --- item 4 ---------------------------------------------------------------------------------------------------


def test_a_cookie_copied_before_signing_out_creates_no_admin_afterwards(app, snapshot):
    admin = signed_in_as(app, "admin")
    thief = copy_of(app, admin)
    csrf = account_page_csrf(thief)  # the copy works, and its CSRF token is known
    admin.logout()
    before = snapshot()
    response = thief.client.post(
        "/useradmin/save", data={"email": "evil@x.com", "role_id": "1", "password": "p" * 12, "_csrf": csrf}
    )
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert thief.client.get("/api/notes").status_code == 401  # the API sees the public, not the admin
    assert snapshot() == before


def test_signing_out_ends_every_session_of_the_user(app):
    first, second = signed_in_as(app, "admin"), signed_in_as(app, "admin")
    other_user = signed_in_as(app, "user")
    first.logout()
    assert not is_signed_in(second)
    assert is_signed_in(other_user)


def test_a_role_change_ends_the_users_sessions(app, admin):
    user = signed_in_as(app, "user")
    assert admin.post("/useradmin/set-role/3", {"role_id": "40"}).status_code == 302
    assert not is_signed_in(user)
    assert is_signed_in(admin)
    assert signed_in_as(app, "user")  # signing in again works, under the new role


def test_the_same_role_again_ends_nothing(app, admin):
    user = signed_in_as(app, "user")
    admin.post("/useradmin/set-role/3", {"role_id": "80"})
    assert is_signed_in(user)


def test_deleting_the_user_ends_their_sessions(app, admin):
    user = WebActions(app.test_client())
    assert user.login("tokenless@foo.com", "no-token-here").status_code == 302
    thief = copy_of(app, user)
    assert admin.post("/useradmin/delete/4").status_code == 302
    assert not is_signed_in(user) and not is_signed_in(thief)


def set_last_seen(web: WebActions, seconds_ago: float) -> None:
    with web.client.session_transaction() as session:
        session[SESSION_SEEN] = int(time.time() - seconds_ago)


def test_an_idle_session_ends(app):
    web = signed_in_as(app, "admin")
    set_last_seen(web, 8 * 60 * 60 + 5)  # the default idle time is 8 hours
    assert not is_signed_in(web)


def test_a_used_session_stays_and_is_marked_seen(app):
    web = signed_in_as(app, "admin")
    set_last_seen(web, 8 * 60 * 60 - 120)
    assert is_signed_in(web)
    with web.client.session_transaction() as session:
        assert time.time() - session[SESSION_SEEN] < 60  # used just now: the idle time starts again


def test_the_idle_time_is_a_setting(db_path, monkeypatch):
    monkeypatch.setenv(IDLE_MINUTES_SETTING, "30")
    app = create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test"})
    web = signed_in_as(app, "admin")
    set_last_seen(web, 29 * 60)
    assert is_signed_in(web)
    set_last_seen(web, 31 * 60)
    assert not is_signed_in(web)


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf"])
def test_a_wrong_idle_time_is_refused_at_start(db_path, value):
    with pytest.raises(ValueError, match=IDLE_MINUTES_SETTING):
        create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test", IDLE_MINUTES_SETTING: value})


# --- item 7 ---------------------------------------------------------------------------------------------------


def change_own(web: WebActions, current: str, new: str, again: str | None = None):
    data = {"password": current, "new_password": new, "new_password_again": new if again is None else again}
    return web.client.post("/auth/settings", data={**data, "_csrf": account_page_csrf(web)})


def can_sign_in(app, email: str, password: str) -> bool:
    return WebActions(app.test_client()).login(email, password).status_code == 302


def test_a_user_changes_their_password_and_other_sessions_end(app):
    web, elsewhere = signed_in_as(app, "user"), signed_in_as(app, "user")
    response = change_own(web, USER_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302
    assert is_signed_in(web) and not is_signed_in(elsewhere)
    assert can_sign_in(app, USER_EMAIL, NEW_PASSWORD)
    assert not can_sign_in(app, USER_EMAIL, USER_PASSWORD)


@pytest.mark.parametrize(
    "current, new, again, message",
    [
        ("wrong password", NEW_PASSWORD, None, "The current password is not right."),
        (USER_PASSWORD, NEW_PASSWORD, "something else", "The two new passwords differ."),
        (USER_PASSWORD, "short", None, SHORT),
    ],
    ids=["wrong current", "repeat differs", "too short"],
)
def test_a_refused_change_changes_nothing(app, snapshot, current, new, again, message):
    web = signed_in_as(app, "user")
    before = snapshot()
    response = change_own(web, current, new, again)
    assert response.status_code == 400
    assert message in response.text
    assert snapshot() == before
    assert is_signed_in(web)


def test_guessing_the_current_password_is_slowed_like_signing_in(app, snapshot):
    web = signed_in_as(app, "user")
    before = snapshot()
    statuses = [change_own(web, f"guess {i}", NEW_PASSWORD).status_code for i in range(30)]
    assert statuses[0] == 400 and 429 in statuses
    assert snapshot() == before


def test_an_admin_sets_a_users_password_and_their_sessions_end(app, admin):
    user = signed_in_as(app, "user")
    response = admin.post("/useradmin/set-password/3", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert response.status_code == 302
    assert "is set" in admin.client.get(response.headers["Location"]).text
    assert not is_signed_in(user)
    assert can_sign_in(app, USER_EMAIL, NEW_PASSWORD)


@pytest.mark.parametrize(
    "user_id, password, again, message",
    [
        (3, "short", "short", SHORT),
        (3, NEW_PASSWORD, "other password", "The two passwords differ."),
        (1, NEW_PASSWORD, NEW_PASSWORD, "Change your own password in your account settings."),
    ],
    ids=["too short", "repeat differs", "own"],
)
def test_an_admin_cannot_set_a_bad_password_nor_their_own_there(admin, snapshot, user_id, password, again, message):
    before = snapshot()
    response = admin.post(f"/useradmin/set-password/{user_id}", {"password": password, "password_again": again})
    assert message in admin.client.get(response.headers["Location"]).text
    assert snapshot() == before


def test_set_password_needs_an_admin_and_csrf(app, snapshot):
    user = signed_in_as(app, "user")
    before = snapshot()
    assert user.post("/useradmin/set-password/2", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD}).status_code == 403
    admin = signed_in_as(app, "admin")
    no_csrf = admin.client.post("/useradmin/set-password/2", data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert no_csrf.status_code == 403
    assert snapshot() == before


def test_cli_set_password_prompts_twice_without_echo(app, runner):
    user = signed_in_as(app, "user")
    result = runner.invoke(args=["set-password", USER_EMAIL], input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert result.stdout.splitlines()[-1] == f"Set the password of {USER_EMAIL}; their browser sessions are signed out."
    assert not is_signed_in(user)
    assert can_sign_in(app, USER_EMAIL, NEW_PASSWORD)


def test_cli_set_password_asks_again_when_the_repeat_differs(app, runner):
    result = runner.invoke(
        args=["set-password", USER_EMAIL], input=f"{NEW_PASSWORD}\nother one\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert can_sign_in(app, USER_EMAIL, NEW_PASSWORD)


@pytest.mark.parametrize(
    "args, message",
    [
        (["set-password", USER_EMAIL], SHORT),
        (["set-password", "nobody@foo.com"], "No user with email nobody@foo.com"),
        (["create-user", "new@foo.com", "--role", "user"], SHORT),
        (["create-user", "new@foo.com", "--role", "user", "--password", "12345"], SHORT),
    ],
)
def test_cli_passwords_have_the_uis_minimum_length(runner, snapshot, args, message):
    before = snapshot()
    result = runner.invoke(args=args, input="12345\n12345\n")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"Error: {message}"
    assert snapshot() == before


def test_cli_set_password_takes_no_password_on_the_command_line(runner):
    result = runner.invoke(args=["set-password", USER_EMAIL, "--password", NEW_PASSWORD])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_the_real_command_line_prompts(db_path):
    """Through the `saltapi` console command, as an operator types it."""
    from saltapi.console import main

    result = CliRunner().invoke(main, ["set-password", USER_EMAIL, "--db", str(db_path)], input=f"{NEW_PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    app = create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test"})
    assert can_sign_in(app, USER_EMAIL, NEW_PASSWORD)
