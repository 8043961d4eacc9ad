"""Generic row SQL: pure builders that return (sql, params), and the few functions that run them.

Every name reaching these builders was resolved against the metadata first; they still quote every
identifier, and every value is a bound parameter.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from .connection import Connection, placeholders
from .connection import quote_identifier as q
from .metadata import Field, Table
from .search import MIN_TERM_LENGTH, phrase, search_column
from .types import bool_to_json, to_json

Sql = tuple[str, list]


ROW_ALIAS = "_sc_row"  # the table being read; `_sc_` names can never be a user's table
REF_ALIAS = "_sc_ref"  # a referenced table inside a subquery


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # a key of COMPARISONS
    value: object = None
    search: str | None = None  # "contains": the table's search index (store/search.py), when it has one


COMPARISONS = {
    "=": "{column} = ?",
    "!=": "{column} != ?",
    "<": "{column} < ?",
    "<=": "{column} <= ?",
    ">": "{column} > ?",
    ">=": "{column} >= ?",
    "is null": "{column} IS NULL",
    "is not null": "{column} IS NOT NULL",
    "contains": "instr(saltapi_casefold({column}), ?) > 0",  # the value comes casefolded
    "in": "{column} IN ({placeholders})",  # the value is a tuple
}
VALUELESS = frozenset({"is null", "is not null"})
MANY_MATCHES = 5000  # from here on, a sorted page reads the sort column's index (matches_many)
NULLS = {"ASC": "NULLS FIRST", "DESC": "NULLS LAST"}
NO_LIMIT = 2**63 - 1  # LIMIT without a limit, for an OFFSET alone: what both engines take (SQLite's -1 is not)


@dataclass(frozen=True)
class Summary:
    """The summary value of the row a Key column refers to."""

    key: str
    ref_sql_table: str
    summary_column: str


@dataclass(frozen=True)
class FullText:
    """A case-insensitive substring of the row's text columns and key summaries, joined by spaces."""

    term: str  # casefolded
    columns: tuple[str, ...]
    summaries: tuple[Summary, ...] = ()
    search: str | None = None  # the table's search index (store/search.py), when it has one


@dataclass(frozen=True)
class Dereference:
    """`dereference=key`: each row gains `<key>_<summary field>` from the referenced row."""

    summary: Summary
    summary_field: Field

    @property
    def name(self) -> str:
        return f"{self.summary.key}_{self.summary_field.name}"


Filters = tuple[tuple[Condition | FullText, ...], ...]  # an AND of groups, each group an OR of conditions


@dataclass(frozen=True)
class Query:
    """What a read asks for."""

    filters: Filters = ()
    order_by: str = "id"
    descending: bool = False
    limit: int | None = None
    offset: int | None = None
    dereferences: tuple[Dereference, ...] = ()
    fields: tuple[str, ...] | None = None  # the keys each row keeps, in this order; None keeps all


def summary_sql(summary: Summary) -> str:
    """A subquery for the summary value of the referenced row (NULL when the key is NULL)."""
    return (
        f"(SELECT {q(REF_ALIAS)}.{q(summary.summary_column)} FROM {q(summary.ref_sql_table)} AS {q(REF_ALIAS)}"
        f" WHERE {q(REF_ALIAS)}.{q('id')} = {q(ROW_ALIAS)}.{q(summary.key)})"
    )


def full_text_sql(condition: FullText) -> str:
    # A summary may be a number: as text, the way SQLite's || would turn it (PostgreSQL's || wants text).
    summaries = [f"CAST({summary_sql(summary)} AS TEXT)" for summary in condition.summaries]
    parts = [f"{q(ROW_ALIAS)}.{q(column)}" for column in condition.columns] + summaries
    text = " || ' ' || ".join(f"coalesce({part}, '')" for part in parts) or "''"
    return f"instr(saltapi_casefold({text}), ?) > 0"


def search_candidates(condition: Condition | FullText) -> Sql | None:
    """The rows the search index says may match a substring condition, or None where it cannot serve the term.

    A term of `_fts` may span two text fields across the space joining them, so each space-free piece of it (of
    3 characters or more) must be in some field; the exact test after it decides.
    """
    term = condition.term if isinstance(condition, FullText) else condition.value  # `contains` holds a str
    if condition.search is None or not isinstance(term, str) or "\x00" in term:
        return None  # FTS5 reads its query as a C string: a NUL would end it
    if isinstance(condition, FullText):
        pieces = [piece for piece in condition.term.split(" ") if len(piece) >= MIN_TERM_LENGTH]
        if condition.summaries or not pieces:
            return None
        index, query = q(condition.search), " AND ".join(map(phrase, pieces))
    elif len(term) >= MIN_TERM_LENGTH:
        index, query = q(search_column(condition.column)), phrase(term)
    else:
        return None
    return f"{q('id')} IN (SELECT rowid FROM {q(condition.search)} WHERE {index} MATCH ?)", [query]


def condition_sql(condition: Condition | FullText) -> Sql:
    candidates = search_candidates(condition) if isinstance(condition, FullText) or condition.op == "contains" else None
    sql, params = exact_condition_sql(condition)
    if candidates is None:
        return sql, params
    return f"{candidates[0]} AND {sql}", [*candidates[1], *params]


def exact_condition_sql(condition: Condition | FullText) -> Sql:
    if isinstance(condition, FullText):
        return full_text_sql(condition), [condition.term]
    template = COMPARISONS[condition.op]
    if condition.op in VALUELESS:
        return template.format(column=q(condition.column)), []
    if condition.op == "in":
        values = list(cast(Iterable, condition.value))  # `in` carries the tuple of its values
        return template.format(column=q(condition.column), placeholders=placeholders(len(values))), values
    return template.format(column=q(condition.column)), [condition.value]


def owned_by(table: Table, user_id: int | None) -> Filters:
    """Only `user_id`'s rows of an owned table (docs/api.md §7a); no filter for None, which means every row.

    Every statement of an owner-only caller carries it in its own WHERE, so no check can go stale before it runs.
    """
    if user_id is None:
        return ()
    if table.owner_field is None:  # never widen an owner-only caller's reach to the whole table
        raise ValueError(f"{table.name} has no ownership field")
    return ((Condition(table.owner_field, "=", user_id),),)


def build_where(filters: Filters, row_id: int | None = None, likely: bool = False) -> Sql:
    """The WHERE clause of `filters`, and of `id = row_id` first when given ("" when there is no condition).

    With `likely`, each group tells SQLite's planner that most rows pass it (`likely()` changes no result).
    """
    clauses, params = ([f"{q('id')} = ?"], [row_id]) if row_id is not None else ([], [])
    for group in filters:
        alternatives = []
        for condition in group:
            sql, condition_params = condition_sql(condition)
            alternatives.append(sql)
            params += condition_params
        clause = "(" + " OR ".join(alternatives) + ")"
        clauses.append(f"likely({clause})" if likely else clause)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def select_list(table: Table, dereferences: tuple[Dereference, ...] = ()) -> str:
    columns = [q(column.name) for column in table.columns]
    columns += [f"{summary_sql(dereference.summary)} AS {q(dereference.name)}" for dereference in dereferences]
    return ", ".join(columns)


def build_select(table: Table, query: Query, many_match: bool = False) -> Sql:
    """With `many_match` (the filters match many rows), SQLite reads the sort column's index in order and stops
    at the limit, instead of finding every match through a filter's index and sorting them all."""
    where, params = build_where(query.filters, likely=many_match)
    direction = "DESC" if query.descending else "ASC"
    order = f"{q(query.order_by)} {direction}"
    if query.order_by != "id":
        # NULLs first going up, as SQLite does (PostgreSQL's default is the other way round); ties keep a stable
        # order, so paging never repeats or skips a row.
        order += f" {NULLS[direction]}, {q('id')} {direction}"
    sql = (
        f"SELECT {select_list(table, query.dereferences)} FROM {q(table.sql_name)} AS {q(ROW_ALIAS)}{where}"
        f" ORDER BY {order}"
    )
    if query.limit is not None or query.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [NO_LIMIT if query.limit is None else query.limit, query.offset or 0]
    return sql, params


def sorted_by_index(table: Table, column: str) -> bool:
    """Is there an index whose first column is `column` (a Key's, a unique field's, or a constraint's)?"""
    field = table.column(column)
    indexed = field is not None and (field.type == "Key" or field.is_unique)
    return indexed or any(constraint.fields[0] == column for constraint in table.constraints)


def build_probe(table: Table, query: Query) -> Sql:
    """Count the matches of the filters, up to MANY_MATCHES (reading no more than that many index entries)."""
    where, params = build_where(query.filters)
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {q(table.sql_name)} AS {q(ROW_ALIAS)}{where} LIMIT ?) AS {q('matches')}"
    return sql, [*params, MANY_MATCHES]


def matches_many(db: Connection, table: Table, query: Query) -> bool:
    """Should a filtered page sorted by an indexed column read that index in order (see build_select)?

    SQLite's planner prefers a filter's index and a sort of every match, whatever the LIMIT: at 1M rows with 100k
    matches that is 100k rows read and sorted for 20. Reading the sort index in order and stopping at the limit
    reads about limit x rows / matches rows instead, so it wins when there are many matches; a probe of at most
    MANY_MATCHES index entries says whether there are (a few rows to sort are cheap either way).
    """
    if query.order_by == "id" or query.limit is None or not query.filters or not sorted_by_index(table, query.order_by):
        return False
    if query.limit + (query.offset or 0) > MANY_MATCHES // 10:
        return False
    return db.execute(*build_probe(table, query)).fetchone()[0] >= MANY_MATCHES


def build_count(table: Table, query: Query) -> Sql:
    where, params = build_where(query.filters)
    return f"SELECT count(*) FROM {q(table.sql_name)} AS {q(ROW_ALIAS)}{where}", params


def build_distinct(table: Table, column: str, filters: Filters = ()) -> Sql:
    where, params = build_where(((Condition(column, "is not null"),), *filters))
    return f"SELECT DISTINCT {q(column)} FROM {q(table.sql_name)}{where} ORDER BY {q(column)}", params


def build_get(table: Table, row_id: int, filters: Filters = ()) -> Sql:
    where, params = build_where(filters, row_id)
    return f"SELECT {select_list(table)} FROM {q(table.sql_name)}{where}", params


def build_insert(table: Table, values: Mapping[str, object]) -> Sql:
    if not values:
        return f"INSERT INTO {q(table.sql_name)} DEFAULT VALUES", []
    columns = ", ".join(q(name) for name in values)
    return f"INSERT INTO {q(table.sql_name)} ({columns}) VALUES ({placeholders(len(values))})", list(values.values())


def build_update(table: Table, row_id: int, values: Mapping[str, object], filters: Filters = ()) -> Sql:
    assignments = ", ".join(f"{q(name)} = ?" for name in values)
    where, params = build_where(filters, row_id)
    return f"UPDATE {q(table.sql_name)} SET {assignments}{where}", [*values.values(), *params]


def build_delete(table: Table, row_id: int, filters: Filters = ()) -> Sql:
    where, params = build_where(filters, row_id)
    return f"DELETE FROM {q(table.sql_name)}{where}", params


def build_exists(sql_table: str, column: str, value, exclude_id: int | None = None) -> Sql:
    """Is there a row of `sql_table` whose `column` is `value` (other than row `exclude_id`)?"""
    sql, params = f"SELECT 1 FROM {q(sql_table)} WHERE {q(column)} = ?", [value]
    if exclude_id is not None:
        sql += f" AND {q('id')} != ?"
        params.append(exclude_id)
    return sql + " LIMIT 1", params


def row_reader(table: Table, dereferences: tuple[Dereference, ...] = ()) -> Callable[[Sequence], dict]:
    """A function turning a row as the database gives it into a row on the wire (Bools become false/true).

    Built once per query, so the per-row work is a zip and, only for Bool columns, a conversion.
    """
    columns = (*table.columns, *(dereference.summary_field for dereference in dereferences))
    names = (*(column.name for column in table.columns), *(dereference.name for dereference in dereferences))
    bools = [name for name, column in zip(names, columns) if column.type == "Bool"]

    def read(row: Sequence) -> dict:
        values = dict(zip(names, row))
        for name in bools:
            values[name] = bool_to_json(values[name])
        return values

    return read


def iter_rows(db: Connection, table: Table, query: Query) -> Iterator[dict]:
    """The rows a query selects, one at a time as the database reads them, so memory does not grow with them
    (on SQLite; psycopg's client-side cursor holds the whole result).

    The query starts at once: a failing one raises here, not halfway through a streamed answer.
    """
    rows = map(row_reader(table, query.dereferences), db.tuples(*build_select(table, query, many_match=matches_many(db, table, query))))
    if query.fields is None:
        return rows
    return ({name: row[name] for name in query.fields if name in row} for row in rows)


def select_rows(db: Connection, table: Table, query: Query) -> list[dict]:
    return list(iter_rows(db, table, query))


def distinct_values(db: Connection, table: Table, column: Field, filters: Filters = ()) -> list:
    return [to_json(column, row[0]) for row in db.execute(*build_distinct(table, column.name, filters))]


def key_options(db: Connection, ref_table: Table, summary_field: Field) -> list[dict]:
    """Saltcorn's option list for a Key: each referenced row's summary as label and id as value, in id order."""
    sql = f"SELECT {q('id')}, {q(summary_field.name)} FROM {q(ref_table.sql_name)} ORDER BY {q('id')}"
    return [{"label": to_json(summary_field, label), "value": row_id} for row_id, label in db.execute(sql)]


def count_rows(db: Connection, table: Table, query: Query) -> int:
    return db.execute(*build_count(table, query)).fetchone()[0]


def get_row(db: Connection, table: Table, row_id: int, filters: Filters = ()) -> dict | None:
    row = db.execute(*build_get(table, row_id, filters)).fetchone()
    return None if row is None else row_reader(table)(row)


def insert(db: Connection, table: Table, values: Mapping[str, object]) -> int:
    """Insert one row and return its id."""
    return db.insert(*build_insert(table, values), table.sql_name, explicit_id=values.get("id") is not None)


def no_such_row(table_name: str, row_id) -> str:
    """What a Key value that names no row is called, wherever it is refused (API, CSV, fixtures, schema changes)."""
    return f"No {table_name} row with id {row_id}"


def exists(db: Connection, sql_table: str, column: str, value, exclude_id: int | None = None) -> bool:
    return db.execute(*build_exists(sql_table, column, value, exclude_id)).fetchone() is not None
