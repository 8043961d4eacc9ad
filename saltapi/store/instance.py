"""A whole instance copied from one database to another, of either engine: roles, settings, users with their
password and token hashes, tables, fields, rows with their ids, and the id sequences.

What a copy carries is listed here once (COPIED_METADATA, then every user table); the copy runs inside the
target's one transaction, so it is all or nothing, and readers of the target see the old instance or the new.
"""

import secrets
from collections.abc import Callable, Iterator

from .connection import Connection, engine_of, placeholders
from .connection import quote_identifier as q
from .metadata import USERS_SQL_NAME, Table, read_table, table_names
from .types import to_bool

# The metadata tables a copy carries, each before the tables that refer to it; their ids are kept. Not carried:
# the metadata version (the target gets a new one), the failed sign-ins of the throttles, and secrets of the
# database itself (PostgreSQL's session secret).
COPIED_METADATA = (
    "_sc_roles", "_sc_config", "_sc_users", "_sc_tables", "_sc_fields", "_sc_table_owners", "_sc_table_constraints",
)  # fmt: skip
ID_SEQUENCE_METADATA = ("_sc_users", "_sc_tables", "_sc_fields", "_sc_table_constraints")  # the ones whose ids a sequence hands out
ROWS_PER_BATCH = 500


def copy_instance(source: Connection, target: Connection, progress: Callable[[int], None] = lambda n: None) -> None:
    """Make `target` hold exactly `source`'s instance, inside the caller's transaction on `target`.

    `progress` is called with the number of user-table rows of each batch copied.
    """
    engine = engine_of(target)
    engine.defer_foreign_keys(target)
    clear_instance(target)
    for name in COPIED_METADATA:
        copy_rows(source, target, name, source.execute(f"SELECT * FROM {q(name)} ORDER BY 1"))
    tables = [table for name in table_names(source) if (table := read_table(source, name)) is not None]
    engine.create_user_tables(target, [(table.name, table.fields) for table in tables])
    for table in tables:
        columns = ", ".join(q(column.name) for column in table.columns)
        rows = source.tuples(f"SELECT {columns} FROM {q(table.name)} ORDER BY {q('id')}", [])
        copy_rows(source, target, table.name, as_stored(table, rows), [column.name for column in table.columns], progress)
    last_ids = engine_of(source).last_ids(source, [*ID_SEQUENCE_METADATA, *(table.name for table in tables)])
    for name, last_id in last_ids.items():
        engine.set_last_id(target, name, last_id)
    target.execute("UPDATE _sc_metadata_version SET version = ?", (secrets.randbits(62),))


def clear_instance(db: Connection) -> None:
    """Drop every user table and empty every copied metadata table, inside the caller's transaction."""
    engine_of(db).drop_tables(db, table_names(db))
    for name in reversed(COPIED_METADATA):
        db.execute(f"DELETE FROM {q(name)}")


def copy_rows(
    source: Connection,
    target: Connection,
    table: str,
    rows,
    columns: list[str] | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> None:
    """Insert `rows` into `target`'s `table`, in batches; `columns` default to the names the rows carry."""
    batch = []
    for row in rows:
        if columns is None:
            columns = list(row.keys())
        batch.append(tuple(row))
        if len(batch) == ROWS_PER_BATCH:
            assert columns is not None
            insert_batch(target, table, columns, batch, progress)
            batch = []
    if batch:
        assert columns is not None
        insert_batch(target, table, columns, batch, progress)


def insert_batch(db: Connection, table: str, columns: list[str], batch: list[tuple], progress) -> None:
    names = ", ".join(map(q, columns))
    db.executemany(f"INSERT INTO {q(table)} ({names}) VALUES ({placeholders(len(columns))})", batch)
    if table != USERS_SQL_NAME and not table.startswith("_sc_"):
        progress(len(batch))


def as_stored(table: Table, rows) -> Iterator[tuple]:
    """The rows as the target stores them: Bools as booleans (SQLite gives 0/1, and PostgreSQL wants true/false)."""
    bools = [index for index, column in enumerate(table.columns) if column.type == "Bool"]
    for row in rows:
        if bools:
            row = list(row)
            for index in bools:
                row[index] = None if row[index] is None else to_bool(row[index])
        yield tuple(row)
