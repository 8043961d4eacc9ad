"""The admin commands (docs/api.md §8) through Flask's CLI runner, and once through a real `flask --app app`."""

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from werkzeug.security import generate_password_hash

from conftest import ROOT, TOKENS, assert_one_error_line, bearer, stored_bytes
from saltapi import create_app
from saltapi.db import get_db
from saltapi.store.connection import connect
from saltapi.store.users import check_password

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def fast_hashing(monkeypatch):
    """One PBKDF2 round instead of scrypt: these tests are about the commands, not the hash's strength."""
    fast = functools.partial(generate_password_hash, method="pbkdf2:sha256:1")
    monkeypatch.setattr("saltapi.store.users.generate_password_hash", fast)


@pytest.fixture
def query(db_path):
    """Run one SQL query on this test's database and return all its rows as tuples."""

    def run(sql: str, params=()) -> list[tuple]:
        db = connect(db_path)
        try:
            return [tuple(row) for row in db.execute(sql, params)]
        finally:
            db.close()

    return run


def write_json(path, data) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def small_fixture() -> dict:
    return {
        "roles": [{"id": 70, "role": "reviewer"}],
        "users": [{"email": "new@foo.com", "role_id": 70, "api_token": "new-token-123"}],
        "tables": [
            {"name": "box", "min_role_read": 70, "fields": [
                {"name": "label", "type": "String", "required": True},
                {"name": "shelf", "type": "Key to shelf"},
            ], "rows": [{"id": 1, "label": "B1", "shelf": 2}, {"id": 2, "label": "B2", "shelf": None}]},
            {"name": "shelf", "fields": [{"name": "name", "type": "String"}], "rows": [{"id": 2, "name": "top"}]},
        ],
    }  # fmt: skip


# --- init-db --------------------------------------------------------------------------------------------


def test_init_db_creates_the_schema_and_can_run_again(tmp_path):
    path = tmp_path / "new" / "saltapi.sqlite"
    runner = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"}).test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert result.stdout == f"Initialized the database at {path}.\n"
        db = connect(path)
        try:
            assert [tuple(row) for row in db.execute("SELECT id, role FROM _sc_roles ORDER BY id")] == [
                (1, "admin"), (40, "staff"), (80, "user"), (100, "public"),
            ]  # fmt: skip
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()


def test_init_db_keeps_existing_data(runner, snapshot):
    before = snapshot()
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert snapshot() == before


def test_init_db_command_calls_init_db(runner, monkeypatch):
    calls = []
    monkeypatch.setattr("saltapi.cli.init_db", calls.append)
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0 and "Initialized the database" in result.stdout
    assert len(calls) == 1


# --- create-user ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, role_id, role_name",
    [("staff", 40, "staff"), ("Staff", 40, "staff"), ("40", 40, "staff"), ("editor", 60, "editor"),
     ("60", 60, "editor"), ("admin", 1, "admin"), ("1", 1, "admin"), ("public", 100, "public")],
)  # fmt: skip
def test_create_user_with_role_name_or_id(runner, query, fast_hashing, role, role_id, role_name):
    result = runner.invoke(args=["create-user", "x@y.com", "--role", role, "--password", "pw-123456"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Created user x@y.com with role {role_name} (id 5).\n"
    assert query("SELECT id, email, role_id, api_token_hash FROM _sc_users WHERE email = 'x@y.com'") == [
        (5, "x@y.com", role_id, None)
    ]


def test_create_user_stores_a_real_password_hash(runner, app, query):
    """The one test that pays for the real (slow) hash."""
    result = runner.invoke(args=["create-user", " x@y.com ", "--role", "user", "--password", "s3cret pass"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Created user x@y.com with role user (id 5).\n"
    [(password_hash,)] = query("SELECT password_hash FROM _sc_users WHERE id = 5")
    assert "s3cret pass" not in password_hash
    with app.app_context():
        assert check_password(get_db(), "x@y.com", "s3cret pass").id == 5
        assert check_password(get_db(), "x@y.com", "wrong") is None


def test_create_user_prompts_for_the_password_twice(runner, app, fast_hashing):
    result = runner.invoke(args=["create-user", "x@y.com", "--role", "staff"], input="first one\nsecond one\nright one\nright one\n")
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert "right one" not in result.output  # the prompt hides what is typed
    assert result.stdout.endswith("Created user x@y.com with role staff (id 5).\n")
    with app.app_context():
        assert check_password(get_db(), "x@y.com", "right one").email == "x@y.com"


@pytest.mark.parametrize(
    "args, message",
    [
        (["x@y.com", "--role", "wizard"], "No role 'wizard'; roles are admin, staff, editor, user, public"),
        (["x@y.com", "--role", "41"], "No role '41'; roles are admin, staff, editor, user, public"),
        (["x@y.com", "--role", ""], "No role ''; roles are admin, staff, editor, user, public"),
        (["staff@foo.com", "--role", "user"], "A user with email staff@foo.com already exists"),
        (["STAFF@FOO.COM", "--role", "user"], "A user with email STAFF@FOO.COM already exists"),
        (["nobody", "--role", "user"], "Not an email address: 'nobody'"),
        (["  ", "--role", "user"], "Not an email address: ''"),
    ],
)
def test_create_user_errors_are_one_line_and_change_nothing(runner, snapshot, fast_hashing, args, message):
    before = snapshot()
    result = runner.invoke(args=["create-user", *args, "--password", "pw-123456"])
    assert_one_error_line(result, message)
    assert snapshot() == before


def test_create_user_needs_a_role(runner, snapshot):
    before = snapshot()
    result = runner.invoke(args=["create-user", "x@y.com", "--password", "pw"])
    assert result.exit_code == 2
    assert "Missing option '--role'" in result.stderr
    assert snapshot() == before


def test_created_user_can_get_a_working_token(runner, client, fast_hashing):
    assert runner.invoke(args=["create-user", "boss@y.com", "--role", "admin", "--password", "pw-123456"]).exit_code == 0
    token = runner.invoke(args=["gen-token", "boss@y.com"]).stdout.strip()
    assert client.get("/api/users", headers=bearer(token)).json["success"][-1] == {
        "id": 5, "email": "boss@y.com", "role_id": 1,
    }  # fmt: skip


# --- gen-token and remove-token -------------------------------------------------------------------------


def test_gen_token_prints_a_uuid4_that_works(runner, client, query, db_path):
    assert client.get("/api/patients").status_code == 401  # the public may not read patients
    result = runner.invoke(args=["gen-token", "staff@foo.com"])
    assert result.exit_code == 0, result.output
    token = result.stdout.removesuffix("\n")
    assert UUID4.fullmatch(token) and uuid.UUID(token).version == 4
    assert result.stderr == f"Database: {db_path}\n"
    assert client.get("/api/patients", headers=bearer(token)).status_code == 200
    assert client.get("/api/patients", query_string={"access_token": token}).status_code == 200
    [(token_hash, created_at)] = query("SELECT api_token_hash, api_token_created_at FROM _sc_users WHERE id = 2")
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert created_at is not None


def test_gen_token_replaces_the_old_token(runner, client, db_path):
    old = runner.invoke(args=["gen-token", "staff@foo.com"]).stdout.strip()
    new = runner.invoke(args=["gen-token", "staff@foo.com"]).stdout.strip()
    assert old != new
    for stale in (TOKENS["staff"], old):
        response = client.get("/api/patients", headers=bearer(stale))
        assert (response.status_code, response.json) == (401, {"error": "Not authorized"})
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert client.get("/api/patients", headers=bearer(new)).status_code == 200
    # Other users keep theirs.
    assert client.get("/api/patients", headers=bearer(TOKENS["admin"])).status_code == 200
    stored = stored_bytes(db_path)
    assert new.encode() not in stored and old.encode() not in stored


def test_gen_token_for_a_user_without_one(runner, client):
    assert client.get("/api/notes").status_code == 401
    token = runner.invoke(args=["gen-token", "tokenless@foo.com"]).stdout.strip()
    assert client.get("/api/notes", headers=bearer(token)).json == {
        "success": [{"id": 1, "title": "first note", "owner": 3}]
    }


@pytest.mark.parametrize("email", ["Staff@Foo.com", " staff@foo.com "])
def test_gen_token_finds_the_email_as_create_user_stores_it(runner, client, email):
    result = runner.invoke(args=["gen-token", email])
    assert result.exit_code == 0, result.output
    assert client.get("/api/patients", headers=bearer(result.stdout.strip())).status_code == 200


def test_remove_token(runner, client, query):
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 200
    result = runner.invoke(args=["remove-token", "staff@foo.com"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Removed the API token of staff@foo.com.\n"
    response = client.get("/api/patients", headers=bearer(TOKENS["staff"]))
    assert (response.status_code, response.json) == (401, {"error": "Not authorized"})
    assert query("SELECT api_token_hash, api_token_created_at FROM _sc_users WHERE id = 2") == [(None, None)]
    assert client.get("/api/patients", headers=bearer(TOKENS["admin"])).status_code == 200
    # Removing again is no error, and a new token can follow.
    assert runner.invoke(args=["remove-token", "staff@foo.com"]).exit_code == 0
    token = runner.invoke(args=["gen-token", "staff@foo.com"]).stdout.strip()
    assert client.get("/api/patients", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("command", ["gen-token", "remove-token"])
@pytest.mark.parametrize("email", ["nobody@foo.com", "staff@foo.co", ""])
def test_token_commands_for_an_unknown_email(runner, snapshot, command, email):
    before = snapshot()
    result = runner.invoke(args=[command, email])
    assert_one_error_line(result, f"No user with email {email}")
    assert snapshot() == before


@pytest.mark.parametrize("command", ["gen-token", "remove-token", "create-user"])
def test_commands_need_an_email(runner, command):
    result = runner.invoke(args=[command])
    assert result.exit_code == 2
    assert "Missing argument 'EMAIL'" in result.stderr


# --- load-fixture ---------------------------------------------------------------------------------------


def test_load_fixture(runner, client, snapshot, tmp_path):
    path = write_json(tmp_path / "small.json", small_fixture())
    result = runner.invoke(args=["load-fixture", path])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Loaded 2 tables, 3 rows, 1 users and 1 roles from {path}.\n"
    assert client.get("/api/box", headers=bearer("new-token-123")).json == {
        "success": [{"id": 1, "label": "B1", "shelf": 2}, {"id": 2, "label": "B2", "shelf": None}]
    }
    assert client.get("/api/books").json["success"][0]["author"] == "Herman Melville"  # the old data stays
    names = [t["name"] for t in snapshot()["tables"]]
    assert names == ["books", "patients", "publisher", "notes", "items", "box", "shelf"]


def test_load_fixture_with_replace(runner, client, snapshot, tmp_path):
    path = write_json(tmp_path / "small.json", small_fixture())
    result = runner.invoke(args=["load-fixture", "--replace", path])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Loaded 2 tables, 3 rows, 1 users and 1 roles from {path}.\n"
    after = snapshot()
    assert [t["name"] for t in after["tables"]] == ["box", "shelf"]
    assert [u["email"] for u in after["users"]] == ["new@foo.com"]
    assert client.get("/api/books").json == {"error": "Not found"}
    assert client.get("/api/box", headers=bearer(TOKENS["admin"])).status_code == 401  # the old users are gone
    assert client.get("/api/box", headers=bearer("new-token-123")).status_code == 200


def test_load_fixture_of_an_empty_object(runner, snapshot, tmp_path):
    before = snapshot()
    path = write_json(tmp_path / "empty.json", {})
    result = runner.invoke(args=["load-fixture", path])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Loaded 0 tables, 0 rows, 0 users and 0 roles from {path}.\n"
    assert snapshot() == before


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"tables": [', "is not valid JSON: Expecting value: line 1 column 13 (char 12)"),
        (b"", "is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"a": 1} x', "is not valid JSON: Extra data: line 1 column 10 (char 9)"),
        (b'\xff\xfe{"a"', "is not valid JSON: "),
        (b"[" * 100_000 + b"]" * 100_000, "cannot be read: its JSON is nested too deeply"),
    ],
    ids=["truncated", "empty", "extra data", "not UTF-8", "too deep"],
)
@pytest.mark.parametrize("replace", [False, True])
def test_load_fixture_of_invalid_json(runner, snapshot, tmp_path, content, message, replace):
    before = snapshot()
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = runner.invoke(args=["load-fixture", *(["--replace"] if replace else []), str(path)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [_, line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {path} {message}")
    assert snapshot() == before


def changed(change) -> dict:
    fixture = small_fixture()
    change(fixture)
    return fixture


FAILING = {
    "dangling Key": (changed(lambda f: f["tables"][0]["rows"][0].update(shelf=99)),
                     "Table box, row id 1: shelf: No shelf row with id 99"),
    "wrong type": (changed(lambda f: f["tables"][0]["rows"][1].update(label=7)),
                   "Table box, row 2 (id 2): label: Must be a string"),
    "unknown role": (changed(lambda f: f["users"][0].update(role_id=55)), "User new@foo.com: there is no role 55"),
    "short token": (changed(lambda f: f["users"][0].update(api_token="abc")),
                    "User new@foo.com: API tokens must be strings of at least 6 characters"),
    "field named id": (changed(lambda f: f["tables"][1]["fields"].append({"name": "id", "type": "Integer"})),
                       "Field shelf.id: a field may not be called id (every table has its own id)"),
    "password not a string": (changed(lambda f: f["users"][0].update(password=123456)),
                              "User new@foo.com: Password must be a string"),
    "not an object": ([small_fixture()], "A fixture must be a JSON object with roles, users and tables"),
}  # fmt: skip


@pytest.mark.parametrize("fixture, message", FAILING.values(), ids=FAILING.keys())
@pytest.mark.parametrize("replace", [False, True])
def test_failing_fixture_leaves_the_database_unchanged(runner, client, snapshot, tmp_path, fixture, message, replace):
    path = write_json(tmp_path / "failing.json", fixture)
    before = snapshot()
    result = runner.invoke(args=["load-fixture", *(["--replace"] if replace else []), path])
    assert_one_error_line(result, f"{path}: {message}")
    assert snapshot() == before
    assert client.get("/api/books").status_code == 200


def test_load_fixture_that_clashes_with_existing_data(runner, snapshot, tmp_path):
    path = write_json(tmp_path / "again.json", snapshot())
    before = snapshot()
    result = runner.invoke(args=["load-fixture", path])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == f"Error: {path}: User admin@foo.com: another user has id 1"
    assert snapshot() == before


def test_load_fixture_of_a_missing_file(runner, tmp_path):
    result = runner.invoke(args=["load-fixture", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "No such file or directory" in result.stderr


# --- dump-fixture ---------------------------------------------------------------------------------------


def test_dump_fixture_to_stdout(runner, snapshot):
    result = runner.invoke(args=["dump-fixture"])
    assert result.exit_code == 0, result.output
    dumped = json.loads(result.stdout)
    expected = snapshot()
    for user in expected["users"]:
        del user["password_hash"], user["api_token_hash"]
    assert dumped == expected
    assert dumped["users"][0] == {"id": 1, "email": "admin@foo.com", "role_id": 1}
    assert dumped["roles"] == [
        {"id": 1, "role": "admin"}, {"id": 40, "role": "staff"}, {"id": 60, "role": "editor"},
        {"id": 80, "role": "user"}, {"id": 100, "role": "public"},
    ]  # fmt: skip
    assert dumped["tables"][4]["rows"][1] == {
        "id": 2, "code": "BB", "size": None, "qty": None, "price": None, "active": False,
        "due": "2024-05-01T10:30:00.000Z",
    }  # fmt: skip
    assert "hash" not in result.stdout


def test_dump_fixture_to_a_file(runner, snapshot, tmp_path):
    path = tmp_path / "dump.json"
    result = runner.invoke(args=["dump-fixture", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Wrote 5 tables, 10 rows and 4 users to {path}.\n"
    dumped = json.loads(path.read_text(encoding="utf-8"))
    assert [set(user) for user in dumped["users"]] == [{"id", "email", "role_id"}] * 4
    assert dumped["tables"] == snapshot()["tables"]


def test_dump_fixture_to_an_unwritable_place(runner, tmp_path):
    result = runner.invoke(args=["dump-fixture", str(tmp_path / "no" / "such" / "dir.json")])
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.splitlines()[-1] == (
        f"Error: Cannot write {tmp_path / 'no' / 'such' / 'dir.json'}: No such file or directory"
    )


def test_dump_fixture_with_secrets_holds_hashes_only(runner):
    result = runner.invoke(args=["dump-fixture", "--with-secrets"])
    assert result.exit_code == 0, result.output
    users = {user["email"]: user for user in json.loads(result.stdout)["users"]}
    assert users["admin@foo.com"]["api_token_hash"] == hashlib.sha256(TOKENS["admin"].encode()).hexdigest()
    assert users["tokenless@foo.com"]["api_token_hash"] is None
    assert all(user["password_hash"].startswith(("scrypt:", "pbkdf2:")) for user in users.values())
    for secret in [*TOKENS.values(), "AhGGr6rhu45", "ghrarhr54hg", "GFeggwrwq45fjn", "no-token-here"]:
        assert secret not in result.stdout


def test_dump_and_load_round_trip_through_the_cli(runner, tmp_path):
    """dump --with-secrets, load into a new instance, dump again: the same data, and the tokens still work."""
    first = tmp_path / "first.json"
    assert runner.invoke(args=["dump-fixture", "--with-secrets", str(first)]).exit_code == 0
    other = create_app({"TESTING": True, "DATABASE": str(tmp_path / "other.sqlite"), "SECRET_KEY": "test"})
    other_runner = other.test_cli_runner()
    result = other_runner.invoke(args=["load-fixture", str(first)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Loaded 5 tables, 10 rows, 4 users and 5 roles from {first}.\n"
    second = other_runner.invoke(args=["dump-fixture", "--with-secrets"])
    assert json.loads(second.stdout) == json.loads(first.read_text(encoding="utf-8"))
    client = other.test_client()
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 200
    assert client.get("/api/notes", headers=bearer(TOKENS["user"])).json == {
        "success": [{"id": 1, "title": "first note", "owner": 3}]
    }


# --- the real command line ------------------------------------------------------------------------------


def flask_command(*args: str, db: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "SALTAPI_"))}
    env["SALTAPI_DB"] = db
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=check,
    )  # fmt: skip


def test_flask_app_commands_end_to_end(tmp_path):
    db = str(tmp_path / "cli" / "saltapi.sqlite")
    assert flask_command("init-db", db=db).stdout == f"Initialized the database at {db}.\n"
    created = flask_command("create-user", "boss@y.com", "--role", "admin", "--password", "pw-123456", db=db)
    assert created.stdout == "Created user boss@y.com with role admin (id 1).\n"
    token = flask_command("gen-token", "boss@y.com", db=db).stdout.strip()
    assert UUID4.fullmatch(token)
    fixture = write_json(tmp_path / "small.json", small_fixture())
    loaded = flask_command("load-fixture", fixture, db=db)
    assert loaded.stdout == f"Loaded 2 tables, 3 rows, 1 users and 1 roles from {fixture}.\n"
    dumped = json.loads(flask_command("dump-fixture", db=db).stdout)
    assert dumped["users"] == [
        {"id": 1, "email": "boss@y.com", "role_id": 1}, {"id": 2, "email": "new@foo.com", "role_id": 70},
    ]  # fmt: skip
    assert [t["name"] for t in dumped["tables"]] == ["box", "shelf"]
    failed = flask_command("gen-token", "nobody@y.com", db=db, check=False)
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr == f"Database: {db}\nError: No user with email nobody@y.com\n"
    # The token printed by the process opens the API of an app on the same file.
    client = create_app({"TESTING": True, "DATABASE": db, "SECRET_KEY": "test"}).test_client()
    assert client.get("/api/box", headers=bearer(token)).json == {
        "success": [{"id": 1, "label": "B1", "shelf": 2}, {"id": 2, "label": "B2", "shelf": None}]
    }
    assert client.get("/api/box").status_code == 401
