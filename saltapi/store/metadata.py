"""What the metadata tables say: roles, tables and their fields, settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import Connection, Row

ADMIN_ROLE_ID = 1
STAFF_ROLE_ID = 40
USER_ROLE_ID = 80
PUBLIC_ROLE_ID = 100
BUILT_IN_ROLES = frozenset({ADMIN_ROLE_ID, STAFF_ROLE_ID, USER_ROLE_ID, PUBLIC_ROLE_ID})

USERS_TABLE_NAME = "users"
USERS_SQL_NAME = "_sc_users"
DEFAULT_SETTINGS = {"users_min_role_read": ADMIN_ROLE_ID, "min_role_apikeygen": USER_ROLE_ID}


def sql_table_name(table_name: str) -> str:
    """The SQLite table behind a table name (the users table keeps its secrets beside its columns)."""
    return USERS_SQL_NAME if table_name == USERS_TABLE_NAME else table_name


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    required: bool = False
    is_unique: bool = False
    reftable_name: str | None = None
    attributes: Mapping = dataclass_field(default_factory=dict)

    @property
    def referenced_table(self) -> str:
        """The table a Key refers to. :raises ValueError: for a field that is not a Key."""
        if self.reftable_name is None:
            raise ValueError(f"{self.name} is not a Key")
        return self.reftable_name


ID_FIELD = Field(name="id", label="ID", type="Integer", is_unique=True)


class DefinitionError(ValueError):
    """A table, field or constraint definition that cannot be made, with a message fit for a person."""


@dataclass(frozen=True)
class Constraint:
    """A table constraint as Saltcorn has it: an `Index` on one field, or `Unique` over fields taken together."""

    id: int
    type: str  # "Index" | "Unique"
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    id: int
    name: str
    min_role_read: int
    min_role_write: int
    fields: tuple[Field, ...]
    read_only: bool = False
    owner_field: str | None = None  # a Key to users naming each row's owner (docs/api.md §7a)
    constraints: tuple[Constraint, ...] = ()

    @property
    def sql_name(self) -> str:
        return sql_table_name(self.name)

    @property
    def columns(self) -> tuple[Field, ...]:
        """`id` and then every field, in field order: the keys of a row."""
        return (ID_FIELD, *self.fields)

    def column(self, name: str) -> Field | None:
        """The column called exactly `name` (names are case-sensitive on the wire), `id` included."""
        return next((column for column in self.columns if column.name == name), None)

    def min_role(self, kind: str) -> int:
        return self.min_role_read if kind == "read" else self.min_role_write


def field_from_row(row: Row) -> Field:
    return Field(
        name=row["name"],
        label=row["label"],
        type=row["type"],
        required=bool(row["required"]),
        is_unique=bool(row["is_unique"]),
        reftable_name=row["reftable_name"],
        attributes=json.loads(row["attributes"]),
    )


def users_table(db: Connection) -> Table:
    """The built-in, read-only view of the users: only `id`, `email` and `role_id`."""
    return Table(
        id=0,
        name=USERS_TABLE_NAME,
        min_role_read=int(get_setting(db, "users_min_role_read")),
        min_role_write=ADMIN_ROLE_ID,
        fields=(
            Field(name="email", label="Email", type="String", required=True, is_unique=True),
            Field(name="role_id", label="Role", type="Integer", required=True),
        ),
        read_only=True,
    )


def load_table(db: Connection, name: str) -> Table | None:
    """The table called exactly `name`, or None (from the connection's metadata cache when it has one)."""
    cache = getattr(db, "metadata_cache", None)
    if cache is None:
        return read_table(db, name)
    return cache.get(db, ("name", name), lambda: read_table(db, name))


def load_table_by_id(db: Connection, table_id: int) -> Table | None:
    cache = getattr(db, "metadata_cache", None)
    if cache is None:
        return read_table_by_id(db, table_id)
    return cache.get(db, ("id", table_id), lambda: read_table_by_id(db, table_id))


def read_table(db: Connection, name: str) -> Table | None:
    if name == USERS_TABLE_NAME:
        return users_table(db)
    row = db.execute(
        "SELECT id, name, min_role_read, min_role_write FROM _sc_tables WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None or row["name"] != name else table_from_row(db, row)


def read_table_by_id(db: Connection, table_id: int) -> Table | None:
    row = db.execute(
        "SELECT id, name, min_role_read, min_role_write FROM _sc_tables WHERE id = ?", (table_id,)
    ).fetchone()
    return None if row is None else table_from_row(db, row)


def table_from_row(db: Connection, row: Row) -> Table:
    fields = db.execute(
        "SELECT f.*, o.table_id IS NOT NULL AS is_owner FROM _sc_fields f"
        " LEFT JOIN _sc_table_owners o ON o.field_id = f.id WHERE f.table_id = ? ORDER BY f.position, f.id",
        (row["id"],),
    ).fetchall()
    return Table(
        id=row["id"],
        name=row["name"],
        min_role_read=row["min_role_read"],
        min_role_write=row["min_role_write"],
        fields=tuple(field_from_row(f) for f in fields),
        owner_field=next((f["name"] for f in fields if f["is_owner"]), None),
        constraints=tuple(
            Constraint(id=c["id"], type=c["type"], fields=tuple(json.loads(c["fields"])))
            for c in db.execute(
                "SELECT id, type, fields FROM _sc_table_constraints WHERE table_id = ? ORDER BY id", (row["id"],)
            )
        ),
    )


def table_names(db: Connection) -> list[str]:
    """Every user table's name, in creation order."""
    return [row["name"] for row in db.execute("SELECT name FROM _sc_tables ORDER BY id")]


def referencing_fields(db: Connection, table_name: str) -> list[tuple[str, str]]:
    """(table, field) for every Key field that refers to `table_name`."""
    rows = db.execute(
        "SELECT t.name AS table_name, f.name AS field_name FROM _sc_fields f"
        " JOIN _sc_tables t ON t.id = f.table_id"
        " WHERE f.type = 'Key' AND f.reftable_name = ? ORDER BY t.id, f.position",
        (table_name,),
    )
    return [(row["table_name"], row["field_name"]) for row in rows]


def roles(db: Connection) -> dict[int, str]:
    """Role id -> role name, most powerful first."""
    return {row["id"]: row["role"] for row in db.execute("SELECT id, role FROM _sc_roles ORDER BY id")}


def resolve_role(db: Connection, role: str | int) -> int | None:
    """A role's id from its name or its id (as int or digits), or None when there is no such role."""
    for role_id, role_name in roles(db).items():
        if str(role).strip().lower() in (str(role_id), role_name.lower()):
            return role_id
    return None


def get_setting(db: Connection, key: str):
    row = db.execute("SELECT value FROM _sc_config WHERE key = ?", (key,)).fetchone()
    return DEFAULT_SETTINGS[key] if row is None else json.loads(row["value"])
