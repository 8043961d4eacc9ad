"""The rows pages (`/table/<id>/rows`): a paged list, add, edit and delete, for signed-in users whose role the
table allows, or who own rows of it. Reads and writes go through the API's own code (`auth`, `query`, `rows`,
`writes`), so the rules, ownership included, and the error messages are the API's.
"""

from collections.abc import Callable
from dataclasses import replace

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from ..auth import caller_may_read, row_owner
from ..db import get_db
from ..errors import ApiError, NotAuthorized, NotFound
from ..query import parse_read
from ..store.metadata import ID_FIELD, Field, Table, load_table, load_table_by_id, roles
from ..store.rows import Query, count_rows, get_row, key_options, owned_by, select_rows
from ..writes import delete_row, insert_row, update_row
from .pages import current_user, fail, login_required, setup_pages

bp = Blueprint("row_admin", __name__, url_prefix="/table/<dbid:table_id>/rows")
setup_pages(bp)

PAGE_SIZE = 25
MAX_OPTIONS = 500  # a Key whose table has more rows gets a box for the id instead of a list
READ_KEYS = ("_fts", "sortBy", "sortDesc")  # the API's query parameters the list passes through
INPUT_PREFIX = "f."  # form inputs are `f.<field>`, so no field can collide with `_csrf`


def table_for(kind: str, table_id: int, existing_row: bool = False) -> tuple[Table, int | None]:
    """The table and, as the API's `table_access` gives it, the user id whose rows alone the signed-in user may
    `kind` ("read"/"write") in it (None for every row); a 403 page when they may reach none."""
    db = get_db()
    table = load_table_by_id(db, table_id)
    if table is None:
        fail(404, "No such table", f"There is no table with id {table_id}.")
    user = current_user()
    assert user is not None  # every rows page is login_required
    g.saltapi_role_id = user.role_id  # what the API's caller_may_read() judges by
    try:
        return table, row_owner(table, kind, user, existing_row)
    except NotAuthorized:
        needed = roles(db).get(table.min_role(kind), str(table.min_role(kind)))
        message = f"To {kind} the rows of {table.name} you need the role {needed} or a more powerful one."
        fail(403, "Not allowed", message)


def may_change(table: Table) -> Callable[[dict], bool]:
    """Which listed rows the signed-in user may edit and delete (the list shows the buttons only there)."""
    try:
        owner = row_owner(table, "write", current_user(), existing_row=True)
    except NotAuthorized:
        return lambda row: False
    return lambda row: owner is None or row.get(table.owner_field) == owner


def may_insert(table: Table) -> bool:
    try:
        row_owner(table, "write", current_user())
    except NotAuthorized:
        return False
    return True


def input_text(field: Field, value) -> str:
    """A stored value as a form shows it (empty for no value)."""
    if value is None:
        return ""
    if field.type == "Bool":
        return "true" if value else "false"
    return str(value)


def key_choices(field: Field) -> list[dict] | None:
    """The rows a Key may point to, labelled as the API's `distinct` labels them; None means a box for the id."""
    if field.type != "Key" or not caller_may_read(field.referenced_table):
        return None
    db = get_db()
    ref_table = load_table(db, field.referenced_table)
    if ref_table is None or count_rows(db, ref_table, Query()) > MAX_OPTIONS:
        return None
    summary_field = ref_table.column(field.attributes.get("summary_field") or "id") or ID_FIELD
    return key_options(db, ref_table, summary_field)


def form_body(table: Table) -> dict:
    """The form as a request body for the API's writes: an empty box means no value (null)."""
    body = {}
    for field in table.fields:
        raw = request.form.get(INPUT_PREFIX + field.name)
        if raw is not None:
            body[field.name] = None if raw == "" else raw
    return body


def changed_only(table: Table, body: dict, row: dict) -> dict:
    """Only what the user changed: a value re-sent as shown must not change (e.g. a number's spelling)."""
    fields = {field.name: field for field in table.fields}  # the body's keys, as form_body() made it
    return {name: value for name, value in body.items() if (value or "") != input_text(fields[name], row[name])}


def row_form(table: Table, row_id: int | None, values: dict, status: int = 200, error: str | None = None):
    fields = [
        {"field": field, "value": values.get(field.name, ""), "choices": key_choices(field)} for field in table.fields
    ]
    page = render_template("saltapi/rows/form.html", table=table, row_id=row_id, fields=fields, error=error)
    return page, status


@bp.get("")
@login_required
def index(table_id: int):
    table, owner = table_for("read", table_id)
    scope = owned_by(table, owner)
    db = get_db()
    args = MultiDict([(key, value) for key in READ_KEYS for value in request.args.getlist(key)[:1]])
    args.setlist("dereference", [field.name for field in table.fields if field.type == "Key"])
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    error = None
    try:
        query = parse_read(db, table, args, caller_may_read, scope).query
    except ApiError as failure:
        error, query = failure.message, Query(filters=scope)
    total = count_rows(db, table, Query(filters=query.filters))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    rows = select_rows(db, table, replace(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
    return render_template(
        "saltapi/rows/list.html",
        table=table,
        rows=rows,
        summaries={d.summary.key: d.name for d in query.dereferences},
        total=total,
        page=page,
        pages=pages,
        search=args.get("_fts", ""),
        sort_by=query.order_by,
        descending=query.descending,
        can_insert=may_insert(table),
        may_change=may_change(table),
        error=error,
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new(table_id: int):
    table, owner = table_for("write", table_id)
    if request.method == "GET":
        # The form suggests the user as the owner; the insert itself never fills the owner in (docs/api.md §7a).
        return row_form(table, None, {} if owner is None else {table.owner_field: str(owner)})
    body = form_body(table)
    try:
        row_id = insert_row(get_db(), table, body, owner)
    except ApiError as failure:
        return row_form(table, None, request_values(table), 400, failure.message)
    flash(f"Added row {row_id}.", "success")
    return redirect(url_for(".index", table_id=table_id))


def request_values(table: Table) -> dict:
    return {field.name: request.form.get(INPUT_PREFIX + field.name, "") for field in table.fields}


@bp.route("/<dbid:row_id>", methods=["GET", "POST"])
@login_required
def edit(table_id: int, row_id: int):
    table, owner = table_for("write", table_id, existing_row=True)
    db = get_db()
    row = get_row(db, table, row_id, owned_by(table, owner))
    if row is None:
        fail(404, "No such row", f"{table.name} has no row {row_id}.")
    if request.method == "GET":
        return row_form(table, row_id, {field.name: input_text(field, row[field.name]) for field in table.fields})
    try:
        update_row(db, table, row_id, changed_only(table, form_body(table), row), owner)
    except NotFound:
        fail(404, "No such row", f"{table.name} has no row {row_id}.")
    except ApiError as failure:
        return row_form(table, row_id, request_values(table), 400, failure.message)
    flash(f"Saved row {row_id}.", "success")
    return redirect(url_for(".index", table_id=table_id))


@bp.post("/<dbid:row_id>/delete")
@login_required
def delete(table_id: int, row_id: int):
    table, owner = table_for("write", table_id, existing_row=True)
    try:
        delete_row(get_db(), table, row_id, owner)
    except ApiError as failure:  # NotFound included: the row is gone either way
        flash(f"Row {row_id}: {failure.message}", "error")
    else:
        flash(f"Deleted row {row_id}.", "success")
    return redirect(url_for(".index", table_id=table_id))
