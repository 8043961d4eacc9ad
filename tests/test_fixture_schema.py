"""The fixture format's JSON Schema (docs/fixture.schema.json) against the loader: every valid fixture the tests and
docs use validates, every document the schema rejects is refused by the loader, and a misspelled key is refused
with its place and the closest known key (issue: `min_role_reed`, `requird`, `pasword` loaded silently)."""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import load_data
from saltapi.fixture_schema import fixture_schema, ignored_keys, properties_of
from saltapi.fixtures import FixtureError, dump_fixture, load_fixture
from saltapi.store.connection import connect, init_db
from saltapi.store.metadata import DEFAULT_SETTINGS
from test_fixtures import hostile_fixture, saltcorn_pack, state, valid_fixture

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "fixtures.md"
VALIDATOR = jsonschema.Draft202012Validator(fixture_schema())


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(fixture_schema())


def test_the_package_reads_the_published_schema():
    """saltapi/fixture.schema.json links to docs/, so the loader and the document are one file."""
    assert fixture_schema() == json.loads((ROOT / "docs" / "fixture.schema.json").read_text(encoding="utf-8"))


def test_the_settings_in_the_schema_are_the_settings_saltapi_has():
    assert list(properties_of("settings")) == list(DEFAULT_SETTINGS)


def docs_examples() -> list[dict]:
    """The JSON examples of docs/fixtures.md that are whole fixtures (their first key is a fixture key)."""
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    return [json.loads(block) for block in blocks]


EXAMPLES = {
    "valid_fixture": valid_fixture,
    "saltcorn_pack": saltcorn_pack,
    "hostile_fixture": hostile_fixture,
    "tests/data.json": load_data,
    "saltapi/demo.json": lambda: json.loads((ROOT / "saltapi" / "demo.json").read_text(encoding="utf-8")),
    **{f"docs/fixtures.md example {n}": (lambda example=example: example) for n, example in enumerate(docs_examples())},
}


@pytest.mark.parametrize("build", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_valid_examples_validate_and_load(build, fresh_db):
    fixture = build()
    VALIDATOR.validate(fixture)
    for user in fixture.get("users", []):
        user.pop("password", None)  # hashing is slow on purpose; passwords have their own tests
    load_fixture(fresh_db, fixture)


def test_docs_have_examples():
    assert len(docs_examples()) >= 2


@pytest.mark.parametrize("with_secrets", [False, True])
def test_dumps_validate(loaded_db, with_secrets):
    owned = {"name": "owned", "ownership_field_name": "owner", "fields": [{"name": "owner", "type": "Key to users"}]}
    load_fixture(loaded_db, {"settings": {"min_role_apikeygen": 40}, "tables": [owned]})
    dumped = json.loads(json.dumps(dump_fixture(loaded_db, with_secrets=with_secrets)))
    assert dumped["tables"][-1]["ownership_field_name"] == "owner"
    VALIDATOR.validate(dumped)


# --- misspelled and unknown keys: refused with the key, its place and the closest known key ----------------------


def changed(change):
    fixture = valid_fixture()
    change(fixture)
    return fixture


def box(fixture):
    return fixture["tables"][0]


UNKNOWN_KEYS = {
    "min_role_reed": (lambda f: box(f).update(min_role_reed=100),
                      "tables[0] (box): unknown key 'min_role_reed'; did you mean 'min_role_read'?"),
    "requird": (lambda f: box(f)["fields"][2].update(requird=True),
                "tables[0].fields[2] (box.owner): unknown key 'requird'; did you mean 'required'?"),
    "pasword": (lambda f: f["users"][0].update(pasword="secret"),
                "users[0] (new@foo.com): unknown key 'pasword'; did you mean 'password'?"),
    "top level": (lambda f: f.update(tabels=[]), "top level: unknown key 'tabels'; did you mean 'tables'?"),
    "role key": (lambda f: f["roles"][0].update(nme="x"), "roles[0]: unknown key 'nme'; known keys: id, role"),
    "field without close match": (
        lambda f: box(f)["fields"][0].update(colour="red"),
        "tables[0].fields[0] (box.label): unknown key 'colour'; known keys: name, label, type, required, is_unique,"
        " reftable_name, attributes, primary_key, calculated",
    ),
    "close to an ignored key": (lambda f: box(f).update(descripton=""),
                                "tables[0] (box): unknown key 'descripton'; did you mean 'description'?"),
    "setting": (lambda f: f.update(settings={"users_min_role_reed": 1}),
                "settings: unknown key 'users_min_role_reed'; did you mean 'users_min_role_read'?"),
    "case matters": (lambda f: box(f).update(Name="x"), "tables[0] (box): unknown key 'Name'; did you mean 'name'?"),
    "row field": (lambda f: box(f)["rows"][0].update(lable="B9"),
                  "tables[0].rows[0] (box, id 1): unknown field 'lable'; did you mean 'label'?"),
    "row field without close match": (
        lambda f: f["tables"][1]["rows"][1].update(colour="red"),
        "tables[1].rows[1] (shelf, id 2): unknown field 'colour'; known fields: id, name, size",
    ),
    "role name on a user": (lambda f: f["users"][0].update(role="admin"),
                            "users[0] (new@foo.com): unknown key 'role'; a user's role is role_id, a role's number,"
                            ' as in Saltcorn\'s own files: "role_id": 1'),
    "role name of the fixture": (lambda f: f["users"][0].update(role="Reviewer"),
                                 "users[0] (new@foo.com): unknown key 'role'; a user's role is role_id, a role's"
                                 ' number, as in Saltcorn\'s own files: "role_id": 70'),
    "role name that does not exist": (
        lambda f: f["users"][0].update(role="boss"),
        "users[0] (new@foo.com): unknown key 'role'; a user's role is role_id, a role's number, as in Saltcorn's own"
        " files (1 admin, 40 staff, 60 editor, 70 reviewer, 80 user, 100 public)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("change, message", UNKNOWN_KEYS.values(), ids=UNKNOWN_KEYS.keys())
def test_unknown_keys_are_refused_with_place_and_suggestion(loaded_db, change, message):
    fixture = changed(change)
    assert VALIDATOR.is_valid(fixture) == ("rows[" in message)  # a schema cannot know a table's fields from its list
    before = state(loaded_db)
    with pytest.raises(FixtureError) as error:
        load_fixture(loaded_db, fixture)
    assert str(error.value) == message
    assert state(loaded_db) == before


def test_the_first_unknown_key_is_reported_before_any_other_mistake(fresh_db):
    """Parsing comes first: the misspelled key, not what its absence would cause (here a missing required value)."""
    fixture = {"tables": [{"name": "t", "fields": [{"name": "a", "type": "Nope", "requird": True}], "rows": [{}]}]}
    with pytest.raises(FixtureError, match=r"^tables\[0\]\.fields\[0\] \(t\.a\): unknown key 'requird'"):
        load_fixture(fresh_db, fixture)


# --- the keys of Saltcorn packs that saltapi ignores are allowed, and listed in docs/fixtures.md -------------------


@pytest.mark.parametrize("kind", ["fixture", "table", "field"])
def test_ignored_keys_are_allowed_whatever_their_value(fresh_db, kind):
    fixture = {"tables": [{"name": "t", "fields": [{"name": "a", "type": "String"}], "rows": [{"a": "x"}]}]}
    target = {"fixture": fixture, "table": fixture["tables"][0], "field": fixture["tables"][0]["fields"][0]}[kind]
    target.update({key: {"anything": [1, None]} for key in ignored_keys(kind)})
    VALIDATOR.validate(fixture)
    load_fixture(fresh_db, fixture)
    [table] = dump_fixture(fresh_db)["tables"]
    assert table["rows"] == [{"id": 1, "a": "x"}]
    assert set(table) == {"name", "min_role_read", "min_role_write", "fields", "rows"}


def docs_ignored_keys(heading: str) -> set[str]:
    """The keys in the first column of the table under `### <heading>` in docs/fixtures.md's ignored-keys section."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Keys saltapi ignores", 1)[1].split("\n## ", 1)[0]
    part = section.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]
    first_cells = [line.split("|")[1] for line in part.splitlines() if line.startswith("| `")]
    return {key for cell in first_cells for key in re.findall(r"`([a-z_]+)`", cell)}


@pytest.mark.parametrize("kind, heading", [("fixture", "Top level"), ("table", "Tables"), ("field", "Fields")])
def test_docs_list_exactly_the_ignored_keys(kind, heading):
    assert docs_ignored_keys(heading) == set(ignored_keys(kind))


# --- whatever the schema rejects, the loader refuses -----------------------------------------------------------


def with_settings() -> dict:
    fixture = valid_fixture()
    fixture["settings"] = {"users_min_role_read": 1, "min_role_apikeygen": 80}
    fixture["tables"][1]["fields"][0]["attributes"] = {"max_length": 20}
    return fixture


PLACES = {  # a path to an object in with_settings(), and the schema's kind of that object
    "top level": ((), "fixture"),
    "roles[0]": (("roles", 0), "role"),
    "users[0]": (("users", 0), "user"),
    "settings": (("settings",), "settings"),
    "tables[0]": (("tables", 0), "table"),
    "tables[1]": (("tables", 1), "table"),
    **{f"tables[0].fields[{n}]": (("tables", 0, "fields", n), "field") for n in range(3)},
    **{f"tables[1].fields[{n}]": (("tables", 1, "fields", n), "field") for n in range(2)},
    "tables[0].fields[1].attributes": (("tables", 0, "fields", 1, "attributes"), "attributes"),
    "tables[1].fields[0].attributes": (("tables", 1, "fields", 0, "attributes"), "attributes"),
    "tables[1].fields[1].attributes": (("tables", 1, "fields", 1, "attributes"), "attributes"),
}
VALUES = ["x", "", "Key to", 5, 0, -1, 101, 1.5, True, False, None, [], ["x"], [1], {}, {"a": 1}]


def wrong_values() -> dict[str, tuple]:
    """Each known key of each object set to each value of VALUES (or removed) wherever the schema says no."""
    cases = {}
    for place, (path, kind) in PLACES.items():
        for key in properties_of(kind):
            if properties_of(kind)[key].get("$ref") == "#/$defs/ignored" or key == "$schema":
                continue
            for value in [*VALUES, "remove"]:
                fixture = copy.deepcopy(with_settings())
                target = fixture
                for step in path:
                    target = target[step]
                if value == "remove":
                    target.pop(key, None)
                else:
                    target[key] = value
                if not VALIDATOR.is_valid(fixture):
                    cases[f"{place}.{key}={json.dumps(value)}"] = (fixture,)
    return cases


WRONG_VALUES = wrong_values()


@pytest.fixture(scope="module")
def module_db(tmp_path_factory):
    """One empty database for every refused load below: a refused load changes nothing (each test checks)."""
    db = connect(tmp_path_factory.mktemp("schema") / "refusals.sqlite")
    init_db(db)
    yield db
    db.close()


def test_there_are_many_wrong_values():
    assert len(WRONG_VALUES) > 300


@pytest.mark.parametrize("fixture", [case[0] for case in WRONG_VALUES.values()], ids=WRONG_VALUES.keys())
def test_what_the_schema_rejects_the_loader_refuses(module_db, fixture):
    before = state(module_db)
    try:
        load_fixture(module_db, fixture)
    except FixtureError as error:
        assert "\n" not in str(error)
        assert state(module_db) == before
    else:
        load_fixture(module_db, {}, replace=True)  # empty again, so the cases after this one still test something
        pytest.fail("the loader accepted what the schema rejects")


# --- the command line: one clear line -----------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [UNKNOWN_KEYS[case] for case in ("requird", "role name on a user")],
                         ids=["requird", "role"])  # fmt: skip
def test_load_fixture_command_prints_one_clear_line(tmp_path, change, message):
    """A real `python -m saltapi load-fixture`: stderr says which database, then the error in one line."""
    path = tmp_path / "app.json"
    path.write_text(json.dumps(changed(change)), encoding="utf-8")
    database = tmp_path / "saltapi.sqlite"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "SALTAPI_"))}
    result = subprocess.run(
        [sys.executable, "-m", "saltapi", "load-fixture", "--db", str(database), str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [f"Database: {database}", f"Error: {path}: {message}"]
