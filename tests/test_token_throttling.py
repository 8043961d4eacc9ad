"""Guessing tokens is slowed, never turned against others: unknown tokens from one address are counted, and after
20 in an hour that address's unknown tokens get 429 + Retry-After, 1 s after its latest one, then 2 s, 4 s ... up
to 5 minutes. A correct token is always answered, whatever its address sent before. Plain tokens never reach the
access log or the database file.
"""


import pytest
import requests

from conftest import TOKENS, bearer, running_server, stored_bytes
from saltapi import create_app
from saltapi.auth import TOKEN_FREE_FAILURES, TOKEN_LIMITER_KEY, TOKEN_MAX_DELAY_SECONDS, TOKEN_WINDOW_SECONDS
from saltapi.store.connection import connect
from saltapi.store.login_limits import KEEP_SECONDS, LoginLimiter

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


def token_limiter(clock) -> LoginLimiter:
    return LoginLimiter(
        free_failures=TOKEN_FREE_FAILURES, max_delay=TOKEN_MAX_DELAY_SECONDS, window_seconds=TOKEN_WINDOW_SECONDS,
        clock=clock,
    )  # fmt: skip


@pytest.fixture
def clock(app) -> Clock:
    clock = Clock()
    app.extensions[TOKEN_LIMITER_KEY] = token_limiter(clock)
    return clock


def get(client, path: str = "/api/books", address: str = ADDRESS, **kwargs):
    return client.get(path, environ_overrides={"REMOTE_ADDR": address}, **kwargs)


def fail(client, times: int, address: str = ADDRESS) -> None:
    for attempt in range(times):
        response = get(client, headers=bearer(f"guess-{attempt:04d}"), address=address)
        assert (response.status_code, response.json) == (401, NOT_AUTHORIZED), attempt
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_limits():
    assert (TOKEN_FREE_FAILURES, TOKEN_MAX_DELAY_SECONDS, TOKEN_WINDOW_SECONDS) == (20, 300, 3600)


def test_unknown_tokens_are_401_until_the_limit_then_429_and_a_correct_token_still_works(client, clock):
    fail(client, 20)
    for where in [{"headers": bearer("guess-9999")}, {"query_string": {"access_token": "guess-9999"}}]:
        response = get(client, **where)
        assert (response.status_code, response.json) == (429, TOO_MANY), where
        assert response.mimetype == "application/json"
        assert response.headers["Retry-After"] == "1"
    # Behind a proxy every client may share this address: the others' failures never refuse a correct token.
    assert get(client, headers=bearer(TOKENS["admin"])).status_code == 200
    assert get(client, query_string={"access_token": TOKENS["user"]}).status_code == 200


@pytest.mark.parametrize("place", ["header", "query", "json body", "form body"])
def test_every_place_of_the_token_counts(client, clock, place):
    def attempt(token):
        where = {"environ_overrides": {"REMOTE_ADDR": ADDRESS}}
        if place == "header":
            return client.post("/api/notes", json={"title": "t"}, headers=bearer(token), **where)
        if place == "query":
            return client.post(f"/api/notes?access_token={token}", json={"title": "t"}, **where)
        if place == "json body":
            return client.post("/api/notes", json={"title": "t", "access_token": token}, **where)
        return client.post("/api/notes", data={"title": "t", "access_token": token}, **where)

    statuses = [attempt(f"guess-{n}").status_code for n in range(21)]
    assert statuses == [401] * 20 + [429]
    assert attempt(TOKENS["staff"]).status_code == 200


def test_the_wait_doubles_after_each_further_failure_up_to_5_minutes(client, clock):
    fail(client, 20)
    waits = []
    for _ in range(12):
        waits.append(int(get(client, headers=bearer("guess-x")).headers["Retry-After"]))
        clock.now += waits[-1]
        assert get(client, headers=bearer("guess-y")).status_code == 401  # the wait is over: one more try
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_the_window_lets_go(client, clock):
    fail(client, 20)
    assert get(client, headers=bearer("guess-x")).status_code == 429
    clock.now += TOKEN_WINDOW_SECONDS + 1
    fail(client, 20)  # every failure has left the window: the free ones again


def test_waiting_costs_no_write(client, clock, loaded_db):
    fail(client, 20)
    for _ in range(50):
        assert get(client, headers=bearer("guess-x")).status_code == 429
    assert loaded_db.execute("SELECT count(*) FROM _sc_login_failures").fetchone()[0] == 20


def test_an_address_that_must_wait_slows_no_other_address(client, clock):
    fail(client, 20)
    assert get(client, headers=bearer("guess-x")).status_code == 429
    fail(client, 20, address=OTHER_ADDRESS)  # the other address has its own count


def test_requests_without_a_token_are_not_slowed(client, clock, web):
    fail(client, 20)
    assert get(client).status_code == 200
    assert get(client, "/api/patients").status_code == 401  # public, not blocked
    web.client.environ_base["REMOTE_ADDR"] = ADDRESS
    web.login("staff")
    assert get(client, "/api/patients").status_code == 200  # the session is no token


def test_correct_tokens_never_count(client, clock):
    for _ in range(3 * TOKEN_FREE_FAILURES):
        assert get(client, headers=bearer(TOKENS["admin"])).status_code == 200
    fail(client, 20)


def test_refusals_that_are_not_unknown_tokens_never_count(client, clock):
    for _ in range(3 * TOKEN_FREE_FAILURES):
        assert get(client, "/api/nope", headers=bearer("guess")).status_code == 404  # unknown table first
        assert get(client, "/api/patients", headers=bearer(TOKENS["user"])).status_code == 401  # role too low
        assert get(client, headers=bearer("a"), query_string={"access_token": "b"}).status_code == 400
    fail(client, 20)


def test_failures_are_shared_by_every_app_on_the_database(app, client, clock):
    """The count lives in the database, so every worker process sees it (here: a second app on the file)."""
    fail(client, 20)
    other = create_app({"TESTING": True, "DATABASE": app.config["DATABASE"], "SECRET_KEY": "test"})
    other.extensions[TOKEN_LIMITER_KEY] = token_limiter(clock)
    assert get(other.test_client(), headers=bearer("guess-x")).status_code == 429


def test_token_failures_do_not_wipe_failed_sign_ins(loaded_db):
    """Both limiters share one table; nothing younger than the longest window (an hour) is pruned."""
    clock = Clock()
    logins, tokens = LoginLimiter(clock=clock), token_limiter(clock)
    for _ in range(12):
        logins.record_failure(loaded_db, "address:a")
    clock.now += 10 * 60
    tokens.record_failure(loaded_db, f"token-address:{ADDRESS}")
    assert loaded_db.execute("SELECT count(*) FROM _sc_login_failures").fetchone()[0] == 13
    clock.now += KEEP_SECONDS
    tokens.record_failure(loaded_db, f"token-address:{ADDRESS}")
    assert loaded_db.execute("SELECT count(*) FROM _sc_login_failures").fetchone()[0] == 1  # old ones are pruned


def test_plain_tokens_never_reach_the_log_or_the_database_file(db_path, tmp_path):
    """Valid and unknown tokens in every place, accepted, refused and throttled: the server's log and the
    database (SQLite's files, WAL included; every PostgreSQL table) hold none of them."""
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
        assert 429 in statuses
        assert requests.get(f"{server.url}/api/books", timeout=TIMEOUT).status_code == 200
        log = server.output()
    assert '"GET /api/notes HTTP/1.1" 200' in log and '"POST /api/notes HTTP/1.1" 200' in log
    assert " 429 " in log
    assert valid not in log and unknown not in log
    db = connect(db_path)
    try:
        assert db.execute("SELECT count(*) FROM notes WHERE title IN ('json', 'form')").fetchone()[0] == 2
    finally:
        db.close()
    stored = stored_bytes(db_path)
    assert valid.encode() not in stored and unknown.encode() not in stored
