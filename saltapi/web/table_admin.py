"""The tables pages (`/table`, admins only): the list, creating and deleting tables, and each table's page with
its fields (add, edit, delete), its indexes and unique constraints (add, delete) and its settings ("Minimum role
to read" / "Minimum role to write", "Ownership field").
"""

from collections.abc import Mapping

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..db import get_db
from ..store.constraints import add_constraint as create_constraint
from ..store.constraints import describe, drop_constraint
from ..store.metadata import (
    ADMIN_ROLE_ID,
    Field,
    Table,
    load_table,
    load_table_by_id,
    referencing_fields,
    roles,
    table_names,
)  # fmt: skip
from ..store.tables import (
    DefinitionError,
    add_field,
    create_table,
    drop_table,
    is_owner_key,
    row_count,
    set_table_settings,
    update_field,
)  # fmt: skip
from ..store.tables import delete_field as drop_field
from ..store.types import FIELD_TYPES, InvalidValue, to_float, to_integer
from .pages import admin_required, fail, role_from_form, setup_pages

bp = Blueprint("table_admin", __name__, url_prefix="/table")
setup_pages(bp)

NUMBER_BOUNDS = {"min": "Minimum", "max": "Maximum"}
LENGTH_BOUNDS = {"min_length": "Minimum length", "max_length": "Maximum length"}
# The attributes each type's form edits; other attributes a field has (from a Saltcorn pack) are kept as they are.
FORM_ATTRIBUTES = {
    "Integer": (*NUMBER_BOUNDS,),
    "Float": (*NUMBER_BOUNDS,),
    "String": (*LENGTH_BOUNDS, "options"),
    "Key": ("summary_field", "include_fts"),
}


def table_or_404(table_id: int) -> Table:
    table = load_table_by_id(get_db(), table_id)
    if table is None:
        fail(404, "No such table", f"There is no table with id {table_id}.")
    return table


def field_or_404(table: Table, name: str) -> Field:
    field = next((f for f in table.fields if f.name == name), None)
    if field is None:
        fail(404, "No such field", f"Table {table.name} has no field {name}.")
    return field


def required_role(key: str, label: str) -> int:
    """:raises DefinitionError: unless the form's value under `key` is a role's id."""
    role_id = role_from_form(key)
    if role_id is None:
        raise DefinitionError(f"{label}: choose one of the roles")
    return role_id


def is_checked(name: str) -> bool:
    return request.form.get(name) in ("on", "true", "1")


def bound_from_form(field_type: str, key: str, label: str):
    raw = request.form.get(key, "").strip()
    if not raw:
        return None
    value: int | float
    try:
        if key in LENGTH_BOUNDS:
            value = to_integer(raw)
            if value < 0:
                raise InvalidValue("negative")
            return value
        value = to_integer(raw) if field_type == "Integer" else to_float(raw)
    except InvalidValue:
        if key in LENGTH_BOUNDS:
            what = "a whole number of characters"
        else:
            what = "an integer" if field_type == "Integer" else "a number"
        raise DefinitionError(f"{label} must be {what}") from None
    return value


def attributes_from_form(field_type: str, existing: Mapping) -> dict:
    """The attributes the form sets for a field of `field_type`, on top of those it already has.

    :raises DefinitionError: for a bound that is not a number, or a minimum above the maximum.
    """
    attributes = {key: value for key, value in existing.items() if key not in FORM_ATTRIBUTES.get(field_type, ())}
    form = {}
    if field_type in ("Integer", "Float"):
        form = {key: bound_from_form(field_type, key, label) for key, label in NUMBER_BOUNDS.items()}
        low, high = form["min"], form["max"]
    elif field_type == "String":
        form = {key: bound_from_form(field_type, key, label) for key, label in LENGTH_BOUNDS.items()}
        low, high = form["min_length"], form["max_length"]
        options = [option.strip() for option in request.form.get("options", "").split(",") if option.strip()]
        form["options"] = options or None
    elif field_type == "Key":
        form = {
            "summary_field": request.form.get("summary_field", "").strip() or None,
            "include_fts": True if is_checked("include_fts") else None,
        }
    if field_type in ("Integer", "Float", "String") and low is not None and high is not None and low > high:
        raise DefinitionError("The minimum cannot be more than the maximum")
    attributes.update({key: value for key, value in form.items() if value is not None})
    return attributes


def table_list(status: int = 200, error: str | None = None, form: Mapping | None = None):
    db = get_db()
    tables = [load_table(db, name) for name in table_names(db)]
    listed = [{"table": table, "rows": row_count(db, table.name)} for table in tables if table is not None]
    page = render_template(
        "saltapi/table/list.html", tables=listed, role_names=roles(db), error=error, form=form or {},
        admin_role=ADMIN_ROLE_ID,
    )  # fmt: skip
    return page, status


@bp.get("")
@admin_required
def index():
    return table_list()


@bp.post("")
@admin_required
def create():
    form = request.form.to_dict()
    try:
        read_role = required_role("min_role_read", "Minimum role to read")
        write_role = required_role("min_role_write", "Minimum role to write")
        table = create_table(get_db(), request.form.get("name", "").strip(), read_role, write_role)
    except DefinitionError as error:
        return table_list(400, str(error), form)
    flash(f"Created table {table.name}. Add its fields below.", "success")
    return redirect(url_for(".table_page", table_id=table.id))


@bp.post("/delete/<dbid:table_id>")
@admin_required
def delete(table_id: int):
    table_or_404(table_id)
    try:
        name = drop_table(get_db(), table_id)
    except DefinitionError as error:
        flash(str(error), "error")
        return redirect(url_for(".table_page", table_id=table_id))
    flash(f"Deleted table {name} and its rows.", "success")
    return redirect(url_for(".index"))


def table_view(table: Table, status: int = 200, error: str | None = None):
    db = get_db()
    page = render_template(
        "saltapi/table/table.html",
        table=table,
        rows=row_count(db, table.name),
        role_names=roles(db),
        referenced_by=[f"{t}.{f}" for t, f in referencing_fields(db, table.name) if t != table.name],
        owner_keys=[field.name for field in table.fields if is_owner_key(field)],
        error=error,
    )
    return page, status


@bp.get("/<dbid:table_id>")
@admin_required
def table_page(table_id: int):
    return table_view(table_or_404(table_id))


@bp.post("/<dbid:table_id>/constraints")
@admin_required
def add_constraint(table_id: int):
    table = table_or_404(table_id)
    try:
        constraint_type = request.form.get("type", "")
        constraint = create_constraint(get_db(), table_id, constraint_type, request.form.getlist("fields"))
    except DefinitionError as error:
        return table_view(table, 400, str(error))
    flash(f"Added {describe(constraint.type, constraint.fields)}.", "success")
    return redirect(url_for(".table_page", table_id=table_id) + "#constraints")


@bp.post("/<dbid:table_id>/constraints/<dbid:constraint_id>/delete")
@admin_required
def delete_constraint(table_id: int, constraint_id: int):
    table_or_404(table_id)
    try:
        constraint = drop_constraint(get_db(), table_id, constraint_id)
    except DefinitionError:
        fail(404, "No such constraint", f"There is no constraint {constraint_id} on this table.")
    flash(f"Deleted {describe(constraint.type, constraint.fields)}.", "success")
    return redirect(url_for(".table_page", table_id=table_id) + "#constraints")


@bp.post("/<dbid:table_id>/settings")
@admin_required
def save_settings(table_id: int):
    table = table_or_404(table_id)
    try:
        read_role = required_role("min_role_read", "Minimum role to read")
        write_role = required_role("min_role_write", "Minimum role to write")
        set_table_settings(get_db(), table_id, read_role, write_role, request.form.get("owner_field") or None)
    except DefinitionError as error:
        return table_view(table, 400, str(error))
    flash(f"Saved the settings of {table.name}; they apply from the next request on.", "success")
    return redirect(url_for(".table_page", table_id=table_id))


def field_form(table: Table, field: Field | None, status: int = 200, error: str | None = None, values=None):
    db = get_db()
    page = render_template(
        "saltapi/table/field.html",
        table=table,
        field=field,
        field_types=FIELD_TYPES,
        table_names=["users", *table_names(db)],
        ref_fields=ref_field_names(field) if field is not None else [],
        rows=row_count(db, table.name),
        values=values if values is not None else form_values(field),
        error=error,
    )
    return page, status


def ref_field_names(field: Field) -> list[str]:
    if field.type != "Key":
        return []
    ref_table = load_table(get_db(), field.referenced_table)
    return [] if ref_table is None else [column.name for column in ref_table.columns]


def form_values(field: Field | None) -> dict:
    """A field as the form shows it."""
    if field is None:
        return {"type": "String"}
    attributes = field.attributes
    options = attributes.get("options")
    values = {
        "name": field.name, "label": field.label, "type": field.type, "reftable_name": field.reftable_name,
        "required": field.required, "is_unique": field.is_unique,
        "options": ", ".join(options) if isinstance(options, list) else options or "",
        "summary_field": attributes.get("summary_field") or "", "include_fts": bool(attributes.get("include_fts")),
    }  # fmt: skip
    for key in (*NUMBER_BOUNDS, *LENGTH_BOUNDS):
        values[key] = "" if attributes.get(key) is None else attributes[key]
    return values


def submitted_values() -> dict:
    values: dict[str, object] = dict(request.form.to_dict())
    values.update({name: is_checked(name) for name in ("required", "is_unique", "include_fts")})
    return values


@bp.route("/<dbid:table_id>/field/new", methods=["GET", "POST"])
@admin_required
def new_field(table_id: int):
    table = table_or_404(table_id)
    if request.method == "GET":
        return field_form(table, None)
    field_type = request.form.get("type", "")
    try:
        field = Field(
            name=request.form.get("name", "").strip(),
            label=request.form.get("label", "").strip(),
            type=field_type,
            required=is_checked("required"),
            is_unique=is_checked("is_unique"),
            reftable_name=request.form.get("reftable_name") if field_type == "Key" else None,
            attributes=attributes_from_form(field_type, {}),
        )
        fill = request.form.get("fill_value", "")
        field = add_field(get_db(), table_id, field, fill if fill != "" else None)
    except DefinitionError as error:
        return field_form(table, None, 400, str(error), submitted_values())
    flash(f"Added field {field.name}.", "success")
    return redirect(url_for(".table_page", table_id=table_id))


@bp.route("/<dbid:table_id>/field/<name>", methods=["GET", "POST"])
@admin_required
def edit_field(table_id: int, name: str):
    table = table_or_404(table_id)
    field = field_or_404(table, name)
    if request.method == "GET":
        return field_form(table, field)
    try:
        update_field(
            get_db(), table_id, name,
            label=request.form.get("label", "").strip(),
            required=is_checked("required"),
            is_unique=is_checked("is_unique"),
            attributes=attributes_from_form(field.type, field.attributes),
        )  # fmt: skip
    except DefinitionError as error:
        values = {**form_values(field), **submitted_values(), "name": field.name, "type": field.type}
        return field_form(table, field, 400, str(error), values)
    flash(f"Saved field {name}.", "success")
    return redirect(url_for(".table_page", table_id=table_id))


@bp.post("/<dbid:table_id>/field/<name>/delete")
@admin_required
def delete_field(table_id: int, name: str):
    table = table_or_404(table_id)
    field_or_404(table, name)
    try:
        drop_field(get_db(), table_id, name)
    except DefinitionError as error:
        flash(str(error), "error")
    else:
        flash(f"Deleted field {name} and its values.", "success")
    return redirect(url_for(".table_page", table_id=table_id))
