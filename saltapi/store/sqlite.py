"""The SQLite engine: opening a file, IMMEDIATE write transactions, its schema, table rebuilds, key checks, backups.

Only this module and store/postgres.py know which engine they talk to; the rest of store/ writes SQL both accept
and asks the connection's engine (`connection.engine_of`) for the few things that differ.
"""

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from importlib import resources

from .metadata import Field, Table, sql_table_name
from .metadata_cache import MetadataCache

NAME = "sqlite"
BUSY_TIMEOUT_MS = 5000
REBUILD_PREFIX = "_sc_rebuild_"  # the new table while a table is rebuilt; `_sc_` names are never a user's
COLUMN_TYPES = {
    "String": "TEXT",
    "Integer": "INTEGER",
    "Float": "REAL",
    "Bool": "INTEGER",
    "Date": "TEXT",
    "Key": "INTEGER",
}
ID_COLUMN = '"id" INTEGER PRIMARY KEY AUTOINCREMENT'
INTEGRITY_ERRORS = (sqlite3.IntegrityError,)
ERRORS = (sqlite3.Error,)  # anything the database can refuse
OPERATIONAL_ERRORS = (sqlite3.OperationalError,)
# SQLite's words for a database that cannot be used right now, as opposed to a bug in a statement.
UNAVAILABLE_MESSAGES = ("database is locked", "disk i/o error", "database or disk is full", "unable to open database")


class Connection(sqlite3.Connection):
    """A connection that may carry its app's metadata cache (None outside a request or CLI command), and what its
    current request has read already: the metadata version and a token's owner (None until read, and again after
    each write; users.prefetch_token_owner reads both at once)."""

    engine = NAME
    metadata_cache: MetadataCache | None = None
    metadata_version: int | None = None
    token_owner: tuple | None = None  # (token hash, its _sc_users row or None)

    def insert(self, sql: str, params: Sequence, sql_table: str, explicit_id: bool = False) -> int:
        """Run an INSERT of one row and return its id (SQLite's AUTOINCREMENT copes with explicit ids itself)."""
        row_id = self.execute(sql, params).lastrowid
        assert row_id is not None  # an INSERT sets it
        return row_id

    def tuples(self, sql: str, params: Sequence) -> Iterator[tuple]:
        """Run a query whose rows come back as plain tuples (cheaper than sqlite3.Row), read as they are used."""
        cursor = self.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, params)


def create_private(path) -> None:
    """Make a missing database file readable by its owner only; SQLite gives its -wal and -shm files the same mode.

    It holds password hashes and, for a moment, sealed tokens: no other user of the machine may read it.
    """
    if str(path) == ":memory:" or str(path).startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def connect(path) -> Connection:
    """Open the database in autocommit mode (creating it private); writes go through `transaction()`."""
    create_private(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=Connection)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys = ON")
    # SQLite's lower() and LIKE fold ASCII only; searches should find "Über" with "über" too.
    db.create_function("saltapi_casefold", 1, casefold, deterministic=True)
    return db


def casefold(value):
    return value.casefold() if isinstance(value, str) else value


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one IMMEDIATE transaction: all of it commits, or none of it.

    IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading a read lock, and
    DDL inside the block is part of the transaction too. Rolls back on BaseException (including
    KeyboardInterrupt) and re-raises.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # a failed COMMIT can leave the transaction open too
            db.execute("ROLLBACK")
        raise
    finally:
        if isinstance(db, Connection):  # the block may have changed the metadata or the users
            db.metadata_version = db.token_owner = None


def init_db(db: sqlite3.Connection) -> None:
    """Create the metadata tables if missing (idempotent) and switch the file to WAL."""
    db.execute("PRAGMA journal_mode = WAL")
    schema = resources.files("saltapi").joinpath("schema.sql").read_text(encoding="utf-8")
    # executescript() commits any open transaction first, so the script brings its own.
    try:
        db.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def is_unavailable(error: BaseException) -> bool:
    """Did the disk or the lock fail (a 503 the client may retry), rather than a statement (a bug)?"""
    return isinstance(error, sqlite3.OperationalError) and str(error).lower().startswith(UNAVAILABLE_MESSAGES)


def defer_foreign_keys(db: sqlite3.Connection) -> None:
    """Check references at COMMIT, not per statement, for the rest of the transaction."""
    db.execute("PRAGMA defer_foreign_keys = ON")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def dangling_key(db: sqlite3.Connection) -> tuple[str, int, str, str, object] | None:
    """(table, row id, column, referenced SQL table, value) of a reference to a row that does not exist."""
    for table_name, rowid, parent, fk_index in db.execute("PRAGMA foreign_key_check").fetchall():
        column = db.execute(
            "SELECT \"from\" FROM pragma_foreign_key_list(?) WHERE id = ?", (table_name, fk_index)
        ).fetchone()[0]
        # By `id`, the row's real rowid (INTEGER PRIMARY KEY): a field may be called rowid and hide the name.
        value = db.execute(f"SELECT {quote(column)} FROM {quote(table_name)} WHERE {quote('id')} = ?", (rowid,)).fetchone()[0]
        return table_name, rowid, column, parent, value
    return None


def last_ids(db: sqlite3.Connection, names: Sequence[str]) -> dict[str, int | None]:
    """The last id AUTOINCREMENT handed out in each table (None: none yet), for a copy to carry on from."""
    found = dict(db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    return {name: found.get(name) for name in names}


def stored_tables(db: sqlite3.Connection) -> list[str]:
    """Every table in the file, saltapi's or not (SQLite's own excepted)."""
    sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite^_%' ESCAPE '^'"
    return [row[0] for row in db.execute(sql)]


@contextlib.contextmanager
def read_snapshot(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Read the block from one snapshot of the file (a read transaction; in WAL mode writers go on meanwhile)."""
    db.execute("BEGIN")
    try:
        yield db
    finally:
        db.execute("ROLLBACK")


def set_last_id(db: sqlite3.Connection, name: str, last_id: int | None) -> None:
    db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
    if last_id is not None:
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, last_id))


# Schema changes. A change SQLite's ALTER TABLE cannot make (a required or unique column, dropping an indexed or
# Key column) is done by SQLite's documented table rebuild (https://sqlite.org/lang_altertable.html#otheralter),
# inside one transaction with the metadata change, so a failure anywhere leaves the table and its metadata as they
# were.


def column_definition(field: Field) -> str:
    sql = f"{quote(field.name)} {COLUMN_TYPES[field.type]}"
    if field.required:
        sql += " NOT NULL"
    if field.is_unique:
        sql += " UNIQUE"
    if field.type == "Key":
        sql += f" REFERENCES {quote(sql_table_name(field.referenced_table))} ({quote('id')}) ON DELETE RESTRICT"
    return sql


def key_index_name(table_name: str, field_name: str) -> str:
    """Index names share SQLite's namespace with tables: `_sc_` is ours, and `.` never occurs in a name."""
    return f"_sc_idx_{table_name}.{field_name}"


def create_table(db: sqlite3.Connection, name: str, fields: Sequence[Field]) -> None:
    columns = [ID_COLUMN, *map(column_definition, fields)]
    db.execute(f"CREATE TABLE {quote(name)} ({', '.join(columns)}) STRICT")


def create_key_indexes(db: sqlite3.Connection, table_name: str, fields: Sequence[Field]) -> None:
    for field in fields:
        if field.type == "Key":  # the reads filter on it, and deletes of the referenced row check it
            index = key_index_name(table_name, field.name)
            db.execute(f"CREATE INDEX {quote(index)} ON {quote(table_name)} ({quote(field.name)})")


def create_user_tables(db: sqlite3.Connection, tables: Sequence[tuple[str, Sequence[Field]]]) -> None:
    """Create tables (name, fields), which may refer to each other in any order, with an index per Key."""
    for name, fields in tables:
        create_table(db, name, fields)
        create_key_indexes(db, name, fields)


def drop_tables(db: sqlite3.Connection, names: Sequence[str]) -> None:
    """Drop these tables (which may refer to each other) and their search indexes, inside the caller's transaction."""
    from .search import drop_search_index  # store/search.py is SQLite's FTS5, and imports the connection

    db.execute("PRAGMA defer_foreign_keys = ON")
    for name in names:
        drop_search_index(db, name)
        db.execute(f"DROP TABLE {quote(name)}")


@contextlib.contextmanager
def schema_change(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction for a schema change, with foreign key enforcement off as SQLite's table rebuild requires.

    `PRAGMA defer_foreign_keys` is not enough: the DROP of a table that other rows refer to counts every such
    reference as a violation, and re-creating the table under the same name never uncounts them, so COMMIT would
    fail. So enforcement is off, which SQLite allows only outside a transaction, and the keys are checked
    (`PRAGMA foreign_key_check`) before COMMIT instead: the metadata tables' here (through `check`), the changed
    tables' by the caller. Any failure rolls everything back, and enforcement is on again afterwards.
    """
    if db.in_transaction:
        raise RuntimeError("a schema change must start outside any transaction")
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        with transaction(db):
            yield db
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def dangling_reference(db: sqlite3.Connection, names: Sequence[str]) -> tuple[str, int, str] | None:
    """(table, row id, referenced SQL table) of a row of these tables that refers to a row that does not exist.

    Only a schema change (foreign keys off) can leave one; it must check before COMMIT.
    """
    for table_name in names:
        for child, rowid, parent, _ in db.execute("PRAGMA foreign_key_check(" + quote(table_name) + ")").fetchall():
            return child, rowid, parent
    return None


def rebuild_table(
    db: sqlite3.Connection, table_name: str, fields: Sequence[Field], fill: Mapping[str, object] | None = None
) -> None:
    """Give `table_name` exactly `fields`, inside the caller's `schema_change()`.

    SQLite's 12 steps: create the new table under a temporary name, copy every row (ids kept; a new column
    gets its `fill` value, else NULL), drop the old table, rename the new one into its place, and re-create the
    indexes. The AUTOINCREMENT counter is carried over, so ids of deleted rows are never handed out again.
    Key columns of other tables keep referring to the table by name, so they follow it.

    :raises sqlite3.IntegrityError: when existing rows break a constraint of the new columns (callers check
        first, to say which).
    """
    fill = fill or {}
    temporary = REBUILD_PREFIX + table_name
    old_columns = {row["name"] for row in db.execute("SELECT name FROM pragma_table_info(?)", (table_name,))}
    sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table_name,)).fetchone()
    create_table(db, temporary, fields)
    targets = ", ".join(quote(name) for name in ["id", *(field.name for field in fields)])
    sources = ", ".join([quote("id"), *(quote(field.name) if field.name in old_columns else "?" for field in fields)])
    params = [fill.get(field.name) for field in fields if field.name not in old_columns]
    db.execute(f"INSERT INTO {quote(temporary)} ({targets}) SELECT {sources} FROM {quote(table_name)}", params)
    db.execute(f"DROP TABLE {quote(table_name)}")
    db.execute(f"ALTER TABLE {quote(temporary)} RENAME TO {quote(table_name)}")
    if sequence is not None:
        db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table_name,))
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table_name, sequence["seq"]))
    create_key_indexes(db, table_name, fields)
    from .constraints import recreate_indexes  # both import the connection, which imports this module
    from .search import reindex

    recreate_indexes(db, table_name)
    reindex(db, table_name, fields)  # its triggers went with the old table


def add_field(db: sqlite3.Connection, table: Table, field: Field, fill: Mapping[str, object]) -> None:
    """A column that may be NULL and is not unique is ALTER TABLE ADD COLUMN; any other is a rebuild."""
    if field.required or field.is_unique:
        rebuild_table(db, table.name, [*table.fields, field], fill)
    else:
        db.execute(f"ALTER TABLE {quote(table.name)} ADD COLUMN {column_definition(field)}")
        create_key_indexes(db, table.name, [field])
        if field.type == "String":
            from .search import reindex

            reindex(db, table.name, [*table.fields, field])


def change_field(db: sqlite3.Connection, table: Table, old: Field, new: Field) -> None:
    """Change the required and unique flags of a column: a rebuild."""
    rebuild_table(db, table.name, [new if f.name == old.name else f for f in table.fields])


def delete_field(db: sqlite3.Connection, table: Table, field: Field) -> None:
    """A plain column is ALTER TABLE DROP COLUMN; a Key or unique one (which have an index or a foreign key,
    which DROP COLUMN refuses) is a rebuild."""
    remaining = [f for f in table.fields if f.name != field.name]
    if field.type == "Key" or field.is_unique:
        rebuild_table(db, table.name, remaining)
    elif field.type == "String":
        from .search import create_search_index, drop_search_index

        drop_search_index(db, table.name)  # its triggers name the column, which DROP COLUMN refuses
        db.execute(f"ALTER TABLE {quote(table.name)} DROP COLUMN {quote(field.name)}")
        create_search_index(db, table.name, remaining)
    else:
        db.execute(f"ALTER TABLE {quote(table.name)} DROP COLUMN {quote(field.name)}")


# Backups: SQLite's backup API, in steps, from one read snapshot.

BACKUP_PAGES_PER_STEP = 1024


def backup(database: str, target_path: str, progress: Callable[[int], AbstractContextManager[Callable[[int], None]]]) -> int:
    """Copy with SQLite's backup API in steps, all from one read snapshot; returns the number of pages copied.

    `progress(total)` is entered around the copy and its value called with the pages of each step. A backup in
    steps restarts whenever another connection writes, so under steady writes it might never end; holding a read
    transaction on the source for the whole copy pins one snapshot (WAL lets writers go on), so the copy is
    consistent and finishes.

    :raises RuntimeError: with SQLite's words, when it cannot be done.
    """
    try:
        return copy_pages(database, target_path, progress)
    except sqlite3.Error as error:
        raise RuntimeError(str(error)) from error


def copy_pages(database: str, target_path: str, progress) -> int:
    source = connect(database)
    target = sqlite3.connect(target_path)
    try:
        source.execute("BEGIN")
        total = source.execute("PRAGMA page_count").fetchone()[0]  # starts the read transaction
        with progress(total) as step:
            done = [0]

            def copied(status: int, remaining: int, pages: int) -> None:
                step(pages - remaining - done[0])
                done[0] = pages - remaining

            source.backup(target, pages=BACKUP_PAGES_PER_STEP, progress=copied)
        source.execute("ROLLBACK")
        # The copy must not depend on a -wal file beside it: a single file, whatever the source's journal mode.
        target.execute("PRAGMA journal_mode = DELETE")
        return total
    finally:
        target.close()
        source.close()
