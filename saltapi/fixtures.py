"""Fixture files (docs/fixtures.md): a whole instance as JSON, loaded all-or-nothing and dumped back."""

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import ApiError
from .fixture_schema import unknown_keys, unknown_row_keys
from .store.connection import (
    INTEGRITY_ERRORS,
    Connection,
    dangling_key,
    defer_foreign_keys,
    placeholders,
    transaction,
)  # fmt: skip
from .store.constraints import dump_constraint
from .store.metadata import (
    ADMIN_ROLE_ID,
    BUILT_IN_ROLES,
    DEFAULT_SETTINGS,
    USER_ROLE_ID,
    USERS_SQL_NAME,
    USERS_TABLE_NAME,
    Field,
    load_table,
    roles,
    table_names,
)  # fmt: skip
from .store.rows import Query, insert, no_such_row, select_rows
from .store.tables import DefinitionError, TableDefinition, check_name, create_tables, drop_all_tables
from .store.users import UserError, insert_user, set_fixture_token, set_fixture_token_hash
from .writes import check_unique, validate_values

KEY_TO = re.compile(r"Key to (\S+)")
FIELD_KEYS = ("name", "label", "type", "required", "is_unique", "attributes")


class FixtureError(ValueError):
    """A fixture that cannot be loaded; the message names the table, row and field at fault."""


def flag(raw: Mapping, key: str, where: str) -> bool:
    """A true/false key, false when absent: `"required": "false"` must not make a field required."""
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise FixtureError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def field_from_fixture(raw: Mapping, table_name: str) -> Field:
    """A field of a fixture or of a Saltcorn table pack (whose keys saltapi does not use are ignored)."""
    try:  # now, not with the other definition checks: a Key of an earlier table may look this field up by name
        name = check_name(raw.get("name"), "field")
    except DefinitionError as error:
        raise FixtureError(str(error)) from None
    where = f"Field {table_name}.{name}"
    # As the file has them: check_definitions refuses a type or table name of the wrong kind.
    field_type: Any = raw.get("type")
    reftable_name: Any = raw.get("reftable_name")
    match = KEY_TO.fullmatch(field_type) if isinstance(field_type, str) else None
    if match:  # as in Saltcorn's Field(), the type's table wins over reftable_name
        field_type, reftable_name = "Key", match.group(1)
    if field_type != "Key" and reftable_name is not None and not isinstance(reftable_name, str):  # a Key's: later
        raise FixtureError(f"{where}: reftable_name must be a table's name, not {reftable_name!r}")
    label, attributes = raw.get("label"), raw.get("attributes")
    return Field(
        name=name,
        label=name if label in (None, "") else label,  # as Saltcorn's Field(); a label that is no string is refused
        type=field_type,
        required=flag(raw, "required", where),
        is_unique=flag(raw, "is_unique", where),
        reftable_name=reftable_name,
        attributes={} if attributes is None else attributes,
    )


def is_stored_field(raw, table_name: str) -> bool:
    """Saltcorn packs list the primary key and calculated fields too; saltapi keeps neither.

    Any other field called `id` is kept, for check_definitions to refuse.
    """
    if not isinstance(raw, Mapping):
        raise FixtureError(f"Table {table_name}: each field must be an object")
    where = f"Field {table_name}.{raw.get('name')}"
    return not (flag(raw, "primary_key", where) or flag(raw, "calculated", where))


def table_from_fixture(raw: Mapping) -> TableDefinition:
    if not isinstance(raw, Mapping):
        raise FixtureError("Each table must be an object")
    name: Any = raw.get("name")  # as the file has it: check_definitions refuses one that is no valid name
    fields = raw.get("fields", [])
    if not isinstance(fields, list):
        raise FixtureError(f"Table {name}: fields must be a list")
    if raw.get("ownership_formula") is not None:
        raise FixtureError(
            f"Table {name}: ownership_formula is not supported (saltapi does not evaluate formulas);"
            " name a Key to users in ownership_field_name instead"
        )
    skipped = {field.get("name") for field in fields if not is_stored_field(field, name)}
    constraints = [constraint_from_fixture(constraint, name) for constraint in list_of(raw, "constraints")]
    return TableDefinition(
        name=name,
        fields=tuple(field_from_fixture(field, name) for field in fields if is_stored_field(field, name)),
        min_role_read=raw.get("min_role_read", ADMIN_ROLE_ID),
        min_role_write=raw.get("min_role_write", ADMIN_ROLE_ID),
        owner_field=raw.get("ownership_field_name"),
        # A pack's constraint on a calculated field goes with the field, as saltapi keeps no such field.
        constraints=tuple(c for c in constraints if not (isinstance(c[1], list) and skipped & set(map(str, c[1])))),
    )


def constraint_from_fixture(raw, table_name) -> tuple[str, Any]:
    """(type, field names) of a constraint as Saltcorn's table packs write it: `{"type": "Index", "configuration":
    {"field": "a"}}` or `{"type": "Unique", "configuration": {"fields": ["a", "b"]}}` (checked with the table)."""
    where = f"Table {table_name}"
    if not isinstance(raw, Mapping) or not isinstance(raw.get("configuration"), Mapping):
        raise FixtureError(f"{where}: each constraint must be an object with a type and a configuration object")
    constraint_type: Any = raw.get("type")  # as the file has it: checked with the table
    configuration = raw["configuration"]
    if constraint_type == "Formula":
        raise FixtureError(
            f"{where}: Formula constraints are not supported (saltapi does not evaluate formulas)"
        )
    if constraint_type == "Index":
        return "Index", [configuration.get("field")]
    return constraint_type, configuration.get("fields")


def list_of(data: Mapping, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise FixtureError(f"{key} must be a list")
    return value


def load_roles(db: Connection, raw_roles: list) -> None:
    for raw in raw_roles:
        role_id = raw.get("id") if isinstance(raw, Mapping) else None
        if not isinstance(role_id, int) or isinstance(role_id, bool) or not isinstance(raw.get("role"), str):
            raise FixtureError(f"Each role needs an integer id and a name: {raw!r}")
        if not 1 <= raw["id"] <= 100:
            raise FixtureError(f"Role {raw['role']}: ids go from 1 to 100, not {raw['id']}")
        if raw["id"] in BUILT_IN_ROLES and roles(db)[raw["id"]] != raw["role"]:
            raise FixtureError(f"Role {raw['id']} is built in and cannot be renamed")
        try:
            db.execute(
                "INSERT INTO _sc_roles (id, role) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET role = excluded.role",
                (raw["id"], raw["role"]),
            )
        except INTEGRITY_ERRORS:
            raise FixtureError(f"Two roles cannot both be called {raw['role']}") from None


def load_settings(db: Connection, raw_settings) -> None:
    """Every setting saltapi knows is the minimum role for something, so each value must be a role id.

    load_fixture has already refused keys that are no setting (docs/fixture.schema.json lists them).
    """
    if not isinstance(raw_settings, Mapping):
        raise FixtureError("settings must be an object")
    role_ids = roles(db)
    for key, value in raw_settings.items():
        if not isinstance(value, int) or isinstance(value, bool) or value not in role_ids:
            raise FixtureError(f"Setting {key}: there is no role {value!r}")
        db.execute(
            "INSERT INTO _sc_config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )


def clear_instance(db: Connection) -> None:
    """Drop every table, user, added role and setting, inside the caller's transaction."""
    drop_all_tables(db)
    db.execute("DELETE FROM _sc_users")
    db.execute(f"DELETE FROM _sc_roles WHERE id NOT IN ({placeholders(len(BUILT_IN_ROLES))})", sorted(BUILT_IN_ROLES))
    db.execute(f"DELETE FROM _sc_config WHERE key IN ({placeholders(len(DEFAULT_SETTINGS))})", list(DEFAULT_SETTINGS))


def load_users(db: Connection, raw_users: list) -> None:
    role_ids = roles(db)
    for raw in raw_users:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("email"), str):
            raise FixtureError(f"Each user needs an email: {raw!r}")
        email, role_id, user_id = raw["email"], raw.get("role_id", USER_ROLE_ID), raw.get("id")
        if not isinstance(role_id, int) or isinstance(role_id, bool) or role_id not in role_ids:
            raise FixtureError(f"User {email}: there is no role {role_id!r}")
        if user_id is not None and (not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1):
            raise FixtureError(f"User {email}: id must be a positive integer, not {user_id!r}")
        for secret in ("password", "api_token"):
            if raw.get(secret) is not None and raw.get(f"{secret}_hash") is not None:
                raise FixtureError(f"User {email}: give {secret} or {secret}_hash, not both")
        if user_id is not None and db.execute("SELECT 1 FROM _sc_users WHERE id = ?", (user_id,)).fetchone():
            raise FixtureError(f"User {email}: another user has id {user_id}")
        try:
            user = insert_user(
                db, email, role_id, password=raw.get("password"), password_hash=raw.get("password_hash"),
                user_id=user_id,
            )  # fmt: skip
            if raw.get("api_token") is not None:
                set_fixture_token(db, user.id, raw["api_token"])
            elif raw.get("api_token_hash") is not None:
                set_fixture_token_hash(db, user.id, raw["api_token_hash"])
        except UserError as error:
            raise FixtureError(f"User {email}: {error}") from None


def load_rows(db: Connection, table_name: str, raw_rows: list, progress: Callable[[int], None]) -> None:
    table = load_table(db, table_name)
    assert table is not None  # created by the same load
    for index, raw in enumerate(raw_rows, start=1):
        where = f"Table {table_name}, row {index}"
        if isinstance(raw, Mapping) and "id" in raw:
            where += f" (id {raw['id']})"
        if not isinstance(raw, Mapping):
            raise FixtureError(f"{where}: a row must be an object")
        try:
            values = validate_values(table, raw)
            check_unique(db, table, values)
        except ApiError as error:
            raise FixtureError(f"{where}: {error.message}") from None
        insert(db, table, values)
        progress(1)


def check_foreign_keys(db: Connection) -> None:
    """With every row in, name the first Key value that points nowhere."""
    dangling = dangling_key(db)
    if dangling is not None:
        table_name, row_id, column, parent, value = dangling
        parent = USERS_TABLE_NAME if parent == USERS_SQL_NAME else parent
        raise FixtureError(f"Table {table_name}, row id {row_id}: {column}: {no_such_row(parent, value)}")


def fixture_row_count(data: Mapping) -> int:
    """How many rows a fixture holds (for a progress bar)."""
    tables = data.get("tables") if isinstance(data, Mapping) else None
    if not isinstance(tables, list):
        return 0
    return sum(len(t.get("rows") or []) for t in tables if isinstance(t, Mapping) and isinstance(t.get("rows"), list))


def check_fixture_keys(db: Connection, data) -> None:
    """Refuse a fixture that is no object, or has a key the format does not have, before anything is loaded.

    :raises FixtureError: naming the first unknown key, where it is, and the closest known key.
    """
    if not isinstance(data, Mapping):
        raise FixtureError("A fixture must be a JSON object with roles, users and tables")
    unknown = next(unknown_keys(data, {name.lower(): role_id for role_id, name in roles(db).items()}), None)
    if unknown:
        raise FixtureError(unknown)


def load_fixture(
    db: Connection, data, replace: bool = False, progress: Callable[[int], None] = lambda n: None
) -> dict[str, int]:
    """Load a fixture in one transaction and say how much it held.

    Tables may refer to each other in any order, so references are checked once all rows are in.
    With `replace`, every existing table, user, added role and setting goes first.

    :raises FixtureError: naming what is wrong; the database is then unchanged.
    """
    check_fixture_keys(db, data)
    with transaction(db):
        defer_foreign_keys(db)
        if replace:
            clear_instance(db)
        load_roles(db, list_of(data, "roles"))
        load_settings(db, data.get("settings", {}))
        load_users(db, list_of(data, "users"))
        raw_tables = list_of(data, "tables")
        definitions = [table_from_fixture(raw) for raw in raw_tables]
        try:
            create_tables(db, definitions)
        except DefinitionError as error:
            raise FixtureError(str(error)) from None
        for index, (raw, definition) in enumerate(zip(raw_tables, definitions)):
            rows = raw.get("rows", [])
            if not isinstance(rows, list):
                raise FixtureError(f"Table {definition.name}: rows must be a list")
            unknown = next(unknown_row_keys(raw, index), None)
            if unknown:
                raise FixtureError(unknown)
            load_rows(db, definition.name, rows, progress)
        check_foreign_keys(db)
    return {
        "roles": len(list_of(data, "roles")),
        "users": len(list_of(data, "users")),
        "tables": len(definitions),
        "rows": fixture_row_count(data),
    }


def dump_field(field: Field) -> dict:
    dumped = {key: getattr(field, key) for key in FIELD_KEYS}
    if field.type == "Key":
        dumped["reftable_name"] = field.reftable_name
    return dumped


def dump_fixture(
    db: Connection, with_secrets: bool = False, progress: Callable[[int], None] = lambda n: None
) -> dict:
    """The whole instance in fixture form; password and token hashes only `with_secrets`; `progress` is told
    each table's row count as it is read."""
    users = []
    for row in db.execute("SELECT * FROM _sc_users ORDER BY id"):
        user = {"id": row["id"], "email": row["email"], "role_id": row["role_id"]}
        if with_secrets:
            user.update(password_hash=row["password_hash"], api_token_hash=row["api_token_hash"])
        users.append(user)
    tables = []
    for name in table_names(db):
        table = load_table(db, name)
        if table is None:  # dropped since table_names() listed it
            continue
        rows = select_rows(db, table, Query())
        progress(len(rows))
        dumped_table = {
            "name": table.name,
            "min_role_read": table.min_role_read,
            "min_role_write": table.min_role_write,
            "fields": [dump_field(field) for field in table.fields],
            "rows": rows,
        }
        if table.owner_field is not None:  # only where set, so other tables keep the keys they had
            dumped_table["ownership_field_name"] = table.owner_field
        if table.constraints:
            dumped_table["constraints"] = [dump_constraint(constraint) for constraint in table.constraints]
        tables.append(dumped_table)
    dumped: dict[str, object] = {
        "roles": [{"id": role_id, "role": role} for role_id, role in roles(db).items()],
        "users": users,
        "tables": tables,
    }
    settings = {
        row["key"]: json.loads(row["value"])
        for row in db.execute("SELECT key, value FROM _sc_config ORDER BY key")
        if row["key"] in DEFAULT_SETTINGS
    }
    if settings:  # only settings someone changed, so a dump without any stays in the three keys of docs/fixtures.md
        dumped["settings"] = settings
    return dumped
