"""Validated writes of rows: each insert, update or delete is checked in full and runs as one transaction."""

import contextlib
from collections.abc import Iterator, Mapping

from .errors import CONSTRAINT_MESSAGE, BadRequest, NotFound
from .store.connection import Connection, transaction
from .store.constraints import broken_uniques
from .store.errors import ConstraintViolation
from .store.metadata import ID_FIELD, Field, Table, referencing_fields, sql_table_name
from .store.rows import build_delete, build_update, exists, get_row, insert, owned_by
from .store.types import InvalidValue, parse_value, to_integer


def validate_values(table: Table, body: Mapping, row_id: int | None = None) -> dict:
    """The stored values of the body's fields, for an insert (`row_id` None) or an update of `row_id`.

    Keys naming no field are ignored. Messages come in Saltcorn's order: type and attribute messages
    in body order, then `required` messages in field order.

    :raises BadRequest: with every message, joined by ", ".
    """
    values, errors, invalid = {}, [], set()
    for key, raw in body.items():
        if key == "id":
            try:
                body_id = read_body_id(raw, row_id)
            except InvalidValue as error:
                errors.append(f"id: {error}")
            else:
                if body_id is not None:
                    values["id"] = body_id
            continue
        field = table.column(key)
        if field is None:
            continue
        try:
            values[field.name] = parse_value(field, raw)
        except InvalidValue as error:
            errors.append(f"{field.name}: {error}")
            invalid.add(field.name)
    for field in table.fields:
        absent = field.name not in values and field.name not in invalid
        missing = (row_id is None and absent) or (field.name in values and values[field.name] is None)
        if field.required and missing:
            errors.append(f"{field.name}: required")
    if errors:
        raise BadRequest(", ".join(errors))
    return values


def read_body_id(raw, row_id: int | None) -> int | None:
    """The new row's id an insert asks for; on update an `id` may only repeat the URL's and is dropped.

    :raises InvalidValue: when it is not an integer (insert) or not the URL's id (update).
    """
    if row_id is None:
        return None if raw is None else to_integer(raw)
    try:
        unchanged = to_integer(raw) == row_id
    except InvalidValue:
        unchanged = False
    if not unchanged:
        raise InvalidValue("Cannot be changed")
    return None


def duplicate_message(field: Field) -> str:
    return f"Duplicate value for unique field: {field.label}"


def missing_reference_message(field: Field, value) -> str:
    return f"{field.name}: No {field.reftable_name} row with id {value}"


def referenced_message(ref_table: str, ref_field: str) -> str:
    return f"Cannot delete: referenced by {ref_table}.{ref_field}"


@contextlib.contextmanager
def violations_refused(db: Connection, table: Table) -> Iterator[None]:
    """A constraint the pre-checks did not see broken (another program wrote to the table in between) is refused
    with the same message the pre-check gives, naming the field.

    :raises BadRequest: for a ConstraintViolation of the block.
    """
    try:
        yield
    except ConstraintViolation as violation:
        raise BadRequest(violation_message(db, table, violation)) from None


def violation_message(db: Connection, table: Table, violation: ConstraintViolation) -> str:
    column = table.column(violation.column) if violation.table == table.sql_name and violation.column else None
    if violation.kind == "unique" and column is not None:
        return duplicate_message(column)
    if violation.kind == "foreign_key" and column is not None and column.type == "Key":
        return missing_reference_message(column, violation.value)
    if violation.kind == "foreign_key" and violation.table is not None and violation.table != table.sql_name:
        referring = [field for ref_table, field in referencing_fields(db, table.name) if ref_table == violation.table]
        if referring:
            return referenced_message(violation.table, referring[0])
    return CONSTRAINT_MESSAGE


def check_unique(db: Connection, table: Table, values: Mapping, row_id: int | None = None) -> None:
    """:raises BadRequest: naming each unique field (the id included) whose new value another row has, and the
    fields of each Unique constraint whose values together another row has."""
    errors = []
    if row_id is None and values.get("id") is not None and exists(db, table.sql_name, "id", values["id"]):
        errors.append(duplicate_message(ID_FIELD))
    for field in table.fields:
        value = values.get(field.name)
        if field.is_unique and value is not None and exists(db, table.sql_name, field.name, value, exclude_id=row_id):
            errors.append(duplicate_message(field))
    for names in broken_uniques(db, table, values, row_id):
        labels = ", ".join(column.label for column in map(table.column, names) if column is not None)
        errors.append(f"Duplicate values for fields unique together: {labels}")
    if errors:
        raise BadRequest(", ".join(errors))


def check_references(db: Connection, table: Table, values: Mapping, row_id: int | None = None) -> None:
    """:raises BadRequest: naming each Key value that refers to no row (a row may refer to itself)."""
    errors = []
    own_id = values.get("id", row_id)
    for field in table.fields:
        value = values.get(field.name)
        if field.type != "Key" or value is None:
            continue
        refers_to_itself = field.reftable_name == table.name and value == own_id
        if not refers_to_itself and not exists(db, sql_table_name(field.referenced_table), "id", value):
            errors.append(missing_reference_message(field, value))
    if errors:
        raise BadRequest(", ".join(errors))


def check_constraints(db: Connection, table: Table, values: Mapping, row_id: int | None = None) -> None:
    """Check unique and Key constraints before writing, to name the field at fault in plain words.

    Runs inside the write's transaction, which holds the write lock (SQLite's, or PostgreSQL's advisory lock that
    every saltapi writer takes), so no other saltapi write comes in between.
    """
    check_unique(db, table, values, row_id)
    check_references(db, table, values, row_id)


def check_owner(table: Table, values: Mapping, owner: int | None, inserting: bool) -> None:
    """An owner-only caller (`owner`: their user id) writes rows that stay theirs: an insert names them as its
    owner, an update gives the row to no one else and never orphans it (docs/api.md §7a). The owner is never
    filled in.

    :raises BadRequest: "Not authorized", after every validation message.
    """
    if owner is None:
        return
    if (inserting or table.owner_field in values) and values.get(table.owner_field) != owner:
        raise BadRequest("Not authorized")


def insert_row(db: Connection, table: Table, body: Mapping, owner: int | None = None) -> int:
    """Insert a row from a request body and return its id; `owner` is the user id an owner-only caller inserts as.

    :raises BadRequest: when the body, the ownership rule or a constraint says no.
    """
    values = validate_values(table, body)
    check_owner(table, values, owner, inserting=True)
    with violations_refused(db, table), transaction(db):
        check_constraints(db, table, values)
        return insert(db, table, values)


def update_row(db: Connection, table: Table, row_id: int, body: Mapping, owner: int | None = None) -> None:
    """Change only the fields the body names; an owner-only caller (`owner`: their user id) only in their rows.

    :raises BadRequest: when the body, the ownership rule or a constraint says no.
    :raises NotFound: when there is no row `row_id` (that is `owner`'s).
    """
    values = validate_values(table, body, row_id)
    check_owner(table, values, owner, inserting=False)
    mine = owned_by(table, owner)
    with violations_refused(db, table), transaction(db):
        if get_row(db, table, row_id, mine) is None:
            raise NotFound()
        check_constraints(db, table, values, row_id)
        if values and db.execute(*build_update(table, row_id, values, mine)).rowcount == 0:
            raise NotFound()  # the row left `owner` in between (an engine that lets writers interleave)


def delete_row(db: Connection, table: Table, row_id: int, owner: int | None = None) -> None:
    """Delete a row; an owner-only caller (`owner`: their user id) only one of their own.

    :raises NotFound: when there is no row `row_id` (that is `owner`'s).
    :raises BadRequest: while another row refers to it (a row referring only to itself may go).
    """
    mine = owned_by(table, owner)
    with violations_refused(db, table), transaction(db):
        if get_row(db, table, row_id, mine) is None:
            raise NotFound()
        for ref_table, ref_field in referencing_fields(db, table.name):
            exclude_id = row_id if ref_table == table.name else None
            if exists(db, ref_table, ref_field, row_id, exclude_id=exclude_id):
                raise BadRequest(referenced_message(ref_table, ref_field))
        if db.execute(*build_delete(table, row_id, mine)).rowcount == 0:
            raise NotFound()  # as in update_row
