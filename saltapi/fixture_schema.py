"""The fixture format's keys, read from its published JSON Schema (docs/fixture.schema.json), so that a
misspelled key is refused with its place and the closest known key instead of silently doing nothing."""

import difflib
import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources

IGNORED_REF = "#/$defs/ignored"


@cache
def fixture_schema() -> dict:
    """The JSON Schema of fixture files, shipped inside the package (a link to docs/fixture.schema.json)."""
    return json.loads(resources.files(__package__).joinpath("fixture.schema.json").read_text(encoding="utf-8"))


def properties_of(kind: str) -> dict[str, dict]:
    """The keys an object of one kind may have (`fixture` for the whole file, else a name under `$defs`)."""
    schema = fixture_schema()
    return (schema if kind == "fixture" else schema["$defs"][kind])["properties"]


def used_keys(kind: str) -> list[str]:
    """The keys saltapi reads, in the schema's order."""
    return [key for key, value in properties_of(kind).items() if value.get("$ref") != IGNORED_REF]


def ignored_keys(kind: str) -> list[str]:
    """The keys of Saltcorn packs that saltapi accepts and knowingly ignores."""
    return [key for key, value in properties_of(kind).items() if value.get("$ref") == IGNORED_REF]


def suggestion(key: str, used: list[str], ignored: list[str], what: str = "keys") -> str:
    """`did you mean ...?` with the closest key saltapi uses (else the closest ignored one), or the keys it uses."""
    close = difflib.get_close_matches(key, used, n=1) or difflib.get_close_matches(key, ignored, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known {what}: {', '.join(used)}"


def role_hint(value, role_ids: Mapping[str, int]) -> str:
    """What to write instead of a user's `role`: Saltcorn's own files give a user's role as `role_id`, a number."""
    role_id = role_ids.get(value.strip().lower()) if isinstance(value, str) else None
    if role_id is None:
        known = ", ".join(f"{number} {name}" for name, number in sorted(role_ids.items(), key=lambda item: item[1]))
        return f"a user's role is role_id, a role's number, as in Saltcorn's own files ({known})"
    return f'a user\'s role is role_id, a role\'s number, as in Saltcorn\'s own files: "role_id": {role_id}'


def unknown_keys(data, role_ids: Mapping[str, int]) -> Iterator[str]:
    """One message per key the fixture format does not have, naming its place (`tables[0].fields[2]`).

    Objects of the wrong kind are passed over: the loader refuses those with its own message. Rows are left
    to `unknown_row_keys`. `role_ids` maps role names (lower case) to ids, for the hint on a user's `role`.
    """
    if not isinstance(data, Mapping):
        return
    yield from keys_outside(data, "fixture", "top level")
    for index, role in items(data, "roles"):
        yield from keys_outside(role, "role", f"roles[{index}]")
    fixture_roles = {
        role["role"].lower(): role["id"] for _, role in items(data, "roles")
        if isinstance(role.get("role"), str) and isinstance(role.get("id"), int)
    }
    for index, user in items(data, "users"):
        place = f"users[{index}]" + (f" ({user['email']})" if isinstance(user.get("email"), str) else "")
        hints = {"role": role_hint(user["role"], {**role_ids, **fixture_roles})} if "role" in user else None
        yield from keys_outside(user, "user", place, hints)
    if isinstance(data.get("settings"), Mapping):
        yield from keys_outside(data["settings"], "settings", "settings")
    for index, table in items(data, "tables"):
        name = table.get("name")
        place = f"tables[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        yield from keys_outside(table, "table", place)
        for field_index, field in items(table, "fields"):
            field_name = field.get("name")
            label = f" ({name}.{field_name})" if isinstance(name, str) and isinstance(field_name, str) else ""
            yield from keys_outside(field, "field", f"tables[{index}].fields[{field_index}]{label}")
        for constraint_index, constraint in items(table, "constraints"):
            constraint_place = f"tables[{index}].constraints[{constraint_index}]"
            yield from keys_outside(constraint, "constraint", constraint_place)
            if isinstance(constraint.get("configuration"), Mapping):
                yield from keys_outside(constraint["configuration"], "constraint_configuration", f"{constraint_place}.configuration")


def unknown_row_keys(table: Mapping, index: int) -> Iterator[str]:
    """One message per key of a row of `tables[index]` that names none of the fields it lists, nor `id`.

    Calculated fields of Saltcorn packs count as listed: their values are in the rows, and are ignored.
    Called once the table's definition has been accepted, so its fields are objects with valid names.
    """
    field_names = ["id"] + [field["name"] for _, field in items(table, "fields") if field.get("name") != "id"]
    known = set(field_names)
    for row_index, row in items(table, "rows"):
        for key in row:
            if key not in known:
                row_id = f", id {row['id']}" if "id" in row else ""
                place = f"tables[{index}].rows[{row_index}] ({table.get('name')}{row_id})"
                yield f"{place}: unknown field {key!r}; {suggestion(str(key), field_names, [], 'fields')}"


def items(parent: Mapping, key: str) -> Iterator[tuple[int, Mapping]]:
    """The objects of a list under `key`, with their indexes (anything else is left to the loader)."""
    values = parent.get(key)
    if isinstance(values, list):
        yield from ((index, value) for index, value in enumerate(values) if isinstance(value, Mapping))


def keys_outside(obj: Mapping, kind: str, place: str, hints: Mapping[str, str] | None = None) -> Iterator[str]:
    """A message per key of `obj` that objects of this kind do not have; `hints` replace the suggestion."""
    known = properties_of(kind)
    for key in obj:
        if key not in known:
            advice = (hints or {}).get(key) or suggestion(str(key), used_keys(kind), ignored_keys(kind))
            yield f"{place}: unknown key {key!r}; {advice}"
