"""Secrets stay secret (issue 12 item 6): a new token is never in the session cookie, the database files and a dump
with secrets are readable by their owner only, and no token reaches the server's log, whatever the request line."""

import json
import os
import re
import socket
import stat

import pytest
import requests

from conftest import TOKENS, bearer, running_server, stored_bytes
from saltapi import create_app
from saltapi.db import get_db

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMEOUT = 10


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def session_of(app, response) -> dict:
    """What the session cookie set by `response` carries (its signature checked)."""
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("connect.sid="))
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    return app.session_interface.get_signing_serializer(app).loads(value)


@pytest.mark.parametrize("path, page", [("/useradmin/gen-api-token/3", "/useradmin/3"), ("/auth/gen-api-token", "/auth/settings")])
def test_a_new_token_is_shown_once_and_never_travels_in_the_cookie(app, admin, db_path, path, page):
    generated = admin.post(path)
    assert generated.status_code == 302 and generated.location == page
    carried = json.dumps(session_of(app, generated))
    shown = admin.client.get(page)
    [token] = set(UUID.findall(shown.text))
    assert token not in carried
    assert token not in json.dumps(session_of(app, shown)) if "Set-Cookie" in shown.headers else True
    assert admin.client.get("/api/books", headers=bearer(token)).status_code == 200
    assert token not in admin.client.get(page).text  # shown once
    stored = stored_bytes(db_path)
    assert token.encode() not in stored


def test_a_new_database_and_its_wal_are_private(tmp_path):
    path = tmp_path / "new.sqlite"
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"})
    with app.app_context():
        get_db().execute("SELECT 1 FROM _sc_users").fetchall()
        assert {name: mode(tmp_path / name) for name in ("new.sqlite", "new.sqlite-wal", "new.sqlite-shm")} == {
            "new.sqlite": 0o600, "new.sqlite-wal": 0o600, "new.sqlite-shm": 0o600,
        }  # fmt: skip


def test_the_server_makes_its_database_private(tmp_path):
    path = tmp_path / "served.sqlite"
    with running_server(path, tmp_path / "server.log") as server:
        assert requests.get(f"{server.url}/api/books", timeout=TIMEOUT).status_code == 200
        files = {p.name: mode(p) for p in tmp_path.iterdir() if p.name.startswith("served.sqlite")}
    assert files == {"served.sqlite": 0o600, "served.sqlite-wal": 0o600, "served.sqlite-shm": 0o600,
                     "served.sqlite.secret": 0o600}  # fmt: skip


def test_a_dump_with_secrets_is_private(runner, tmp_path):
    fresh, existing = tmp_path / "fresh.json", tmp_path / "existing.json"
    existing.write_text("{}")
    existing.chmod(0o644)
    for path in (fresh, existing):
        result = runner.invoke(args=["dump-fixture", str(path), "--with-secrets"])
        assert result.exit_code == 0, result.output
        assert mode(path) == 0o600
        assert "password_hash" in path.read_text()


def raw_request(url: str, request_line: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(request_line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_no_token_reaches_the_log_whatever_the_request_line(db_path, tmp_path):
    """Raw non-ASCII and a TAB in the request line made gunicorn log the whole line, token included."""
    valid, unknown = TOKENS["admin"], "unknown-token-Qx81"
    with running_server(db_path, tmp_path / "server.log") as server:
        for token in (valid, unknown):
            for line in [
                f"GET /api/books?access_token={token}&author=Léo HTTP/1.1".encode(),
                f"GET /api/books?access_token={token}&author=a\tb HTTP/1.1".encode(),
                f"GET /api/books?access_token={token}&author=%ZZ HTTP/1.1".encode(),
                f"GET /api/b\x00oks?access_token={token} HTTP/1.1".encode(),
                f"GET /api/books?access_token={token}".encode() + b"&x=" + b"y" * 70_000 + b" HTTP/1.1",
            ]:
                raw_request(server.url, line)
            requests.get(f"{server.url}/api/books", params={"access_token": token}, timeout=TIMEOUT)
        log = server.output()
    assert "/api/books" in log
    assert valid not in log and unknown not in log
