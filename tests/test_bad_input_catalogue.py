"""A catalogue of hostile and malformed requests: each gets its status and a JSON `{"error": ...}` (never HTML, a
traceback or the engine's own text), and the database does not change. Also: harmless hostile names are ignored,
the web UI's forms refuse missing or foreign CSRF tokens, and filters on what the caller may not read tell nothing.
"""

import json
from urllib.parse import quote

import pytest
import requests

from conftest import TOKENS, WebActions, bearer
from saltapi.db import get_db
from saltapi.fixtures import dump_fixture
from saltapi.store.connection import connect, transaction
from saltapi.store.metadata import Field
from saltapi.store.tables import TableDefinition, create_tables
from saltapi.store.users import delete_account, generate_token, remove_token

ADMIN = bearer(TOKENS["admin"])
STAFF = bearer(TOKENS["staff"])
NOT_FOUND = (404, "Not found")
NOT_AUTHORIZED = (401, "Not authorized")
ONE_PLACE = (400, "Send the API token in only one place")
INVALID_JSON = (400, "Invalid JSON body")
NOT_OBJECT = (400, "Body must be a JSON object")
TOO_DEEP = (400, "JSON nested deeper than 32 levels")
TOO_LARGE = (413, "Request body too large (the limit is 1 MiB)")
UNSUPPORTED = (400, "Unsupported body type: send application/json or application/x-www-form-urlencoded")
CSRF_FAILED = (403, "CSRF token missing or invalid")
REQUIRED = (400, "author: required, pages: required")
BAD_LIMIT = (400, "Invalid limit parameter")
BAD_OFFSET = (400, "Invalid offset parameter")
# What must never reach a client: the engine's words, Python's, SQL, or an HTML page.
LEAKS = ("sqlite", "traceback", "select ", "<html", "<!doctype", 'file "/')
LONG = "x" * 10_000
MIB = 1024 * 1024

# Table names that are no table: SQL, quotes, NUL, unicode, internal tables, very long.
HOSTILE_TABLES = {
    "sql": "books; DROP TABLE _sc_users; --",
    "double quote": 'books"',
    "single quote": "books'--",
    "comment": "books/**/",
    "NUL": "books\0",
    "only NUL": "\0",
    "unicode": "b\u00f6oks",
    "emoji": "\U0001f4da",
    "fullwidth": "\uff42\uff4f\uff4f\uff4b\uff53",
    "internal users": "_sc_users",
    "internal tables": "_sc_tables",
    "sqlite_master": "sqlite_master",
    "very long": LONG,
    "id past 64 bits": "99999999999999999999999",
    "id 0": "0",
    "negative id": "-1",
    "arabic-indic digit": "\u0661",
}
HOSTILE_FIELDS = {
    "sql": "author; DROP TABLE books",
    "quote": 'author"',
    "NUL": "author\0",
    "unicode": "\u00e4uthor",
    "very long": LONG,
    "password hash": "password_hash",
    "rowid": "rowid",
    "uppercase": "Author",
}


def case(case_id, method, url, expected, *, body=None, raw=None, content_type="application/json", form=None,
         headers=ADMIN, prepare=None):  # fmt: skip
    """One bad request. `body` is sent as JSON, `raw` as bytes with `content_type`, `form` as form fields;
    `prepare(app)` returns extra headers after changing the database first (the snapshot is taken after it)."""
    return pytest.param(method, url, body, raw, content_type, form, headers, prepare, expected, id=case_id)


def path(name: str) -> str:
    return quote(name, safe="")


def nested(depth: int) -> bytes:
    return b'{"author": ' + b"[" * depth + b"]" * depth + b', "pages": 1}'


def deep_objects(depth: int) -> bytes:
    return b'{"author": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


def new_token_removed(app) -> dict:
    """A token that worked once and was removed."""
    with app.app_context():
        db = get_db()
        token = generate_token(db, 4)
        remove_token(db, 4)
    return bearer(token)


def new_token_replaced(app) -> dict:
    """A token that was replaced by a newer one."""
    with app.app_context():
        db = get_db()
        token = generate_token(db, 4)
        generate_token(db, 4)
    return bearer(token)


def token_of_deleted_user(app) -> dict:
    with app.app_context():
        db = get_db()
        token = generate_token(db, 4)
        delete_account(db, 4)
    return bearer(token)


def old_staff_token_after_reset(app) -> dict:
    with app.app_context():
        generate_token(get_db(), 2)
    return STAFF


CASES = [
    # --- table names in paths: unknown, on every route, before credentials are looked at ---
    *(case(f"table {name}: list", "GET", f"/api/{path(table)}", NOT_FOUND) for name, table in HOSTILE_TABLES.items()),
    *(
        case(f"table {name}: insert", "POST", f"/api/{path(table)}", NOT_FOUND, body={"author": "x", "pages": 1})
        for name, table in HOSTILE_TABLES.items()
    ),
    case("table sql: count", "GET", f"/api/{path(HOSTILE_TABLES['sql'])}/count", NOT_FOUND),
    case("table quote: distinct", "GET", f"/api/{path(HOSTILE_TABLES['double quote'])}/distinct/author", NOT_FOUND),
    case("table NUL: read row", "GET", f"/api/{path(HOSTILE_TABLES['NUL'])}/1", NOT_FOUND),
    case("table long: update", "POST", f"/api/{LONG}/1", NOT_FOUND, body={"pages": 2}),
    case("table internal users: delete", "DELETE", "/api/_sc_users/1", NOT_FOUND),
    case("table internal: delete alias", "POST", "/api/_sc_tables/delete/1", NOT_FOUND),
    case("table unicode: delete", "DELETE", f"/api/{path(HOSTILE_TABLES['unicode'])}/1", NOT_FOUND),
    case("table unknown, unknown token", "GET", f"/api/{path(HOSTILE_TABLES['sql'])}", NOT_FOUND, headers=bearer("nope-nope")),
    # --- field names in paths ---
    *(
        case(f"distinct field {name}", "GET", f"/api/books/distinct/{path(field)}", NOT_FOUND)
        for name, field in HOSTILE_FIELDS.items()
    ),
    case("distinct of users' password hash", "GET", "/api/users/distinct/password_hash", NOT_FOUND),
    case("distinct of users' token hash", "GET", "/api/users/distinct/api_token_hash", NOT_FOUND),
    # --- row ids in paths ---
    case("row id NUL", "GET", "/api/books/1%00", NOT_FOUND),
    case("row id float", "GET", "/api/books/1.5", NOT_FOUND),
    case("row id hex", "POST", "/api/books/0x1", NOT_FOUND, body={"pages": 2}),
    case("row id sql", "DELETE", f"/api/books/{path('1 OR 1=1')}", NOT_FOUND),
    case("row id past 64 bits, delete alias", "POST", f"/api/books/delete/{2**64}", NOT_FOUND),
    case("path traversal", "GET", "/api/books/..%2f..%2fetc%2fpasswd", NOT_FOUND),
    # --- methods ---
    case("PUT", "PUT", "/api/books/1", (405, "Method not allowed"), body={"pages": 2}),
    case("PATCH", "PATCH", "/api/books/1", (405, "Method not allowed"), body={"pages": 2}),
    case("DELETE a table", "DELETE", "/api/books", (405, "Method not allowed")),
    # --- query keys and values of reads ---
    case("filter past 64 bits", "GET", f"/api/books?pages={2**64}", (400, "pages: Must be an integer")),
    case("filter NaN", "GET", "/api/books?pages=NaN", (400, "pages: Must be an integer")),
    case("filter 1e999", "GET", "/api/books?pages=1e999", (400, "pages: Must be an integer")),
    case("filter NUL", "GET", "/api/books?pages=1%00", (400, "pages: Must be an integer")),
    case("filter SQL", "GET", f"/api/books?pages={path('1 OR 1=1')}", (400, "pages: Must be an integer")),
    case("filter id SQL", "GET", f"/api/books?id={path('1; DROP TABLE books')}", (400, "id: Must be an integer")),
    case("filter Float NaN", "GET", "/api/items?price=NaN", (400, "price: Must be a number")),
    case("filter Float Infinity", "GET", "/api/items?price=Infinity", (400, "price: Must be a number")),
    case("filter Float 1e999", "GET", "/api/items?price=1e999", (400, "price: Must be a number")),
    case("filter Bool NUL", "GET", "/api/items?active=%00", (400, "active: Must be true or false")),
    case("filter Date SQL", "GET", "/api/items?due=" + path("2024-01-01' OR '1'='1"), (400, "due: Must be a date")),
    case("filter Date long", "GET", f"/api/items?due={'9' * 5000}", (400, "due: Must be a date")),
    case("filter Key unicode", "GET", "/api/books?publisher=%D9%A1", (400, "publisher: Must be an integer id")),
    case("filter Key past 64 bits", "GET", f"/api/books?publisher={2**70}", (400, "publisher: Must be an integer id")),
    case("unknown operator", "GET", "/api/books?pages[or]=1", (400, "pages: Unknown operator [or]; use one of gt, lt, gte, lte, eq, ilike, in")),
    case("operator with NUL", "GET", "/api/books?pages[g%00t]=1", (400, "pages: Unknown operator [g\0t]; use one of gt, lt, gte, lte, eq, ilike, in")),
    case("in with a bad item", "GET", "/api/books?pages[in]=1,x", (400, "pages: Must be an integer")),
    case("prefix with a bad value", "GET", "/api/books?_gte_pages=1e999", (400, "pages: Must be an integer")),
    case("todate with SQL", "GET", f"/api/items?_todate_due={path('x) OR (1')}", (400, "due: Must be a date")),
    case("count filter past 64 bits", "GET", f"/api/books/count?pages=-{2**64}", (400, "pages: Must be an integer")),
    case("hostile key beside a bad filter", "GET", f"/api/books?{path('x; DROP TABLE books')}=1&pages=abc", (400, "pages: Must be an integer")),
    case("long key beside a bad filter", "GET", f"/api/books?{LONG[:5000]}=1&pages=abc", (400, "pages: Must be an integer")),
    case("limit 0", "GET", "/api/books?limit=0", BAD_LIMIT),
    case("limit negative", "GET", "/api/books?limit=-1", BAD_LIMIT),
    case("limit past 2^53", "GET", f"/api/books?limit={2**53}", BAD_LIMIT),
    case("limit past 64 bits", "GET", f"/api/books?limit={2**64}", BAD_LIMIT),
    case("limit SQL", "GET", f"/api/books?limit={path('1; DROP TABLE books')}", BAD_LIMIT),
    case("limit NaN", "GET", "/api/books?limit=NaN", BAD_LIMIT),
    case("limit unicode digits", "GET", "/api/books?limit=%D9%A1", BAD_LIMIT),
    case("limit NUL", "GET", "/api/books?limit=1%00", BAD_LIMIT),
    case("offset negative", "GET", "/api/books?offset=-1", BAD_OFFSET),
    case("offset float", "GET", "/api/books?offset=1.5", BAD_OFFSET),
    case("offset past 64 bits", "GET", f"/api/books?offset={2**64}", BAD_OFFSET),
    case("tabulator size 0", "GET", "/api/books?tabulator_pagination_format=true&size=0", (400, "Invalid size parameter")),
    case("tabulator page past 2^53", "GET", f"/api/books?tabulator_pagination_format=true&size=10&page={2**53}", (400, "Invalid page parameter")),
    case("query string over 6 KiB", "GET", f"/api/books?author={'a' * 6200}", (414, "Query string too long (the limit is 6 KiB)")),
    case("query string over 6 KiB on a write", "POST", f"/api/books?x={'a' * 6200}", (414, "Query string too long (the limit is 6 KiB)"), body={"author": "a", "pages": 1}),
    case("501 parameters", "GET", "/api/books?" + "&".join(["a=1"] * 501), (400, "Too many query parameters (the limit is 500)")),
    case("501 empty parameters", "GET", "/api/books/count?" + "&" * 600 + "&".join(["b"] * 501), (400, "Too many query parameters (the limit is 500)")),
    # --- values in bodies ---
    case("NaN", "POST", "/api/books", INVALID_JSON, raw=b'{"author": "a", "pages": NaN}'),
    case("Infinity", "POST", "/api/books", INVALID_JSON, raw=b'{"author": "a", "pages": Infinity}'),
    case("-Infinity in a Float", "POST", "/api/items", INVALID_JSON, raw=b'{"price": -Infinity}'),
    case("1e999", "POST", "/api/items", INVALID_JSON, raw=b'{"price": 1e999}'),
    case("-1e999", "POST", "/api/items", INVALID_JSON, raw=b'{"price": -1e999}'),
    case("2**64", "POST", "/api/books", (400, "pages: Must be an integer"), body={"author": "a", "pages": 2**64}),
    case("-2**63 - 1", "POST", "/api/books", (400, "pages: Must be an integer"), body={"author": "a", "pages": -(2**63) - 1}),
    case("integral float past 64 bits", "POST", "/api/books", (400, "pages: Must be an integer"), body={"author": "a", "pages": 1e300}),
    case("400-digit integer", "POST", "/api/books", (400, "pages: Must be an integer"), raw=b'{"author": "a", "pages": ' + b"9" * 400 + b"}"),
    case("400-digit string integer", "POST", "/api/books", (400, "pages: Must be an integer"), body={"author": "a", "pages": "9" * 400}),
    case("huge Float", "POST", "/api/items", (400, "price: Must be a number"), body={"price": 10**400}),
    case("string NaN Float", "POST", "/api/items", (400, "price: Must be a number"), body={"price": "NaN"}),
    case("string Infinity Float", "POST", "/api/items", (400, "price: Must be a number"), body={"price": "-Infinity"}),
    case("string 1e999 Float", "POST", "/api/items", (400, "price: Must be a number"), body={"price": "1e999"}),
    case("lone surrogate String", "POST", "/api/books", (400, "author: Must be a string"), raw=b'{"author": "\\udc00", "pages": 1}'),
    case("lone surrogate update", "POST", "/api/books/1", (400, "author: Must be a string"), raw=b'{"author": "a\\ud83d"}'),
    case("lone surrogate Integer", "POST", "/api/books", (400, "pages: Must be an integer"), raw=b'{"author": "a", "pages": "\\ud800"}'),
    case("NUL in Integer", "POST", "/api/books", (400, "pages: Must be an integer"), raw=b'{"author": "a", "pages": "1\\u0000"}'),
    case("NUL in Date", "POST", "/api/items", (400, "due: Must be a date"), raw=b'{"due": "2024-01-01\\u0000"}'),
    case("NUL in Key", "POST", "/api/books", (400, "publisher: Must be an integer id"), raw=b'{"author": "a", "pages": 1, "publisher": "1\\u0000"}'),
    case("NUL in Bool", "POST", "/api/items", (400, "active: Must be true or false"), raw=b'{"active": "\\u0000"}'),
    case("object for String", "POST", "/api/books", (400, "author: Must be a string"), body={"author": {"$ne": ""}, "pages": 1}),
    case("array for String", "POST", "/api/books", (400, "author: Must be a string"), body={"author": ["a"], "pages": 1}),
    case("array for Integer", "POST", "/api/books", (400, "pages: Must be an integer"), body={"author": "a", "pages": [1]}),
    case("array for Key", "POST", "/api/books", (400, "publisher: Must be an integer id"), body={"author": "a", "pages": 1, "publisher": [1]}),
    case("object without id for Key", "POST", "/api/books", (400, "publisher: Must be an integer id"), body={"author": "a", "pages": 1, "publisher": {"ID": 1}}),
    case("nested id for Key", "POST", "/api/books", (400, "publisher: Must be an integer id"), body={"author": "a", "pages": 1, "publisher": {"id": {"id": 1}}}),
    case("object for Bool", "POST", "/api/items", (400, "active: Must be true or false"), body={"active": {"a": True}}),
    case("array for Float", "POST", "/api/items", (400, "price: Must be a number"), body={"price": [1.5]}),
    case("number for Date", "POST", "/api/items", (400, "due: Must be a date"), body={"due": 20240101}),
    case("SQL for Date", "POST", "/api/items", (400, "due: Must be a date"), body={"due": "2024-01-01'); DROP TABLE items; --"}),
    case("object for id", "POST", "/api/books", (400, "id: Must be an integer"), body={"id": {"id": 5}, "author": "a", "pages": 1}),
    case("id past 64 bits", "POST", "/api/books", (400, "id: Must be an integer"), body={"id": 2**64, "author": "a", "pages": 1}),
    case("33 levels in a value", "POST", "/api/books", TOO_DEEP, raw=nested(32)),
    case("33 levels of objects", "POST", "/api/books", TOO_DEEP, raw=deep_objects(33)),
    case("100000 levels", "POST", "/api/books", TOO_DEEP, raw=b"[" * 100_000 + b"]" * 100_000),
    case("100000 levels of objects", "POST", "/api/books", TOO_DEEP, raw=b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    # --- body keys: ignored, so only the real fields' errors are told ---
    case("SQL body key", "POST", "/api/books", REQUIRED, body={"author) VALUES (1); DROP TABLE books; --": "x"}),
    case("quote body key", "POST", "/api/books", REQUIRED, body={'author"': "x", "pages'": 1}),
    case("NUL body key", "POST", "/api/books", REQUIRED, body={"author\0": "x", "\0": 1}),
    case("unicode body key", "POST", "/api/books", REQUIRED, body={"\u00e4uthor": "x", "p\u0430ges": 1}),
    case("lone surrogate body key", "POST", "/api/books", REQUIRED, raw=b'{"\\ud800": "x"}'),
    case("10000-char body key", "POST", "/api/books", REQUIRED, body={LONG: "x"}),
    case("uppercase body key", "POST", "/api/books", REQUIRED, body={"Author": "x", "PAGES": 1}),
    case("rowid body key on update", "POST", "/api/books/1", (400, "id: Cannot be changed"), body={"rowid": 7, "id": 7}),
    case("_csrf body key with a token", "POST", "/api/books", REQUIRED, body={"_csrf": "x"}),
    # --- bodies ---
    case("truncated JSON", "POST", "/api/books", INVALID_JSON, raw=b'{"author": "a", "pages": 1'),
    case("trailing garbage", "POST", "/api/books", INVALID_JSON, raw=b'{"author": "a", "pages": 1} x'),
    case("single quotes", "POST", "/api/books", INVALID_JSON, raw=b"{'author': 'a', 'pages': 1}"),
    case("latin-1 bytes", "POST", "/api/books", INVALID_JSON, raw='{"author": "\u00e9", "pages": 1}'.encode("latin-1")),
    case("raw NUL byte", "POST", "/api/books", INVALID_JSON, raw=b'{"author": "a\x00", "pages": 1}'),
    case("JSON array", "POST", "/api/books", NOT_OBJECT, raw=b'[{"author": "a", "pages": 1}]'),
    case("JSON number", "POST", "/api/books", NOT_OBJECT, raw=b"42"),
    case("JSON null", "POST", "/api/books", NOT_OBJECT, raw=b"null"),
    case("JSON true on update", "POST", "/api/books/1", NOT_OBJECT, raw=b"true"),
    case("JSON string on delete alias", "POST", "/api/books/delete/1", NOT_OBJECT, raw=b'"x"'),
    case("empty JSON body", "POST", "/api/books", REQUIRED, raw=b""),
    case("whitespace JSON body", "POST", "/api/books", REQUIRED, raw=b" \r\n\t "),
    case("text/plain", "POST", "/api/books", UNSUPPORTED, raw=b'{"author": "a", "pages": 1}', content_type="text/plain"),
    case("application/xml", "POST", "/api/books", UNSUPPORTED, raw=b"<book><author>a</author></book>", content_type="application/xml"),
    case("multipart", "POST", "/api/books", UNSUPPORTED, raw=b"--b\r\nContent-Disposition: form-data; name=\"author\"\r\n\r\na\r\n--b--\r\n", content_type="multipart/form-data; boundary=b"),
    case("no content type", "POST", "/api/books", UNSUPPORTED, raw=b'{"author": "a", "pages": 1}', content_type=None),
    case("JSON over 1 MiB", "POST", "/api/books", TOO_LARGE, raw=json.dumps({"author": "a", "pages": 1, "x": "y" * MIB}).encode()),
    case("JSON over 1 MiB on update", "POST", "/api/books/1", TOO_LARGE, raw=b" " * MIB + b'{"pages": 3}'),
    case("form over 1 MiB", "POST", "/api/books", TOO_LARGE, raw=b"author=" + b"a" * MIB + b"&pages=1", content_type="application/x-www-form-urlencoded"),
    case("text over 1 MiB", "POST", "/api/books", TOO_LARGE, raw=b"a" * (MIB + 1), content_type="text/plain"),
    case("form with a bad value", "POST", "/api/books", (400, "pages: Must be an integer"), form={"author": "a", "pages": "1 OR 1=1"}),
    case("form with NUL", "POST", "/api/books", (400, "pages: Must be an integer"), form={"author": "a", "pages": "1\0"}),
    case("form invalid percent escapes", "POST", "/api/books", (400, "pages: Must be an integer"), raw=b"author=a&pages=%zz", content_type="application/x-www-form-urlencoded"),
    # --- tokens ---
    case("token in header and query", "GET", "/api/books?access_token=admin-token-0001", ONE_PLACE),
    case("token in query and body", "POST", "/api/books?access_token=admin-token-0001", ONE_PLACE, body={"access_token": TOKENS["admin"], "author": "a", "pages": 1}, headers={}),
    case("token in header and form", "POST", "/api/books", ONE_PLACE, form={"access_token": TOKENS["admin"], "author": "a", "pages": "1"}),
    case("token twice in the query", "GET", "/api/books?access_token=x-token&access_token=x-token", ONE_PLACE, headers={}),
    case("token array form is no token", "GET", "/api/books?access_token[]=admin-token-0001&access_token=x", NOT_AUTHORIZED, headers={}),
    case("bearer without token", "GET", "/api/books", NOT_AUTHORIZED, headers={"Authorization": "Bearer"}),
    case("bearer with spaces only", "GET", "/api/books", NOT_AUTHORIZED, headers={"Authorization": "bearer     "}),
    case("bearer with two words", "GET", "/api/books", NOT_AUTHORIZED, headers={"Authorization": f"Bearer {TOKENS['admin']} {TOKENS['admin']}"}),
    case("bearer with a comma", "GET", "/api/books", NOT_AUTHORIZED, headers={"Authorization": f"Bearer {TOKENS['admin']},x"}),
    case("bearer in quotes", "GET", "/api/books", NOT_AUTHORIZED, headers={"Authorization": f'Bearer "{TOKENS["admin"]}"'}),
    case("bearer with a tab is no bearer", "POST", "/api/books", NOT_AUTHORIZED, body={"author": "a", "pages": 1}, headers={"Authorization": f"Bearer\t{TOKENS['admin']}"}),
    case("bearer very long", "GET", "/api/books", NOT_AUTHORIZED, headers=bearer("t" * 10_000)),
    case("bearer SQL", "GET", "/api/books", NOT_AUTHORIZED, headers=bearer("x'OR'1'='1")),
    case("bearer latin-1", "GET", "/api/books", NOT_AUTHORIZED, headers=bearer("t\u00f6ken-0001")),
    case("bearer of a token's hash", "GET", "/api/books", NOT_AUTHORIZED, headers=bearer("b" * 64)),
    case("bearer unknown on a write", "POST", "/api/books", NOT_AUTHORIZED, body={"author": "a", "pages": 1}, headers=bearer("unknown-token")),
    case("query token very long", "GET", f"/api/books?access_token={'t' * 6000}", NOT_AUTHORIZED, headers={}),
    case("query token NUL", "GET", "/api/books?access_token=admin-token-0001%00", NOT_AUTHORIZED, headers={}),
    case("query token SQL", "GET", "/api/books?access_token=" + path("' OR 1=1 --"), NOT_AUTHORIZED, headers={}),
    case("body token very long", "POST", "/api/books", NOT_AUTHORIZED, body={"access_token": LONG, "author": "a", "pages": 1}, headers={}),
    case("body token null", "POST", "/api/books", NOT_AUTHORIZED, body={"access_token": None, "author": "a", "pages": 1}, headers={}),
    case("body token object", "POST", "/api/books", NOT_AUTHORIZED, body={"access_token": {"$ne": ""}, "author": "a", "pages": 1}, headers={}),
    case("body token array", "POST", "/api/books", NOT_AUTHORIZED, body={"access_token": [TOKENS["admin"]], "author": "a", "pages": 1}, headers={}),
    case("body token lone surrogate", "POST", "/api/books", NOT_AUTHORIZED, raw=b'{"access_token": "\\ud800", "author": "a", "pages": 1}', headers={}),
    case("form token unknown", "POST", "/api/books", NOT_AUTHORIZED, form={"access_token": "nope-nope", "author": "a", "pages": "1"}, headers={}),
    case("removed token", "GET", "/api/notes", NOT_AUTHORIZED, headers={}, prepare=new_token_removed),
    case("replaced token", "GET", "/api/notes", NOT_AUTHORIZED, headers={}, prepare=new_token_replaced),
    case("token of a deleted user", "GET", "/api/notes", NOT_AUTHORIZED, headers={}, prepare=token_of_deleted_user),
    case("fixture token after a reset", "POST", "/api/notes", NOT_AUTHORIZED, body={"title": "t"}, headers={}, prepare=old_staff_token_after_reset),
    case("unknown token on openapi.json", "GET", "/api/openapi.json", NOT_AUTHORIZED, headers=bearer("nope-nope")),
    case("basic auth is no token", "POST", "/api/books", NOT_AUTHORIZED, body={"author": "a", "pages": 1}, headers={"Authorization": "Basic YWRtaW5AZm9vLmNvbTpBaEdHcjZyaHU0NQ=="}),
    case("user token on admin table", "GET", "/api/publisher", NOT_AUTHORIZED, headers=bearer(TOKENS["user"])),
    case("staff token writes admin table", "DELETE", "/api/books/2", NOT_AUTHORIZED, headers=STAFF),
    case("public reads users", "GET", "/api/users", NOT_AUTHORIZED, headers={}),
    case("public writes a public-read table", "POST", "/api/books/1", NOT_AUTHORIZED, body={"pages": 1}, headers={}),
]


@pytest.mark.parametrize("method, url, body, raw, content_type, form, headers, prepare, expected", CASES)
def test_bad_request(app, client, snapshot, method, url, body, raw, content_type, form, headers, prepare, expected):
    if prepare is not None:
        headers = {**headers, **prepare(app)}
    before = snapshot()
    if raw is not None:
        response = client.open(url, method=method, data=raw, headers=headers, content_type=content_type)
    elif form is not None:
        response = client.open(url, method=method, data=form, headers=headers)
    else:
        response = client.open(url, method=method, json=body, headers=headers)
    assert_error(response.status_code, response.mimetype, response.get_data(), expected)
    assert snapshot() == before


def assert_error(status: int, mimetype: str, data: bytes, expected: tuple[int, str]) -> None:
    text = data.decode("utf-8")
    assert not [leak for leak in LEAKS if leak in text.lower()], text[:500]
    assert mimetype == "application/json"
    assert (status, json.loads(text)) == (expected[0], {"error": expected[1]})


def test_the_catalogue_is_large():
    assert len(CASES) >= 120


def chunks(head: bytes, total: int, tail: bytes, size: int = 64 * 1024):
    """`head`, `total` bytes of "a" and `tail`, sent chunked because requests cannot know the length."""
    yield head
    for start in range(0, total, size):
        yield b"a" * min(size, total - start)
    yield tail


def json_chunks(total: int):
    return chunks(b'{"author": "', total, b'", "pages": 1}')


def form_chunks(total: int):
    """A form that is still a valid form when cut off anywhere in `author`."""
    return chunks(b"pages=5&author=", total, b"")


def dump(path) -> dict:
    db = connect(path)
    try:
        return dump_fixture(db, with_secrets=True)
    finally:
        db.close()


CHUNKED = [
    ("/api/books", "application/json", json_chunks),
    ("/api/books/1", "application/json", json_chunks),
    ("/api/books", "application/x-www-form-urlencoded", form_chunks),
    ("/api/books/1", "application/x-www-form-urlencoded", form_chunks),
]


@pytest.mark.parametrize("path, content_type, body", CHUNKED, ids=["json insert", "json update", "form insert", "form update"])
@pytest.mark.parametrize("size", [MIB + 1, 3 * MIB], ids=["1 MiB + 1", "3 MiB"])
def test_chunked_body_over_1_mib_is_413(live_server, path, content_type, body, size):
    """Without a Content-Length the limit still holds, and a body is never cut off to fit it."""
    before = dump(live_server.db_path)
    response = requests.post(
        f"{live_server.url}{path}", data=body(size), timeout=30, headers={**ADMIN, "Content-Type": content_type}
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    mimetype = response.headers["Content-Type"].split(";")[0]
    assert_error(response.status_code, mimetype, response.content, TOO_LARGE)
    assert dump(live_server.db_path) == before


@pytest.mark.parametrize("content_type, body", [("application/json", json_chunks), ("application/x-www-form-urlencoded", form_chunks)])
def test_chunked_body_under_1_mib_is_read_whole(live_server, content_type, body):
    url = f"{live_server.url}/api/books/2"
    response = requests.post(url, data=body(200_000), timeout=30, headers={**ADMIN, "Content-Type": content_type})
    assert response.json() == {"success": True}
    assert requests.get(url, timeout=30).json()["success"]["author"] == "a" * 200_000
    restore = requests.post(url, json={"author": "Leo Tolstoy", "pages": 728}, headers=ADMIN, timeout=30)
    assert restore.json() == {"success": True}


HOSTILE_NAMES = ["author; DROP TABLE books", 'author"', "author\0", "\u00e4uthor", "\U0001f4da", LONG[:5000], "' OR 1=1 --"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=["sql", "quote", "NUL", "unicode", "emoji", "long", "or"])
@pytest.mark.parametrize("key", ["fields", "sortBy", "dereference", "query key", "operator key", "prefix key"])
def test_hostile_names_where_names_are_ignored(client, key, name):
    """Unknown names in `fields`, `sortBy`, `dereference` and query keys are skipped: nothing breaks, nothing
    widens or narrows."""
    baseline = client.get("/api/books", headers=ADMIN).json
    query = {
        "fields": {"fields": name},
        "sortBy": {"sortBy": name},
        "dereference": {"dereference": name},
        "query key": {name: "1"},
        "operator key": {f"{name}[gt]": "1"},
        "prefix key": {f"_gte_{name}": "1"},
    }[key]
    response = client.get("/api/books", query_string=query, headers=ADMIN)
    assert response.status_code == 200
    if key == "fields":
        assert response.json == {"success": [{}, {}]}  # unknown names are skipped, none is left
    else:
        assert response.json == baseline


@pytest.mark.parametrize(
    "url",
    ["/api/books/1", "/api/books", "/api/notes/1", "/api/notes/delete/1"],
    ids=["update", "insert", "update notes", "delete notes"],
)
@pytest.mark.parametrize(
    "csrf",
    ["none", "empty header", "wrong header", "other session's", "in the query"],
)
def test_cookie_only_api_write_without_this_sessions_csrf_token_is_403(app, client, snapshot, url, csrf):
    web = WebActions(client)
    web.login("admin")
    other = WebActions(app.test_client())
    other.login("admin")
    headers = {
        "none": {},
        "empty header": {"X-CSRF-Token": ""},
        "wrong header": {"X-CSRF-Token": web.csrf() + "x"},
        "other session's": {"X-CSRF-Token": other.csrf()},
        "in the query": {},
    }[csrf]
    if csrf == "in the query":
        url = f"{url}?_csrf={web.csrf()}"
    before = snapshot()
    response = client.post(url, json={"title": "t", "author": "a", "pages": 1}, headers=headers)
    assert_error(response.status_code, response.mimetype, response.get_data(), CSRF_FAILED)
    assert snapshot() == before


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "unsigned", "signed with another key", "of a deleted user"],
)
def test_forged_or_stale_session_cookies_are_the_public(app, client, snapshot, cookie):
    """A session cookie that is not ours, or whose user is gone, authenticates nothing: 401, where a session that
    counted would be let in (a read) or asked for its CSRF token (a write: 403)."""
    if cookie == "of a deleted user":
        WebActions(client).login("staff")
        assert client.get("/api/patients").status_code == 200
        with app.app_context():
            delete_account(get_db(), 2)
    else:
        value = {
            "garbage": "\u00ff' OR 1=1; <script>",
            "unsigned": "eyJfc2FsdGFwaV91c2VyX2lkIjoxLCJfc2FsdGFwaV9lbWFpbCI6ImFkbWluQGZvby5jb20ifQ",
            "signed with another key": forged_session(app),
        }[cookie]
        client.set_cookie("connect.sid", value)
    before = snapshot()
    for method, url in [("GET", "/api/patients"), ("POST", "/api/notes"), ("DELETE", "/api/notes/1")]:
        response = client.open(url, method=method, json={"title": "x"}, headers={"X-CSRF-Token": "anything"})
        assert_error(response.status_code, response.mimetype, response.get_data(), NOT_AUTHORIZED)
    assert client.get("/useradmin").status_code == 302  # pages send it to sign in
    assert snapshot() == before


def forged_session(app) -> str:
    """A session cookie claiming the admin, signed with a key that is not the app's."""
    from flask import Flask

    other = Flask("forger")
    other.config["SECRET_KEY"] = "not-the-key"
    serializer = app.session_interface.get_signing_serializer(other)
    return serializer.dumps({"_saltapi_user_id": 1, "_saltapi_email": "admin@foo.com"})


# The web UI's forms: every POST without this session's CSRF token is refused with a page, and changes nothing.
WEB_POSTS = [
    ("/useradmin/save", {"email": "new@foo.com", "role_id": "1", "password": "longenough-123"}),
    ("/useradmin/set-role/3", {"role_id": "1"}),
    ("/useradmin/delete/3", {}),
    ("/useradmin/gen-api-token/2", {}),
    ("/useradmin/remove-api-token/2", {}),
    ("/auth/gen-api-token", {}),
    ("/auth/remove-api-token", {}),
    ("/table", {"name": "evil"}),
    ("/table/delete/4", {}),
    ("/table/1/settings", {"min_role_read": "100", "min_role_write": "100"}),
    ("/table/1/field/new", {"name": "evil", "label": "Evil", "type": "String"}),
    ("/table/1/field/pages/delete", {}),
    ("/table/3/rows/new", {"name": "evil"}),
    ("/table/3/rows/1", {"name": "evil"}),
    ("/table/3/rows/2/delete", {}),
]


@pytest.mark.parametrize("url, form", WEB_POSTS, ids=[url for url, _ in WEB_POSTS])
@pytest.mark.parametrize("csrf", ["missing", "wrong", "other session's", "signed out session's"])
def test_web_forms_refuse_a_missing_or_foreign_csrf_token(app, client, snapshot, url, form, csrf):
    web = WebActions(client)
    signed_out_token = web.csrf()
    web.login("admin")
    other = WebActions(app.test_client())
    other.login("admin")
    sent = {"missing": None, "wrong": web.csrf()[:-1], "other session's": other.csrf(),
            "signed out session's": signed_out_token}[csrf]  # fmt: skip
    before = snapshot()
    response = client.post(url, data=form if sent is None else {**form, "_csrf": sent})
    text = response.get_data(as_text=True)
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "CSRF token missing or invalid" in text
    assert "Traceback" not in text
    assert snapshot() == before


@pytest.fixture
def reviews(app):
    """A public table whose Key points into staff-only patients, with its summary in full-text search."""
    with app.app_context():
        db = get_db()
        with transaction(db):
            fields = (
                Field(name="text", label="Text", type="String"),
                Field(name="patient", label="Patient", type="Key", reftable_name="patients",
                      attributes={"summary_field": "name", "include_fts": True}),
            )  # fmt: skip
            create_tables(db, [TableDefinition(name="reviews", fields=fields, min_role_read=100, min_role_write=100)])
            db.execute("INSERT INTO reviews (text, patient) VALUES ('fine', 1), ('good', 2), ('so-so', NULL)")
    return "reviews"


# Each pair: a value true of the unreadable data, and one that is not; the public must not tell them apart.
PROBES = [
    ("/api/patients?parent={}", "1", "999"),
    ("/api/patients/count?name={}", "Kirk Douglas", "Nobody"),
    ("/api/patients?_fts={}", "Douglas", "Nobody"),
    ("/api/patients/distinct/{}", "name", "nothing"),
    ("/api/reviews?_fts={}", "Kirk", "Zebedee"),
    ("/api/reviews/count?_fts={}", "Michael", "Zebedee"),
    ("/api/reviews?dereference=patient&patient_name={}", "Kirk Douglas", "Nobody"),
    ("/api/reviews?dereference=patient&fields=id,patient_name&sortBy=patient_name&x={}", "1", "2"),
    ("/api/reviews?patient_name={}", "Kirk Douglas", "Nobody"),
    ("/api/books?dereference=publisher&publisher_name={}", "AK Press", "Nobody"),
    ("/api/books?_fts={}", "AK Press", "Nobody"),
    ("/api/notes?dereference=owner&owner_email={}", "user@foo.com", "nobody@foo.com"),
]


@pytest.mark.parametrize("template, real, fake", PROBES, ids=[p[0] for p in PROBES])
@pytest.mark.parametrize("who", ["public", "user"])
def test_probing_what_the_caller_may_not_read_tells_nothing(client, reviews, template, real, fake, who):
    headers = {} if who == "public" else bearer(TOKENS["user"])
    answers = [client.get(template.format(quote(value)), headers=headers) for value in (real, fake)]
    assert [(a.status_code, a.get_data()) for a in answers[1:]] == [(answers[0].status_code, answers[0].get_data())]


@pytest.mark.parametrize("who", ["public", "user"])
def test_distinct_of_a_key_into_an_unreadable_table_does_not_change_with_its_rows(client, reviews, loaded_db, who):
    headers = {} if who == "public" else bearer(TOKENS["user"])
    before = client.get("/api/reviews/distinct/patient", headers=headers).json
    loaded_db.execute("INSERT INTO patients (name) VALUES ('Someone new')")  # autocommit: each one commits
    loaded_db.execute("UPDATE patients SET name = 'Renamed' WHERE id = 1")
    assert client.get("/api/reviews/distinct/patient", headers=headers).json == before == {
        "success": [{"label": "", "value": ""}]
    }
    # Staff may read patients: the same request shows them, so the test above could fail.
    assert len(client.get("/api/reviews/distinct/patient", headers=STAFF).json["success"]) == 4
