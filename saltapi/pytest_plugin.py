"""The instances behind the pytest plugin's `saltcorn` fixture (the plugin's hooks and fixtures are in
pytest_saltapi.py, which imports this module only when a test first asks for `saltcorn`).

saltapi stands in for a Saltcorn server in another project's test suite. A test that asks for the `saltcorn`
fixture gets an instance loaded from a fixture file (docs/fixtures.md): `.url` of a live server, `.client`
(Flask's test client), `.token(email)`, `.db_path`. Every test starts from the state the fixture loaded:
whatever an earlier test wrote is undone with SQLite's backup API before the next one runs.

What to load, first match wins: the test's `@pytest.mark.saltapi_fixture(path_or_dict)` (a relative path is
relative to the test file), a `saltcorn_fixture` fixture of your own (returning a path or a dict), the ini
option `saltapi_fixture_file` (relative to the ini file), else saltapi's demo data with its demo users.
"""

import json
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import create_app
from .db import get_db
from .fixtures import FixtureError, load_fixture
from .store.connection import Connection, connect
from .store.snapshots import restore_snapshot, take_snapshot
from .store.users import find_user, generate_token

SERVER_STOP_SECONDS = 10
log = logging.getLogger(__name__)


class QuietRequestHandler(WSGIRequestHandler):
    """Request lines go to logging, where pytest shows them beside a failing test.

    Werkzeug's own handler would print to the sys.stderr of the moment, which pytest swaps per test and closes.
    """

    def log(self, type: str, message: str, *args) -> None:
        log.log(logging.ERROR if type == "error" else logging.INFO, message, *args)


class SaltapiInstance:
    """One loaded fixture: its database file, an app on it, the snapshot to reset to, and a server once asked for."""

    def __init__(self, directory: Path, data: Mapping, source: str):
        self.source = source
        self.db_path = directory / "saltapi.sqlite"
        self.app = create_app({"TESTING": True, "DATABASE": str(self.db_path), "SECRET_KEY": secrets.token_hex(32)})
        with self.app.app_context():
            try:
                load_fixture(get_db(), data)
            except FixtureError as error:
                raise FixtureError(f"{source}: {error}") from None
            self.tokens = issue_tokens(get_db(), data)
        self.live = connect(self.db_path)  # the backup writes through this one
        self.watch = connect(self.db_path)  # its data_version moves when any other connection commits
        self.snapshot = take_snapshot(self.live)
        self.version = self.data_version()
        self.server: BaseWSGIServer | None = None
        self.thread: threading.Thread | None = None

    def data_version(self) -> int:
        return self.watch.execute("PRAGMA data_version").fetchone()[0]

    def reset(self, force: bool = False) -> bool:
        """Restore the loaded state unless nothing was committed since the last reset; say whether it did."""
        if not force and self.data_version() == self.version:
            return False
        restore_snapshot(self.snapshot, self.live)
        self.version = self.data_version()
        return True

    @property
    def url(self) -> str:
        """The live server's address, starting it on first use (threads of this process, 127.0.0.1, free port)."""
        if self.server is None:
            self.server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=QuietRequestHandler)
            self.thread = threading.Thread(
                target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="saltapi server", daemon=True
            )
            self.thread.start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def token(self, email: str) -> str:
        """:raises KeyError: when the fixture has no such user, or gave only a token hash."""
        token = self.tokens.get(email.strip().lower())
        if token is None:
            raise KeyError(f"{self.source} has no user {email} with a known API token; users: {', '.join(self.tokens)}")
        return token

    def close(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(SERVER_STOP_SECONDS)
        for db in (self.live, self.watch, self.snapshot):
            db.close()


def issue_tokens(db: Connection, data: Mapping) -> dict[str, str]:
    """Email (lower case) -> plain API token: the fixture's own, or a new one for users it gave none."""
    tokens = {}
    for raw in data.get("users", []):
        email = raw["email"].strip()
        if raw.get("api_token") is not None:
            tokens[email.lower()] = raw["api_token"]
        elif raw.get("api_token_hash") is None:  # with only a hash given, the plain token is unknowable
            user = find_user(db, email)
            assert user is not None  # loaded just before
            tokens[email.lower()] = generate_token(db, user.id)
    return tokens


class SaltcornInstances:
    """The session's instances, one per distinct fixture, each loaded on first use and closed at the end."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory):
        self.tmp_path_factory = tmp_path_factory
        self.instances: dict[str, SaltapiInstance | Exception] = {}

    def get(self, source: str | Path | Mapping) -> SaltapiInstance:
        """The instance for a fixture file or dict.

        :raises FixtureError: when it cannot be read or loaded (every later test asking for it gets the same error).
        """
        if not isinstance(source, (str, os.PathLike, Mapping)):
            raise FixtureError(f"A fixture is a file's path or a dict, not {source!r}")
        key = fixture_key(source)
        if key not in self.instances:
            try:
                data, name = read_fixture(source)
                self.instances[key] = SaltapiInstance(self.tmp_path_factory.mktemp("saltapi"), data, name)
            except FixtureError as error:
                self.instances[key] = error
        instance = self.instances[key]
        if isinstance(instance, Exception):
            raise instance
        return instance

    def close(self) -> None:
        for instance in self.instances.values():
            if isinstance(instance, SaltapiInstance):
                instance.close()


def fixture_key(source: str | Path | Mapping) -> str:
    if isinstance(source, Mapping):
        return json.dumps(source, sort_keys=True, default=str)
    return str(Path(source).resolve())


def read_fixture(source: str | Path | Mapping) -> tuple[Mapping, str]:
    """The fixture's data and a name for messages.

    :raises FixtureError: when the file cannot be read or is not JSON.
    """
    if isinstance(source, Mapping):
        return source, "the saltcorn fixture"
    path = Path(source)
    try:
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    except OSError as error:
        raise FixtureError(f"Cannot read fixture file {path}: {error.strerror}") from None
    except ValueError as error:  # UnicodeDecodeError included
        raise FixtureError(f"{path} is not valid JSON: {error}") from None


class Saltcorn:
    """What a test gets from the `saltcorn` fixture: a freshly reset instance and a test client of its own."""

    def __init__(self, instance: SaltapiInstance):
        self.instance = instance
        self.client: FlaskClient = instance.app.test_client()

    @property
    def url(self) -> str:
        """The base URL of the session's live server for this fixture, e.g. `http://127.0.0.1:40123`."""
        return self.instance.url

    @property
    def db_path(self) -> Path:
        return self.instance.db_path

    @property
    def app(self) -> Flask:
        return self.instance.app

    def token(self, email: str) -> str:
        """The user's plain API token: the fixture's `api_token`, or one generated at load time."""
        return self.instance.token(email)

    def reset(self) -> None:
        """Back to the loaded state now (it happens before every test anyway)."""
        self.instance.reset(force=True)
