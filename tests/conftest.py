"""Shared fixtures: an app on a fresh copy of the test data per test, its clients, and a live server process."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from saltapi import create_app
from saltapi.db import get_db
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


def load_data() -> dict:
    return json.loads(DATA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """tests/data.json loaded once (password hashing is slow on purpose); each test copies the file."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    app = create_app({"TESTING": True, "DATABASE": str(path), "SECRET_KEY": "test"})
    with app.app_context():
        load_fixture(get_db(), load_data())
    db = connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


@pytest.fixture
def db_path(template_db, tmp_path) -> Path:
    path = tmp_path / "saltapi.sqlite"
    shutil.copyfile(template_db, path)
    return path


@pytest.fixture
def loaded_db(db_path):
    """A connection to this test's copy of tests/data.json."""
    db = connect(db_path)
    yield db
    db.close()


@pytest.fixture
def fresh_db(tmp_path):
    """An empty saltapi database (schema only)."""
    db = connect(tmp_path / "fresh.sqlite")
    init_db(db)
    yield db
    db.close()


@pytest.fixture
def app(db_path):
    return create_app({"TESTING": True, "DATABASE": str(db_path), "SECRET_KEY": "test"})


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
    """One server for the session, on its own copy of the test data."""
    directory = tmp_path_factory.mktemp("live")
    shutil.copyfile(template_db, directory / "live.sqlite")
    with running_server(directory / "live.sqlite", directory / "server.log") as server:
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
