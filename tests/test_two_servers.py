"""Two separate `python app.py` servers on one PostgreSQL database: whatever one changes, the other serves on its
very next request (no process keeps state that another needs)."""

import re

import pytest
import requests

from conftest import PASSWORDS, TABLE_IDS, TOKENS, bearer, csrf_from, running_server

pytestmark = pytest.mark.postgres_only  # one SQLite file serves one machine; this is about a shared server

TIMEOUT = 10
STAFF_ID = 2
PUBLISHER = TABLE_IDS["publisher"]
NEW_TOKEN = re.compile(r'id="new-api-token"[^>]*value="([^"]+)"')


@pytest.fixture
def servers(db_path, tmp_path):
    with running_server(db_path, tmp_path / "a.log", ("--no-demo",)) as one:
        with running_server(db_path, tmp_path / "b.log", ("--no-demo",)) as other:
            yield one, other


class Admin:
    """The web UI of one server, signed in as the admin of tests/data.json."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        email, password = PASSWORDS["admin"]
        signed_in = self.post("/auth/login", {"email": email, "password": password}, page="/auth/login")
        assert (signed_in.status_code, signed_in.headers["Location"]) == (302, "/")

    def post(self, path: str, form: dict, page: str = "/") -> requests.Response:
        csrf = csrf_from(self.session.get(self.url + page, timeout=TIMEOUT).text)
        return self.session.post(self.url + path, data={**form, "_csrf": csrf}, allow_redirects=False, timeout=TIMEOUT)


def get(server, path: str, token: str | None = None) -> requests.Response:
    return requests.get(server.url + path, headers=bearer(token) if token else {}, timeout=TIMEOUT)


def test_a_row_written_through_one_is_read_through_the_other_at_once(servers):
    one, other = servers
    for n in range(20):
        created = requests.post(
            f"{one.url}/api/publisher", json={"name": f"Verso {n}"}, headers=bearer(TOKENS["admin"]), timeout=TIMEOUT
        )
        row_id = created.json()["success"]
        read = get(other, f"/api/publisher?id={row_id}", TOKENS["admin"])
        assert read.json() == {"success": [{"id": row_id, "name": f"Verso {n}"}]}
        one, other = other, one  # and the other way round


def test_a_token_reset_on_one_is_seen_by_the_other_on_its_next_request(servers):
    one, other = servers
    assert get(other, "/api/patients", TOKENS["staff"]).status_code == 200
    admin = Admin(one.url)
    assert admin.post(f"/useradmin/gen-api-token/{STAFF_ID}", {}).status_code == 302
    token = NEW_TOKEN.search(admin.session.get(f"{one.url}/useradmin/{STAFF_ID}", timeout=TIMEOUT).text).group(1)
    assert get(other, "/api/patients", TOKENS["staff"]).status_code == 401
    assert get(other, "/api/patients", token).status_code == 200


def test_a_role_change_on_one_is_seen_by_the_other_on_its_next_request(servers):
    one, other = servers
    assert get(other, "/api/patients", TOKENS["staff"]).status_code == 200  # patients: staff and above read
    admin = Admin(one.url)
    assert admin.post(f"/useradmin/set-role/{STAFF_ID}", {"role_id": "80"}).status_code == 302
    assert get(other, "/api/patients", TOKENS["staff"]).status_code == 401
    assert admin.post(f"/useradmin/set-role/{STAFF_ID}", {"role_id": "40"}).status_code == 302
    assert get(other, "/api/patients", TOKENS["staff"]).status_code == 200


def test_a_tables_min_role_change_on_one_is_seen_by_the_other_on_its_next_request(servers):
    one, other = servers
    assert get(other, "/api/publisher").status_code == 401  # publisher: admins only
    admin = Admin(one.url)
    saved = admin.post(f"/table/{PUBLISHER}/settings", {"min_role_read": "100", "min_role_write": "1"})
    assert saved.headers["Location"] == f"/table/{PUBLISHER}"
    assert get(other, "/api/publisher").status_code == 200
    assert get(one, "/api/publisher").json() == get(other, "/api/publisher").json()


def test_a_field_added_on_one_is_written_and_read_through_the_other(servers):
    one, other = servers
    admin = Admin(one.url)
    added = admin.post(f"/table/{PUBLISHER}/field/new", {"type": "String", "name": "city", "label": "City"})
    assert added.headers["Location"] == f"/table/{PUBLISHER}"
    created = requests.post(
        f"{other.url}/api/publisher", json={"name": "Verso", "city": "London"}, headers=bearer(TOKENS["admin"]),
        timeout=TIMEOUT,
    )  # fmt: skip
    row_id = created.json()["success"]
    assert get(one, f"/api/publisher?id={row_id}", TOKENS["admin"]).json() == {
        "success": [{"id": row_id, "name": "Verso", "city": "London"}]
    }
