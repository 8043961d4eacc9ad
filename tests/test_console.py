"""The `saltapi` console command: the real script of the venv as a subprocess, and the same group through click's
runner. Every command names its database, refuses a missing one it needs, and the user commands keep the rules
of the web UI."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from conftest import ROOT, assert_one_error_line, bearer, running_server
from saltapi import console
from saltapi.cli import COMMANDS, database_label, refuse_missing
from saltapi.progress import ProgressLines
from saltapi.store.connection import connect

SCRIPT = Path(sys.executable).with_name("saltapi")  # what `pip install` put beside this venv's python
TIMEOUT = 60


def clean_env(**changes: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SALTAPI_", "FLASK_"))}
    return {**env, **changes}


def saltapi(*args: str, cwd, env: dict[str, str] | None = None, program=(str(SCRIPT),)) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*program, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def invoke(db_path):
    """Run `saltapi ...` in this process through click's runner, on this test's copy of tests/data.json."""

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(console.main, [*args, "--db", str(db_path)], input=input, env=clean_env())

    return run


def query(db_path, sql: str) -> list[tuple]:
    db = connect(db_path)
    try:
        return [tuple(row) for row in db.execute(sql)]
    finally:
        db.close()


# --- the installed script --------------------------------------------------------------------------------


def test_the_installed_script_runs_every_admin_command_and_names_its_database(tmp_path):
    db = tmp_path / "data" / "saltapi.sqlite"
    (tmp_path / "data").mkdir()
    assert saltapi("init-db", "--db", str(db), cwd=tmp_path).returncode == 0
    created = saltapi("create-user", "boss@y.com", "--role", "admin", "--password", "pw-12345", "--db", str(db), cwd=tmp_path)
    assert (created.returncode, created.stdout) == (0, "Created user boss@y.com with role admin (id 1).\n")
    assert created.stderr == f"Database: {db}\n"
    # SALTAPI_DB, from another directory: the relative default is never used.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    token = saltapi("gen-token", "boss@y.com", cwd=elsewhere, env=clean_env(SALTAPI_DB=str(db))).stdout.strip()
    assert list(elsewhere.iterdir()) == []
    listed = saltapi("list-users", "--db", str(db), cwd=tmp_path)
    assert listed.stdout.splitlines()[0].split() == ["id", "email", "role", "API", "token"]
    assert listed.stdout.splitlines()[1].split()[:3] == ["1", "boss@y.com", "admin"]
    # python -m saltapi is the same program; its serve command serves the same file.
    module = saltapi("list-tables", "--db", str(db), cwd=tmp_path, program=(sys.executable, "-m", "saltapi"))
    assert (module.returncode, module.stdout) == (0, "table  id  rows  read  write\n")
    with running_server(db, tmp_path / "server.log", env=clean_env(), program=(str(SCRIPT), "serve")) as server:
        answer = requests.get(f"{server.url}/api/users", headers=bearer(token), timeout=10)
        assert answer.json() == {"success": [{"id": 1, "email": "boss@y.com", "role_id": 1}]}
        assert f"Database: {db}" in server.output()


# Commands between two databases name both as arguments (tests/test_copy_db.py), never one through --db.
BOTH_NAMED = ("copy-db",)


@pytest.mark.parametrize(
    "command",
    [command.name for command in COMMANDS if command.name not in ("init-db", "load-fixture", "reset-demo", *BOTH_NAMED)],
)
def test_a_command_needing_a_database_refuses_a_missing_one_and_creates_nothing(tmp_path, command):
    args = {"create-user": ["a@b.co", "--role", "admin", "--password", "x"], "gen-token": ["a@b.co"],
            "remove-token": ["a@b.co"], "set-role": ["a@b.co", "user"], "delete-user": ["a@b.co", "--yes"],
            "import-csv": ["books", __file__], "export-csv": ["books"], "backup": ["copy.sqlite"],
            "create-index": ["books", "author"], "drop-index": ["books", "author"],
            "create-unique": ["books", "author"], "drop-unique": ["books", "author"],
            "set-password": ["a@b.co"]}.get(command, [])  # fmt: skip
    result = saltapi(command, *args, cwd=tmp_path)
    missing = tmp_path / "instance" / "saltapi.sqlite"
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: No database at {missing}; name an existing one with --db (or SALTAPI_DB),"
        f" or create it with `saltapi init-db --db {missing}`\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_every_command_takes_db_and_the_group_matches_flasks(tmp_path):
    names = sorted(command.name for command in COMMANDS)
    listed = saltapi("--help", cwd=tmp_path).stdout
    assert [line.split()[0] for line in listed.split("Commands:\n")[1].splitlines()] == sorted([*names, "serve"])
    flask = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "--help"], cwd=ROOT, env=clean_env(), capture_output=True,
        text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert set(names) <= {line.split()[0] for line in flask.stdout.split("Commands:\n")[1].splitlines()}
    for name in [*(name for name in names if name not in BOTH_NAMED), "serve"]:
        assert "--db PATH" in CliRunner().invoke(console.main, [name, "--help"]).stdout, name


def test_a_database_url_is_not_checked_as_a_path_and_its_password_never_printed():
    refuse_missing("postgresql://saltapi:s3cret@localhost/saltapi")  # no file to look for
    assert database_label("postgresql://saltapi:s3cret@localhost:5432/db") == "postgresql://saltapi:***@localhost:5432/db"
    assert database_label("postgresql://localhost/db") == "postgresql://localhost/db"


def test_serve_reads_host_port_workers_and_threads_from_the_environment(monkeypatch, tmp_path):
    served = {}
    monkeypatch.setattr(console, "serve", lambda app, host, port, workers, threads: served.update(
        host=host, port=port, workers=workers, threads=threads, database=app.config["DATABASE"]))  # fmt: skip
    env = clean_env(SALTAPI_HOST="0.0.0.0", SALTAPI_PORT="8123", SALTAPI_WORKERS="3", SALTAPI_THREADS="2",
                    SALTAPI_DB=str(tmp_path / "env.sqlite"))  # fmt: skip
    result = CliRunner().invoke(console.main, ["serve", "--no-demo"], env=env)
    assert result.exit_code == 0, result.output
    assert served == {"host": "0.0.0.0", "port": 8123, "workers": 3, "threads": 2, "database": str(tmp_path / "env.sqlite")}
    assert result.stdout.startswith(f"Database: {tmp_path / 'env.sqlite'}\n")


# --- the user and table commands --------------------------------------------------------------------------


def test_list_users_and_tables(invoke):
    users = invoke("list-users")
    assert users.exit_code == 0, users.output
    lines = [line.split() for line in users.stdout.splitlines()]
    assert [line[:3] for line in lines] == [
        ["id", "email", "role"], ["1", "admin@foo.com", "admin"], ["2", "staff@foo.com", "staff"],
        ["4", "tokenless@foo.com", "user"], ["3", "user@foo.com", "user"],
    ]  # fmt: skip
    assert lines[3][3] == "-" and lines[1][3] == "since"  # the token's age, never the token
    tables = invoke("list-tables")
    assert tables.stdout.splitlines() == [
        "table      id  rows  read    write",
        "books      1   2     public  admin",
        "patients   2   2     staff   admin",
        "publisher  3   2     admin   admin",
        "notes      4   1     user    staff",
        "items      5   3     public  public",
    ]


def test_set_role_by_name_or_id(invoke, client, db_path):
    assert invoke("set-role", "user@foo.com", "staff").stdout == "user@foo.com now has the role staff.\n"
    assert invoke("set-role", "staff@foo.com", "1").stdout == "staff@foo.com now has the role admin.\n"
    assert query(db_path, "SELECT email, role_id FROM _sc_users WHERE id IN (2, 3) ORDER BY id") == [
        ("staff@foo.com", 1), ("user@foo.com", 40)
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (("set-role", "admin@foo.com", "user"), "admin@foo.com is the last admin; make another user admin first"),
        (("set-role", "user@foo.com", "wizard"), "No role 'wizard'; roles are admin, staff, editor, user, public"),
        (("set-role", "nobody@foo.com", "user"), "No user with email nobody@foo.com"),
        (("delete-user", "admin@foo.com", "--yes"), "admin@foo.com is the last admin and cannot be deleted"),
        (("delete-user", "user@foo.com", "--yes"),
         "user@foo.com cannot be deleted: rows of notes refer to this user in owner; change or delete those rows first"),
        (("delete-user", "nobody@foo.com", "--yes"), "No user with email nobody@foo.com"),
    ],
)  # fmt: skip
def test_user_commands_refuse_in_one_line_and_change_nothing(invoke, snapshot, args, message):
    before = snapshot()
    assert_one_error_line(invoke(*args), message)
    assert snapshot() == before


def test_delete_user_asks_first(invoke, snapshot, db_path):
    before = snapshot()
    refused = invoke("delete-user", "tokenless@foo.com", input="n\n")
    assert refused.exit_code == 1 and "Delete the user tokenless@foo.com? [y/N]" in refused.stderr
    assert snapshot() == before
    deleted = invoke("delete-user", "tokenless@foo.com", input="y\n")
    assert (deleted.exit_code, deleted.stdout) == (0, "Deleted the user tokenless@foo.com.\n")
    assert query(db_path, "SELECT email FROM _sc_users WHERE email = 'tokenless@foo.com'") == []


# --- import-csv --check and progress -----------------------------------------------------------------------


def test_import_check_validates_without_storing(invoke, snapshot, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("author,pages\nA,1\nB,2\n", encoding="utf-8")
    before = snapshot()
    result = invoke("import-csv", "books", str(good), "--check")
    assert (result.exit_code, result.stdout) == (0, f"{good} would import 2 rows into books; nothing was stored.\n")
    assert result.stderr.splitlines()[-1] == f"Checking {good} against books: 2 of 2 rows (100 %)"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,author,pages\n7,A,1\n7,B,2\n", encoding="utf-8")  # the file clashes with itself
    assert_one_error_line(invoke("import-csv", "books", str(bad), "--check"),
                          f"{bad}: line 3: Duplicate value for unique field: ID")  # fmt: skip
    assert snapshot() == before
    assert invoke("import-csv", "books", str(good)).stdout == f"Imported 2 rows into books from {good}.\n"


def test_progress_lines_come_every_few_seconds_and_at_the_end():
    now = [0.0]
    out = io.StringIO()
    lines = ProgressLines("Loading", 4000, "rows", out, every=5.0, clock=lambda: now[0])
    for _ in range(4):
        lines.update(1000)  # at 0, 3, 6 and 9 s: a line at 6 s, the next not before 11 s
        now[0] += 3.0
    lines.write_line()
    assert out.getvalue().splitlines() == ["Loading: 3,000 of 4,000 rows (75 %)", "Loading: 4,000 of 4,000 rows (100 %)"]


def test_long_commands_report_progress_in_a_log(tmp_path, db_path):
    """Not on a terminal (stderr is a file here), progress is plain lines, not a bar's control characters."""
    rows = tmp_path / "many.csv"
    rows.write_text("author,pages\n" + "".join(f"A{n},{n}\n" for n in range(5000)), encoding="utf-8")
    env = clean_env(SALTAPI_DB=str(db_path))
    imported = saltapi("import-csv", "books", str(rows), cwd=tmp_path, env=env)
    assert imported.stderr.splitlines()[-1] == f"Importing {rows} into books: 5,000 of 5,000 rows (100 %)"
    exported = saltapi("export-csv", "books", str(tmp_path / "out.csv"), cwd=tmp_path, env=env)
    assert exported.stderr.splitlines()[-1] == "Exporting books: 5,002 of 5,002 rows (100 %)"
    dumped = saltapi("dump-fixture", str(tmp_path / "dump.json"), cwd=tmp_path, env=env)
    assert dumped.stderr.splitlines()[-1] == "Dumping: 5,010 of 5,010 rows (100 %)"
    fresh = clean_env(SALTAPI_DB=str(tmp_path / "fresh.sqlite"))
    loaded = saltapi("load-fixture", str(tmp_path / "dump.json"), cwd=tmp_path, env=fresh)
    assert loaded.stderr.splitlines()[-1] == f"Loading {tmp_path / 'dump.json'}: 5,010 of 5,010 rows (100 %)"
    for result in (imported, exported, dumped, loaded):
        assert result.returncode == 0, result.stderr
        assert "\r" not in result.stderr and "\x1b" not in result.stderr


def test_the_script_is_installed():
    """The tests above run the venv's own script; without it they would test nothing."""
    assert SCRIPT.is_file() and shutil.which(str(SCRIPT))
