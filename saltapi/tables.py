"""Defining tables: checking table and field definitions, creating and dropping their SQLite tables."""

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .db import quote_identifier as q
from .metadata import ADMIN_ROLE_ID, USERS_TABLE_NAME, Field, load_table, roles, sql_table_name, table_names
from .types import FIELD_TYPES, SQL_TYPES

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
MAX_NAME_LENGTH = 63
RESERVED_PREFIXES = ("_sc_", "sqlite_")  # ours, and SQLite's own
NUMBER_ATTRIBUTES = {"min", "max"}
LENGTH_ATTRIBUTES = {"min_length", "max_length"}


class DefinitionError(ValueError):
    """A table or field definition that cannot be created, with a message fit for a person."""


@dataclass(frozen=True)
class TableDefinition:
    name: str
    fields: tuple[Field, ...] = ()
    min_role_read: int = ADMIN_ROLE_ID
    min_role_write: int = ADMIN_ROLE_ID


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


def check_attributes(field: Field, where: str) -> None:
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


def check_definitions(db: sqlite3.Connection, definitions: Sequence[TableDefinition]) -> None:
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
        field_names = set()
        for field in definition.fields:
            check_name(field.name, "field")
            where = f"Field {definition.name}.{field.name}"
            if field.name.lower() == "id":
                raise DefinitionError(f"{where}: a field may not be called id (every table has its own id)")
            if field.name.lower() in field_names:
                raise DefinitionError(f"{where}: a table cannot have two fields of that name")
            field_names.add(field.name.lower())
            if not isinstance(field.label, str):
                raise DefinitionError(f"{where}: the label must be a string")
            if field.type not in FIELD_TYPES:
                raise DefinitionError(f"{where}: unknown type {field.type!r}; use one of {', '.join(FIELD_TYPES)}")
            check_attributes(field, where)
            if field.type == "Key":
                check_reference(db, field, where, new_tables)


def is_role_id(role, role_ids: Mapping[int, str]) -> bool:
    return isinstance(role, int) and not isinstance(role, bool) and role in role_ids


def check_reference(db: sqlite3.Connection, field: Field, where: str, new_tables: Mapping) -> None:
    """:raises DefinitionError: unless the Key refers to a table that exists, with a real summary field."""
    reftable = field.reftable_name
    definition = new_tables.get(reftable) if isinstance(reftable, str) else None
    existing = load_table(db, reftable) if isinstance(reftable, str) and definition is None else None
    if definition is None and existing is None:
        raise DefinitionError(f"{where}: a Key needs reftable_name naming an existing table, not {reftable!r}")
    summary_field = field.attributes.get("summary_field")
    if summary_field is not None:
        names = {"id"} | {f.name for f in (definition or existing).fields}
        if not isinstance(summary_field, str) or summary_field not in names:
            raise DefinitionError(f"{where}: summary_field {summary_field!r} is not a field of {reftable}")


def column_definition(field: Field) -> str:
    sql = f"{q(field.name)} {SQL_TYPES[field.type]}"
    if field.required:
        sql += " NOT NULL"
    if field.is_unique:
        sql += " UNIQUE"
    if field.type == "Key":
        sql += f" REFERENCES {q(sql_table_name(field.reftable_name))} ({q('id')}) ON DELETE RESTRICT"
    return sql


def key_index_name(table_name: str, field_name: str) -> str:
    """Index names share SQLite's namespace with tables: `_sc_` is ours, and `.` never occurs in a name."""
    return f"_sc_idx_{table_name}.{field_name}"


def create_tables(db: sqlite3.Connection, definitions: Sequence[TableDefinition]) -> None:
    """Create tables and their metadata inside the caller's transaction.

    :raises DefinitionError: when a definition is invalid; nothing is created then.
    """
    check_definitions(db, definitions)
    for definition in definitions:
        table_id = db.execute(
            "INSERT INTO _sc_tables (name, min_role_read, min_role_write) VALUES (?, ?, ?)",
            (definition.name, definition.min_role_read, definition.min_role_write),
        ).lastrowid
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
        columns = [f"{q('id')} INTEGER PRIMARY KEY AUTOINCREMENT", *map(column_definition, definition.fields)]
        db.execute(f"CREATE TABLE {q(definition.name)} ({', '.join(columns)}) STRICT")
        for field in definition.fields:
            if field.type == "Key":  # the reads filter on it, and deletes of the referenced row check it
                index = key_index_name(definition.name, field.name)
                db.execute(f"CREATE INDEX {q(index)} ON {q(definition.name)} ({q(field.name)})")


def drop_all_tables(db: sqlite3.Connection) -> None:
    """Drop every user table and its metadata, inside the caller's transaction."""
    db.execute("PRAGMA defer_foreign_keys = ON")  # tables refer to each other; all of them go
    for name in table_names(db):
        db.execute(f"DROP TABLE {q(name)}")
    db.execute("DELETE FROM _sc_tables")
