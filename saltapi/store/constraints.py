"""Table constraints as Saltcorn has them: an `Index` on one field, and `Unique` over fields taken together.

Each is a row of `_sc_table_constraints` and an index (on either engine) named after that row's id, so the name never depends
on (or outgrows) the names of the table and its fields. Saltcorn's `Index` on `_fts` is only recorded: saltapi keeps
a search index on every table's text fields anyway (store/search.py).
"""

import json
from collections.abc import Mapping, Sequence

from .connection import Connection, transaction
from .connection import quote_identifier as q
from .metadata import Constraint, DefinitionError, Field, Table, load_table_by_id

CONSTRAINT_TYPES = ("Index", "Unique")
FTS_FIELD = "_fts"  # Saltcorn's Index over every text field


def index_name(constraint_id: int) -> str:
    return f"_sc_constraint_{constraint_id}"


def describe(constraint_type: str, fields: Sequence[str]) -> str:
    """How a person names a constraint: `Index on author`, `Unique on author, title`."""
    return f"{constraint_type} on {', '.join(fields)}"


def check_constraint(table_name: str, fields: Sequence[Field], constraint_type, names) -> tuple[str, ...]:
    """The constraint's field names, checked against the table's `fields`.

    :raises DefinitionError: for an unknown type, an Index not on exactly one field, a Unique on none, or a name
        that is not a field of the table (or is given twice).
    """
    where = f"Table {table_name}"
    if constraint_type not in CONSTRAINT_TYPES:
        raise DefinitionError(f"{where}: unknown constraint type {constraint_type!r}; use Index or Unique")
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise DefinitionError(f"{where}: a constraint's fields must be a list of field names")
    if constraint_type == "Index" and len(names) != 1:
        raise DefinitionError(f"{where}: an Index is on exactly one field")
    if not names:
        raise DefinitionError(f"{where}: a Unique constraint needs at least one field")
    if len(set(names)) != len(names):
        raise DefinitionError(f"{where}: {describe(constraint_type, names)} names a field twice")
    if tuple(names) == (FTS_FIELD,) and constraint_type == "Index":
        return (FTS_FIELD,)
    known = {field.name for field in fields}
    for name in names:
        if name not in known:
            raise DefinitionError(f"{where}: {describe(constraint_type, names)}: {name} is not one of its fields")
    return tuple(names)


def create_index(db: Connection, table_name: str, constraint: Constraint) -> None:
    if constraint.fields == (FTS_FIELD,):
        return
    unique = "UNIQUE " if constraint.type == "Unique" else ""
    columns = ", ".join(map(q, constraint.fields))
    db.execute(f"CREATE {unique}INDEX {q(index_name(constraint.id))} ON {q(table_name)} ({columns})")


def insert_constraint(
    db: Connection, table_id: int, table_name: str, constraint_type: str, fields: tuple[str, ...]
) -> Constraint:
    """Record a checked constraint and create its index, inside the caller's transaction.

    :raises DefinitionError: when the table has that constraint already, or its rows break a new Unique.
    """
    encoded = json.dumps(list(fields))
    if db.execute(
        "SELECT 1 FROM _sc_table_constraints WHERE table_id = ? AND type = ? AND fields = ?",
        (table_id, constraint_type, encoded),
    ).fetchone():
        raise DefinitionError(f"The table has {describe(constraint_type, fields)} already")
    constraint_id = db.insert(
        "INSERT INTO _sc_table_constraints (table_id, type, fields) VALUES (?, ?, ?)",
        (table_id, constraint_type, encoded),
        "_sc_table_constraints",
    )
    constraint = Constraint(id=constraint_id, type=constraint_type, fields=fields)
    if constraint_type == "Unique":
        check_can_be_unique(db, table_name, fields)
    create_index(db, table_name, constraint)
    return constraint


def check_can_be_unique(db: Connection, table_name: str, fields: Sequence[str]) -> None:
    """:raises DefinitionError: when two rows share values in all of `fields` (a NULL among them never clashes)."""
    columns = ", ".join(map(q, fields))
    not_null = " AND ".join(f"{q(name)} IS NOT NULL" for name in fields)
    duplicate = db.execute(
        f"SELECT {columns}, count(*) FROM {q(table_name)} WHERE {not_null}"
        f" GROUP BY {columns} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    if duplicate is not None:
        values = ", ".join(json.dumps(value, ensure_ascii=False) for value in tuple(duplicate)[:-1])
        raise DefinitionError(
            f"Cannot make {', '.join(fields)} unique: the values {values} are in {duplicate[-1]} rows; change them first"
        )


def add_constraint(db: Connection, table_id: int, constraint_type: str, fields) -> Constraint:
    """Add a constraint to a table in one transaction (the web UI and the CLI).

    :raises DefinitionError: for an unknown table, a bad constraint, one the table has, or rows that break it.
    """
    with transaction(db):
        table = load_table_by_id(db, table_id)
        if table is None or table.read_only:
            raise DefinitionError("There is no such table")
        names = check_constraint(table.name, table.fields, constraint_type, fields)
        return insert_constraint(db, table.id, table.name, constraint_type, names)


def drop_constraint(db: Connection, table_id: int, constraint_id: int) -> Constraint:
    """Drop one of a table's constraints and its index, in one transaction.

    :raises DefinitionError: when the table has no such constraint.
    """
    with transaction(db):
        table = load_table_by_id(db, table_id)
        constraint = None if table is None else next((c for c in table.constraints if c.id == constraint_id), None)
        if constraint is None:
            raise DefinitionError("There is no such constraint")
        delete_constraints(db, [constraint])
    return constraint


def delete_constraints(db: Connection, constraints: Sequence[Constraint]) -> None:
    for constraint in constraints:
        db.execute(f"DROP INDEX IF EXISTS {q(index_name(constraint.id))}")
        db.execute("DELETE FROM _sc_table_constraints WHERE id = ?", (constraint.id,))


def drop_field_constraints(db: Connection, table: Table, field_name: str) -> None:
    """A field goes, and every constraint on it with it (as in Saltcorn), inside the caller's transaction."""
    delete_constraints(db, [c for c in table.constraints if field_name in c.fields])


def recreate_indexes(db: Connection, table_name: str) -> None:
    """Create the indexes of the table's constraints again, once a rebuild has dropped them with the old table."""
    rows = db.execute(
        "SELECT c.id, c.type, c.fields FROM _sc_table_constraints c JOIN _sc_tables t ON t.id = c.table_id"
        " WHERE t.name = ? ORDER BY c.id",
        (table_name,),
    ).fetchall()
    for constraint_id, constraint_type, fields in rows:
        create_index(db, table_name, Constraint(id=constraint_id, type=constraint_type, fields=tuple(json.loads(fields))))


def broken_uniques(db: Connection, table: Table, values: Mapping, row_id: int | None = None) -> list[tuple[str, ...]]:
    """The fields of each Unique constraint that a write of `values` (to row `row_id`, or a new row) would break.

    An update is checked with the row's other values as they are; a NULL among the values never clashes.
    """
    found = []
    current = None
    for constraint in table.constraints:
        if constraint.type != "Unique" or not set(constraint.fields) & values.keys():
            continue
        if row_id is not None and current is None:
            columns = ", ".join(map(q, constraint_columns(table)))
            row = db.execute(f"SELECT {columns} FROM {q(table.sql_name)} WHERE {q('id')} = ?", (row_id,)).fetchone()
            current = dict(zip(constraint_columns(table), row)) if row is not None else {}
        merged = {**(current or {}), **values}
        wanted = [merged.get(name) for name in constraint.fields]
        if any(value is None for value in wanted):
            continue
        sql = f"SELECT 1 FROM {q(table.sql_name)} WHERE " + " AND ".join(f"{q(name)} = ?" for name in constraint.fields)
        params = list(wanted)
        if row_id is not None:
            sql += f" AND {q('id')} != ?"
            params.append(row_id)
        if db.execute(sql + " LIMIT 1", params).fetchone() is not None:
            found.append(constraint.fields)
    return found


def constraint_columns(table: Table) -> list[str]:
    return list(dict.fromkeys(name for c in table.constraints if c.type == "Unique" for name in c.fields))


def dump_constraint(constraint: Constraint) -> dict:
    """A constraint as Saltcorn's `TableConstraint.toJson` writes it into a table pack."""
    if constraint.type == "Index":
        return {"type": "Index", "configuration": {"field": constraint.fields[0]}}
    return {"type": "Unique", "configuration": {"fields": list(constraint.fields)}}
