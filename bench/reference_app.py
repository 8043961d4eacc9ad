"""The benchmark's baseline: plain Flask + sqlite3 answering saltapi's URLs with the same JSON.

No metadata, roles, tokens or validation: what saltapi costs is the difference between the two. It opens one
connection per request, as the Flask tutorial does. Table and column names come from the URL, so it is for
benchmarks on 127.0.0.1 only.
"""

import os
import sqlite3

from flask import Flask, g, jsonify, request

RESERVED = {"limit", "offset", "sortBy", "sortDesc", "access_token"}

app = Flask(__name__)
app.json.sort_keys = False


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(os.environ["REFERENCE_DB"], isolation_level=None)
        g.db.row_factory = sqlite3.Row
        g.db.execute("PRAGMA busy_timeout = 5000")
    return g.db


@app.teardown_appcontext
def close_db(exception=None):
    db = g.pop("db", None)
    if db is not None:
        db.close()


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
    return jsonify(success=dict(row))


@app.post("/api/<table>")
def insert(table):
    body = {key: value for key, value in request.get_json().items() if key != "access_token"}
    columns = ", ".join(f'"{key}"' for key in body)
    sql = f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" * len(body))})'
    db = get_db()
    return jsonify(success=db.execute(sql, list(body.values())).lastrowid)


@app.post("/api/<table>/<int:row_id>")
def update(table, row_id):
    body = {key: value for key, value in request.get_json().items() if key not in ("access_token", "id")}
    assignments = ", ".join(f'"{key}" = ?' for key in body)
    get_db().execute(f'UPDATE "{table}" SET {assignments} WHERE id = ?', [*body.values(), row_id])
    return jsonify(success=True)
