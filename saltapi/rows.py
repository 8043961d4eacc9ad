"""Generic row SQL: pure builders that return (sql, params), and the few functions that run them.

Every name reaching these builders was resolved against the metadata first; they still quote every
identifier, and every value is a bound parameter.
"""

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from .db import placeholders, quote_identifier as q
from .metadata import Table
from .types import to_json

Sql = tuple[str, list]


@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # a key of COMPARISONS
    value: object = None


COMPARISONS = {
    "=": "{column} = ?",
    "is null": "{column} IS NULL",
}


@dataclass(frozen=True)
class Query:
    """What a read asks for. `filters` is an AND of groups, each group an OR of conditions."""

    filters: tuple[tuple[Condition, ...], ...] = ()
    order_by: str = "id"
    descending: bool = False
    limit: int | None = None
    offset: int | None = None


def build_where(filters: tuple[tuple[Condition, ...], ...]) -> Sql:
    clauses, params = [], []
    for group in filters:
        alternatives = []
        for condition in group:
            alternatives.append(COMPARISONS[condition.op].format(column=q(condition.column)))
            if condition.op != "is null":
                params.append(condition.value)
        clauses.append("(" + " OR ".join(alternatives) + ")")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def select_list(table: Table) -> str:
    return ", ".join(q(column.name) for column in table.columns)


def build_select(table: Table, query: Query) -> Sql:
    where, params = build_where(query.filters)
    direction = "DESC" if query.descending else "ASC"
    order = f"{q(query.order_by)} {direction}"
    if query.order_by != "id":  # ties keep a stable order, so paging never repeats or skips a row
        order += f", {q('id')} {direction}"
    sql = f"SELECT {select_list(table)} FROM {q(table.sql_name)}{where} ORDER BY {order}"
    if query.limit is not None or query.offset is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [-1 if query.limit is None else query.limit, query.offset or 0]
    return sql, params


def build_count(table: Table, query: Query) -> Sql:
    where, params = build_where(query.filters)
    return f"SELECT count(*) FROM {q(table.sql_name)}{where}", params


def build_get(table: Table, row_id: int) -> Sql:
    return f"SELECT {select_list(table)} FROM {q(table.sql_name)} WHERE {q('id')} = ?", [row_id]


def build_insert(table: Table, values: Mapping[str, object]) -> Sql:
    if not values:
        return f"INSERT INTO {q(table.sql_name)} DEFAULT VALUES", []
    columns = ", ".join(q(name) for name in values)
    return f"INSERT INTO {q(table.sql_name)} ({columns}) VALUES ({placeholders(len(values))})", list(values.values())


def build_update(table: Table, row_id: int, values: Mapping[str, object]) -> Sql:
    assignments = ", ".join(f"{q(name)} = ?" for name in values)
    return f"UPDATE {q(table.sql_name)} SET {assignments} WHERE {q('id')} = ?", [*values.values(), row_id]


def build_delete(table: Table, row_id: int) -> Sql:
    return f"DELETE FROM {q(table.sql_name)} WHERE {q('id')} = ?", [row_id]


def build_exists(sql_table: str, column: str, value, exclude_id: int | None = None) -> Sql:
    """Is there a row of `sql_table` whose `column` is `value` (other than row `exclude_id`)?"""
    sql, params = f"SELECT 1 FROM {q(sql_table)} WHERE {q(column)} = ?", [value]
    if exclude_id is not None:
        sql += f" AND {q('id')} != ?"
        params.append(exclude_id)
    return sql + " LIMIT 1", params


def row_to_json(table: Table, row: sqlite3.Row) -> dict:
    return {column.name: to_json(column, value) for column, value in zip(table.columns, row)}


def select_rows(db: sqlite3.Connection, table: Table, query: Query) -> list[dict]:
    return [row_to_json(table, row) for row in db.execute(*build_select(table, query))]


def count_rows(db: sqlite3.Connection, table: Table, query: Query) -> int:
    return db.execute(*build_count(table, query)).fetchone()[0]


def get_row(db: sqlite3.Connection, table: Table, row_id: int) -> dict | None:
    row = db.execute(*build_get(table, row_id)).fetchone()
    return None if row is None else row_to_json(table, row)


def exists(db: sqlite3.Connection, sql_table: str, column: str, value, exclude_id: int | None = None) -> bool:
    return db.execute(*build_exists(sql_table, column, value, exclude_id)).fetchone() is not None
