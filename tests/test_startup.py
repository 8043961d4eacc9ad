"""`python app.py` for real (docs/api.md §8): a first start seeds the demo and says how to sign in, a second start
keeps what is there, the session secret lives beside the database, and the printed commands work as printed.
"""

import os
import secrets
import shlex
import stat
import subprocess
import sys
import uuid

import pytest
import requests
from flask import Flask

from conftest import ROOT, bearer, running_server
from saltapi import init_app, stored_secret_key

# What a first start creates beside a new SQLite file (the file, its secret, the demo).
pytestmark = pytest.mark.sqlite_only

TIMEOUT = 10
COMMAND_SECONDS = 60
DEMO_BOOKS = [
    {"id": 1, "author": "Herman Melville", "pages": 967, "publisher": None},
    {"id": 2, "author": "Leo Tolstoy", "pages": 728, "publisher": 1},
]
LE_GUIN = {"author": "Ursula K. Le Guin", "pages": 183}
DEMO_PATIENTS = [
    {"id": 1, "name": "Kirk Douglas", "favbook": 1, "parent": None},
    {"id": 2, "name": "Michael Douglas", "favbook": 2, "parent": 1},
]


def server_env(**changes: str) -> dict[str, str]:
    """Our environment without saltapi's or Flask's variables (a developer's shell may set them), plus `changes`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SALTAPI_", "FLASK_"))}
    return {**env, **changes}


def get(server, path: str, **kwargs) -> requests.Response:
    return requests.get(server.url + path, timeout=TIMEOUT, **kwargs)


def files_beside(db_path) -> set[str]:
    """What sits in the database's directory besides the database and SQLite's own -wal/-shm files."""
    ignored = {db_path.name, f"{db_path.name}-wal", f"{db_path.name}-shm", f"{db_path.name}-journal"}
    return {path.name for path in db_path.parent.iterdir()} - ignored


def printed_commands(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if " --db " in line]


def run_printed(command: str, *extra: str, cwd) -> subprocess.CompletedProcess:
    """Run a printed command line in a shell, word for word, from another directory."""
    line = " ".join([command, *map(shlex.quote, extra)])
    return subprocess.run(
        ["/bin/sh", "-c", line], cwd=cwd, env=server_env(), capture_output=True, text=True, timeout=COMMAND_SECONDS
    )


def test_help_documents_the_options():
    argv = [sys.executable, "app.py", "--help"]
    result = subprocess.run(argv, cwd=ROOT, env=server_env(), capture_output=True, text=True, timeout=COMMAND_SECONDS)
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--db", "--no-demo"):
        assert option in result.stdout


def test_first_start_seeds_the_demo_and_second_start_keeps_it(tmp_path):
    db_path = tmp_path / "not yet" / "demo.sqlite"
    assert not db_path.parent.exists()
    with running_server(db_path, tmp_path / "first.log", env=server_env()) as server:
        assert db_path.is_file()
        books = get(server, "/api/books")
        assert (books.status_code, books.json()) == (200, {"success": DEMO_BOOKS})
        patients = get(server, "/api/patients")
        assert (patients.status_code, patients.json()) == (401, {"error": "Not authorized"})
        output = server.output()
    assert f"{server.url}/" in output
    assert "Created" in output
    assert [shlex.split(command)[1:] for command in printed_commands(output)] == [
        ["create-user", "admin@example.com", "--role", "admin", "--db", str(db_path)],
        ["gen-token", "admin@example.com", "--db", str(db_path)],
    ]

    with running_server(db_path, tmp_path / "second.log", env=server_env()) as server:
        books = get(server, "/api/books")
        assert (books.status_code, books.json()) == (200, {"success": DEMO_BOOKS})
        output = server.output()
    assert "Created" not in output
    assert f"{server.url}/" in output
    assert len(printed_commands(output)) == 2  # still no users, so still the instructions


@pytest.mark.parametrize(
    "extra_args, env",
    [(("--no-demo",), server_env()), ((), server_env(SALTAPI_DEMO="0"))],
    ids=["--no-demo", "SALTAPI_DEMO=0"],
)
def test_no_demo_gives_an_empty_instance(tmp_path, extra_args, env):
    db_path = tmp_path / "empty.sqlite"
    with running_server(db_path, tmp_path / "server.log", extra_args, env=env) as server:
        assert db_path.is_file()
        books = get(server, "/api/books")
        assert (books.status_code, books.json()) == (404, {"error": "Not found"})
        output = server.output()
    assert len(printed_commands(output)) == 2


def test_secret_file_is_private_and_reused(tmp_path):
    db_path = tmp_path / "data" / "saltapi.sqlite"
    with running_server(db_path, tmp_path / "first.log", env=server_env()):
        beside = files_beside(db_path)
    assert len(beside) == 1, beside
    secret_path = db_path.parent / beside.pop()
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    secret = secret_path.read_bytes()
    assert len(secret.strip()) >= 32

    with running_server(db_path, tmp_path / "second.log", env=server_env()):
        assert files_beside(db_path) == {secret_path.name}
    assert secret_path.read_bytes() == secret


def test_secret_from_the_environment_writes_no_file(tmp_path):
    db_path = tmp_path / "data" / "saltapi.sqlite"
    env = server_env(SALTAPI_SECRET_KEY="from-the-environment")
    with running_server(db_path, tmp_path / "server.log", env=env) as server:
        assert get(server, "/api/books").status_code == 200
        assert files_beside(db_path) == set()


def test_init_app_leaves_a_host_apps_limits_alone(tmp_path):
    """saltapi limits its own request bodies; a host's uploads elsewhere keep the host's limit."""
    host = Flask("host")
    host.config.update(DATABASE=str(tmp_path / "saltapi.sqlite"), SECRET_KEY="host")
    init_app(host)
    assert host.config["MAX_CONTENT_LENGTH"] is None


def test_failed_secret_write_leaves_no_empty_secret(tmp_path, monkeypatch):
    """A start that dies while making the secret must not leave a file that later starts take as the key."""
    database = str(tmp_path / "saltapi.sqlite")

    def fail(_nbytes=None):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(secrets, "token_hex", fail)
        with pytest.raises(OSError):
            stored_secret_key(database)
    assert os.listdir(tmp_path) == []
    key = stored_secret_key(database)
    assert len(key) >= 32
    assert stored_secret_key(database) == key


def test_empty_secret_file_fails_loudly(tmp_path):
    """An empty key would silently disable sessions; refuse to start instead."""
    database = tmp_path / "saltapi.sqlite"
    (tmp_path / "saltapi.sqlite.secret").write_text("\n")
    with pytest.raises(RuntimeError, match="is empty"):
        stored_secret_key(str(database))


def test_printed_instructions_make_a_working_admin_token(tmp_path):
    """Follow the console's instructions word for word (a path with a space must survive the shell)."""
    db_path = tmp_path / "my data" / "demo.sqlite"
    with running_server(db_path, tmp_path / "first.log", env=server_env()) as server:
        create_user, gen_token = printed_commands(server.output())
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        created = run_printed(create_user, "--password", "a-long-password", cwd=elsewhere)
        assert created.returncode == 0, created.stderr
        assert created.stderr == f"Database: {db_path}\n"
        generated = run_printed(gen_token, cwd=elsewhere)
        assert generated.returncode == 0, generated.stderr
        token = generated.stdout.strip().splitlines()[-1]
        assert uuid.UUID(token).version == 4

        patients = get(server, "/api/patients", headers=bearer(token))
        assert (patients.status_code, patients.json()) == (200, {"success": DEMO_PATIENTS})
        insert = requests.post(f"{server.url}/api/books", json=LE_GUIN, headers=bearer(token), timeout=TIMEOUT)
        assert (insert.status_code, insert.json()) == (200, {"success": 3})

    with running_server(db_path, tmp_path / "second.log", env=server_env()) as server:
        books = get(server, "/api/books", headers=bearer(token))
        assert books.json() == {"success": [*DEMO_BOOKS, {"id": 3, **LE_GUIN, "publisher": None}]}
        output = server.output()
    assert "Created" not in output
    assert printed_commands(output) == []  # an admin exists now
