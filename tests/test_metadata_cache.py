"""Metadata is parsed once per process and re-read as soon as anyone changes it (docs/api.md §7: next request)."""

import pytest

import saltapi.store.metadata
from conftest import TOKENS, bearer
from saltapi.store.connection import connect


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Names of the tables whose metadata was read from the database."""
    calls = []
    read_table = saltapi.store.metadata.read_table

    def counting_read_table(db, name):
        calls.append(name)
        return read_table(db, name)

    monkeypatch.setattr(saltapi.store.metadata, "read_table", counting_read_table)
    return calls


def change(db_path, sql: str) -> None:
    """Change the metadata as another process would: through a connection of its own."""
    db = connect(db_path)
    try:
        db.execute(sql)
    finally:
        db.close()


def test_repeated_requests_read_the_metadata_once(client, reads):
    for _ in range(3):
        assert client.get("/api/books").status_code == 200
    assert reads.count("books") == 1


def test_unknown_tables_are_not_cached(client, reads):
    for _ in range(2):
        assert client.get("/api/nosuch").status_code == 404
    assert reads.count("nosuch") == 2


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE _sc_tables SET min_role_read = 100 WHERE name = 'patients'",
        "INSERT INTO _sc_roles (id, role) VALUES (90, 'guest')",
        "UPDATE _sc_fields SET label = 'Full name' WHERE name = 'name'",
        "INSERT INTO _sc_config (key, value) VALUES ('users_min_role_read', '100')",
    ],
)
def test_any_metadata_change_elsewhere_is_seen_on_the_next_request(client, db_path, reads, sql):
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 200
    before = len(reads)
    change(db_path, sql)
    assert client.get("/api/patients", headers=bearer(TOKENS["staff"])).status_code == 200
    assert len(reads) == before + 1


def test_a_role_change_takes_effect_on_the_next_request(client, db_path):
    assert client.get("/api/patients").status_code == 401
    change(db_path, "UPDATE _sc_tables SET min_role_read = 100 WHERE name = 'patients'")
    assert client.get("/api/patients").status_code == 200
    change(db_path, "INSERT INTO _sc_config (key, value) VALUES ('users_min_role_read', '100')")
    assert client.get("/api/users").status_code == 200
