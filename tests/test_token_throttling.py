"""Guessing tokens is slow: unknown tokens from one address are counted, and after 20 in 5 minutes that address's
token requests wait (429 + Retry-After). Plain tokens never reach the access log or the database file.
"""

import shutil
import sqlite3

import pytest
import requests

from conftest import TOKENS, bearer, running_server
from saltapi import create_app
from saltapi.auth import TOKEN_LIMITER_KEY, TOKEN_MAX_FAILURES, TOKEN_WINDOW_SECONDS
from saltapi.store.login_limits import LoginLimiter

TOO_MANY = {"error": "Too many failed attempts; try again later"}
NOT_AUTHORIZED = {"error": "Not authorized"}
ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.9"
START = 1_800_000_000.0
TIMEOUT = 10


class Clock:
    """Wall time the test moves by hand."""

    def __init__(self, now: float = START):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app) -> Clock:
    clock = Clock()
    app.extensions[TOKEN_LIMITER_KEY] = LoginLimiter(
        clock=clock, max_failures=TOKEN_MAX_FAILURES, window_seconds=TOKEN_WINDOW_SECONDS
    )
    return clock


def get(client, path: str = "/api/books", address: str = ADDRESS, **kwargs):
    return client.get(path, environ_overrides={"REMOTE_ADDR": address}, **kwargs)


def fail(client, times: int, address: str = ADDRESS) -> None:
    for attempt in range(times):
        response = get(client, headers=bearer(f"guess-{attempt:04d}"), address=address)
        assert (response.status_code, response.json) == (401, NOT_AUTHORIZED), attempt
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_limits_are_20_in_5_minutes():
    assert (TOKEN_MAX_FAILURES, TOKEN_WINDOW_SECONDS) == (20, 300)


def test_unknown_tokens_are_401_until_the_limit_then_429(client, clock):
    fail(client, 20)
    for where in [
        {"headers": bearer("guess-9999")},
        {"query_string": {"access_token": "guess-9999"}},
        {"headers": bearer(TOKENS["admin"])},  # a correct token must not tell a blocked guesser it was right
    ]:
        response = get(client, **where)
        assert (response.status_code, response.json) == (429, TOO_MANY), where
        assert response.mimetype == "application/json"
        assert response.headers["Retry-After"] == "300"


@pytest.mark.parametrize("place", ["header", "query", "json body", "form body"])
def test_every_place_of_the_token_counts_and_is_refused(client, clock, place):
    def attempt(token):
        if place == "header":
            return client.post("/api/notes", json={"title": "t"}, headers=bearer(token), environ_overrides={"REMOTE_ADDR": ADDRESS})
        if place == "query":
            return client.post(f"/api/notes?access_token={token}", json={"title": "t"}, environ_overrides={"REMOTE_ADDR": ADDRESS})
        if place == "json body":
            return client.post("/api/notes", json={"title": "t", "access_token": token}, environ_overrides={"REMOTE_ADDR": ADDRESS})
        return client.post("/api/notes", data={"title": "t", "access_token": token}, environ_overrides={"REMOTE_ADDR": ADDRESS})

    statuses = [attempt(f"guess-{n}").status_code for n in range(21)]
    assert statuses == [401] * 20 + [429]
    assert attempt(TOKENS["staff"]).status_code == 429
    assert get(client, "/api/notes", headers=bearer(TOKENS["staff"])).status_code == 429


def test_retry_after_counts_down_and_the_window_lets_go(client, clock):
    fail(client, 1)  # the oldest failure that counts
    clock.now += 100
    fail(client, 19)
    assert get(client, headers=bearer("guess-x")).headers["Retry-After"] == "200"
    clock.now += 150
    assert get(client, headers=bearer("guess-x")).headers["Retry-After"] == "50"
    clock.now += 50  # the first failure leaves the window: 19 count, one more try is allowed
    response = get(client, headers=bearer("guess-x"))
    assert response.status_code == 401
    assert get(client, headers=bearer("guess-y")).status_code == 429  # and that try was counted
    clock.now += TOKEN_WINDOW_SECONDS
    assert get(client, headers=bearer(TOKENS["admin"])).status_code == 200


def test_a_blocked_address_blocks_no_other_address(client, clock):
    fail(client, 20)
    assert get(client, headers=bearer("guess-x")).status_code == 429
    assert get(client, headers=bearer(TOKENS["admin"]), address=OTHER_ADDRESS).status_code == 200
    fail(client, 19, address=OTHER_ADDRESS)  # the other address has its own count
    assert get(client, headers=bearer(TOKENS["admin"]), address=OTHER_ADDRESS).status_code == 200


def test_requests_without_a_token_are_not_slowed(client, clock, web):
    fail(client, 20)
    assert get(client).status_code == 200
    assert get(client, "/api/patients").status_code == 401  # public, not blocked
    web.client.environ_base["REMOTE_ADDR"] = ADDRESS
    web.login("staff")
    assert get(client, "/api/patients").status_code == 200  # the session is no token


def test_correct_tokens_never_count(client, clock):
    for _ in range(3 * TOKEN_MAX_FAILURES):
        assert get(client, headers=bearer(TOKENS["admin"])).status_code == 200
    fail(client, 19)
    assert get(client, headers=bearer(TOKENS["user"])).status_code == 200


def test_refusals_that_are_not_unknown_tokens_never_count(client, clock):
    for _ in range(3 * TOKEN_MAX_FAILURES):
        assert get(client, "/api/nope", headers=bearer("guess")).status_code == 404  # unknown table first
        assert get(client, "/api/patients", headers=bearer(TOKENS["user"])).status_code == 401  # role too low
        assert get(client, headers=bearer("a"), query_string={"access_token": "b"}).status_code == 400
    assert get(client, headers=bearer(TOKENS["admin"])).status_code == 200


def test_failures_are_shared_by_every_app_on_the_database(app, client, clock):
    """The count lives in the database, so every worker process sees it (here: a second app on the file)."""
    fail(client, 20)
    other = create_app({"TESTING": True, "DATABASE": app.config["DATABASE"], "SECRET_KEY": "test"})
    other.extensions[TOKEN_LIMITER_KEY] = LoginLimiter(clock, TOKEN_MAX_FAILURES, TOKEN_WINDOW_SECONDS)
    assert get(other.test_client(), headers=bearer("guess-x")).status_code == 429


def test_token_failures_do_not_wipe_failed_sign_ins(loaded_db):
    """Both limiters share one table; the token limiter's shorter window must not prune the sign-in counts."""
    clock = Clock()
    logins = LoginLimiter(clock=clock)
    tokens = LoginLimiter(clock, TOKEN_MAX_FAILURES, TOKEN_WINDOW_SECONDS)
    for _ in range(logins.max_failures):
        logins.record_failure(loaded_db, "account:a@foo.com")
    clock.now += 10 * 60  # past the token window, still inside the sign-in window
    tokens.record_failure(loaded_db, f"token-address:{ADDRESS}")
    assert logins.retry_after(loaded_db, "account:a@foo.com") == 5 * 60
    clock.now += 5 * 60 + 1
    tokens.record_failure(loaded_db, f"token-address:{ADDRESS}")
    assert logins.retry_after(loaded_db, "account:a@foo.com") is None
    assert loaded_db.execute("SELECT count(*) FROM _sc_login_failures").fetchone()[0] == 2  # old ones are pruned


def test_plain_tokens_never_reach_the_log_or_the_database_file(template_db, tmp_path):
    """Valid and unknown tokens in every place, accepted, refused and throttled: the server's log and the
    database's files (WAL included) hold none of them."""
    db_path = tmp_path / "tokens.sqlite"
    shutil.copyfile(template_db, db_path)
    valid, unknown = TOKENS["staff"], "unknown-token-Zq9x7"
    with running_server(db_path, tmp_path / "server.log") as server:
        api = f"{server.url}/api/notes"
        for token in (valid, unknown):
            requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
            requests.get(api, params={"access_token": token}, timeout=TIMEOUT)
            requests.post(api, json={"title": "json", "access_token": token}, timeout=TIMEOUT)
            requests.post(api, data={"title": "form", "access_token": token}, timeout=TIMEOUT)
        statuses = [
            requests.get(api, params={"access_token": f"{unknown}-{n}"}, timeout=TIMEOUT).status_code for n in range(25)
        ]
        assert statuses.count(429) >= 5
        assert requests.get(f"{server.url}/api/books", timeout=TIMEOUT).status_code == 200
        log = server.output()
    assert '"GET /api/notes HTTP/1.1" 200' in log and '"POST /api/notes HTTP/1.1" 200' in log
    assert " 429 " in log
    assert valid not in log and unknown not in log
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT count(*) FROM notes WHERE title IN ('json', 'form')").fetchone()[0] == 2
    finally:
        db.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(db_path.name))
    assert valid.encode() not in stored and unknown.encode() not in stored
