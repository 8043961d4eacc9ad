"""One table's rows as CSV: importing a file all-or-nothing with the API's conversions, and exporting it.

The header row names fields (and `id`). An empty cell is null: CSV cannot tell an empty string from a missing
value, so an empty String is exported as an empty cell and comes back as null.
"""

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from .errors import ApiError
from .store.connection import INTEGRITY_ERRORS, Connection, defer_foreign_keys, transaction
from .store.metadata import Table, load_table
from .store.rows import Query, exists, insert, iter_rows, no_such_row
from .writes import check_references, check_unique, validate_values


class CsvError(ValueError):
    """A CSV file that cannot be imported; the message names the line at fault."""


class CheckedOnly(Exception):
    """Raised inside an import's transaction to undo it once every row has passed (`import_csv(store=False)`)."""


@dataclass(frozen=True)
class CsvRecord:
    line: int  # where the record starts in the file, counting from 1
    cells: list[str]


@dataclass(frozen=True)
class CsvFile:
    header: CsvRecord  # the field names
    records: list[CsvRecord]


def parse_csv(text: str) -> CsvFile:
    """Split CSV text into its header and records, skipping blank lines.

    :raises CsvError: for an empty file or text the csv module cannot read.
    """
    # strict: an unclosed quote is an error, not a value that swallows the rest of the file.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records, start = [], 1
    try:
        for cells in reader:
            if cells:
                records.append(CsvRecord(start, cells))
            start = reader.line_num + 1  # a quoted value may span lines: the next record starts after this one
    except csv.Error as error:
        raise CsvError(f"line {start}: {error}") from None
    if not records:
        raise CsvError("the file is empty: its first line must name the fields")
    header, *rows = records
    return CsvFile(header=header, records=rows)


def check_import(db: Connection, table_name: str, parsed: CsvFile) -> Table:
    """The table a file goes into, once its header fits.

    :raises CsvError: when there is no such table, it cannot be written, or the header does not fit it.
    """
    table = load_table(db, table_name)
    if table is None:
        raise CsvError(f"No table named {table_name}")
    if table.read_only:
        raise CsvError(f"The {table.name} table is read-only; add users with create-user")
    check_header(table, parsed.header)
    return table


def check_header(table: Table, header: CsvRecord) -> None:
    """:raises CsvError: for a column naming no field, a field named twice, or a required field left out."""
    names = [column.name for column in table.columns]
    seen = set()
    for name in header.cells:
        if name not in names:
            raise CsvError(f"line {header.line}: {table.name} has no field {name!r}; its fields are {', '.join(names)}")
        if name in seen:
            raise CsvError(f"line {header.line}: field {name!r} is named twice")
        seen.add(name)
    for field in table.fields:
        if field.required and field.name not in seen:
            raise CsvError(f"line {header.line}: no column for the required field {field.name!r}")


def record_values(header: CsvRecord, record: CsvRecord) -> dict:
    """The record as a request body would be: field -> text, an empty cell null.

    :raises CsvError: when it has more or fewer cells than the header.
    """
    if len(record.cells) != len(header.cells):
        raise CsvError(f"line {record.line}: expected {len(header.cells)} values, found {len(record.cells)}")
    return {name: cell or None for name, cell in zip(header.cells, record.cells)}


def import_csv(
    db: Connection,
    table_name: str,
    parsed: CsvFile,
    progress: Callable[[int], None] = lambda n: None,
    store: bool = True,
) -> int:
    """Insert every record in one transaction, converted and checked as the API does; return how many.

    A Key may refer to a row of its own table further down the file, so those references are checked once
    every row is in. Without `store`, the transaction is rolled back at the end: the file is checked exactly
    as an import would check it (unique values and Keys against the table and the file's own rows), and
    nothing is kept.

    :raises CsvError: naming the first line at fault; the database is then unchanged.
    """
    table = check_import(db, table_name, parsed)
    own_keys = [field.name for field in table.fields if field.type == "Key" and field.reftable_name == table.name]
    later: list[tuple[int, str, int]] = []  # (line, field, referenced id)
    try:
        with transaction(db):
            defer_foreign_keys(db)
            for record in parsed.records:
                try:
                    values = validate_values(table, record_values(parsed.header, record))
                    check_unique(db, table, values)
                    check_references(db, table, without(values, own_keys))
                    row_id = insert(db, table, values)
                except ApiError as error:
                    raise CsvError(f"line {record.line}: {error.message}") from None
                except INTEGRITY_ERRORS:  # a constraint the checks above did not foresee; never the engine's text
                    raise CsvError(f"line {record.line}: the row breaks a constraint of the table") from None
                later += [
                    (record.line, name, values[name]) for name in own_keys if values.get(name) not in (None, row_id)
                ]
                progress(1)
            for line, name, value in later:
                if not exists(db, table.sql_name, "id", value):
                    raise CsvError(f"line {line}: {name}: {no_such_row(table.name, value)}")
            if not store:
                raise CheckedOnly()
    except CheckedOnly:
        pass
    return len(parsed.records)


def without(values: Mapping, names: list[str]) -> dict:
    return {name: value for name, value in values.items() if name not in names}


# What a spreadsheet may run as a formula at the start of a cell (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value, safe: bool = False) -> str:
    """A value as its cell; `safe` puts a quote before text a spreadsheet would take for a formula.

    Only text is touched: numbers, dates and booleans are written by saltapi itself and never start a formula.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if safe and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return str(value)


def export_csv(
    db: Connection,
    table_name: str,
    out: TextIO,
    safe: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the table as CSV (header of `id` and the field names, rows in id order); return the row count.

    By default every value is written as stored, so an export imports back unchanged; `safe` is for files that
    people open in spreadsheets (see `csv_cell`).

    :raises CsvError: when there is no such table.
    """
    table = load_table(db, table_name)
    if table is None:
        raise CsvError(f"No table named {table_name}")
    writer = csv.writer(out, lineterminator="\n")
    # The csv module quotes only the characters of its line terminator; a lone CR would then end the record.
    quoting_writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(column.name for column in table.columns)
    exported = 0
    for row in iter_rows(db, table, Query()):
        cells = [csv_cell(value, safe) for value in row.values()]
        (quoting_writer if any("\r" in cell for cell in cells) else writer).writerow(cells)
        exported += 1
        progress(1)
    return exported
