"""The query string of a read (`GET /api/<table>?...`, docs/api.md §5) turned into a `rows.Query`."""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from werkzeug.datastructures import MultiDict

from .errors import BadRequest
from .store.connection import Connection
from .store.metadata import Field, Table, load_table, sql_table_name
from .store.rows import Condition, Dereference, Filters, FullText, Query, Summary
from .store.search import search_index
from .store.types import InvalidValue, convert

RESERVED_KEYS = frozenset(
    {
        "fields", "limit", "offset", "sortBy", "sortDesc", "approximate", "dereference", "_fts",
        "access_token", "tabulator_pagination_format",
    }
)  # fmt: skip
TABULATOR_KEY = re.compile(r"page|size|sort\[.*")  # reserved only beside tabulator_pagination_format
OPERATOR_KEY = re.compile(r"(?P<name>.+)\[(?P<operator>[^\[\]]*)\]")
PREFIXES = {"_gte_": ">=", "_lte_": "<=", "_gt_": ">", "_lt_": "<", "_not_": "!=", "_fromdate_": ">=", "_todate_": "<="}
OPERATORS = {"gt": ">", "lt": "<", "gte": ">=", "lte": "<=", "eq": "=", "ilike": "contains", "in": "in"}
NULL_WHEN_EMPTY = frozenset({"Key", "Bool", "Date"})
MAX_SAFE_INTEGER = 2**53 - 1
DIGITS = re.compile(r"\s*\d+\s*", re.ASCII)

CanRead = Callable[[str], bool]


@dataclass(frozen=True)
class Read:
    """A parsed read: the query, and the Tabulator page size when that answer format was asked for."""

    query: Query
    page_size: int | None = None


def parse_count(args: MultiDict, key: str, minimum: int, message: str) -> int | None:
    """An integer parameter from `minimum` to 2^53-1, or None when absent.

    :raises BadRequest: with `message` for anything else.
    """
    if key not in args:
        return None
    text = args[key]
    if not DIGITS.fullmatch(text) or not minimum <= int(text) <= MAX_SAFE_INTEGER:
        raise BadRequest(message)
    return int(text)


def equality(column: Field, text: str, approximate: bool = False) -> Condition | None:
    """The condition `column = text`; None where an empty value means no filter (Integer, Float).

    :raises InvalidValue: when `text` cannot be converted to the column's type.
    """
    if text == "null" or (text == "" and column.type in NULL_WHEN_EMPTY):
        return Condition(column.name, "is null")
    if column.type == "String" and approximate:
        return Condition(column.name, "contains", text.casefold())
    if text == "" and column.type != "String":
        return None
    return Condition(column.name, "=", convert(column, text))


def inequality(column: Field, text: str) -> Condition | None:
    """`_not_f=text`: the opposite of `equality`, and like SQL it never matches a NULL."""
    condition = equality(column, text)
    if condition is None:
        return None
    if condition.op == "is null":
        return Condition(column.name, "is not null")
    return Condition(column.name, "!=", condition.value)


def comparison(column: Field, op: str, text: str, whole_day: bool = False) -> Condition | None:
    """`column <op> text` after conversion; an empty value means no filter.

    With `whole_day`, a bare date as upper bound includes the whole of that day.
    """
    if text == "":
        return None
    value = convert(column, text)
    if whole_day and column.type == "Date" and len(value) == len("YYYY-MM-DD"):
        next_day = datetime.date.fromisoformat(value) + datetime.timedelta(days=1)
        return Condition(column.name, "<", next_day.isoformat())
    return Condition(column.name, op, value)


def operator_condition(column: Field, operator: str, text: str) -> Condition | None:
    """`f[operator]=text`.

    :raises InvalidValue: for an unknown operator or a value that cannot be converted.
    """
    if operator not in OPERATORS:
        raise InvalidValue(f"Unknown operator [{operator}]; use one of {', '.join(OPERATORS)}")
    op = OPERATORS[operator]
    if op == "=":
        return equality(column, text)
    if op == "contains":
        return Condition(column.name, "contains", text.casefold())
    if op == "in":
        return Condition(column.name, "in", tuple(convert(column, item) for item in text.split(",")))
    return comparison(column, op, text)


@dataclass
class FilterParser:
    """Reads filter keys one by one, collecting conditions and every conversion error."""

    table: Table
    approximate: bool
    any_of: dict[str, list[Condition]]
    each: list[Condition]
    errors: list[str]

    def add(self, key: str, texts: list[str]) -> None:
        """Read one query key with its values; keys that name no field are ignored."""
        named = self.table.column(key)
        if named is not None:
            self.read(named, texts, lambda text: equality(named, text, self.approximate), any_of=True)
            return
        match = OPERATOR_KEY.fullmatch(key)
        operand = self.table.column(match["name"]) if match else None
        if match and operand is not None:
            operator = match["operator"]
            if operator == "":  # f[]=1&f[]=2 is the array form of f=1&f=2
                self.read(operand, texts, lambda text: equality(operand, text, self.approximate), any_of=True)
            else:
                self.read(operand, texts, lambda text: operator_condition(operand, operator, text))
            return
        for prefix, op in PREFIXES.items():
            prefixed = self.table.column(key.removeprefix(prefix)) if key.startswith(prefix) else None
            if prefixed is not None:
                self.read_prefixed(prefixed, prefix, op, texts)
                return

    def read_prefixed(self, column: Field, prefix: str, op: str, texts: list[str]) -> None:
        """`_not_field=v`, `_gte_field=v` and the like."""
        if prefix == "_not_":
            self.read(column, texts, lambda text: inequality(column, text))
        else:
            self.read(column, texts, lambda text: comparison(column, op, text, prefix == "_todate_"))

    def read(self, column: Field, texts: list[str], make: Callable, any_of: bool = False) -> None:
        for text in texts:
            try:
                condition = make(text)
            except InvalidValue as error:
                self.errors.append(f"{column.name}: {error}")
                continue
            if condition is None:
                continue
            if any_of:
                self.any_of.setdefault(column.name, []).append(condition)
            else:
                self.each.append(condition)

    def groups(self) -> tuple:
        return (*(tuple(conditions) for conditions in self.any_of.values()), *((condition,) for condition in self.each))


def column_type(table: Table, name: str) -> str | None:
    column = table.column(name)
    return None if column is None else column.type


def summary_of(db: Connection, column: Field, can_read: CanRead) -> tuple[Summary, Field] | None:
    """The summary a Key column shows, when it has one and the caller may read the referenced table."""
    summary_name = column.attributes.get("summary_field")
    if column.type != "Key" or not summary_name or not can_read(column.referenced_table):
        return None
    referenced = load_table(db, column.referenced_table)
    summary_field = None if referenced is None else referenced.column(summary_name)
    if summary_field is None:
        return None
    return Summary(column.name, sql_table_name(column.referenced_table), summary_field.name), summary_field


def full_text(db: Connection, table: Table, term: str, can_read: CanRead) -> FullText:
    """`_fts=term`: the String fields, plus the summaries of Key fields marked `include_fts`."""
    summaries = []
    for column in table.fields:
        found = summary_of(db, column, can_read) if column.attributes.get("include_fts") else None
        if found is not None:
            summaries.append(found[0])
    strings = tuple(column.name for column in table.fields if column.type == "String")
    return FullText(term.casefold(), strings, tuple(summaries), search_index(db, table))


def dereferences(db: Connection, table: Table, names: list[str], can_read: CanRead) -> tuple:
    """The summaries `dereference` asks for; one whose key a real field already has is left out (data wins)."""
    found = []
    for name in dict.fromkeys(names):
        column = table.column(name)
        summary = summary_of(db, column, can_read) if column is not None else None
        if summary is not None and table.column(Dereference(*summary).name) is None:
            found.append(Dereference(*summary))
    return tuple(found)


def parse_filters(db: Connection, table: Table, args: MultiDict, can_read: CanRead) -> tuple:
    """:raises BadRequest: naming every filter value that cannot be converted."""
    tabulator = bool(args.get("tabulator_pagination_format"))
    parser = FilterParser(table, approximate=bool(args.get("approximate")), any_of={}, each=[], errors=[])
    for key in args:
        if key not in RESERVED_KEYS and not (tabulator and TABULATOR_KEY.fullmatch(key)):
            parser.add(key, args.getlist(key))
    if parser.errors:
        raise BadRequest(", ".join(parser.errors))
    search = search_index(db, table)  # it holds the String fields; `[ilike]` on a number stays a scan
    groups = tuple(
        tuple(replace(c, search=search) if c.op == "contains" and column_type(table, c.column) == "String" else c
              for c in group)
        for group in parser.groups()
    )  # fmt: skip
    if args.get("_fts"):
        groups += ((full_text(db, table, args["_fts"], can_read),),)
    return groups


def parse_order(table: Table, args: MultiDict) -> tuple[str, bool]:
    """sortBy (unknown names ignored) and sortDesc (any value but "false"); Tabulator's sort[0] too."""
    sort_by = args.get("sortBy") or args.get("sort[0][field]")
    column = table.column(sort_by) if sort_by else None
    descending = ("sortDesc" in args and args["sortDesc"] != "false") or args.get("sort[0][dir]") == "desc"
    return (column.name if column else "id"), descending


def parse_read(db: Connection, table: Table, args: MultiDict, can_read: CanRead, scope: Filters = ()) -> Read:
    """The whole query string of `GET /api/<table>`, within the rows `scope` keeps (the caller's own, docs/api.md §7a).

    :raises BadRequest: for invalid limit, offset, page or size, and for filter values that cannot be converted.
    """
    limit = parse_count(args, "limit", 1, "Invalid limit parameter")
    offset = parse_count(args, "offset", 0, "Invalid offset parameter")
    order_by, descending = parse_order(table, args)
    fields = tuple(name.strip() for name in args.get("fields", "").split(",") if name.strip()) or None
    query = Query(
        filters=parse_filters(db, table, args, can_read) + scope,
        order_by=order_by,
        descending=descending,
        limit=limit,
        offset=offset,
        dereferences=dereferences(db, table, args.getlist("dereference"), can_read),
        fields=fields,
    )
    if not args.get("tabulator_pagination_format"):
        return Read(query)
    page = parse_count(args, "page", 1, "Invalid page parameter") or 1
    size = parse_count(args, "size", 1, "Invalid size parameter")
    if size is None:
        raise BadRequest("Invalid size parameter")
    if size * (page - 1) > MAX_SAFE_INTEGER:
        raise BadRequest("Invalid page parameter")
    return Read(replace(query, limit=size, offset=size * (page - 1)), page_size=size)
