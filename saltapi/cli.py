"""Admin commands for Flask's CLI (`flask --app app <command>`); each says what it did, or fails in one line."""

import contextlib
import io
import json
import os
import sqlite3
import sys
import tempfile

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .csv_io import CsvError, check_import, export_csv, import_csv, parse_csv
from .store.connection import connect, init_db, transaction
from .db import get_db
from .demo import demo_lines, reset_demo
from .fixtures import FixtureError, count_rows, dump_fixture, load_fixture
from .store.metadata import resolve_role, roles
from .store.users import User, UserError, find_user, generate_token, insert_user, remove_token


def existing_user(email: str) -> User:
    user = find_user(get_db(), email.strip())
    if user is None:
        raise click.ClickException(f"No user with email {email}")
    return user


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the metadata tables (safe to run again)."""
    init_db(get_db())
    click.echo(f"Initialized the database at {current_app.config['DATABASE']}.")


@click.command("create-user")
@click.argument("email")
@click.option("--role", required=True, help="Role name (admin, staff, user, public, ...) or id.")
@click.password_option(help="Prompted for when not given.")
@with_appcontext
def create_user_command(email: str, role: str, password: str):
    """Create a user with a password."""
    db = get_db()
    role_id = resolve_role(db, role)
    if role_id is None:
        raise click.ClickException(f"No role {role!r}; roles are {', '.join(roles(db).values())}")
    try:
        with transaction(db):
            user = insert_user(db, email, role_id, password=password)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created user {user.email} with role {roles(db)[role_id]} (id {user.id}).")


@click.command("gen-token")
@click.argument("email")
@with_appcontext
def gen_token_command(email: str):
    """Generate a new API token for a user (the old one stops working) and print it."""
    click.echo(generate_token(get_db(), existing_user(email).id))


@click.command("remove-token")
@click.argument("email")
@with_appcontext
def remove_token_command(email: str):
    """Remove a user's API token."""
    user = existing_user(email)
    remove_token(get_db(), user.id)
    click.echo(f"Removed the API token of {user.email}.")


@click.command("load-fixture")
@click.argument("file", type=click.File("rb"))
@click.option("--replace", is_flag=True, help="Drop every existing table and user first.")
@with_appcontext
def load_fixture_command(file, replace: bool):
    """Load a fixture file (all or nothing)."""
    try:
        data = json.load(file)
    except ValueError as error:  # UnicodeDecodeError included
        raise click.ClickException(f"{file.name} is not valid JSON: {error}") from None
    except RecursionError:
        raise click.ClickException(f"{file.name} cannot be read: its JSON is nested too deeply") from None
    with click.progressbar(length=count_rows(data), label="Loading rows", file=sys.stderr) as bar:
        try:
            loaded = load_fixture(get_db(), data, replace=replace, progress=bar.update)
        except FixtureError as error:
            raise click.ClickException(f"{file.name}: {error}") from None
    click.echo(
        f"Loaded {loaded['tables']} tables, {loaded['rows']} rows, {loaded['users']} users"
        f" and {loaded['roles']} roles from {file.name}."
    )


@click.command("dump-fixture")
@click.argument("file", type=click.Path(dir_okay=False, writable=True), required=False)
@click.option("--with-secrets", is_flag=True, help="Include password and API token hashes.")
@with_appcontext
def dump_fixture_command(file: str | None, with_secrets: bool):
    """Write the whole instance as a fixture to FILE (default: standard output)."""
    data = dump_fixture(get_db(), with_secrets=with_secrets)
    text = json.dumps(data, indent=2)
    if file is None:
        click.echo(text)
        return
    try:
        with open(file, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    except OSError as error:
        raise click.ClickException(f"Cannot write {file}: {error.strerror}") from None
    rows = sum(len(table["rows"]) for table in data["tables"])
    click.echo(f"Wrote {len(data['tables'])} tables, {rows} rows and {len(data['users'])} users to {file}.")


@click.command("import-csv")
@click.argument("table")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_csv_command(table: str, file: str):
    """Add the rows of a CSV file to TABLE (all or nothing); its first line names the fields."""
    try:
        with open(file, encoding="utf-8-sig", newline="") as source:
            text = source.read()
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{file} is not UTF-8 text (byte {error.start} cannot be read)") from None
    except OSError as error:
        raise click.ClickException(f"Cannot read {file}: {error.strerror}") from None
    try:
        parsed = parse_csv(text)
        check_import(get_db(), table, parsed)  # before the progress bar shows
        with click.progressbar(length=len(parsed.records), label=f"Importing into {table}", file=sys.stderr) as bar:
            imported = import_csv(get_db(), table, parsed, progress=bar.update)
    except CsvError as error:
        raise click.ClickException(f"{file}: {error}") from None
    click.echo(f"Imported {imported} rows into {table} from {file}.")


@click.command("export-csv")
@click.argument("table")
@click.argument("file", type=click.Path(dir_okay=False, writable=True), required=False)
@with_appcontext
def export_csv_command(table: str, file: str | None):
    """Write TABLE's rows as CSV to FILE (default: standard output)."""
    text = io.StringIO(newline="")
    try:
        exported = export_csv(get_db(), table, text)
    except CsvError as error:
        raise click.ClickException(str(error)) from None
    if file is None:
        click.echo(text.getvalue(), nl=False)
        return
    try:
        with open(file, "w", encoding="utf-8", newline="") as out:
            out.write(text.getvalue())
    except OSError as error:
        raise click.ClickException(f"Cannot write {file}: {error.strerror}") from None
    click.echo(f"Exported {exported} rows of {table} to {file}.")


@click.command("reset-demo")
@click.confirmation_option(prompt="Replace everything in the database with the demo data and demo users?")
@with_appcontext
def reset_demo_command():
    """Replace everything in the database with the demo data and demo users."""
    database = current_app.config["DATABASE"]
    for line in demo_lines(database, reset_demo(database)):
        click.echo(line)


BACKUP_PAGES_PER_STEP = 1024


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@with_appcontext
def backup_command(path: str, force: bool):
    """Copy the database to PATH while the server keeps running: the copy is the database as it was when the
    command started."""
    database = current_app.config["DATABASE"]
    if not os.path.isfile(database):
        raise click.ClickException(f"There is no database at {database}")
    if os.path.lexists(path) and not force:
        raise click.ClickException(f"{path} exists; add --force to replace it")
    if os.path.exists(path) and os.path.samefile(path, database):
        raise click.ClickException(f"{path} is the database itself")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, partial = tempfile.mkstemp(prefix=".backup-", suffix=".sqlite", dir=directory)
    except OSError as error:
        raise click.ClickException(f"Cannot write {path}: {error.strerror}") from None
    os.close(handle)
    try:
        pages = copy_database(database, partial)
        os.replace(partial, path)
    except (sqlite3.Error, OSError) as error:
        raise click.ClickException(f"Cannot back up {database} to {path}: {error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
    size = os.path.getsize(path)
    click.echo(f"Backed up {database} to {path} ({pages} pages, {size:,} bytes).")


def copy_database(database: str, target_path: str) -> int:
    """Copy with SQLite's backup API in steps (a progress bar for big files), all from one read snapshot.

    A backup in steps restarts whenever another connection writes, so under steady writes it might never end;
    holding a read transaction on the source for the whole copy pins one snapshot (WAL lets writers go on), so
    the copy is consistent and finishes. Returns the number of pages copied.
    """
    source = connect(database)
    target = sqlite3.connect(target_path)
    try:
        source.execute("BEGIN")
        total = source.execute("PRAGMA page_count").fetchone()[0]  # starts the read transaction
        with click.progressbar(length=total, label="Backing up", file=sys.stderr) as bar:
            done = [0]

            def progress(status: int, remaining: int, pages: int) -> None:
                bar.update(pages - remaining - done[0])
                done[0] = pages - remaining

            source.backup(target, pages=BACKUP_PAGES_PER_STEP, progress=progress)
        source.execute("ROLLBACK")
        # The copy must not depend on a -wal file beside it: a single file, whatever the source's journal mode.
        target.execute("PRAGMA journal_mode = DELETE")
        return total
    finally:
        target.close()
        source.close()


COMMANDS = (
    init_db_command, create_user_command, gen_token_command, remove_token_command,
    load_fixture_command, dump_fixture_command, import_csv_command, export_csv_command, reset_demo_command,
    backup_command,
)  # fmt: skip


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
