"""The table-data REST API (`/api/...`): thin views over `auth`, `query`, `rows` and `writes`."""

from collections.abc import Iterator

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import IntegerConverter
from werkzeug.wsgi import ClosingIterator

from ..auth import caller_from_request, caller_may_read, table_access
from ..body import refuse_oversized_body, request_body
from ..db import detach_db, get_db
from ..errors import NotFound, QueryTooLong, TooManyParameters, is_api_path
from ..limits import MAX_QUERY_BYTES, MAX_QUERY_PARAMETERS, QUERY_TOO_LONG, TOO_MANY_PARAMETERS
from ..query import parse_filters, parse_read
from ..responses import json_array_response, json_response
from ..store.metadata import ID_FIELD, Table, load_table
from ..store.rows import Query, count_rows, distinct_values, get_row, iter_rows, key_options, owned_by
from ..store.types import INT64_MAX, INT64_MIN
from ..writes import delete_row, insert_row, update_row
from .openapi import build_document, load_tables

bp = Blueprint("api", __name__, url_prefix="/api")

ROW = "<row_id:row_id>"


class RowIdConverter(IntegerConverter):
    """A row id in a path: ASCII digits with an optional minus (werkzeug's \\d would also read "١", an
    Arabic-Indic one, as 1). Any such number matches, so every method of the route is found; one outside signed
    64 bits can name no row and becomes None, which `table_access` answers with 404."""

    regex = r"-?[0-9]+"

    def __init__(self, url_map):
        super().__init__(url_map, signed=True)
        self.regex = RowIdConverter.regex

    def to_python(self, value: str) -> int | None:
        number = int(value)
        return number if INT64_MIN <= number <= INT64_MAX else None


@bp.record_once
def add_row_id_converter(state: BlueprintSetupState) -> None:
    """Runs before the routes below are added to the app, so their rules can use the converter."""
    state.app.url_map.converters.setdefault("row_id", RowIdConverter)
# Saltcorn (Express) also answers `/api/books/`; clients that add the slash keep working.
TRAILING_SLASH_OK = {"strict_slashes": False}


@bp.before_request
def limit_query_string() -> None:
    """Bound what a read may ask for before the query string is parsed (limits.py).

    :raises QueryTooLong: for too long a query string. :raises TooManyParameters: for too many parameters.
    """
    query_string = request.query_string
    if len(query_string) > MAX_QUERY_BYTES:
        raise QueryTooLong(QUERY_TOO_LONG)
    # Counted in the raw bytes (the parameters are parsed once, by the view): werkzeug splits on "&" and skips
    # empty parts, so only a string with that many "&" can have too many.
    if query_string.count(b"&") >= MAX_QUERY_PARAMETERS:
        if len(list(filter(None, query_string.split(b"&")))) > MAX_QUERY_PARAMETERS:
            raise TooManyParameters(TOO_MANY_PARAMETERS)


bp.before_request(refuse_oversized_body)


@bp.after_app_request
def api_headers(response: Response) -> Response:
    """Every answer under /api/, routing errors included, is JSON and must be read as nothing else."""
    if is_api_path(request.path):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.after_request
def options_have_no_body(response: Response) -> Response:
    """Flask answers OPTIONS itself with an empty HTML page; say the same thing without a body."""
    if request.method == "OPTIONS":
        return Response(status=204, headers={"Allow": response.headers.get("Allow", "")})
    return response


def success(value):
    return json_response({"success": value})


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document for this caller; a static rule, so werkzeug prefers it to `/<table_name>`."""
    db = get_db()
    user = caller_from_request(db)
    return json_response(build_document(load_tables(db), user, server_url=request.script_root or "/"))


@bp.get("/<table_name>", **TRAILING_SLASH_OK)
@table_access("read", numeric_id=True)
def list_rows(table: Table, owner: int | None):
    db = get_db()
    read = parse_read(db, table, request.args, caller_may_read, owned_by(table, owner))
    if read.page_size is None:
        return json_array_response('{"success":', stream_rows(table, read.query), "}")
    last_page = -(-count_rows(db, table, read.query) // read.page_size)
    return json_array_response(f'{{"last_page":{last_page},"data":', stream_rows(table, read.query), "}")


def stream_rows(table: Table, query: Query) -> Iterator[dict]:
    """The query's rows for a streamed answer: the connection outlives the view and goes back to its pool
    when the stream closes."""
    db, release = detach_db()
    try:
        rows = iter_rows(db, table, query)
    except BaseException:
        release()
        raise
    return ClosingIterator(rows, release)  # type: ignore[arg-type,return-value]  # typed for bytes; any items pass


@bp.get("/<table_name>/count", **TRAILING_SLASH_OK)
@table_access("read", numeric_id=True)
def count(table: Table, owner: int | None):
    db = get_db()
    filters = parse_filters(db, table, request.args, caller_may_read) + owned_by(table, owner)
    return success(count_rows(db, table, Query(filters=filters)))


@bp.get("/<table_name>/distinct/<field_name>", **TRAILING_SLASH_OK)
@table_access("read", numeric_id=True)
def distinct(table: Table, owner: int | None, field_name: str):
    """A plain field's distinct values (in the caller's rows); a Key field's option list, as Saltcorn's forms use
    it, which lists the referenced table's rows."""
    db, column = get_db(), table.column(field_name)
    if column is None:
        raise NotFound()
    if column.type != "Key":
        return success(distinct_values(db, table, column, owned_by(table, owner)))
    empty_option = [] if column.required else [{"label": "", "value": ""}]
    if not caller_may_read(column.referenced_table):
        return success([{"label": "", "value": ""}])
    ref_table = load_table(db, column.referenced_table)
    if ref_table is None:  # a Key's table cannot be dropped while the Key exists; only a race gets here
        raise NotFound()
    summary_field = ref_table.column(column.attributes.get("summary_field") or "id") or ID_FIELD
    return success(empty_option + key_options(db, ref_table, summary_field))


@bp.get(f"/<table_name>/{ROW}", **TRAILING_SLASH_OK)
@table_access("read")
def read_row(table: Table, owner: int | None, row_id: int):
    row = get_row(get_db(), table, row_id, owned_by(table, owner))
    if row is None:
        raise NotFound()
    return success(row)


@bp.post("/<table_name>", **TRAILING_SLASH_OK)
@table_access("write")
def insert(table: Table, owner: int | None):
    return success(insert_row(get_db(), table, request_body(), owner))


@bp.post(f"/<table_name>/{ROW}", **TRAILING_SLASH_OK)
@table_access("write")
def update(table: Table, owner: int | None, row_id: int):
    update_row(get_db(), table, row_id, request_body(), owner)
    return success(True)


@bp.delete(f"/<table_name>/{ROW}", **TRAILING_SLASH_OK)
@bp.post(f"/<table_name>/delete/{ROW}", **TRAILING_SLASH_OK)
@table_access("write")
def delete(table: Table, owner: int | None, row_id: int):
    delete_row(get_db(), table, row_id, owner)
    return success(True)
