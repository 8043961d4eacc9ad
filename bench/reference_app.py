"""The benchmark's baseline: a minimal, honestly built Flask + sqlite3 app answering saltapi's URLs with its JSON.

What any careful plain Flask app does: one SQLite connection per worker thread kept across requests, WAL with
synchronous=FULL (as saltapi), the Bearer token looked up (by its SHA-256, in saltapi's users table) on every
request, `jsonify` of the rows. No metadata, roles or validation: what saltapi costs is the difference. Table
and column names come from the URL, so it is for benchmarks on 127.0.0.1 only.

`REFERENCE_CONNECT=per-request` makes it open a connection per request instead, as the Flask tutorial does (the
bench's second, labelled baseline).
"""

import hashlib
import os
import sqlite3
import threading

from flask import Flask, abort, g, jsonify, request
from flask.json.provider import DefaultJSONProvider

RESERVED = {"limit", "offset", "sortBy", "sortDesc", "access_token"}
PER_REQUEST = os.environ.get("REFERENCE_CONNECT") == "per-request"

app = Flask(__name__)
assert isinstance(app.json, DefaultJSONProvider)
app.json.sort_keys = False
local = threading.local()


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(os.environ["REFERENCE_DB"], isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db


def get_db() -> sqlite3.Connection:
    if PER_REQUEST:
        if "db" not in g:
            g.db = connect()
        return g.db
    if getattr(local, "pid", None) != os.getpid():  # gunicorn forks after import: never share a connection
        local.db, local.pid = connect(), os.getpid()
    return local.db


@app.teardown_appcontext
def close_db(exception=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


@app.before_request
def check_token():
    """A Bearer token, when sent, must name a user (what every token-protected plain app does per request)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        row = get_db().execute("SELECT id, role_id FROM _sc_users WHERE api_token_hash = ?", (token_hash,)).fetchone()
        if row is None:
            abort(401)
        g.role_id = row["role_id"]


def where(args) -> tuple[str, list]:
    keys = [key for key in args if key not in RESERVED]
    if not keys:
        return "", []
    return " WHERE " + " AND ".join(f'"{key}" = ?' for key in keys), [args[key] for key in keys]


@app.get("/api/<table>")
def list_rows(table):
    sql, params = where(request.args)
    order = request.args.get("sortBy", "id")
    direction = "DESC" if request.args.get("sortDesc") else "ASC"
    sql = f'SELECT * FROM "{table}"{sql} ORDER BY "{order}" {direction}, id {direction} LIMIT ? OFFSET ?'
    params += [int(request.args.get("limit", -1)), int(request.args.get("offset", 0))]
    return jsonify(success=[dict(row) for row in get_db().execute(sql, params)])


@app.get("/api/<table>/count")
def count(table):
    sql, params = where(request.args)
    return jsonify(success=get_db().execute(f'SELECT count(*) FROM "{table}"{sql}', params).fetchone()[0])


@app.get("/api/<table>/<int:row_id>")
def read_row(table, row_id):
    row = get_db().execute(f'SELECT * FROM "{table}" WHERE id = ?', (row_id,)).fetchone()
    if row is None:
        abort(404)
    return jsonify(success=dict(row))


@app.post("/api/<table>")
def insert(table):
    body = {key: value for key, value in request.get_json().items() if key != "access_token"}
    columns = ", ".join(f'"{key}"' for key in body)
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(body))})'
    return jsonify(success=get_db().execute(sql, list(body.values())).lastrowid)


@app.post("/api/<table>/<int:row_id>")
def update(table, row_id):
    body = {key: value for key, value in request.get_json().items() if key not in ("access_token", "id")}
    assignments = ", ".join(f'"{key}" = ?' for key in body)
    get_db().execute(f'UPDATE "{table}" SET {assignments} WHERE id = ?', [*body.values(), row_id])
    return jsonify(success=True)
