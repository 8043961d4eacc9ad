"""`saltapi copy-db SOURCE TARGET`: a whole instance moved from a SQLite file to PostgreSQL and back, all or nothing,
with every token and password working unchanged on the copy."""

import json
import subprocess
import sys

import pytest
import requests

from conftest import PASSWORDS, ROOT, TOKENS, bearer, csrf_from, load_data, load_into, running_server, schema_of
from saltapi.store import sqlite
from saltapi.store.connection import connect, engine_of
from saltapi.store.users import generate_token

MANY_ROWS = 1234  # more than one batch of store/instance.py


def source_data() -> dict:
    """tests/data.json, plus what else an instance holds: a changed setting, an owned table, every type, many rows."""
    data = load_data()
    data["settings"] = {"users_min_role_read": 40}
    data["tables"].append({
        "name": "diary",
        "min_role_read": 80,
        "min_role_write": 80,
        "ownership_field_name": "owner",
        "constraints": [
            {"type": "Index", "configuration": {"field": "day"}},
            {"type": "Unique", "configuration": {"fields": ["entry", "day"]}},
        ],
        "fields": [
            {"name": "owner", "label": "Owner", "type": "Key", "reftable_name": "users"},
            {"name": "entry", "label": "Entry", "type": "String", "required": True},
            {"name": "code", "label": "Code", "type": "Integer", "is_unique": True},
            {"name": "done", "label": "Done", "type": "Bool"},
            {"name": "weight", "label": "Weight", "type": "Float"},
            {"name": "day", "label": "Day", "type": "Date"},
        ],
        "rows": [
            {"id": n, "owner": 1 + n % 3, "entry": f"Über {n} \"q\" ", "code": n * 7, "done": n % 2 == 0,
             "weight": n / 3, "day": f"2024-01-{1 + n % 28:02d}"}
            for n in range(1, MANY_ROWS + 1)
        ],  # fmt: skip
    })
    return data


def saltapi(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "saltapi", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def dump(database) -> dict:
    return json.loads(saltapi("dump-fixture", "--with-secrets", "--db", str(database)).stdout)


def last_ids(database) -> dict:
    db = connect(database)
    try:
        names = ["_sc_users", "_sc_tables", "_sc_fields", *(row[0] for row in db.execute("SELECT name FROM _sc_tables"))]
        return engine_of(db).last_ids(db, names)
    finally:
        db.close()


@pytest.fixture
def source(tmp_path):
    """A SQLite instance whose last rows were deleted, so its id sequences run ahead of its ids."""
    path = tmp_path / "source.sqlite"
    load_into(path, source_data())
    db = connect(path)
    db.execute("DELETE FROM diary WHERE id > ?", (MANY_ROWS - 5,))
    db.close()
    return path


@pytest.fixture
def postgres_url(postgres_cluster):
    url = postgres_cluster.create()
    yield url
    postgres_cluster.drop(url)


def test_sqlite_to_postgresql_and_back_gives_the_same_instance(source, postgres_url, tmp_path):
    back = tmp_path / "back.sqlite"
    there = saltapi("copy-db", str(source), postgres_url)
    assert there.stdout == f"Copied 6 tables, {MANY_ROWS - 5 + 10} rows and 4 users from {source} to {postgres_url}.\n"
    assert there.stderr.splitlines()[-1] == f"Copying: {MANY_ROWS - 5 + 10:,} of {MANY_ROWS - 5 + 10:,} rows (100 %)"
    saltapi("copy-db", postgres_url, str(back))
    before = dump(source)
    assert before["settings"] == {"users_min_role_read": 40}
    assert before["tables"][-1]["ownership_field_name"] == "owner"
    assert all(user["password_hash"] for user in before["users"])
    assert dump(postgres_url) == before
    assert dump(back) == before
    assert last_ids(postgres_url) == last_ids(source) == last_ids(back)
    assert last_ids(back)["diary"] == MANY_ROWS
    assert schema(back) == schema(source)  # tables, constraint and Key indexes, search indexes and their triggers
    indexes = [row[2] for row in schema(postgres_url) if row[0] == "index" and row[1] == "diary"]
    assert {"_sc_constraint_1", "_sc_constraint_2"} <= set(indexes)


def schema(database) -> list[tuple]:
    db = connect(database)
    try:
        return schema_of(db)
    finally:
        db.close()


def test_flask_cli_copies_too(source, postgres_url):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "copy-db", str(source), postgres_url],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert dump(postgres_url) == dump(source)


def sign_in(url: str, email: str, password: str) -> requests.Response:
    with requests.Session() as session:
        page = session.get(f"{url}/auth/login", timeout=10)
        return session.post(
            f"{url}/auth/login", data={"email": email, "password": password, "_csrf": csrf_from(page.text)},
            allow_redirects=False, timeout=10,
        )  # fmt: skip


def test_tokens_and_passwords_made_before_the_copy_work_on_it(source, postgres_url, tmp_path):
    db = connect(source)
    new_token = generate_token(db, 3)
    db.close()
    saltapi("copy-db", str(source), postgres_url)
    with running_server(postgres_url, tmp_path / "server.log", ("--no-demo",)) as server:
        admin = requests.get(f"{server.url}/api/users", headers=bearer(TOKENS["admin"]), timeout=10)
        assert admin.status_code == 200, admin.text
        assert [user["email"] for user in admin.json()["success"]][:2] == ["admin@foo.com", "staff@foo.com"]
        mine = requests.get(f"{server.url}/api/diary", headers=bearer(new_token), timeout=10)
        assert mine.status_code == 200, mine.text
        assert len(mine.json()["success"]) == MANY_ROWS - 5
        replaced = requests.get(f"{server.url}/api/diary", headers=bearer(TOKENS["user"]), timeout=10)
        assert replaced.status_code == 401  # gen-token replaced it before the copy, and the copy knows
        email, password = PASSWORDS["staff"]
        signed_in = sign_in(server.url, email, password)
        assert (signed_in.status_code, signed_in.headers["Location"]) == (302, "/")
        assert sign_in(server.url, email, password + "x").status_code != 302
        added = requests.post(
            f"{server.url}/api/diary", json={"entry": "after the move", "code": -1}, headers=bearer(new_token), timeout=10
        )
        assert added.json() == {"success": MANY_ROWS + 1}  # the id sequence carried on past the deleted rows
        again = requests.post(
            f"{server.url}/api/diary", json={"entry": "Über 1 \"q\" ", "day": "2024-01-02"}, headers=bearer(new_token),
            timeout=10,
        )  # fmt: skip
        assert again.json() == {"error": "Duplicate values for fields unique together: Entry, Day"}  # the table's constraint


def test_a_target_that_is_not_empty_is_refused_in_one_line(source, postgres_url):
    saltapi("copy-db", str(source), postgres_url)
    copied = dump(postgres_url)
    again = saltapi("copy-db", str(source), postgres_url, check=False)
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (
        f"Error: Cannot copy to {postgres_url}: {postgres_url} is not empty:"
        " copy only into a database with no tables and no users\n"
    )
    assert dump(postgres_url) == copied


def test_a_database_of_someone_elses_is_not_empty(source, postgres_url):
    db = connect(postgres_url)
    db.execute("CREATE TABLE theirs (x integer)")
    db.close()
    refused = saltapi("copy-db", str(source), postgres_url, check=False)
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr
    db = connect(postgres_url)
    assert engine_of(db).stored_tables(db) == ["theirs"]  # not even saltapi's schema was added
    db.close()


def test_a_failing_copy_leaves_the_target_empty(source, postgres_url, tmp_path):
    db = connect(source)
    db.execute("UPDATE diary SET entry = ? WHERE id = ?", ("NUL \0 here", MANY_ROWS - 10))  # PostgreSQL's text refuses it
    db.close()
    failed = saltapi("copy-db", str(source), postgres_url, check=False)
    assert failed.returncode == 1
    assert failed.stdout == ""
    error = failed.stderr.splitlines()[-1]
    assert error.startswith(f"Error: Cannot copy to {postgres_url}: ") and "NUL" in error
    empty = dump(postgres_url)
    assert (empty["users"], empty["tables"]) == ([], [])
    assert "settings" not in empty
    db = connect(source)
    db.execute("UPDATE diary SET entry = 'fine' WHERE id = ?", (MANY_ROWS - 10,))
    db.close()
    saltapi("copy-db", str(source), postgres_url)  # and a second try succeeds
    assert dump(postgres_url) == dump(source)


def test_a_failing_copy_to_a_new_file_leaves_no_file(postgres_url, tmp_path):
    missing = saltapi("copy-db", str(tmp_path / "nothing.sqlite"), postgres_url, check=False)
    assert (missing.returncode, missing.stderr) == (1, f"Error: No database at {tmp_path / 'nothing.sqlite'}\n")
    target = tmp_path / "new.sqlite"
    no_instance = saltapi("copy-db", postgres_url, str(target), check=False)
    assert no_instance.stderr == f"Error: Cannot copy to {target}: {postgres_url} holds no saltapi instance\n"
    assert list(tmp_path.iterdir()) == []


def test_the_copy_keeps_sqlites_sequence_table_exact(source, tmp_path):
    copy = tmp_path / "copy.sqlite"
    saltapi("copy-db", str(source), str(copy))
    db = connect(copy)
    assert sqlite.last_ids(db, ["diary"]) == {"diary": MANY_ROWS}
    db.close()
