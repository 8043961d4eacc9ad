"""Demo instances: the demo data with its users, `reset-demo`, `python app.py --demo`, and periodic resets."""

import json
import logging
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import ROOT, TOKENS, bearer, running_server
from saltapi import create_app, demo
from saltapi.demo import DEMO_USERS, PeriodicDemoReset, build_demo_snapshot, reset_demo
from saltapi.fixtures import dump_fixture, load_fixture
from saltapi.store.connection import connect
from saltapi.store.users import check_password

TIMEOUT = 10
WAIT_SECONDS = 20
COMMAND_SECONDS = 60
DEMO_TABLES = ["publisher", "books", "patients"]
DEMO_BOOKS = [
    {"id": 1, "author": "Herman Melville", "pages": 967, "publisher": None},
    {"id": 2, "author": "Leo Tolstoy", "pages": 728, "publisher": 1},
]
ADMIN = bearer("demo-admin-token")


@pytest.fixture(scope="module")
def demo_snapshot():
    """Built once: it hashes three passwords."""
    snapshot = build_demo_snapshot()
    yield snapshot
    snapshot.close()


def server_env(**changes: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SALTAPI_", "FLASK_"))}
    return {**env, **changes}


def everything(path) -> dict:
    """All that a reset must put back: data with secrets, table ids, sequences, the file's journal mode."""
    db = connect(path)
    try:
        return {
            "data": dump_fixture(db, with_secrets=True),
            "tables": [tuple(row) for row in db.execute("SELECT id, name FROM _sc_tables ORDER BY id")],
            "sequences": [tuple(row) for row in db.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name")],
            "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
        }
    finally:
        db.close()


def demo_app(path):
    return create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"})


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s")
        time.sleep(0.05)


# --- resetting --------------------------------------------------------------------------------------------


def test_a_new_file_becomes_the_demo_with_its_users(tmp_path, demo_snapshot):
    path = tmp_path / "demo.sqlite"
    assert reset_demo(path, demo_snapshot) == DEMO_TABLES
    state = everything(path)
    assert state["journal_mode"] == "wal"
    assert [(u["id"], u["email"], u["role_id"]) for u in state["data"]["users"]] == [
        (1, "admin@example.com", 1), (2, "staff@example.com", 40), (3, "user@example.com", 80),
    ]  # fmt: skip
    client = demo_app(path).test_client()
    assert client.get("/api/books").json == {"success": DEMO_BOOKS}
    patients = client.get("/api/patients", headers=bearer("demo-staff-token")).json["success"]
    assert patients[1]["name"] == "Michael Douglas"
    assert client.get("/api/patients", headers=bearer("demo-user-token")).status_code == 401
    db = connect(path)
    try:
        for user in DEMO_USERS:
            assert check_password(db, user["email"], user["password"]) is not None
    finally:
        db.close()


def test_the_demo_tables_are_those_of_a_first_start():
    """`--demo` adds users to the data set a first start loads, and nothing else."""
    first_start = json.loads((ROOT / "saltapi" / "demo.json").read_text(encoding="utf-8"))
    assert {key: value for key, value in demo.demo_data().items() if key != "users"} == first_start


def test_a_reset_puts_everything_back(tmp_path, demo_snapshot):
    path = tmp_path / "demo.sqlite"
    reset_demo(path, demo_snapshot)
    fresh = everything(path)
    client = demo_app(path).test_client()
    assert client.post("/api/books", json={"author": "A", "pages": 1}, headers=ADMIN).json == {"success": 3}
    assert client.post("/api/books/1", json={"pages": 1}, headers=ADMIN).json == {"success": True}
    assert client.delete("/api/patients/2", headers=ADMIN).json == {"success": True}
    db = connect(path)
    try:
        load_fixture(db, {
            "roles": [{"id": 60, "role": "editor"}],
            "users": [{"email": "new@x.example", "role_id": 60, "api_token": "new-token-1"}],
            "tables": [{"name": "extra", "fields": [{"name": "f", "type": "String"}], "rows": [{"f": "x"}]}],
            "settings": {"min_role_apikeygen": 1},
        })  # fmt: skip
        db.execute("DELETE FROM patients")
    finally:
        db.close()
    assert everything(path) != fresh
    assert reset_demo(path, demo_snapshot) == DEMO_TABLES
    assert everything(path) == fresh
    assert client.get("/api/books").json == {"success": DEMO_BOOKS}
    assert client.get("/api/extra").status_code == 404
    assert client.get("/api/books", headers=bearer("new-token-1")).status_code == 401  # the token is gone
    assert client.post("/api/books", json={"author": "A", "pages": 1}, headers=ADMIN).json == {"success": 3}


def test_a_reset_replaces_another_instance(db_path, demo_snapshot):
    reset_demo(db_path, demo_snapshot)
    client = demo_app(db_path).test_client()
    assert client.get("/api/items").status_code == 404
    assert client.get("/api/books", headers=bearer(TOKENS["admin"])).status_code == 401
    assert client.get("/api/books/count", headers=ADMIN).json == {"success": 2}


def test_without_a_snapshot_a_reset_builds_one(tmp_path):
    path = tmp_path / "demo.sqlite"
    assert reset_demo(path) == DEMO_TABLES
    assert demo_app(path).test_client().get("/api/books").json == {"success": DEMO_BOOKS}


# --- every N minutes -----------------------------------------------------------------------------------


def test_the_periodic_reset_called_directly(tmp_path, demo_snapshot):
    path = tmp_path / "demo.sqlite"
    reset_demo(path, demo_snapshot)
    client = demo_app(path).test_client()
    resets = PeriodicDemoReset(path, 60, demo_snapshot)
    client.post("/api/books", json={"author": "A", "pages": 1}, headers=ADMIN)
    resets.reset()
    assert client.get("/api/books").json == {"success": DEMO_BOOKS}
    assert not resets.thread.is_alive()  # never started


def test_the_periodic_reset_thread_keeps_resetting(tmp_path, demo_snapshot):
    path = tmp_path / "demo.sqlite"
    reset_demo(path, demo_snapshot)
    client = demo_app(path).test_client()
    resets = PeriodicDemoReset(path, 0.05, demo_snapshot)
    resets.start()
    try:
        assert resets.thread.daemon
        for _ in range(2):
            assert client.post("/api/books", json={"author": "A", "pages": 1}, headers=ADMIN).status_code == 200
            wait_until(lambda: client.get("/api/books/count").json == {"success": 2}, "a reset")
    finally:
        resets.stop()
    assert not resets.thread.is_alive()


def test_a_failed_reset_is_logged_and_the_next_one_still_runs(tmp_path, demo_snapshot, monkeypatch, caplog):
    calls, second_call = [], threading.Event()

    def flaky_reset(database, snapshot):
        calls.append(database)
        if len(calls) == 1:
            raise OSError("disk full")
        second_call.set()
        return DEMO_TABLES

    monkeypatch.setattr(demo, "reset_demo", flaky_reset)
    resets = PeriodicDemoReset(tmp_path / "demo.sqlite", 0.01, demo_snapshot)
    with caplog.at_level(logging.INFO, logger="saltapi.demo"):
        resets.start()
        try:
            assert second_call.wait(WAIT_SECONDS)
        finally:
            resets.stop()
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert failures[0].getMessage() == f"resetting {tmp_path / 'demo.sqlite'} to the demo data failed"
    assert failures[0].exc_info[1].args == ("disk full",)


@pytest.mark.parametrize("interval", [0, -1])
def test_the_interval_must_be_positive(tmp_path, demo_snapshot, interval):
    with pytest.raises(ValueError, match="must be positive"):
        PeriodicDemoReset(tmp_path / "demo.sqlite", interval, demo_snapshot)


# --- flask --app app reset-demo --------------------------------------------------------------------------


def test_reset_demo_command(runner, db_path):
    result = runner.invoke(args=["reset-demo", "--yes"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"Demo instance in {db_path}, tables: publisher, books, patients. Everything in it can be reset."
    for user in DEMO_USERS:
        assert any(user["email"] in line and user["password"] in line and user["api_token"] in line for line in lines)
    assert demo_app(db_path).test_client().get("/api/books/count", headers=ADMIN).json == {"success": 2}


def test_reset_demo_asks_first(runner, snapshot):
    before = snapshot()
    result = runner.invoke(args=["reset-demo"], input="n\n")
    assert result.exit_code == 1
    assert "Replace everything in the database with the demo data and demo users?" in result.output
    assert "Aborted" in result.stderr
    assert snapshot() == before
    assert runner.invoke(args=["reset-demo"], input="y\n").exit_code == 0
    assert snapshot() != before


# --- python app.py --demo --------------------------------------------------------------------------------


def test_demo_start_replaces_the_database_and_prints_the_users(db_path, tmp_path):
    with running_server(db_path, tmp_path / "server.log", ("--demo",), env=server_env()) as server:
        assert requests.get(f"{server.url}/api/books", timeout=TIMEOUT).json() == {"success": DEMO_BOOKS}
        assert requests.get(f"{server.url}/api/items", timeout=TIMEOUT).status_code == 404  # the test data is gone
        patients = requests.get(f"{server.url}/api/patients", headers=bearer("demo-staff-token"), timeout=TIMEOUT)
        assert len(patients.json()["success"]) == 2
        output = server.output()
    assert "Demo instance in" in output
    for user in DEMO_USERS:
        assert user["password"] in output and user["api_token"] in output
    assert "flask --app app create-user" not in output  # there are users already
    assert "reset to the demo data every" not in output


def test_a_demo_server_resets_itself_every_few_minutes(tmp_path):
    db_path = tmp_path / "demo.sqlite"
    args = ("--demo", "--demo-reset-minutes", "0.005")  # 0.3 s
    with running_server(db_path, tmp_path / "server.log", args, env=server_env()) as server:
        count = f"{server.url}/api/books/count"
        for _ in range(2):
            response = requests.post(f"{server.url}/api/books", json={"author": "A", "pages": 1}, headers=ADMIN,
                                     timeout=TIMEOUT)  # fmt: skip
            assert response.status_code == 200, response.text
            wait_until(lambda: requests.get(count, timeout=TIMEOUT).json() == {"success": 2}, "a reset")
        output = server.output()
    assert "Everything is reset to the demo data every 0.005 minutes." in output


def test_the_reset_interval_from_the_environment(tmp_path):
    env = server_env(SALTAPI_DEMO_RESET_MINUTES="0.005")
    with running_server(tmp_path / "demo.sqlite", tmp_path / "server.log", ("--demo",), env=env) as server:
        requests.post(f"{server.url}/api/books", json={"author": "A", "pages": 1}, headers=ADMIN, timeout=TIMEOUT)
        count = f"{server.url}/api/books/count"
        wait_until(lambda: requests.get(count, timeout=TIMEOUT).json() == {"success": 2}, "a reset")
        assert "every 0.005 minutes" in server.output()


def run_app(*args: str, **env: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "app.py", *args]
    env = server_env(**env)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMMAND_SECONDS)


def test_help_documents_the_demo_options():
    result = run_app("--help")
    assert result.returncode == 0
    assert "--demo " in result.stdout and "--demo-reset-minutes N" in result.stdout


@pytest.mark.parametrize(
    "args, env, message",
    [
        (("--demo-reset-minutes", "5"), {}, "resetting to the demo data every few minutes needs --demo"),
        ((), {"SALTAPI_DEMO_RESET_MINUTES": "5"}, "resetting to the demo data every few minutes needs --demo"),
        (("--demo", "--demo-reset-minutes", "0"), {}, "Invalid value for '--demo-reset-minutes': must be a positive number of minutes, not '0'"),
        (("--demo", "--demo-reset-minutes", "soon"), {}, "must be a positive number of minutes, not 'soon'"),
        (("--demo", "--demo-reset-minutes", "inf"), {}, "must be a positive number of minutes, not 'inf'"),
        (("--demo",), {"SALTAPI_DEMO_RESET_MINUTES": "-1"}, "Invalid value for '--demo-reset-minutes': must be a positive number of minutes, not '-1'"),
        (("--demo", "--no-demo"), {}, "--demo and --no-demo exclude each other"),
    ],
)  # fmt: skip
def test_wrong_demo_options_stop_the_start(tmp_path, args, env, message):
    db_path = tmp_path / "never.sqlite"
    result = run_app("--db", str(db_path), *args, **env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(message)
    assert not db_path.exists()
