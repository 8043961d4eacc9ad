"""What the store raises when the database says no, the same for every engine, so no layer above imports a driver."""

from dataclasses import dataclass


@dataclass
class ConstraintViolation(Exception):
    """A row broke a constraint of its table that no pre-check caught (another program wrote in between, say).

    `kind` is "unique", "foreign_key", "not_null" or "check"; `table` and `column` name the SQL table and column
    when the engine says which (PostgreSQL does; SQLite's own IntegrityError stays as it is on its hot path).
    """

    kind: str
    table: str | None = None
    column: str | None = None
    referenced_table: str | None = None  # of a foreign key: the table referred to, or the one still referring
    value: str | None = None  # of a foreign key: the missing id, as text

    def __str__(self) -> str:
        return f"{self.kind} constraint of {self.table}.{self.column} violated"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used right now (server down, pool exhausted): a 503 the client may retry."""
