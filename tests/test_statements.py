"""The SQL each kind of API request runs, pinned per engine (as sqlite-utils' test_tracer does): a statement more on
the hot path fails here first. Counted on a warm process, as a server runs: metadata cached, connection pooled.
On PostgreSQL each statement is a round trip: a token'd read is two (the version with the token, the rows)."""

import pytest

from conftest import TOKENS, bearer

PREFETCH = "SELECT v.version, u.id, u.email, u.role_id, u.api_token_hash FROM _sc_metadata_version AS v LEFT JOIN"
VERSION = "SELECT version FROM _sc_metadata_version"
BEGIN = "BEGIN"  # SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN and the advisory write lock, in one round trip
INSERT_BOOK = 'INSERT INTO "books"'  # PostgreSQL's ends in RETURNING "id"
STAFF, ADMIN = bearer(TOKENS["staff"]), bearer(TOKENS["admin"])


def traced(app, client, method: str, path: str, **kwargs) -> list[str]:
    """The statements of the request, after the same request once to warm the cache and the pool.

    A trigger (the search index's, store/search.py) is traced as its statement again, and the statements SQLite
    runs inside it (FTS5's) as `-- ` lines: work within one statement, not a statement more, so they are left out.
    """
    assert client.open(path, method=method, **kwargs).status_code == 200
    pool, statements = app.extensions["saltapi_pool"], []
    pool.trace = statements.append
    try:
        response = client.open(path, method=method, **kwargs)
    finally:
        pool.trace = None
    assert response.status_code == 200, response.text
    issued = [sql for sql in statements if not sql.startswith("-- ")]
    return [sql for index, sql in enumerate(issued) if index == 0 or sql != issued[index - 1]]


@pytest.mark.parametrize(
    "method, path, kwargs, expected",
    [
        ("GET", "/api/patients/1", {"headers": STAFF}, [PREFETCH, 'SELECT "id", "name", "favbook", "parent"']),
        ("GET", "/api/patients/1?access_token=staff-token-0002", {}, [PREFETCH, 'SELECT "id", "name"']),
        ("GET", "/api/books/1", {}, [VERSION, 'SELECT "id", "author", "pages", "publisher" FROM "books"']),
        ("GET", "/api/books?limit=100", {"headers": STAFF}, [PREFETCH, 'SELECT "id", "author"']),
        ("GET", "/api/books", {}, [VERSION, 'SELECT "id", "author"']),
        ("GET", "/api/books/count", {"headers": STAFF}, [PREFETCH, "SELECT count(*)"]),
        (
            "POST", "/api/books", {"headers": ADMIN, "json": {"author": "A", "pages": 1}},
            [PREFETCH, BEGIN, INSERT_BOOK, "COMMIT"],
        ),
        (
            "POST", "/api/books/1", {"headers": ADMIN, "json": {"pages": 2}},
            [PREFETCH, BEGIN, 'SELECT "id", "author", "pages", "publisher" FROM "books" WHERE',
             'UPDATE "books"', "COMMIT"],
        ),
    ],
)  # fmt: skip
def test_statements_per_request(app, client, method, path, kwargs, expected):
    statements = traced(app, client, method, path, **kwargs)
    assert len(statements) == len(expected), statements
    for statement, start in zip(statements, expected):
        assert statement.startswith(start), (statement, start)


def test_a_delete_costs_its_checks(app, client, engine):
    new_id = client.post("/api/books", json={"author": "Gone", "pages": 1}, headers=ADMIN).json["success"]
    other = client.post("/api/books", json={"author": "Also gone", "pages": 1}, headers=ADMIN).json["success"]
    client.delete(f"/api/books/{other}", headers=ADMIN)  # warm
    pool, statements = app.extensions["saltapi_pool"], []
    pool.trace = statements.append
    try:
        assert client.delete(f"/api/books/{new_id}", headers=ADMIN).status_code == 200
    finally:
        pool.trace = None
    # version and token, BEGIN, the row, the Keys that refer to books and each one's check, DELETE, COMMIT
    # SQLite's trace shows the statements of the search index's triggers too (not round trips); PostgreSQL has none
    statements = [statement for statement in statements if not statement.startswith("--")]
    assert len(statements) == (10 if engine == "sqlite" else 7), statements


def test_a_metadata_change_is_seen_by_the_next_request(app, client):
    """The version is read once per request, never carried over to the next one."""
    assert client.get("/api/patients").status_code == 401
    with app.app_context():
        db = app.extensions["saltapi_pool"].acquire(app.config["DATABASE"])
        db.execute("UPDATE _sc_tables SET min_role_read = 100 WHERE name = 'patients'")
        app.extensions["saltapi_pool"].release(db)
    assert client.get("/api/patients").status_code == 200


def test_a_token_revoked_between_requests_is_refused(app, client):
    assert client.get("/api/patients/1", headers=STAFF).status_code == 200
    with app.app_context():
        db = app.extensions["saltapi_pool"].acquire(app.config["DATABASE"])
        db.execute("UPDATE _sc_users SET api_token_hash = NULL WHERE email = 'staff@foo.com'")
        app.extensions["saltapi_pool"].release(db)
    assert client.get("/api/patients/1", headers=STAFF).status_code == 401
