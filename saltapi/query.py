"""The query string of a read (`GET /api/<table>?...`) turned into a `rows.Query`."""

from werkzeug.datastructures import MultiDict

from .errors import BadRequest
from .metadata import Field, Table
from .rows import Condition, Query
from .types import InvalidValue, convert

RESERVED_KEYS = frozenset(
    {
        "fields", "limit", "offset", "sortBy", "sortDesc", "approximate", "dereference", "_fts",
        "access_token", "tabulator_pagination_format", "page", "size",
    }
)  # fmt: skip
NULL_WHEN_EMPTY = frozenset({"Key", "Bool", "Date"})


def equality(column: Field, text: str) -> Condition | None:
    """The condition `column = text`; None where an empty value means no filter (Integer, Float).

    :raises InvalidValue: when `text` cannot be converted to the column's type.
    """
    if text == "null" or (text == "" and column.type in NULL_WHEN_EMPTY):
        return Condition(column.name, "is null")
    if text == "" and column.type != "String":
        return None
    return Condition(column.name, "=", convert(column, text))


def filter_values(table: Table, args: MultiDict) -> list[tuple[Field, list[str]]]:
    """Each filtered column with its values; `f=1&f=2` and `f[]=1&f[]=2` both mean any of them."""
    values: dict[str, tuple[Field, list[str]]] = {}
    for key in args:
        if key in RESERVED_KEYS:
            continue
        column = table.column(key.removesuffix("[]"))
        if column is not None:
            values.setdefault(column.name, (column, []))[1].extend(args.getlist(key))
    return list(values.values())


def parse_query(table: Table, args: MultiDict) -> Query:
    """:raises BadRequest: naming every filter value that cannot be converted."""
    groups, errors = [], []
    for column, texts in filter_values(table, args):
        conditions = []
        for text in texts:
            try:
                condition = equality(column, text)
            except InvalidValue as error:
                errors.append(f"{column.name}: {error}")
                continue
            if condition is not None:
                conditions.append(condition)
        if conditions:
            groups.append(tuple(conditions))
    if errors:
        raise BadRequest(", ".join(errors))
    return Query(filters=tuple(groups))
