"""saltapi: Saltcorn's table-data REST API on one SQLite file.

`create_app()` builds a standalone app; `init_app(app)` mounts saltapi on a host Flask app.
"""

import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from . import api, cli, db
from .errors import register_error_handlers


@dataclass
class SaltapiState:
    """Per-app state kept in `app.extensions["saltapi"]`."""

    schema_ready: bool = False


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(test_config or {})
    init_app(app)
    return app


def init_app(app: Flask) -> None:
    app.config.setdefault("DATABASE", os.environ.get("SALTAPI_DB") or db.DEFAULT_DATABASE)
    Path(app.config["DATABASE"]).parent.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ.get("SALTAPI_SECRET_KEY") or stored_secret_key(app.config["DATABASE"])
    app.extensions["saltapi"] = SaltapiState()
    db.init_app(app)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    cli.init_app(app)


def stored_secret_key(database: str) -> str:
    """The session secret kept beside the database, made on first use, readable by its owner only.

    The key is written to a private temporary file and then linked into place, so no process ever reads a
    half-written key and a start that dies midway leaves no empty one behind; the first link wins.
    """
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
