"""A whole instance copied from one database to another, of either engine: roles, settings, users with their
password and token hashes, tables, fields, table constraints with their indexes, ownership, rows with their ids,
the id sequences, and (on SQLite) the search indexes.

What a copy carries is listed here once (COPIED_METADATA, then every user table); the copy runs inside the
target's one transaction, so it is all or nothing, and readers of the target see the old instance or the new.
"""

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

from .connection import (
    Connection,
    connect,
    database_label,
    engine_for,
    engine_of,
    init_db,
    placeholders,
    transaction,
)
from .connection import quote_identifier as q
from .constraints import create_index
from .metadata import USERS_SQL_NAME, Table, read_table, table_names
from .search import create_search_index
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
    for table in tables:  # before the rows: PostgreSQL builds no index on a table with foreign key checks pending
        for constraint in table.constraints:
            create_index(target, table.name, constraint)
    for table in tables:
        columns = ", ".join(q(column.name) for column in table.columns)
        rows = source.tuples(f"SELECT {columns} FROM {q(table.name)} ORDER BY {q('id')}", [])
        copy_rows(source, target, table.name, as_stored(table, rows), [column.name for column in table.columns], progress)
        create_search_index(target, table.name, table.fields)  # filled once the rows are in (SQLite's only)
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


# Moving an instance to another database (`saltapi copy-db`).


class CopyError(Exception):
    """A copy that did not happen: the target already holds data, the source holds no instance, or a database
    refused; the target is left as it was."""


def copy_database(
    source: str, target: str, progress: Callable[[int], AbstractContextManager[Callable[[int], None]]]
) -> dict[str, int]:
    """Copy the instance at `source` into the empty database `target`; returns the tables, rows and users copied.

    The source is read from one snapshot, so servers may keep writing to it; the target is written in one
    transaction (under its write lock), so a failure anywhere leaves it as it was, apart from saltapi's empty
    schema. `progress(total rows)` is entered around the copy and its value called with the rows of each batch.

    :raises CopyError: saying why, in one line.
    """
    refused = (*engine_for(source).ERRORS, *engine_for(target).ERRORS)
    try:
        source_db = connect(source)
        try:
            if "_sc_tables" not in engine_of(source_db).stored_tables(source_db):
                raise CopyError(f"{database_label(source)} holds no saltapi instance")
            init_db(source_db)  # an instance of an older saltapi gets the metadata tables it lacks, as on any start
            target_db = connect(target)
            try:
                return copy_into(source_db, target_db, database_label(target), progress)
            finally:
                target_db.close()
        finally:
            source_db.close()
    except refused as error:
        raise CopyError(f"{type(error).__name__}: {error}".strip().splitlines()[0]) from error


def copy_into(source: Connection, target: Connection, target_label: str, progress) -> dict[str, int]:
    refuse_unless_empty(target, target_label)  # before init_db() adds saltapi's schema to someone else's database
    init_db(target)
    with engine_of(source).read_snapshot(source):
        tables = [table for name in table_names(source) if (table := read_table(source, name)) is not None]
        total = sum(source.execute(f"SELECT count(*) FROM {q(table.name)}").fetchone()[0] for table in tables)
        users = source.execute(f"SELECT count(*) FROM {q(USERS_SQL_NAME)}").fetchone()[0]
        with transaction(target):
            refuse_unless_empty(target, target_label)  # again: under the write lock, no one else can fill it now
            with progress(total) as step:
                copy_instance(source, target, step)
    return {"tables": len(tables), "rows": total, "users": users}


def refuse_unless_empty(db: Connection, label: str) -> None:
    if not is_empty(db):
        raise CopyError(f"{label} is not empty: copy only into a database with no tables and no users")


def is_empty(db: Connection) -> bool:
    """Does the database hold at most saltapi's schema (no user, no table of saltapi's or anyone's)?"""
    stored = engine_of(db).stored_tables(db)
    if any(not name.startswith("_sc_") for name in stored):
        return False
    counted = [name for name in (USERS_SQL_NAME, "_sc_tables") if name in stored]
    return all(db.execute(f"SELECT count(*) FROM {q(name)}").fetchone()[0] == 0 for name in counted)
