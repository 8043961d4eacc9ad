"""Defining tables: checking table and field definitions, creating, changing and dropping their tables.

Each change runs in one transaction with its metadata change, so a failure anywhere leaves the table and its
metadata as they were; how the engine changes a table (SQLite's rebuild, PostgreSQL's ALTER TABLE) is its own.
"""

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from .connection import Connection, engine_of, transaction
from .connection import quote_identifier as q
from .constraints import check_constraint, drop_field_constraints, insert_constraint
from .metadata import (
    ADMIN_ROLE_ID,
    USERS_TABLE_NAME,
    DefinitionError,
    Field,
    Table,
    load_table,
    load_table_by_id,
    referencing_fields,
    roles,
    sql_table_name,
    table_names,
)  # fmt: skip
from .rows import exists, no_such_row
from .search import create_search_index
from .types import FIELD_TYPES, InvalidValue, parse_value, to_json

METADATA_TABLES = ("_sc_tables", "_sc_fields", "_sc_table_owners", "_sc_table_constraints")

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
MAX_NAME_LENGTH = 63
RESERVED_PREFIXES = ("_sc_", "sqlite_")  # ours, and SQLite's own
NUMBER_ATTRIBUTES = {"min", "max"}
LENGTH_ATTRIBUTES = {"min_length", "max_length"}


@dataclass(frozen=True)
class TableDefinition:
    name: str
    fields: tuple[Field, ...] = ()
    min_role_read: int = ADMIN_ROLE_ID
    min_role_write: int = ADMIN_ROLE_ID
    owner_field: str | None = None
    constraints: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (type, field names) as store/constraints.py checks


def check_name(name, what: str) -> str:
    """:raises DefinitionError: unless `name` is a valid table or field name."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        raise DefinitionError(
            f"Invalid {what} name {name!r}: use letters, digits and _, not starting with a digit,"
            f" at most {MAX_NAME_LENGTH} characters"
        )
    if name.lower().startswith(RESERVED_PREFIXES):
        raise DefinitionError(f"Invalid {what} name {name!r}: names starting with _sc_ or sqlite_ are reserved")
    return name


def check_attribute_kinds(field: Field, where: str) -> None:
    """:raises DefinitionError: for attributes of the wrong kind (unknown attributes are kept as they are)."""
    attributes = field.attributes
    if not isinstance(attributes, Mapping):
        raise DefinitionError(f"{where}: attributes must be an object")
    for key in NUMBER_ATTRIBUTES & attributes.keys():
        value = attributes[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DefinitionError(f"{where}: attribute {key} must be a number")
    for key in LENGTH_ATTRIBUTES & attributes.keys():
        value = attributes[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise DefinitionError(f"{where}: attribute {key} must be a whole number of characters")
    options = attributes.get("options")
    if options is not None and not isinstance(options, str):
        if not isinstance(options, list) or not all(isinstance(option, str) for option in options):
            raise DefinitionError(f"{where}: attribute options must be a list of strings")


def check_definitions(db: Connection, definitions: Sequence[TableDefinition]) -> None:
    """Check new tables against each other and the database (they may refer to each other and to themselves).

    Every table's name is checked before any field, so a bad name is reported as such and not as a Key
    that names no table.

    :raises DefinitionError: naming the table and field at fault.
    """
    role_ids = roles(db)
    taken = {name.lower() for name in table_names(db)}
    for definition in definitions:
        name = check_name(definition.name, "table")
        if name.lower() == USERS_TABLE_NAME:
            raise DefinitionError(f"Invalid table name {name!r}: it is the name of the built-in users table")
        if name.lower() in taken:
            raise DefinitionError(f"A table named {name} already exists")
        taken.add(name.lower())
        for role in (definition.min_role_read, definition.min_role_write):
            if not is_role_id(role, role_ids):
                raise DefinitionError(f"Table {name}: there is no role {role!r}")
    new_tables = {definition.name: definition for definition in definitions}
    for definition in definitions:
        field_names: set[str] = set()
        for field in definition.fields:
            check_field(db, definition.name, field, field_names, new_tables)
            field_names.add(field.name.lower())
        if definition.owner_field is not None:
            check_owner_field(definition.name, definition.fields, definition.owner_field)
        for constraint_type, names in definition.constraints:
            check_constraint(definition.name, definition.fields, constraint_type, names)


def is_owner_key(field: Field) -> bool:
    """Can the field name a row's owner? Only a Key to users can (docs/api.md §7a)."""
    return field.type == "Key" and field.reftable_name == USERS_TABLE_NAME


def check_owner_field(table_name: str, fields: Sequence[Field], name) -> Field:
    """:raises DefinitionError: unless `name` is one of `fields` and a Key to users."""
    field = next((f for f in fields if f.name == name), None)
    if field is None or not is_owner_key(field):
        raise DefinitionError(f"Table {table_name}: the ownership field must be one of its Keys to users, not {name!r}")
    return field


def check_field(
    db: Connection, table_name: str, field: Field, taken: set[str], new_tables: Mapping = {}
) -> None:
    """Check one field of table `table_name`, whose other fields' names (lower-cased) are `taken`.

    :raises DefinitionError: naming the table and field at fault.
    """
    check_name(field.name, "field")
    where = f"Field {table_name}.{field.name}"
    if field.name.lower() == "id":
        raise DefinitionError(f"{where}: a field may not be called id (every table has its own id)")
    if field.name.lower() in taken:
        raise DefinitionError(f"{where}: a table cannot have two fields of that name")
    if not isinstance(field.label, str):
        raise DefinitionError(f"{where}: the label must be a string")
    if field.type not in FIELD_TYPES:
        raise DefinitionError(f"{where}: unknown type {field.type!r}; use one of {', '.join(FIELD_TYPES)}")
    check_attribute_kinds(field, where)
    if field.type == "Key":
        check_reference(db, field, where, new_tables)


def is_role_id(role, role_ids: Mapping[int, str]) -> bool:
    return isinstance(role, int) and not isinstance(role, bool) and role in role_ids


def check_reference(db: Connection, field: Field, where: str, new_tables: Mapping) -> None:
    """:raises DefinitionError: unless the Key refers to a table that exists, with a real summary field."""
    reftable = field.reftable_name
    definition = new_tables.get(reftable) if isinstance(reftable, str) else None
    existing = load_table(db, reftable) if isinstance(reftable, str) and definition is None else None
    referenced = definition or existing
    if referenced is None:
        raise DefinitionError(f"{where}: a Key needs reftable_name naming an existing table, not {reftable!r}")
    summary_field = field.attributes.get("summary_field")
    if summary_field is not None:
        names = {"id"} | {f.name for f in referenced.fields}
        if not isinstance(summary_field, str) or summary_field not in names:
            raise DefinitionError(f"{where}: summary_field {summary_field!r} is not a field of {reftable}")


def create_tables(db: Connection, definitions: Sequence[TableDefinition]) -> None:
    """Create tables and their metadata inside the caller's transaction.

    :raises DefinitionError: when a definition is invalid; nothing is created then.
    """
    check_definitions(db, definitions)
    created = []
    for definition in definitions:
        table_id = db.insert(
            "INSERT INTO _sc_tables (name, min_role_read, min_role_write) VALUES (?, ?, ?)",
            (definition.name, definition.min_role_read, definition.min_role_write),
            "_sc_tables",
        )
        for position, field in enumerate(definition.fields):
            db.execute(
                "INSERT INTO _sc_fields (table_id, position, name, label, type, required, is_unique,"
                " reftable_name, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    table_id, position, field.name, field.label or field.name, field.type, int(field.required),
                    int(field.is_unique), field.reftable_name if field.type == "Key" else None,
                    json.dumps(dict(field.attributes)),
                ),
            )  # fmt: skip
        if definition.owner_field is not None:
            store_owner_field(db, table_id, definition.owner_field)
        created.append((table_id, definition))
    engine_of(db).create_user_tables(db, [(definition.name, definition.fields) for definition in definitions])
    for table_id, definition in created:
        create_search_index(db, definition.name, definition.fields)
        for constraint_type, names in definition.constraints:
            insert_constraint(db, table_id, definition.name, constraint_type, tuple(names))


def store_owner_field(db: Connection, table_id: int, field_name: str | None) -> None:
    """Make `field_name` (already checked) the table's owner field, or end its ownership when None."""
    db.execute("DELETE FROM _sc_table_owners WHERE table_id = ?", (table_id,))
    if field_name is not None:
        db.execute(
            "INSERT INTO _sc_table_owners (table_id, field_id)"
            " SELECT table_id, id FROM _sc_fields WHERE table_id = ? AND name = ?",
            (table_id, field_name),
        )


def drop_all_tables(db: Connection) -> None:
    """Drop every user table and its metadata, inside the caller's transaction."""
    engine_of(db).drop_tables(db, table_names(db))  # they may refer to each other; all of them go
    db.execute("DELETE FROM _sc_tables")


# Changing tables after they were made (the web UI's table pages).


@contextlib.contextmanager
def schema_change(db: Connection) -> Iterator[Connection]:
    """One transaction for a schema change (see each engine's `schema_change`), whose metadata tables' references
    are checked before it commits."""
    with engine_of(db).schema_change(db):
        yield db
        check_keys(db, METADATA_TABLES)  # SQLite ran no ON DELETE CASCADE: nothing may be left dangling


def check_keys(db: Connection, names: Sequence[str]) -> None:
    """:raises DefinitionError: when a row of these tables refers to a row that does not exist."""
    dangling = engine_of(db).dangling_reference(db, names)
    if dangling is not None:
        child, rowid, parent = dangling
        parent = USERS_TABLE_NAME if parent == sql_table_name(USERS_TABLE_NAME) else parent
        raise DefinitionError(f"Row {rowid} of {child} would refer to a row of {parent} that does not exist")


def keys_to_check(db: Connection, table_name: str) -> list[str]:
    """The table and every table with a Key to it: the ones whose foreign keys a rebuild could break."""
    return [table_name, *dict.fromkeys(name for name, _ in referencing_fields(db, table_name) if name != table_name)]


def check_roles(db: Connection, *role_ids) -> None:
    role_names = roles(db)
    for role_id in role_ids:
        if not is_role_id(role_id, role_names):
            raise DefinitionError(f"There is no role {role_id!r}")


def create_table(db: Connection, name: str, min_role_read: int, min_role_write: int) -> Table:
    """Create an empty table (it has only its id) in one transaction.

    :raises DefinitionError: for a bad or taken name, or an unknown role.
    """
    with transaction(db):
        create_tables(db, [TableDefinition(name=name, min_role_read=min_role_read, min_role_write=min_role_write)])
    table = load_table(db, name)
    assert table is not None  # just made
    return table


def drop_table(db: Connection, table_id: int) -> str:
    """Drop a table, its rows and its fields; return its name.

    :raises DefinitionError: when there is no such table, or other tables have Keys to it (its own Keys to
        itself go with it).
    """
    with schema_change(db):
        table = load_table_by_id(db, table_id)
        if table is None:
            raise DefinitionError("There is no such table")
        others = [f"{t}.{f}" for t, f in referencing_fields(db, table.name) if t != table.name]
        if others:
            raise DefinitionError(
                f"Cannot delete table {table.name}: {', '.join(others)} refer{'s' if len(others) == 1 else ''}"
                " to it; delete or change those fields first"
            )
        engine_of(db).drop_tables(db, [table.name])
        # SQLite's foreign keys are off, so ON DELETE CASCADE does not take the fields along: they go by hand.
        db.execute("DELETE FROM _sc_table_owners WHERE table_id = ?", (table.id,))
        db.execute("DELETE FROM _sc_table_constraints WHERE table_id = ?", (table.id,))
        db.execute("DELETE FROM _sc_fields WHERE table_id = ?", (table.id,))
        db.execute("DELETE FROM _sc_tables WHERE id = ?", (table.id,))
    return table.name


def set_table_settings(
    db: Connection, table_id: int, min_role_read: int, min_role_write: int, owner_field: str | None
) -> None:
    """Set the table's minimum roles and its owner field (a Key to users; None for no ownership), all or nothing.

    :raises DefinitionError: for an unknown table or role, or a field that is not one of its Keys to users.
    """
    with transaction(db):
        table = load_table_by_id(db, table_id)
        if table is None:
            raise DefinitionError("There is no such table")
        check_roles(db, min_role_read, min_role_write)
        if owner_field is not None:
            check_owner_field(table.name, table.fields, owner_field)
        db.execute(
            "UPDATE _sc_tables SET min_role_read = ?, min_role_write = ? WHERE id = ?",
            (min_role_read, min_role_write, table_id),
        )
        store_owner_field(db, table_id, owner_field)


def row_count(db: Connection, table_name: str) -> int:
    return db.execute(f"SELECT count(*) FROM {q(table_name)}").fetchone()[0]


def null_count(db: Connection, table_name: str, column: str) -> int:
    return db.execute(f"SELECT count(*) FROM {q(table_name)} WHERE {q(column)} IS NULL").fetchone()[0]


def check_can_be_required(db: Connection, table: Table, field: Field) -> None:
    """:raises DefinitionError: when rows of the table have no value in the field."""
    missing = null_count(db, table.name, field.name)
    if missing:
        rows = "row has" if missing == 1 else "rows have"
        raise DefinitionError(
            f"Cannot make {field.label} required: {missing} {rows} no value in it; fill them in first"
        )


def check_can_be_unique(db: Connection, table: Table, field: Field) -> None:
    """:raises DefinitionError: when two rows of the table share a value of the field."""
    duplicate = db.execute(
        f"SELECT {q(field.name)}, count(*) FROM {q(table.name)} WHERE {q(field.name)} IS NOT NULL"
        f" GROUP BY {q(field.name)} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    if duplicate is not None:
        value = json.dumps(to_json(field, duplicate[0]), ensure_ascii=False)
        raise DefinitionError(
            f"Cannot make {field.label} unique: the value {value} is in {duplicate[1]} rows; change them first"
        )


def fill_value(db: Connection, table: Table, field: Field, raw) -> object:
    """The value a new required field gets in the rows a table already has.

    :raises DefinitionError: when it is missing or not a valid value of the field.
    """
    try:
        value = parse_value(field, raw)
    except InvalidValue as error:
        raise DefinitionError(f"Value for the existing rows: {error}") from None
    if value is None:
        raise DefinitionError(
            f"{table.name} has rows already: a required field needs a value for them (or add it as not required)"
        )
    if field.type == "Key" and not exists(db, sql_table_name(field.referenced_table), "id", value):
        # A row of a table with a Key to itself cannot refer to a row that is not there yet either.
        raise DefinitionError(f"Value for the existing rows: {no_such_row(field.referenced_table, value)}")
    if field.is_unique and row_count(db, table.name) > 1:
        raise DefinitionError(
            "A unique field cannot give one value to every existing row: add it as not unique, fill it in,"
            " then make it unique"
        )
    return value


def add_field(db: Connection, table_id: int, field: Field, fill_raw=None) -> Field:
    """Add a field at the end of a table; `fill_raw` is the value for existing rows of a new required field.

    :raises DefinitionError: for a bad definition, or a required field without a value for existing rows.
    """
    with schema_change(db):
        table = load_table_by_id(db, table_id)
        if table is None:
            raise DefinitionError("There is no such table")
        if field.label in (None, ""):
            field = dataclasses.replace(field, label=field.name)
        check_field(db, table.name, field, {f.name.lower() for f in table.fields})
        if field.type == "Key" and field.reftable_name == table.name and field.required and row_count(db, table.name):
            raise DefinitionError("A required Key to its own table cannot be added to a table with rows")
        fill = {}
        if field.required and row_count(db, table.name):
            fill[field.name] = fill_value(db, table, field, fill_raw)
        engine_of(db).add_field(db, table, field, fill)
        position = 1 + max((-1, *(row["position"] for row in db.execute(
            "SELECT position FROM _sc_fields WHERE table_id = ?", (table.id,)
        ))))  # fmt: skip
        db.execute(
            "INSERT INTO _sc_fields (table_id, position, name, label, type, required, is_unique, reftable_name,"
            " attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                table.id, position, field.name, field.label, field.type, int(field.required), int(field.is_unique),
                field.reftable_name if field.type == "Key" else None, json.dumps(dict(field.attributes)),
            ),
        )  # fmt: skip
        check_keys(db, keys_to_check(db, table.name))
    return field


def update_field(
    db: Connection, table_id: int, name: str, label: str, required: bool, is_unique: bool, attributes: Mapping
) -> Field:
    """Change a field's label, attributes, required and unique flags (name and type stay).

    The label and attributes are metadata only: attributes check values as they are written, so rows stored
    before keep theirs. Changing required or unique changes the table.

    :raises DefinitionError: when there is no such field, the attributes are invalid, or existing rows break
        the new constraint (a NULL in a now required field, a value twice in a now unique one).
    """
    with schema_change(db):
        table = load_table_by_id(db, table_id)
        old = None if table is None else next((f for f in table.fields if f.name == name), None)
        if table is None or old is None:
            raise DefinitionError("There is no such field")
        new = dataclasses.replace(
            old, label=label or old.name, required=bool(required), is_unique=bool(is_unique),
            attributes=dict(attributes),
        )  # fmt: skip
        check_field(db, table.name, new, {f.name.lower() for f in table.fields if f.name != name})
        if new.required and not old.required:
            check_can_be_required(db, table, new)
        if new.is_unique and not old.is_unique:
            check_can_be_unique(db, table, new)
        if (new.required, new.is_unique) != (old.required, old.is_unique):
            engine_of(db).change_field(db, table, old, new)
        db.execute(
            "UPDATE _sc_fields SET label = ?, required = ?, is_unique = ?, attributes = ?"
            " WHERE table_id = ? AND name = ?",
            (new.label, int(new.required), int(new.is_unique), json.dumps(dict(new.attributes)), table.id, name),
        )
        check_keys(db, keys_to_check(db, table.name))
    return new


def summary_users(db: Connection, table_name: str, field_name: str) -> list[str]:
    """`table.field` for every Key to `table_name` that shows `field_name` as its summary."""
    rows = db.execute(
        "SELECT t.name AS table_name, f.name AS field_name, f.attributes FROM _sc_fields f"
        " JOIN _sc_tables t ON t.id = f.table_id"
        " WHERE f.type = 'Key' AND f.reftable_name = ? ORDER BY t.id, f.position",
        (table_name,),
    )
    return [
        f"{row['table_name']}.{row['field_name']}"
        for row in rows
        if json.loads(row["attributes"]).get("summary_field") == field_name
    ]


def delete_field(db: Connection, table_id: int, name: str) -> Field:
    """Drop a field and its values.

    :raises DefinitionError: when there is no such field, or a Key of some table shows it as its summary.
    """
    with schema_change(db):
        table = load_table_by_id(db, table_id)
        field = None if table is None else next((f for f in table.fields if f.name == name), None)
        if table is None or field is None:
            raise DefinitionError("There is no such field")
        shown_by = summary_users(db, table.name, name)
        if shown_by:
            raise DefinitionError(
                f"Cannot delete {name}: {', '.join(shown_by)} show{'s' if len(shown_by) == 1 else ''} it as"
                " summary field; change that first"
            )
        drop_field_constraints(db, table, name)  # as Saltcorn does; DROP COLUMN refuses an indexed column too
        engine_of(db).delete_field(db, table, field)
        # SQLite's foreign keys are off, so the ownership the field gave its table is ended by hand (docs/api.md §7a).
        db.execute(
            "DELETE FROM _sc_table_owners"
            " WHERE field_id IN (SELECT id FROM _sc_fields WHERE table_id = ? AND name = ?)",
            (table.id, name),
        )
        db.execute("DELETE FROM _sc_fields WHERE table_id = ? AND name = ?", (table.id, name))
        check_keys(db, keys_to_check(db, table.name))
    return field
