"""saltapi: Saltcorn's table-data REST API on one SQLite file or a PostgreSQL database.

`create_app()` builds a standalone app; `init_app(app)` mounts saltapi on a host Flask app.
"""

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin

from . import cli, cors, db, health, proxies
from .api import views as api_views
from .auth import DEFAULT_IDLE_MINUTES, IDLE_MINUTES_SETTING
from .errors import register_error_handlers
from .store.connection import DEFAULT_DATABASE, is_postgres, postgres
from .store.login_limits import LoginLimiter
from .web import account, api_docs, pages, row_admin, table_admin, useradmin


@dataclass
class SaltapiState:
    """Per-app state kept in `app.extensions["saltapi"]`."""

    schema_ready: bool = False
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, whose cookie is `Secure` whenever the request came over HTTPS.

    Behind a proxy that ends TLS, the app needs werkzeug's ProxyFix for `request.is_secure` to know.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure

    # Flask opens and saves the session of every request; API clients send no cookie, so for them both are no-ops
    # (Flask would build the cookie signer and read the cookie settings first, a tenth of a GET by id).
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)


def create_app(test_config: dict | None = None) -> Flask:
    # No app-wide /static: the web UI serves its own files under /saltapi/static.
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(test_config or {})
    init_app(app)
    return app


def init_app(app: Flask) -> None:
    app.config.setdefault("DATABASE", os.environ.get("SALTAPI_DB") or DEFAULT_DATABASE)
    database = app.config["DATABASE"]
    if not is_postgres(database):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SALTAPI_SECRET_KEY") or stored_secret_key(database)
    app.extensions["saltapi"] = SaltapiState()
    init_session(app)
    db.init_app(app)
    register_error_handlers(app, pages.page_for_error)
    cors.init_app(app)
    proxies.init_app(app)
    app.register_blueprint(api_views.bp)
    app.register_blueprint(health.bp)
    for blueprint in (pages.bp, account.bp, useradmin.bp, table_admin.bp, row_admin.bp, api_docs.bp):
        app.register_blueprint(blueprint)
    cli.init_app(app)


SESSION_COOKIE_NAME = "connect.sid"  # Saltcorn's (Express's) name; Saltcorn clients such as pysaltcorn read it


def init_session(app: Flask) -> None:
    """The session cookie: never readable by scripts, not sent along with other sites' POSTs, Secure over HTTPS.

    HttpOnly is always on; a host app's own SameSite choice and session interface stay. Sessions unused for
    SALTAPI_SESSION_IDLE_MINUTES (app config, else the environment; default 8 hours) end. The cookie is called
    `connect.sid`, as Saltcorn's, unless the app has named it: only Flask's default name `session` is replaced.
    """
    if app.config.get("SESSION_COOKIE_NAME") == Flask.default_config["SESSION_COOKIE_NAME"]:
        app.config["SESSION_COOKIE_NAME"] = SESSION_COOKIE_NAME
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if type(app.session_interface) is SecureCookieSessionInterface:
        app.session_interface = HttpsAwareSessionInterface()
    idle = app.config.setdefault(IDLE_MINUTES_SETTING, os.environ.get(IDLE_MINUTES_SETTING, DEFAULT_IDLE_MINUTES))
    try:
        app.config[IDLE_MINUTES_SETTING] = float(idle)
    except ValueError:
        app.config[IDLE_MINUTES_SETTING] = 0.0
    if not 0 < app.config[IDLE_MINUTES_SETTING] < float("inf"):
        raise ValueError(f"{IDLE_MINUTES_SETTING} must be a positive number of minutes, not {idle!r}")


def stored_secret_key(database: str) -> str:
    """The session secret kept beside the database, made on first use, readable by its owner only.

    On PostgreSQL it is kept in the database, so every process on every machine signs sessions alike.

    The key is written to a private temporary file and then linked into place, so no process ever reads a
    half-written key and a start that dies midway leaves no empty one behind; the first link wins.
    """
    if is_postgres(database):
        return postgres().stored_secret_key(database)
    path = Path(f"{database}.secret")
    if not path.exists():
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(secrets.token_hex(32))
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to have a new session secret made")
    return key
