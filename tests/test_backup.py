"""`flask --app app backup PATH`: a consistent copy of a database that a running server keeps writing to."""

import copy
import os
import sqlite3
import subprocess
import sys
import threading

import pytest
import requests

import saltapi.store.sqlite
from conftest import ROOT, assert_one_error_line, running_server
from saltapi import create_app
from saltapi.fixtures import load_fixture
from saltapi.store.connection import connect
from test_soak import HEADERS, ITEMS, NODES, TABLES, check_file

# SQLite's online backup API and its file; PostgreSQL's backup is pg_dump (tests/test_postgres.py).
pytestmark = pytest.mark.sqlite_only

WRITERS = 4
FILLER_ROWS = 3000
TIMEOUT = 10
JOIN_SECONDS = 30


def add_filled_tables(db_path) -> None:
    """The soak tables, with enough rows that the copy takes many steps."""
    data = copy.deepcopy(TABLES)
    data["tables"][0]["rows"] = [{"code": f"filler-{n}", "size": "x" * 200, "qty": n} for n in range(FILLER_ROWS)]
    db = connect(db_path)
    try:
        load_fixture(db, data)
    finally:
        db.close()


class SequentialWriter:
    """Inserts rows b<n>-0, b<n>-1, ... one after the other, and keeps the ids of those acknowledged, in order."""

    def __init__(self, number: int):
        self.prefix = f"b{number}-"
        self.acknowledged: list[int] = []
        self.error: BaseException | None = None

    def run(self, url: str, stop: threading.Event) -> None:
        try:
            with requests.Session() as session:
                while not stop.is_set():
                    code = f"{self.prefix}{len(self.acknowledged)}"
                    response = session.post(f"{url}/api/{ITEMS}", json={"code": code}, headers=HEADERS, timeout=TIMEOUT)
                    assert response.status_code == 200, response.text
                    self.acknowledged.append(response.json()["success"])
        except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
            self.error = error


def wait_for(condition, what: str) -> None:
    event = threading.Event()
    for _ in range(int(TIMEOUT / 0.02)):
        if condition():
            return
        event.wait(0.02)
    pytest.fail(f"timed out waiting for {what}")


def test_a_backup_taken_under_writes_is_consistent_and_serves(db_path, tmp_path, monkeypatch):
    add_filled_tables(db_path)
    # One page per step: the copy takes hundreds of steps while the writers go on committing.
    monkeypatch.setattr(saltapi.store.sqlite, "BACKUP_PAGES_PER_STEP", 1)
    backup = tmp_path / "backup.sqlite"
    writers = [SequentialWriter(number) for number in range(WRITERS)]
    stop = threading.Event()
    with running_server(db_path, tmp_path / "server.log", ("--workers", "2")) as server:
        threads = [threading.Thread(target=writer.run, args=(server.url, stop), daemon=True) for writer in writers]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: all(len(writer.acknowledged) >= 5 for writer in writers), "the writers to start")
            before = [list(writer.acknowledged) for writer in writers]
            runner = create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test"}).test_cli_runner()
            result = runner.invoke(args=["backup", str(backup)])
            during = [len(writer.acknowledged) for writer in writers]
            wait_for(lambda: all(len(w.acknowledged) > n + 5 for w, n in zip(writers, during)), "writes after it")
        finally:
            stop.set()
            for thread in threads:
                thread.join(JOIN_SECONDS)
        assert not any(thread.is_alive() for thread in threads)
        assert [writer.error for writer in writers] == [None] * WRITERS
    assert result.exit_code == 0, result.output
    pages = sqlite3.connect(backup).execute("PRAGMA page_count").fetchone()[0]
    assert f"Backed up {db_path} to {backup} ({pages} pages, {os.path.getsize(backup):,} bytes).\n" in result.output
    assert pages > 100

    check_file(backup)
    copied = sqlite3.connect(backup)
    try:
        assert copied.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
        rows = dict(copied.execute(f"SELECT code, id FROM {ITEMS}").fetchall())
    finally:
        copied.close()
    assert all(f"filler-{n}" in rows for n in range(FILLER_ROWS))
    for writer, acknowledged_before in zip(writers, before):
        mine = {code: row_id for code, row_id in rows.items() if code.startswith(writer.prefix)}
        # One moment's state: each writer's rows up to some point, none after a gap, none missing before it.
        assert sorted(mine.values()) == writer.acknowledged[: len(mine)]
        assert set(mine) == {f"{writer.prefix}{n}" for n in range(len(mine))}
        assert len(mine) >= len(acknowledged_before)
        assert len(mine) < len(writer.acknowledged)  # the writes after the backup are not in it

    # Restoring is serving the copy: it reads, and it takes writes.
    with running_server(backup, tmp_path / "restored.log", ("--workers", "2")) as restored:
        count = requests.get(f"{restored.url}/api/{ITEMS}/count", headers=HEADERS, timeout=TIMEOUT)
        assert count.json() == {"success": len(rows)}
        created = requests.post(f"{restored.url}/api/{NODES}", json={"name": "after"}, headers=HEADERS, timeout=TIMEOUT)
        assert created.status_code == 200
    check_file(backup)


def test_backup_refuses_to_replace_a_file_unless_forced(runner, db_path, tmp_path):
    target = tmp_path / "there.sqlite"
    target.write_text("keep me")
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == f"Error: {target} exists; add --force to replace it"
    assert target.read_text() == "keep me"

    result = runner.invoke(args=["backup", "--force", str(target)])
    assert result.exit_code == 0, result.output
    copied = sqlite3.connect(target)
    try:
        assert copied.execute("SELECT count(*) FROM books").fetchone()[0] == 2
    finally:
        copied.close()
    check_file(target)


def test_backup_fails_in_one_line(runner, app, db_path, tmp_path):
    missing_directory = tmp_path / "no" / "such" / "dir.sqlite"
    result = runner.invoke(args=["backup", str(missing_directory)])
    assert result.exit_code == 1
    assert_one_error_line(result, f"Cannot write {missing_directory}: No such file or directory")

    result = runner.invoke(args=["backup", "--force", str(db_path)])
    assert_one_error_line(result, f"{db_path} is the database itself")

    app.config["DATABASE"] = str(tmp_path / "absent.sqlite")
    result = runner.invoke(args=["backup", str(tmp_path / "copy.sqlite")])
    absent = tmp_path / "absent.sqlite"
    assert (result.exit_code, result.output) == (1, f"Error: No database at {absent}; name an existing one with --db"
                                                 f" (or SALTAPI_DB), or create it with `saltapi init-db --db {absent}`\n")
    assert not (tmp_path / "absent.sqlite").exists() and not (tmp_path / "copy.sqlite").exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".backup-")] == []


def test_backup_command_end_to_end(db_path, tmp_path):
    """The real command line, with the database named by SALTAPI_DB."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "SALTAPI_"))}
    env["SALTAPI_DB"] = str(db_path)
    target = tmp_path / "copy.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "backup", str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Backed up {db_path} to {target} (")
    check_file(target)
