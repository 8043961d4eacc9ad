"""`python app.py` serves with several gunicorn workers on one file; logs never show a token."""

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import requests

from conftest import ROOT, TOKENS, running_server

TIMEOUT = 10


def wait_for_workers(server, count: int) -> None:
    """gunicorn forks its workers one by one after it starts listening."""
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    deadline = time.monotonic() + TIMEOUT
    while len(children.read_text().split()) < count:
        assert time.monotonic() < deadline, f"fewer than {count} workers after {TIMEOUT} s"
        time.sleep(0.05)


def test_every_worker_sees_a_role_change_on_its_next_request(template_db, tmp_path):
    db_path = tmp_path / "shared.sqlite"
    shutil.copyfile(template_db, db_path)
    with running_server(db_path, tmp_path / "server.log", ("--workers", "3")) as server:
        wait_for_workers(server, 3)
        # Enough requests that every worker has cached the table as staff-only.
        statuses = {requests.get(f"{server.url}/api/patients", timeout=TIMEOUT).status_code for _ in range(30)}
        assert statuses == {401}
        other_process = sqlite3.connect(db_path)
        with other_process:
            other_process.execute("UPDATE _sc_tables SET min_role_read = 100 WHERE name = 'patients'")
        other_process.close()
        statuses = {requests.get(f"{server.url}/api/patients", timeout=TIMEOUT).status_code for _ in range(30)}
        assert statuses == {200}


def test_writes_from_many_workers_all_land(template_db, tmp_path):
    db_path = tmp_path / "shared.sqlite"
    shutil.copyfile(template_db, db_path)
    headers = {"Authorization": f"Bearer {TOKENS['staff']}"}
    with running_server(db_path, tmp_path / "server.log", ("--workers", "2", "--threads", "4")) as server:
        with requests.Session() as session:
            ids = [
                session.post(f"{server.url}/api/notes", json={"title": f"n{i}"}, headers=headers, timeout=TIMEOUT).json()[
                    "success"
                ]
                for i in range(40)
            ]
    assert len(set(ids)) == 40
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("SELECT count(*) FROM notes WHERE title LIKE 'n%'").fetchone()[0] == 40
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def test_the_access_log_has_paths_but_never_tokens(live_server):
    secret = TOKENS["staff"]
    requests.get(f"{live_server.url}/api/patients", params={"access_token": secret, "name": "x"}, timeout=TIMEOUT)
    requests.get(f"{live_server.url}/api/patients", headers={"Authorization": f"Bearer {secret}"}, timeout=TIMEOUT)
    log = live_server.output()
    assert '"GET /api/patients HTTP/1.1" 200' in log
    assert secret not in log


def test_worker_and_thread_counts_must_be_positive(tmp_path):
    for flag, value in [("--workers", "0"), ("--threads", "-1"), ("--workers", "two")]:
        result = subprocess.run(
            [sys.executable, "app.py", "--db", str(tmp_path / "x.sqlite"), flag, value],
            cwd=ROOT, capture_output=True, text=True, timeout=30, env={**os.environ},
        )  # fmt: skip
        assert result.returncode == 2
        assert f"Error: Invalid value for '{flag}'" in result.stderr


def test_a_long_query_string_gets_the_apis_json_414_through_gunicorn(live_server):
    response = requests.get(f"{live_server.url}/api/books", params={"author": "a" * 7000}, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (414, {"error": "Query string too long (the limit is 6 KiB)"})


def test_row_ids_are_ascii_digits_only(live_server):
    assert requests.get(f"{live_server.url}/api/books/%D9%A1", timeout=TIMEOUT).status_code == 404  # "١"
    assert requests.get(f"{live_server.url}/api/books/1", timeout=TIMEOUT).status_code == 200
