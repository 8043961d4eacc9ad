"""The search index behind `_fts`, `approximate` and `[ilike]` (a case-insensitive substring, docs/api.md §5).

Each user table with String fields has an FTS5 table with the trigram tokenizer holding those fields casefolded
exactly as the `saltapi_casefold` function folds them (so `ß` is found by `ss` and `Über` by `über`, as the scan
finds them), kept in step by triggers. Reads use it only to narrow the rows down: the exact substring test still
runs on the rows it finds, so the answer is the same with or without it. A trigram index cannot serve a term of
fewer than 3 characters; those reads scan as before.

On PostgreSQL there is no such index (FTS5 is SQLite's): the reads scan, with the same answers; the functions
that keep the index do nothing there (`search_index` says so to the reads).

The index is `_sc_search.<table>.`: `.` never occurs in a table's name, so the `_data`, `_idx`... tables FTS5 adds
to that name can never be another table's index.
"""

from collections.abc import Sequence

from .connection import Connection, transaction
from .connection import quote_identifier as q
from .metadata import Field, Table, load_table, table_names

MIN_TERM_LENGTH = 3  # the trigram tokenizer finds nothing shorter
TRIGGERS = ("insert", "update", "delete")


def search_table_name(table_name: str) -> str:
    return f"_sc_search.{table_name}."


def search_column(field_name: str) -> str:
    """FTS5 reserves some column names (`rank`, `rowid`); the prefix keeps every field's clear of them."""
    return f"f_{field_name}"


def trigger_name(table_name: str, event: str) -> str:
    return f"_sc_search.{table_name}.{event}"


def text_fields(fields: Sequence[Field]) -> list[str]:
    return [field.name for field in fields if field.type == "String"]


def search_index(db: Connection, table: Table) -> str | None:
    """The table's search index: every user table with String fields has one on SQLite (the users view has none,
    and PostgreSQL none)."""
    if db.engine != "sqlite" or table.read_only or not text_fields(table.fields):
        return None
    return search_table_name(table.name)


def phrase(term: str) -> str:
    """An FTS5 query for the literal text `term` (trigram: any row holding it as a substring)."""
    return '"' + term.replace('"', '""') + '"'


def drop_triggers(db: Connection, table_name: str) -> None:
    for event in TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {q(trigger_name(table_name, event))}")


def drop_search_index(db: Connection, table_name: str) -> None:
    if db.engine != "sqlite":
        return
    drop_triggers(db, table_name)
    db.execute(f"DROP TABLE IF EXISTS {q(search_table_name(table_name))}")


def create_search_index(db: Connection, table_name: str, fields: Sequence[Field]) -> None:
    """Create and fill the table's search index and its triggers, inside the caller's transaction."""
    if db.engine != "sqlite":
        return
    names = text_fields(fields)
    if not names:
        return
    index = q(search_table_name(table_name))
    columns = ", ".join(q(search_column(name)) for name in names)
    db.execute(f"CREATE VIRTUAL TABLE {index} USING fts5({columns}, tokenize = 'trigram case_sensitive 1')")
    db.execute(f"INSERT INTO {index} (rowid, {columns}) SELECT {q('id')}, {folded(names, '')} FROM {q(table_name)}")
    create_triggers(db, table_name, names)


def folded(names: Sequence[str], prefix: str) -> str:
    """The casefolded values of the text columns, as the index holds them (`new.`/`old.` in a trigger)."""
    return ", ".join(f"saltapi_casefold({prefix}{q(name)})" for name in names)


def create_triggers(db: Connection, table_name: str, names: Sequence[str]) -> None:
    index, table = q(search_table_name(table_name)), q(table_name)
    columns = ", ".join(q(search_column(name)) for name in names)
    insert = f"INSERT INTO {index} (rowid, {columns}) VALUES (new.{q('id')}, {folded(names, 'new.')});"
    delete = f"DELETE FROM {index} WHERE rowid = old.{q('id')};"
    db.execute(f"CREATE TRIGGER {q(trigger_name(table_name, 'insert'))} AFTER INSERT ON {table} BEGIN {insert} END")
    db.execute(f"CREATE TRIGGER {q(trigger_name(table_name, 'delete'))} AFTER DELETE ON {table} BEGIN {delete} END")
    watched = ", ".join(q(name) for name in ["id", *names])
    db.execute(
        f"CREATE TRIGGER {q(trigger_name(table_name, 'update'))} AFTER UPDATE OF {watched} ON {table}"
        f" BEGIN {delete} {insert} END"
    )


def reindex(db: Connection, table_name: str, fields: Sequence[Field]) -> None:
    """Make the table's search index again for `fields`, after its text fields or the table itself changed.

    When the index holds exactly these text fields already (a rebuild keeps every row, id and value), only its
    triggers are made again: refilling it would cost a minute at 1M rows for nothing.
    """
    names = text_fields(fields)
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({q(search_table_name(table_name))})")]
    if names and columns == [search_column(name) for name in names]:
        drop_triggers(db, table_name)
        create_triggers(db, table_name, names)
    else:
        drop_search_index(db, table_name)
        create_search_index(db, table_name, fields)


def indexed_columns(db: Connection, table_name: str) -> list[str] | None:
    """The columns of the table's search index as it is, None when it has none (or lacks a trigger)."""
    index = search_table_name(table_name)
    triggers = {trigger_name(table_name, event) for event in TRIGGERS}
    found = {
        row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table_name,))
    }
    if not triggers <= found:
        return None
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({q(index)})")]
    return columns or None


def stale_tables(db: Connection) -> list[Table]:
    """The tables whose search index is missing or not for their text fields as they are."""
    stale = []
    for name in table_names(db):
        table = load_table(db, name)
        if table is None:  # dropped since table_names() listed it
            continue
        wanted = [search_column(field) for field in text_fields(table.fields)] or None
        if indexed_columns(db, name) != wanted:
            stale.append(table)
    return stale


def ensure_search_indexes(db: Connection) -> None:
    """Give every table the search index its text fields call for (a database made before there were any, or
    changed by an older saltapi); idempotent, and cheap when all is in place."""
    if db.engine != "sqlite":
        return
    if not stale_tables(db):
        return
    with transaction(db):  # looked at again under the write lock: another process may have done it meanwhile
        for table in stale_tables(db):
            reindex(db, table.name, table.fields)
