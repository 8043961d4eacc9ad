"""The table-data REST API (`/api/...`): thin views over `auth`, `query`, `rows` and `writes`."""

from flask import Blueprint, Response, request

from .auth import caller_may_read, table_access
from .body import request_body
from .db import get_db
from .errors import NotFound
from .metadata import ID_FIELD, Table, load_table
from .query import parse_filters, parse_read
from .responses import json_response
from .rows import Query, count_rows, distinct_values, get_row, key_options, select_rows
from .types import INT64_MAX
from .writes import delete_row, insert_row, update_row

bp = Blueprint("api", __name__, url_prefix="/api")

# Ids beyond signed 64 bits cannot name a row; the route does not match them, so they are a plain 404.
ROW = f"<int(max={INT64_MAX}):row_id>"
# Saltcorn (Express) also answers `/api/books/`; clients that add the slash keep working.
TRAILING_SLASH_OK = {"strict_slashes": False}


@bp.after_request
def options_have_no_body(response: Response) -> Response:
    """Flask answers OPTIONS itself with an empty HTML page; say the same thing without a body."""
    if request.method == "OPTIONS":
        return Response(status=204, headers={"Allow": response.headers.get("Allow", "")})
    return response


def success(value):
    return json_response({"success": value})


@bp.get("/<table_name>", **TRAILING_SLASH_OK)
@table_access("read", numeric_id=True)
def list_rows(table: Table):
    db = get_db()
    read = parse_read(db, table, request.args, caller_may_read)
    rows = select_rows(db, table, read.query)
    if read.page_size is None:
        return success(rows)
    total = count_rows(db, table, read.query)
    return json_response({"last_page": -(-total // read.page_size), "data": rows})


@bp.get("/<table_name>/count", **TRAILING_SLASH_OK)
@table_access("read", numeric_id=True)
def count(table: Table):
    db = get_db()
    return success(count_rows(db, table, Query(filters=parse_filters(db, table, request.args, caller_may_read))))


@bp.get("/<table_name>/distinct/<field_name>", **TRAILING_SLASH_OK)
@table_access("read", numeric_id=True)
def distinct(table: Table, field_name: str):
    """A plain field's distinct values; a Key field's option list, as Saltcorn's forms use it."""
    db, column = get_db(), table.column(field_name)
    if column is None:
        raise NotFound()
    if column.type != "Key":
        return success(distinct_values(db, table, column))
    empty_option = [] if column.required else [{"label": "", "value": ""}]
    if not caller_may_read(column.reftable_name):
        return success([{"label": "", "value": ""}])
    ref_table = load_table(db, column.reftable_name)
    summary_field = ref_table.column(column.attributes.get("summary_field") or "id") or ID_FIELD
    return success(empty_option + key_options(db, ref_table, summary_field))


@bp.get(f"/<table_name>/{ROW}", **TRAILING_SLASH_OK)
@table_access("read")
def read_row(table: Table, row_id: int):
    row = get_row(get_db(), table, row_id)
    if row is None:
        raise NotFound()
    return success(row)


@bp.post("/<table_name>", **TRAILING_SLASH_OK)
@table_access("write")
def insert(table: Table):
    return success(insert_row(get_db(), table, request_body()))


@bp.post(f"/<table_name>/{ROW}", **TRAILING_SLASH_OK)
@table_access("write")
def update(table: Table, row_id: int):
    update_row(get_db(), table, row_id, request_body())
    return success(True)


@bp.delete(f"/<table_name>/{ROW}", **TRAILING_SLASH_OK)
@bp.post(f"/<table_name>/delete/{ROW}", **TRAILING_SLASH_OK)
@table_access("write")
def delete(table: Table, row_id: int):
    delete_row(get_db(), table, row_id)
    return success(True)
