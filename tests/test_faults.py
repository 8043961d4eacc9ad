"""Fault injection: the Nth database call of a write fails, for every N the write makes; the caller gets an
error, nothing is half-written, and the next request works.

The failure is what a failing disk or a locked file looks like to Python: sqlite3.OperationalError.
"""

import shutil
import sqlite3
import time
from collections.abc import Callable

import pytest

import saltapi.store.sqlite
from conftest import TABLE_IDS, TOKENS, bearer
from saltapi import create_app
from saltapi.auth import SESSION_EMAIL, SESSION_GENERATION, SESSION_SEEN, SESSION_USER_ID
from saltapi.csrf import SESSION_KEY as CSRF_SESSION_KEY
from saltapi.db import get_db
from saltapi.fixtures import dump_fixture, load_fixture
from saltapi.store.connection import connect
from saltapi.store.sessions import session_generation
from test_soak import check_file

# Injects sqlite3 errors into the SQLite connection's calls.
pytestmark = pytest.mark.sqlite_only

CSRF = "fault-injection-csrf-token"


class Faults:
    """Counts database calls while armed, and makes call number `fail_at` raise instead of running."""

    def __init__(self):
        self.armed = False
        self.calls = 0
        self.fail_at: int | None = None
        self.statements: list[str] = []

    def arm(self, fail_at: int | None) -> None:
        self.armed, self.calls, self.fail_at, self.statements = True, 0, fail_at, []

    def disarm(self) -> int:
        self.armed = False
        return self.calls

    def tick(self, sql: str) -> None:
        if not self.armed:
            return
        self.calls += 1
        self.statements.append(sql)
        if self.calls == self.fail_at:
            raise sqlite3.OperationalError(f"disk I/O error (injected into call {self.calls}: {sql[:60]})")


FAULTS = Faults()


class FaultyCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        FAULTS.tick(sql)
        return super().execute(sql, parameters)


class FaultyConnection(saltapi.store.sqlite.Connection):
    """saltapi's connection, with every statement counted (and one of them failing) by FAULTS."""

    def execute(self, sql, parameters=(), /):
        FAULTS.tick(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql, parameters, /):
        FAULTS.tick(sql)
        return super().executemany(sql, parameters)

    def executescript(self, script, /):
        FAULTS.tick(script)
        return super().executescript(script)

    def cursor(self, factory=FaultyCursor):
        return super().cursor(factory)


@pytest.fixture(autouse=True)
def faulty_connections(monkeypatch):
    """Every connection saltapi opens during the test can be made to fail."""
    monkeypatch.setattr(saltapi.store.sqlite, "Connection", FaultyConnection)
    FAULTS.disarm()
    yield
    FAULTS.disarm()


def stored(db_path) -> dict:
    db = connect(db_path)
    try:
        schema = [tuple(row) for row in db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")]
        return dump_fixture(db, with_secrets=True) | {"schema": schema}
    finally:
        db.close()


def signed_in_client(app):
    """A test client signed in as the admin of tests/data.json (the session as sign-in leaves it)."""
    client = app.test_client()
    with app.app_context():
        generation = session_generation(get_db(), 1)
    with client.session_transaction() as session:
        session[SESSION_USER_ID], session[SESSION_EMAIL], session[CSRF_SESSION_KEY] = 1, "admin@foo.com", CSRF
        session[SESSION_GENERATION], session[SESSION_SEEN] = generation, int(time.time())
    return client


API = bearer(TOKENS["admin"])
WRITES: dict[str, tuple[Callable, set[int]]] = {
    # name: (send the write with a test client, the statuses that mean it worked)
    "api insert": (
        lambda c: c.post("/api/books", json={"author": "New", "pages": 10, "publisher": 2}, headers=API),
        {200},
    ),
    "api update": (lambda c: c.post("/api/books/2", json={"pages": 11, "publisher": 2}, headers=API), {200}),
    "api delete": (lambda c: c.delete("/api/patients/2", headers=API), {200}),
    "api delete of a table others refer to": (lambda c: c.delete("/api/publisher/2", headers=API), {200}),
    "web: table settings": (
        lambda c: c.post(
            f"/table/{TABLE_IDS['books']}/settings", data={"min_role_read": "40", "min_role_write": "1", "_csrf": CSRF}
        ),
        {302},
    ),
    "web: add a required field (a table rebuild)": (
        lambda c: c.post(
            f"/table/{TABLE_IDS['books']}/field/new",
            data={"name": "year", "type": "Integer", "required": "on", "fill_value": "2024", "_csrf": CSRF},
        ),
        {200, 302},
    ),
}


def fresh_app(template_db, path):
    shutil.copyfile(template_db, path)
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"})
    app.config["PROPAGATE_EXCEPTIONS"] = False  # the web UI's 500 page, as a real server answers
    client = signed_in_client(app)
    assert client.get("/api/books").status_code == 200  # the schema check of a first request is behind us
    return client


@pytest.mark.parametrize("name", WRITES)
def test_a_failing_database_call_changes_nothing(name, template_db, tmp_path):
    send, worked = WRITES[name]
    client = fresh_app(template_db, tmp_path / "count.sqlite")
    FAULTS.arm(None)
    response = send(client)
    calls = FAULTS.disarm()
    assert response.status_code in worked, response.text
    assert calls >= 3
    after = stored(tmp_path / "count.sqlite")
    committed_at = last_commit(FAULTS.statements)
    for fail_at in range(1, calls + 1):
        db_path = tmp_path / f"fail{fail_at}.sqlite"
        client = fresh_app(template_db, db_path)
        before = stored(db_path)
        FAULTS.arm(fail_at)
        response = send(client)
        FAULTS.disarm()
        where = f"{name}, call {fail_at} of {calls} failing"
        if name.startswith("api"):  # a failing disk is the server's trouble, and worth retrying
            assert response.status_code == 503 and response.headers["Retry-After"] == "1", where
            assert response.json == {"error": "The database is unavailable right now; try again"}, where
        else:
            assert response.status_code == 500, where
        state = stored(db_path)
        check_file(db_path)
        # The client heard of a failure: until the COMMIT went through nothing is stored; after it, all of it.
        assert state == before if fail_at <= committed_at else state in (before, after), where
        # The same connection (the pool keeps it for the thread) serves the next request, and the write works.
        assert client.get("/api/books", headers=API).status_code == 200, where
        if state == before:
            assert send(client).status_code in worked, where
            check_file(db_path)


def last_commit(statements: list[str]) -> int:
    """The position (from 1) of the write's last COMMIT."""
    return max(number for number, sql in enumerate(statements, 1) if sql.strip().upper().startswith("COMMIT"))


FIXTURE = {
    "users": [{"email": "new@foo.com", "password": "pw-12345", "role_id": 80, "api_token": "new-token-1"}],
    "tables": [
        {
            "name": "shelves",
            "fields": [
                {"name": "label", "type": "String", "required": True},
                {"name": "book", "type": "Key", "reftable_name": "books"},
                {"name": "next", "type": "Key", "reftable_name": "shelves"},
            ],
            "rows": [{"id": 1, "label": "a", "book": 1, "next": 2}, {"id": 2, "label": "b", "book": 2, "next": None}],
        }
    ],
}


def test_a_failing_database_call_leaves_a_fixture_load_undone(template_db, tmp_path):
    def attempt(fail_at: int | None) -> int:
        """Load FIXTURE into a fresh copy of the test data with call `fail_at` failing; the number of calls."""
        path = tmp_path / f"load{fail_at}.sqlite"
        shutil.copyfile(template_db, path)
        before = stored(path)
        db = connect(path)
        try:
            FAULTS.arm(fail_at)
            try:
                load_fixture(db, FIXTURE)
            except sqlite3.OperationalError:
                assert fail_at is not None
                if FAULTS.statements[-1] == "COMMIT":
                    # transaction() does not roll back when COMMIT itself fails (as a busy COMMIT leaves it open
                    # in SQLite); the pool and the CLI's teardown roll back before the connection is used again.
                    db.execute("ROLLBACK")
                assert not db.in_transaction
                assert stored(path) == before, f"call {fail_at} failing"
                load_fixture(db, FIXTURE)  # the same connection loads it on the next try
            else:
                assert fail_at is None
            return FAULTS.disarm()
        finally:
            FAULTS.disarm()
            db.close()
            check_file(path)

    calls = attempt(None)
    assert calls >= 5
    for fail_at in range(1, calls + 1):
        attempt(fail_at)
