"""Shared fixtures: an app on a fresh copy of the test data per test, its clients, and a live server process.

Every fixture that gives a database (`db_path`, `app`, `client`, `runner`, `live_server`, ...) runs each test
twice: on a SQLite file and on a PostgreSQL database of a throwaway cluster this session starts. A test module
that is about SQLite's file itself (WAL, the backup API, a kill -9 on the file, injected sqlite3 errors) says
`pytestmark = pytest.mark.sqlite_only` with a comment on why.
"""

import contextlib
import itertools
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from saltapi import create_app
from saltapi.fixtures import dump_fixture, load_fixture
from saltapi.store.connection import connect, init_db

ROOT = Path(__file__).resolve().parent.parent
DATA_FILE = Path(__file__).with_name("data.json")
TOKENS = {
    "admin": "admin-token-0001",
    "staff": "staff-token-0002",
    "user": "user-token-0003",
}
SERVER_START_SECONDS = 20
PASSWORDS = {
    "admin": ("admin@foo.com", "AhGGr6rhu45"),
    "staff": ("staff@foo.com", "ghrarhr54hg"),
    "user": ("user@foo.com", "GFeggwrwq45fjn"),
}
CSRF_INPUT = re.compile(r'name="_csrf" value="([^"]+)"')
ENGINES = ("sqlite", "postgres")
POSTGRES_BIN = Path(
    os.environ.get("SALTAPI_TEST_PG_BIN")
    or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)), Path("/usr/lib/postgresql/15/bin/initdb")).parent
)  # Debian's package; 15 on bookworm
POSTGRES_USER = "postgres"  # the system user Debian's package creates; PostgreSQL refuses to run as root


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite's file itself; it runs on SQLite only")
    config.addinivalue_line("markers", "postgres_only: the test is about PostgreSQL itself; it runs there only")


def pytest_generate_tests(metafunc):
    """Run every test that uses a database on each engine, unless it is marked as about one of them."""
    if "engine" in metafunc.fixturenames:
        engines = list(ENGINES)
        if metafunc.definition.get_closest_marker("sqlite_only"):
            engines = ["sqlite"]
        elif metafunc.definition.get_closest_marker("postgres_only"):
            engines = ["postgres"]
        metafunc.parametrize("engine", engines, scope="session")


class PostgresCluster:
    """A throwaway PostgreSQL cluster: initdb and pg_ctl in a temporary directory, on a free port of 127.0.0.1.

    As root (CI), PostgreSQL runs as the `postgres` system user, which owns the directory. Durability is off
    (fsync, full page writes) unless `durable` (bench/postgres.py): the tests' cluster dies with the session anyway.
    """

    def __init__(self, durable: bool = False):
        self.directory = Path(tempfile.mkdtemp(prefix="saltapi-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.directory, POSTGRES_USER)
        data = self.directory / "data"
        self.run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self.run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.directory / "server.log"), "-w", "start")
        self.admin = connect(self.url("postgres"))
        self.names = itertools.count(1)
        # Copies are made, and dropped, by a thread of their own while tests run: a CREATE DATABASE costs about
        # as much as a test, and the server does it while Python does the test.
        self.ready: dict[str, queue.Queue] = {}
        self.work: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self.prepare, name="database copies", daemon=True)
        self.worker.start()

    def run(self, program: str, *args: str) -> None:
        command = [str(POSTGRES_BIN / program), *args]
        if self.as_root:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.directory)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, template: str | None = None) -> str:
        """A new database (a copy of `template`, when given); returns its URL."""
        if template is None:
            return self.make(self.admin, None)
        if template not in self.ready:
            self.ready[template] = queue.Queue()
            self.work.put(("copy", template))
        url = self.ready[template].get()
        if isinstance(url, BaseException):
            raise url
        self.work.put(("copy", template))  # the next test's copy, made while this test runs
        return url

    def make(self, db, template: str | None) -> str:
        name = f"test_{next(self.names)}"
        db.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def drop(self, url: str) -> None:
        self.work.put(("drop", url))

    def prepare(self) -> None:
        db = connect(self.url("postgres"))
        try:
            while (job := self.work.get()) is not None:
                action, argument = job
                if action == "drop":
                    db.execute(f"DROP DATABASE IF EXISTS {argument.rsplit('/', 1)[1]} WITH (FORCE)")
                    continue
                try:
                    self.ready[argument].put(self.make(db, argument))
                except Exception as error:  # noqa: BLE001 - handed to the test waiting for the copy
                    self.ready[argument].put(error)
        finally:
            db.close()

    def stop(self) -> None:
        self.work.put(None)
        self.worker.join(60)
        self.admin.close()
        self.run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


CLUSTER: PostgresCluster | None = None  # the session's, once a test has asked for PostgreSQL


def copy_database(source, target: Path):
    """A copy of a database for a test: of a SQLite file (to `target`), or of a PostgreSQL database (a new
    database from it as template; `source` is its URL or name). Returns the copy's path or URL."""
    if isinstance(source, Path):
        shutil.copyfile(source, target)
        return target
    return CLUSTER.create(template=source.rsplit("/", 1)[-1])


def drop_database(database) -> None:
    """Drop a PostgreSQL copy (a SQLite copy goes with its temporary directory)."""
    if not isinstance(database, Path):
        CLUSTER.drop(database)


def checkpoint(database) -> None:
    """Leave a SQLite template as one file (its WAL folded in), so that a copy of the file is all of it."""
    if isinstance(database, Path):
        db = connect(database)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()


@pytest.fixture(scope="session")
def postgres_cluster():
    """The session's PostgreSQL; without one, PostgreSQL tests fail in CI and are skipped elsewhere, saying why."""
    if not (POSTGRES_BIN / "initdb").exists():
        message = f"PostgreSQL 15 is not installed ({POSTGRES_BIN}); .ci/run installs the postgresql package"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    global CLUSTER
    cluster = CLUSTER = PostgresCluster()
    yield cluster
    CLUSTER = None
    cluster.stop()


def load_data() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def template_db(engine, request, tmp_path_factory):
    """tests/data.json loaded once per engine (password hashing is slow on purpose); each test copies it.

    A SQLite file's path, or the URL of a PostgreSQL database that the copies take as their template.
    """
    if engine == "postgres":
        database = request.getfixturevalue("postgres_cluster").create()
    else:
        database = tmp_path_factory.mktemp("template") / "template.sqlite"
    load_into(database)
    checkpoint(database)
    return database


def load_into(database, data: dict | None = None) -> None:
    """Load a fixture (tests/data.json by default) into a database, creating the schema first."""
    db = connect(database)
    try:
        init_db(db)
        load_fixture(db, load_data() if data is None else data)
    finally:
        db.close()


@pytest.fixture
def db_path(template_db, tmp_path):
    """This test's copy of tests/data.json: a SQLite file's path, or a PostgreSQL database's URL."""
    database = copy_database(template_db, tmp_path / "saltapi.sqlite")
    yield database
    drop_database(database)


@pytest.fixture
def empty_db(engine, request, tmp_path):
    """A database with nothing in it yet, not even the schema: a SQLite path or a PostgreSQL URL."""
    if engine == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create()
        yield url
        cluster.drop(url)
        return
    yield tmp_path / "fresh.sqlite"


@pytest.fixture
def loaded_db(db_path):
    """A connection to this test's copy of tests/data.json."""
    db = connect(db_path)
    yield db
    db.close()


@pytest.fixture
def fresh_db(empty_db):
    """An empty saltapi database (schema only)."""
    db = connect(empty_db)
    init_db(db)
    yield db
    db.close()


def make_app(database, **config):
    """An app for tests on `database`; `close_app()` hands back its connections."""
    return create_app({"TESTING": True, "DATABASE": str(database), "SECRET_KEY": "test", **config})


def close_app(app) -> None:
    app.extensions["saltapi_pool"].close()


@pytest.fixture
def app(db_path):
    app = make_app(db_path)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def snapshot(db_path):
    """A function returning everything stored (rows, users, token hashes), to prove a request changed nothing."""

    def take() -> dict:
        db = connect(db_path)
        try:
            return dump_fixture(db, with_secrets=True)
        finally:
            db.close()

    return take


def assert_one_error_line(result, message: str) -> None:
    """A failed command: exit code 1, nothing on stdout; on stderr the database it used and one error line."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    database, error = result.stderr.splitlines()
    assert database.startswith("Database: ")
    assert error == f"Error: {message}"


POSTGRES_SCHEMA = """
    SELECT 'column', table_name::text, column_name::text, data_type || ' ' || is_nullable
    FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'constraint', conrelid::regclass::text, conname::text, pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'index', tablename::text, indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public'
    ORDER BY 1, 2, 3
"""


def schema_of(db) -> list[tuple]:
    """Every table, column, constraint and index the database has (what a schema change may alter)."""
    if db.engine == "sqlite":
        return [tuple(row) for row in db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")]
    return [tuple(row) for row in db.execute(POSTGRES_SCHEMA)]


def stored_bytes(database) -> bytes:
    """Everything the database keeps: the SQLite file and its journals, or every row of every PostgreSQL table."""
    if isinstance(database, Path):
        return b"".join(p.read_bytes() for p in database.parent.iterdir() if p.name.startswith(database.name))
    db = connect(database)
    try:
        names = [row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return b"".join(
            repr(db.execute(f'SELECT * FROM "{name}"').fetchall()).encode() for name in names  # names from the catalog
        )
    finally:
        db.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


APP_PY = (sys.executable, "app.py")


class LiveServer:
    """A real `python app.py` process (or another `program`, such as `saltapi serve`) on 127.0.0.1, on a database
    of its own."""

    def __init__(
        self,
        db_path: Path,
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        new_session: bool = False,
        program: tuple[str, ...] = APP_PY,
    ):
        self.db_path = db_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w+b")
        command = [*program, "--port", str(self.port), "--db", str(db_path), *extra_args]
        # In a session of its own, the server and its workers form one process group, which
        # os.killpg(server.process.pid, ...) ends at once (tests/test_crash.py).
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=new_session
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{self.url}/api/books", timeout=2)
                return
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {SERVER_START_SECONDS} s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


@contextlib.contextmanager
def running_server(
    db_path: Path,
    log_path: Path,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    new_session: bool = False,
    program: tuple[str, ...] = APP_PY,
):
    """A server for the block; `env` replaces the whole environment of the process (None inherits ours)."""
    server = LiveServer(db_path, log_path, extra_args, env, new_session, program)
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_server(template_db, tmp_path_factory):
    """One server per engine for the session, on its own copy of the test data."""
    directory = tmp_path_factory.mktemp("live")
    database = copy_database(template_db, directory / "live.sqlite")
    with running_server(database, directory / "server.log") as server:
        yield server


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_INPUT.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class WebActions:
    """The web UI through the test client, as a browser uses it: sign in and out, forms with their CSRF token."""

    def __init__(self, client):
        self.client = client

    def csrf(self) -> str:
        """This session's CSRF token, read off a page as a browser would."""
        return csrf_from(self.client.get("/", follow_redirects=True).text)

    def login(self, who: str = "admin", password: str | None = None):
        email, known_password = PASSWORDS.get(who, (who, None))
        return self.client.post(
            "/auth/login", data={"email": email, "password": password or known_password, "_csrf": self.csrf()}
        )

    def logout(self):
        return self.client.post("/auth/logout", data={"_csrf": self.csrf()})

    def post(self, path: str, data: dict | None = None, **kwargs):
        """Send a form the way the page would, with the session's CSRF token."""
        return self.client.post(path, data={**(data or {}), "_csrf": self.csrf()}, **kwargs)


@pytest.fixture
def web(client) -> WebActions:
    return WebActions(client)


@pytest.fixture
def admin(web) -> WebActions:
    """The web UI signed in as the admin of tests/data.json."""
    web.login("admin")
    return web


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_TIMEOUT_MS = 10_000
SCREENSHOTS = Path(os.environ.get("SALTAPI_SCREENSHOTS") or tempfile.gettempdir())


def require_chromium() -> None:
    """The browser tests drive Debian's Chromium, never a browser of Playwright's own. Without it a developer's
    run skips them, saying how to get it; CI (CI=true) must run them, so there it is a failure."""
    if os.access(CHROMIUM, os.X_OK):
        return
    message = f"the browser tests need Chromium at {CHROMIUM}: install it with `apt-get install chromium`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser tests, but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def chromium_page():
    """A page of a fresh headless Chromium (Debian's), driven by Playwright; imported only by the tests that use it."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 800})
            context.grant_permissions(["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
            page.on("dialog", lambda dialog: dialog.accept())  # confirmations such as "Reset the API token?"
            yield page
        finally:
            browser.close()


TABLE_IDS = {"books": 1, "patients": 2, "publisher": 3, "notes": 4, "items": 5}  # as tests/data.json creates them
