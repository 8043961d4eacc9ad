"""The pytest plugin as another project uses it: generated test projects run by pytester, and its reset up close.

The projects run in their own pytest process (`runpytest_subprocess`), which finds the plugin through the
`pytest11` entry point of the installed package, as a user's suite would.
"""

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import threading

import pytest
import requests

from conftest import ROOT
from saltapi.pytest_plugin import SaltapiInstance
from saltapi.store.connection import connect

# The pytest plugin serves fixtures from SQLite files of its own.
pytestmark = pytest.mark.sqlite_only

pytest_plugins = ["pytester"]

RUN_SECONDS = 90
TIMEOUT = 10
ADMIN_TOKEN = "project-admin-token"
PROJECT_FIXTURE = {
    "users": [
        {"email": "admin@project.example", "role_id": 1, "api_token": ADMIN_TOKEN},
        {"email": "staff@project.example", "role_id": 40},  # no token: the plugin makes one
        {"email": "hashed@project.example", "role_id": 40, "api_token_hash": "ab" * 32},  # plain token unknowable
    ],
    "tables": [
        {"name": "book", "min_role_read": 40, "fields": [
            {"name": "title", "type": "String", "required": True},
            {"name": "pages", "type": "Integer", "attributes": {"min": 0}},
        ], "rows": [{"id": 1, "title": "Emma", "pages": 474}, {"id": 2, "title": "Dracula", "pages": 418}]},
    ],
}  # fmt: skip
ROWS = [{"id": 1, "title": "Emma", "pages": 474}, {"id": 2, "title": "Dracula", "pages": 418}]
HELPERS = f"""
import contextlib, re, sqlite3
import pytest, requests

ADMIN = {{"Authorization": "Bearer {ADMIN_TOKEN}"}}
ROWS = {ROWS!r}
UUID4 = re.compile(r"[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}")
"""


def make_project(pytester, fixture=PROJECT_FIXTURE, ini: str = "saltapi_fixture_file = fixture.json") -> None:
    """A project whose pytest.ini turns warnings into errors and names the fixture file."""
    pytester.makefile(".json", fixture=json.dumps(fixture))
    pytester.makeini(f"[pytest]\nfilterwarnings = error\n{ini}\n")


def run(pytester, *args: str):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=RUN_SECONDS)


def test_the_plugin_is_registered_by_the_installed_package():
    entry_points = importlib.metadata.entry_points(group="pytest11")
    assert [entry.value for entry in entry_points if entry.name == "saltapi"] == ["pytest_saltapi"]


def test_a_run_that_does_not_ask_for_saltcorn_imports_nothing_of_saltapi(pytester):
    """The plugin is loaded in every run of a project that installed saltapi; until a test asks for `saltcorn`,
    it must cost nothing: neither saltapi nor Flask is imported."""
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
import sys

def test_unrelated(request):
    assert request.config.pluginmanager.has_plugin("saltapi")
    assert sorted(name for name in sys.modules if name == "saltapi" or name.startswith("saltapi.")) == []
"""
    )
    run(pytester).assert_outcomes(passed=1)
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, pytest; before = set(sys.modules); import pytest_saltapi;"
         " print(sorted(set(sys.modules) - before))"],
        capture_output=True, text=True, timeout=TIMEOUT, check=True,
    )  # fmt: skip
    assert imported.stdout == "['pytest_saltapi']\n"


# --- a generated project ----------------------------------------------------------------------------------


def test_each_test_sees_the_loaded_state_whatever_the_last_one_wrote(pytester):
    make_project(pytester)
    pytester.makepyfile(
        HELPERS
        + """
URLS = []

def test_write_over_http(saltcorn):
    answer = requests.post(f"{saltcorn.url}/api/book", json={"title": "Ulysses", "pages": 730}, headers=ADMIN,
                           timeout=10)
    assert answer.json() == {"success": 3}
    assert requests.get(f"{saltcorn.url}/api/book/count", headers=ADMIN, timeout=10).json() == {"success": 3}
    URLS.append(saltcorn.url)

def test_clean_after_an_http_write(saltcorn):
    assert requests.get(f"{saltcorn.url}/api/book", headers=ADMIN, timeout=10).json() == {"success": ROWS}
    URLS.append(saltcorn.url)

def test_write_with_the_test_client(saltcorn):
    assert saltcorn.client.delete("/api/book/2", headers=ADMIN).json == {"success": True}
    assert saltcorn.client.post("/api/book/1", json={"pages": 1}, headers=ADMIN).json == {"success": True}

def test_clean_after_a_test_client_write(saltcorn):
    assert saltcorn.client.get("/api/book", headers=ADMIN).json == {"success": ROWS}

def test_write_into_the_file(saltcorn):
    with contextlib.closing(sqlite3.connect(saltcorn.db_path)) as db:
        db.execute("DELETE FROM book")
        db.commit()
    assert saltcorn.client.get("/api/book/count", headers=ADMIN).json == {"success": 0}

def test_clean_after_a_file_write(saltcorn):
    assert saltcorn.client.get("/api/book", headers=ADMIN).json == {"success": ROWS}
    URLS.append(saltcorn.url)
    assert len(set(URLS)) == 1  # one server for the whole session
    assert re.fullmatch(r"http://127\\.0\\.0\\.1:\\d+", URLS[0])
"""
    )
    result = run(pytester)
    result.assert_outcomes(passed=6)


def test_writes_are_undone_in_any_order_of_tests(pytester):
    """The same writes, the other way round: the first test checks, the later ones write and check."""
    make_project(pytester)
    pytester.makepyfile(
        HELPERS
        + """
@pytest.mark.parametrize("round", range(4))
def test_write_then_check(saltcorn, round):
    assert saltcorn.client.get("/api/book", headers=ADMIN).json == {"success": ROWS}
    answer = requests.post(f"{saltcorn.url}/api/book", json={"title": f"round {round}"}, headers=ADMIN, timeout=10)
    assert answer.json() == {"success": 3}  # the new row gets the same id each time: sequences are reset too
"""
    )
    run(pytester).assert_outcomes(passed=4)


def test_tokens(pytester):
    make_project(pytester)
    pytester.makepyfile(
        HELPERS
        + """
SEEN = []

def test_a_token_from_the_fixture_and_one_made_for_a_user_without(saltcorn):
    assert saltcorn.token("admin@project.example") == "project-admin-token"
    staff = saltcorn.token("Staff@Project.example")  # emails are case-insensitive, as in the database
    assert UUID4.fullmatch(staff)
    assert saltcorn.client.get("/api/book", headers={"Authorization": f"Bearer {staff}"}).json == {"success": ROWS}
    assert saltcorn.client.get("/api/book").status_code == 401
    SEEN.append(staff)

def test_the_made_token_lasts_the_session(saltcorn):
    staff = saltcorn.token("staff@project.example")
    assert staff == SEEN[0]
    assert requests.get(f"{saltcorn.url}/api/book?access_token={staff}", timeout=10).json() == {"success": ROWS}

def test_users_without_a_known_token(saltcorn):
    with pytest.raises(KeyError, match="has no user nobody@project.example with a known API token"):
        saltcorn.token("nobody@project.example")
    with pytest.raises(KeyError, match="hashed@project.example"):
        saltcorn.token("hashed@project.example")
"""
    )
    run(pytester).assert_outcomes(passed=3)


def test_choosing_the_fixture(pytester):
    """The marker (dict or path), an overriding `saltcorn_fixture`, the ini option: each its own instance."""
    make_project(pytester)
    pytester.makefile(".json", other=json.dumps({"tables": [{"name": "other", "min_role_read": 100, "rows": [{}]}]}))
    pytester.makepyfile(
        HELPERS
        + """
THING = {"tables": [{"name": "thing", "min_role_read": 100, "fields": [{"name": "n", "type": "Integer"}],
                     "rows": [{"n": 7}]}]}

@pytest.mark.saltapi_fixture(THING)
def test_a_dict_in_the_marker(saltcorn):
    assert requests.get(f"{saltcorn.url}/api/thing", timeout=10).json() == {"success": [{"id": 1, "n": 7}]}
    assert saltcorn.client.post("/api/thing", json={"n": 8}).status_code == 401  # admins write; and it would go
    assert saltcorn.client.get("/api/book").status_code == 404

@pytest.mark.saltapi_fixture("other.json")
def test_a_file_in_the_marker(saltcorn):
    assert saltcorn.client.get("/api/other").json == {"success": [{"id": 1}]}

def test_the_ini_option(saltcorn):
    assert saltcorn.client.get("/api/book", headers=ADMIN).json == {"success": ROWS}
    assert saltcorn.client.get("/api/thing").status_code == 404

@pytest.mark.saltapi_fixture("other.json")
class TestAClassMarker:
    def test_it(self, saltcorn):
        assert saltcorn.client.get("/api/other/count").json == {"success": 1}
"""
    )
    pytester.mkpydir("sub")
    pytester.path.joinpath("sub", "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def saltcorn_fixture():\n"
        "    return {'tables': [{'name': 'sub_only', 'min_role_read': 100, 'rows': [{'id': 5}]}]}\n"
    )
    pytester.path.joinpath("sub", "test_sub.py").write_text(
        "import pytest\n\n"
        "def test_an_overriding_fixture(saltcorn):\n"
        "    assert saltcorn.client.get('/api/sub_only').json == {'success': [{'id': 5}]}\n\n"
        "@pytest.mark.saltapi_fixture({'tables': []})\n"
        "def test_the_marker_wins_over_the_fixture(saltcorn):\n"
        "    assert saltcorn.client.get('/api/sub_only').status_code == 404\n"
    )
    run(pytester).assert_outcomes(passed=6)


def test_without_configuration_the_demo_is_loaded(pytester):
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
def test_demo(saltcorn):
    admin = {"Authorization": f"Bearer {saltcorn.token('admin@example.com')}"}
    assert saltcorn.client.get("/api/patients/count", headers=admin).json == {"success": 2}
    assert saltcorn.token("staff@example.com") == "demo-staff-token"
"""
    )
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    "write_fixture, message",
    [
        (lambda path: path.write_text(json.dumps({"tables": [{**PROJECT_FIXTURE["tables"][0], "rows": [
            {"id": 1, "title": "Emma"}, {"id": 2, "title": "Dracula", "pages": "many"}]}]})),
         "fixture.json: Table book, row 2 (id 2): pages: Must be an integer"),
        (lambda path: path.write_text('{"tables": ['), "fixture.json is not valid JSON: Expecting value"),
        (lambda path: None, "Cannot read fixture file"),
    ],
    ids=["bad row", "bad JSON", "missing file"],
)  # fmt: skip
def test_a_fixture_that_cannot_load_fails_each_test_clearly(pytester, write_fixture, message):
    pytester.makeini("[pytest]\nfilterwarnings = error\nsaltapi_fixture_file = fixture.json\n")
    write_fixture(pytester.path / "fixture.json")
    pytester.makepyfile("def test_one(saltcorn):\n    pass\n\ndef test_two(saltcorn):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=2)
    reports = [line for line in result.outlines if line.startswith("saltapi could not load the fixture: ")]
    assert len(reports) == 2 and all(message in line for line in reports), result.outlines


def test_a_fixture_that_is_neither_a_path_nor_a_dict_is_refused(pytester):
    make_project(pytester)
    pytester.makeconftest("import pytest\n\n@pytest.fixture\ndef saltcorn_fixture():\n    return 5\n")
    pytester.makepyfile("def test_it(saltcorn):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*saltapi could not load the fixture: A fixture is a file's path or a dict, not 5*"])


def test_a_marker_with_two_arguments_is_refused(pytester):
    make_project(pytester)
    pytester.makepyfile(
        "import pytest\n\n@pytest.mark.saltapi_fixture('a.json', 'b.json')\ndef test_it(saltcorn):\n    pass\n"
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.saltapi_fixture takes one argument: a fixture file or dict*"])


def test_the_server_stops_with_the_session(pytester):
    """In this process, so the threads can be seen: none is left, and nothing answers on the port any more."""
    make_project(pytester)
    pytester.makepyfile(
        "import pathlib\n\n"
        "def test_it(saltcorn):\n"
        "    pathlib.Path('url.txt').write_text(saltcorn.url)\n"
        "    assert saltcorn.client.get('/api/book').status_code == 401\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    url = (pytester.path / "url.txt").read_text()
    assert not [thread for thread in threading.enumerate() if thread.name == "saltapi server"]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/book", timeout=TIMEOUT)


def test_the_readme_example_runs_as_written(pytester):
    """The README's example test file, unchanged, in a project that only turns pysaltcorn's import warning off."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using saltapi in your tests", 1)[1].split("\n## ", 1)[0]
    [example] = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def test_" in block]
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n    error\n    ignore:'cgi' is deprecated:DeprecationWarning\n"
    )
    pytester.makepyfile(test_example=example)
    result = run(pytester)
    assert result.ret == 0, result.stdout.str()
    assert result.parseoutcomes()["passed"] == example.count("\ndef test_")


# --- the reset, up close ------------------------------------------------------------------------------------


@pytest.fixture
def instance(tmp_path):
    instance = SaltapiInstance(tmp_path, PROJECT_FIXTURE, "the test fixture")
    yield instance
    instance.close()


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_reset_only_when_something_was_committed(instance):
    client = instance.app.test_client()
    assert instance.reset() is False
    assert client.get("/api/book", headers=ADMIN).status_code == 200
    assert instance.reset() is False  # reads change nothing
    assert client.post("/api/book", json={"title": "x"}, headers=ADMIN).status_code == 200
    assert instance.reset() is True
    assert instance.reset() is False
    assert client.get("/api/book", headers=ADMIN).json == {"success": ROWS}


def test_a_reader_inside_a_transaction_keeps_its_view_until_it_ends(instance):
    assert instance.app.test_client().post("/api/book", json={"title": "x"}, headers=ADMIN).status_code == 200
    reader = connect(instance.db_path)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM book").fetchone()[0] == 3
        assert instance.reset() is True
        assert reader.execute("SELECT count(*) FROM book").fetchone()[0] == 3
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM book").fetchone()[0] == 2
    finally:
        reader.close()


def test_resets_while_the_live_server_answers_requests(instance):
    """Readers in the server's threads see the old rows or the new ones, never an error or a mix."""
    url, answers, stop = instance.url, [], threading.Event()

    def read() -> None:
        with requests.Session() as session:
            for _ in range(300):
                if stop.is_set():
                    break
                try:
                    response = session.get(f"{url}/api/book", headers=ADMIN, timeout=TIMEOUT)
                    answers.append((response.status_code, len(response.json()["success"])))
                except Exception as error:  # noqa: BLE001 - recorded, so the assertion below shows it
                    answers.append(("failed", repr(error)))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        for number in range(20):
            response = requests.post(f"{url}/api/book", json={"title": f"t{number}"}, headers=ADMIN, timeout=TIMEOUT)
            assert response.json() == {"success": 3}  # the previous reset took the last one away
            assert instance.reset() is True
    finally:
        stop.set()
        for thread in readers:
            thread.join(TIMEOUT * 2)
    assert answers and set(answers) <= {(200, 2), (200, 3)}
    assert requests.get(f"{url}/api/book", headers=ADMIN, timeout=TIMEOUT).json() == {"success": ROWS}


def test_a_reset_never_brings_back_a_metadata_version_a_cache_has_seen(instance):
    """The cache keeps parsed tables per metadata version: after a reset, a later change must not reuse a number.

    Change A is cached under version v+1; the reset puts back v; change B would be v+1 again, and the cache
    would serve A's table definition for B's.
    """
    client = instance.app.test_client()
    staff = {"Authorization": f"Bearer {instance.token('staff@project.example')}"}

    def set_min_role_read(role: int) -> None:
        db = connect(instance.db_path)
        try:
            db.execute("UPDATE _sc_tables SET min_role_read = ? WHERE name = 'book'", (role,))
        finally:
            db.close()

    set_min_role_read(1)  # A: admins only
    assert client.get("/api/book", headers=staff).status_code == 401
    instance.reset()
    set_min_role_read(80)  # B: users too
    assert client.get("/api/book", headers=staff).status_code == 200


# --- packaging ----------------------------------------------------------------------------------------------


def test_a_build_holds_the_real_schema_and_the_data_files(tmp_path):
    """saltapi/schema.sql is a symlink to ../schema.sql: what a wheel is made of must hold the file itself.

    setuptools' build_py gathers a wheel's contents (modules and package data) from pyproject.toml; running
    it on a copy of the project needs neither the network nor the `wheel` package.
    """
    source, built = tmp_path / "source", tmp_path / "built"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "venv", "instance", "build", "*.egg-info", "__pycache__", ".pytest_cache"
    )
    shutil.copytree(ROOT, source, symlinks=True, ignore=ignore)
    assert (source / "saltapi" / "schema.sql").is_symlink()
    command = [sys.executable, "-c", "import setuptools; setuptools.setup()", "build_py", "--build-lib", str(built)]
    result = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    schema = built / "saltapi" / "schema.sql"
    assert not schema.is_symlink()
    assert schema.read_bytes() == (ROOT / "schema.sql").read_bytes()
    assert (built / "saltapi" / "demo.json").read_bytes() == (ROOT / "saltapi" / "demo.json").read_bytes()
    assert (built / "saltapi" / "pytest_plugin.py").is_file()
    assert (built / "pytest_saltapi.py").is_file()
    for folder in ("templates", "static"):
        for path in (ROOT / "saltapi" / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert (built / path.relative_to(ROOT)).is_file(), path
