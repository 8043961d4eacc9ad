"""What `python app.py` does before serving: create and seed a new database, and tell how to sign in."""

import shlex
import shutil
import sys
from pathlib import Path

from flask import Flask

from .cli import database_label
from .db import get_db
from .demo import demo_tables
from .fixtures import load_fixture
from .store.connection import is_new
from .store.metadata import table_names
from .store.users import has_users

FIRST_USER_PAGE = "/auth/create_first_user on the address below"


def load_demo(app: Flask) -> list[str]:
    """Load the demo data set into the app's (new, empty) database; return its table names."""
    with app.app_context():
        load_fixture(get_db(), demo_tables())
        return table_names(get_db())


def console_command() -> str:
    """How to call the `saltapi` command from another shell, exactly: `saltapi` when that is the one on PATH,
    else the script beside this Python (a venv not activated), else this Python with `-m saltapi`."""
    script = Path(sys.executable).with_name("saltapi")
    if not script.is_file():
        return f"{shlex.quote(sys.executable)} -m saltapi"
    on_path = shutil.which("saltapi")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "saltapi"
    return shlex.quote(str(script))


def prepare(app: Flask, demo: bool, server_url: str = "") -> list[str]:
    """Create the database on first start (with the demo data when `demo`); return lines for the console.

    `server_url` (e.g. http://127.0.0.1:5000) makes the web page for the first admin a full address.
    """
    database = app.config["DATABASE"]
    lines = []
    if is_new(database):
        with app.app_context():
            get_db()  # creates the file (or, on PostgreSQL, connects) and the schema
        shown = database_label(database)
        if demo:
            lines.append(f"Created {shown} with the demo tables: {', '.join(load_demo(app))}.")
        else:
            lines.append(f"Created {shown} (empty).")
    with app.app_context():
        if not has_users(get_db()):
            # The commands run in another shell, maybe in another directory: name the file absolutely, quoted
            # (a URL's password is never printed).
            command, db = console_command(), f"--db {shlex.quote(database_label(database))}"
            page = f"{server_url}/auth/create_first_user" if server_url else FIRST_USER_PAGE
            lines += [
                f"No users yet. Create the first admin in a browser at {page}",
                "(then Settings -> Users -> Generate makes an API token), or on the command line with:",
                f"    {command} create-user admin@example.com --role admin {db}",
                f"    {command} gen-token admin@example.com {db}",
            ]
    return lines
