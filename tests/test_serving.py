"""`python app.py` serves with several granian workers on one file; slow clients stall nobody; logs never show a
token."""

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import ROOT, TOKENS, running_server

MELVILLE = {"id": 1, "author": "Herman Melville", "pages": 967, "publisher": None}

# Other processes open the SQLite file directly while gunicorn's workers write it.
pytestmark = pytest.mark.sqlite_only

TIMEOUT = 10


def wait_for_workers(server, count: int) -> None:
    """granian forks its workers one by one after it starts listening."""
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


def log_with(server, line: str) -> str:
    """The server's output once it has `line`: a worker writes the access log after the answer has left."""
    deadline = time.monotonic() + TIMEOUT
    while line not in (log := server.output()):
        assert time.monotonic() < deadline, f"no {line!r} in the log after {TIMEOUT} s"
        time.sleep(0.05)
    return log


def test_the_access_log_has_paths_but_never_tokens(live_server):
    secret = TOKENS["staff"]
    requests.get(f"{live_server.url}/api/patients", params={"access_token": secret, "name": "x"}, timeout=TIMEOUT)
    requests.get(f"{live_server.url}/api/patients", headers={"Authorization": f"Bearer {secret}"}, timeout=TIMEOUT)
    requests.get(f"{live_server.url}/api/patients/after-the-tokens", timeout=TIMEOUT)
    log = log_with(live_server, '"GET /api/patients/after-the-tokens HTTP/1.1" 404')
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


def test_a_long_query_string_gets_the_apis_json_414_through_the_server(live_server):
    response = requests.get(f"{live_server.url}/api/books", params={"author": "a" * 7000}, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (414, {"error": "Query string too long (the limit is 6 KiB)"})


def test_row_ids_are_ascii_digits_only(live_server):
    assert requests.get(f"{live_server.url}/api/books/%D9%A1", timeout=TIMEOUT).status_code == 404  # "١"
    assert requests.get(f"{live_server.url}/api/books/1", timeout=TIMEOUT).status_code == 200


def raw_connection(server, data: bytes = b"") -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    connection.sendall(data)
    return connection


def test_slow_and_silent_clients_stall_nobody(live_server):
    """Issue 12: 50 half-finished requests (cut off in the headers or in the body) and 10 connections that send
    nothing, all held open, and a normal request is still answered (under gunicorn's sync workers it was not)."""
    host = f"Host: 127.0.0.1:{live_server.port}\r\n".encode()
    half_headers = b"GET /api/books HTTP/1.1\r\n" + host + b"Accept: appl"
    half_body = b"POST /api/items HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\nContent-Length: 900\r\n\r\n{"
    with contextlib.ExitStack() as held:
        for data in [half_headers] * 25 + [half_body] * 25 + [b""] * 10:
            held.enter_context(raw_connection(live_server, data))
        for _ in range(3):  # on fresh connections, whichever worker takes them
            response = requests.get(f"{live_server.url}/api/books", params={"id": 1}, timeout=TIMEOUT)
            assert (response.status_code, response.json()) == (200, {"success": [MELVILLE]})


def read_all(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def test_raw_bytes_in_the_request_line_never_log_the_token(live_server):
    """Issue 12: gunicorn logged a request line with raw non-ASCII or a TAB whole, token and all, and answered HTML."""
    secret = TOKENS["staff"]
    host = f"Host: 127.0.0.1:{live_server.port}\r\nConnection: close\r\n\r\n".encode()
    lines = {
        "non-ASCII": f"GET /api/patients?access_token={secret}&name=L\u00e9o HTTP/1.1\r\n".encode(),
        "TAB": f"GET /api/patients?access_token={secret}&name=a\tb HTTP/1.1\r\n".encode(),
        "control": f"GET /api/patients?access_token={secret}&name=a\x01b HTTP/1.1\r\n".encode(),
        "too long": f"GET /api/patients?access_token={secret}&name={'a' * 100_000} HTTP/1.1\r\n".encode(),
    }
    answers = {}
    for name, line in lines.items():
        with raw_connection(live_server, line + host) as connection:
            answers[name] = read_all(connection)
    # The app's own answer: the token was read, and no patient has that name.
    assert answers["non-ASCII"].startswith(b"HTTP/1.1 200 ")
    assert b"content-type: application/json\r\n" in answers["non-ASCII"].lower()
    for name in ("TAB", "control", "too long"):  # refused before the app, without a page
        status_line, _, rest = answers[name].partition(b"\r\n")
        assert status_line in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 414 URI Too Long"), name
        assert rest.endswith(b"\r\n\r\n"), name  # no body
    requests.get(f"{live_server.url}/api/patients/after-the-raw-lines", timeout=TIMEOUT)
    assert secret not in log_with(live_server, '"GET /api/patients/after-the-raw-lines HTTP/1.1" 404')


def test_a_path_cannot_forge_access_log_lines(live_server):
    requests.get(f"{live_server.url}/api/books%0A127.0.0.1%20%22GET%20/forged%20HTTP/1.1%22%20200", timeout=TIMEOUT)
    log = log_with(live_server, '"GET /api/books\\n127.0.0.1 "GET /forged HTTP/1.1" 200 HTTP/1.1" 404')
    assert "\n127.0.0.1 \"GET /forged" not in log


def test_a_second_server_on_a_taken_port_refuses_to_start(live_server, tmp_path):
    """granian shares ports (SO_REUSEPORT): without the check, two servers would split each other's requests."""
    db_path = tmp_path / "second.sqlite"
    result = subprocess.run(
        [sys.executable, "app.py", "--db", str(db_path), "--port", str(live_server.port)],
        cwd=ROOT, capture_output=True, text=True, timeout=30, env={**os.environ},
    )  # fmt: skip
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{live_server.port}: Address already in use" in result.stderr
    assert not db_path.exists()
