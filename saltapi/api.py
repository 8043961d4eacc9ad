"""The table-data REST API (`/api/...`): thin views over `auth`, `query`, `rows` and `writes`."""

from flask import Blueprint, request

from .auth import table_access
from .body import request_body
from .db import get_db
from .errors import NotFound
from .responses import json_response
from .metadata import Table
from .query import parse_query
from .rows import count_rows, get_row, select_rows
from .types import INT64_MAX
from .writes import delete_row, insert_row, update_row

bp = Blueprint("api", __name__, url_prefix="/api")

# Ids beyond signed 64 bits cannot name a row; the route does not match them, so they are a plain 404.
ROW = f"<int(max={INT64_MAX}):row_id>"


def success(value):
    return json_response({"success": value})


@bp.get("/<table_name>")
@table_access("read")
def list_rows(table: Table):
    return success(select_rows(get_db(), table, parse_query(table, request.args)))


@bp.get("/<table_name>/count")
@table_access("read")
def count(table: Table):
    return success(count_rows(get_db(), table, parse_query(table, request.args)))


@bp.get(f"/<table_name>/{ROW}")
@table_access("read")
def read_row(table: Table, row_id: int):
    row = get_row(get_db(), table, row_id)
    if row is None:
        raise NotFound()
    return success(row)


@bp.post("/<table_name>")
@table_access("write")
def insert(table: Table):
    return success(insert_row(get_db(), table, request_body()))


@bp.post(f"/<table_name>/{ROW}")
@table_access("write")
def update(table: Table, row_id: int):
    update_row(get_db(), table, row_id, request_body())
    return success(True)


@bp.delete(f"/<table_name>/{ROW}")
@bp.post(f"/<table_name>/delete/{ROW}")
@table_access("write")
def delete(table: Table, row_id: int):
    delete_row(get_db(), table, row_id)
    return success(True)
