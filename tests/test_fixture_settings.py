"""Fixtures beyond the three keys of docs/fixtures.md: `settings` round-trip, and `replace` leaves nothing of the old instance.

A dump then a load must give back the same instance, and an instance is also its settings (who may read the
users table, who may make API tokens) and its roles.
"""

import copy
import json

import pytest

from conftest import TOKENS, bearer
from saltapi.fixtures import FixtureError, dump_fixture, load_fixture
from saltapi.store.metadata import get_setting


def state(db) -> dict:
    return {
        "data": dump_fixture(db, with_secrets=True),
        "config": [tuple(row) for row in db.execute("SELECT key, value FROM _sc_config ORDER BY key")],
    }


def test_settings_load_and_take_effect(loaded_db, client):
    assert client.get("/api/users", headers=bearer(TOKENS["staff"])).status_code == 401
    load_fixture(loaded_db, {"settings": {"users_min_role_read": 40, "min_role_apikeygen": 1}})
    assert get_setting(loaded_db, "min_role_apikeygen") == 1
    assert client.get("/api/users", headers=bearer(TOKENS["staff"])).status_code == 200


def test_a_dump_holds_only_settings_someone_changed(loaded_db):
    assert "settings" not in dump_fixture(loaded_db)
    load_fixture(loaded_db, {"settings": {"min_role_apikeygen": 40}})
    assert dump_fixture(loaded_db)["settings"] == {"min_role_apikeygen": 40}


def test_settings_and_roles_round_trip(loaded_db, fresh_db):
    load_fixture(loaded_db, {"roles": [{"id": 90, "role": "guest"}], "settings": {"users_min_role_read": 90}})
    first = dump_fixture(loaded_db, with_secrets=True)
    load_fixture(fresh_db, json.loads(json.dumps(first)))
    assert dump_fixture(fresh_db, with_secrets=True) == first


def test_replace_leaves_nothing_of_the_old_instance(loaded_db, fresh_db):
    """The test data has role 60 (editor); replaced by a fresh instance's dump, neither it nor a setting is left."""
    load_fixture(loaded_db, {"settings": {"min_role_apikeygen": 60}})
    empty = dump_fixture(fresh_db, with_secrets=True)
    load_fixture(loaded_db, empty, replace=True)
    assert state(loaded_db) == state(fresh_db)


def test_replace_with_the_instances_own_dump_changes_nothing(loaded_db):
    load_fixture(loaded_db, {"settings": {"min_role_apikeygen": 60}})
    before = state(loaded_db)
    load_fixture(loaded_db, copy.deepcopy(before["data"]), replace=True)
    assert state(loaded_db) == before


SETTINGS_ERRORS = {
    "not an object": ({"settings": [1]}, "settings must be an object"),
    "unknown setting": ({"settings": {"theme": 1}},
                        "settings: unknown key 'theme'; known keys: users_min_role_read, min_role_apikeygen"),
    "misspelled setting": ({"settings": {"min_role_apikeygne": 1}},
                           "settings: unknown key 'min_role_apikeygne'; did you mean 'min_role_apikeygen'?"),
    "no such role": ({"settings": {"min_role_apikeygen": 7}}, "Setting min_role_apikeygen: there is no role 7"),
    "role as text": ({"settings": {"users_min_role_read": "1"}}, "Setting users_min_role_read: there is no role '1'"),
    "role as bool": ({"settings": {"users_min_role_read": True}}, "Setting users_min_role_read: there is no role True"),
    "after good data": ({"tables": [{"name": "t", "rows": [{}]}], "settings": {"min_role_apikeygen": 1, "x": 1}},
                        "settings: unknown key 'x'"),
}  # fmt: skip


@pytest.mark.parametrize("fixture, message", SETTINGS_ERRORS.values(), ids=SETTINGS_ERRORS.keys())
@pytest.mark.parametrize("replace", [False, True], ids=["load", "replace"])
def test_bad_settings_change_nothing(loaded_db, fixture, message, replace):
    before = state(loaded_db)
    with pytest.raises(FixtureError) as error:
        load_fixture(loaded_db, fixture, replace=replace)
    assert message in str(error.value)
    assert state(loaded_db) == before


def test_a_role_the_fixture_adds_can_be_a_setting(fresh_db):
    load_fixture(fresh_db, {"roles": [{"id": 30, "role": "manager"}], "settings": {"min_role_apikeygen": 30}})
    assert get_setting(fresh_db, "min_role_apikeygen") == 30
