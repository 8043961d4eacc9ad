"""The admin commands, for the `saltapi` console command and Flask's CLI (`flask --app app <command>`).

Each works on the database named by `--db` (else $SALTAPI_DB, else the app's), says which on standard error,
says what it did, or fails in one line.
"""

import contextlib
import functools
import io
import json
import os
import tempfile

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo

from .csv_io import CsvError, check_import, export_csv, import_csv, parse_csv
from .db import get_db
from .demo import demo_lines, reset_demo
from .fixtures import FixtureError, dump_fixture, fixture_row_count, load_fixture
from .progress import progress
from .store import sqlite
from .store.connection import (
    DEFAULT_DATABASE,
    database_label,
    init_db,
    is_database_url,
    is_postgres,
    postgres,
    transaction,
)  # fmt: skip
from .store.constraints import add_constraint, describe, drop_constraint
from .store.instance import CopyError, copy_database
from .store.login_limits import clear_failures
from .store.metadata import DefinitionError, Table, load_table, resolve_role, roles, table_names
from .store.rows import Query, count_rows
from .store.users import (
    User,
    UserError,
    check_new_password,
    delete_account,
    find_user,
    generate_token,
    insert_user,
    list_accounts,
    remove_token,
    set_password,
    set_role,
)  # fmt: skip

# The `saltapi` console command puts this key into its ScriptInfo: the app is made only once the command has
# chosen its database, so a wrong --db never leaves a directory or a secret file behind.
CHOSEN_DATABASE = "saltapi_database"


def refuse_missing(database: str) -> None:
    """:raises click.ClickException: when `database` is a file path where there is no file."""
    if not is_database_url(database) and not os.path.isfile(database):
        label = database_label(database)
        raise click.ClickException(
            f"No database at {label}; name an existing one with --db (or SALTAPI_DB),"
            f" or create it with `saltapi init-db --db {label}`"
        )


def environment_database() -> str:
    return os.environ.get("SALTAPI_DB") or DEFAULT_DATABASE


def database_command(must_exist: bool = True):
    """Give a command `--db` and run it in an app context on that database (Flask's `with_appcontext`, plus the
    choice of database). With `must_exist`, a path where there is no file is refused instead of created."""

    def decorator(command):
        @click.option("--db", "database", metavar="PATH", help="The database (default: $SALTAPI_DB, else the app's).")
        @click.pass_context
        @functools.wraps(command)
        def wrapped(ctx: click.Context, database: str | None, **kwargs):
            info = ctx.ensure_object(ScriptInfo)
            if CHOSEN_DATABASE in info.data:  # the saltapi console: no app yet
                database = database or environment_database()
                if must_exist:
                    refuse_missing(database)
                info.data[CHOSEN_DATABASE] = database
                app = info.load_app()
            else:  # flask --app app, or a test's runner: the app exists already
                app = info.load_app()
                if database:
                    app.config["DATABASE"] = database
                if must_exist:
                    refuse_missing(app.config["DATABASE"])
            ctx.with_resource(app.app_context())
            click.echo(f"Database: {database_label(app.config['DATABASE'])}", err=True)
            return ctx.invoke(command, **kwargs)

        return wrapped

    return decorator


def existing_user(email: str) -> User:
    user = find_user(get_db(), email.strip())
    if user is None:
        raise click.ClickException(f"No user with email {email}")
    return user


def existing_role(role: str) -> int:
    """The id of a role given by name or id.

    :raises click.ClickException: naming the roles there are.
    """
    role_id = resolve_role(get_db(), role)
    if role_id is None:
        raise click.ClickException(f"No role {role!r}; roles are {', '.join(roles(get_db()).values())}")
    return role_id


def echo_columns(header: tuple[str, ...], rows: list[tuple]) -> None:
    """Print rows as aligned columns under a header, for people to read (one row per line)."""
    lines = [header, *[tuple(str(value) for value in row) for row in rows]]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    for line in lines:
        click.echo("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip())


@click.command("init-db")
@database_command(must_exist=False)
def init_db_command():
    """Create the metadata tables (safe to run again)."""
    init_db(get_db())
    click.echo(f"Initialized the database at {current_app.config['DATABASE']}.")


@click.command("create-user")
@click.argument("email")
@click.option("--role", required=True, help="Role name (admin, staff, user, public, ...) or id.")
@click.password_option(help="Prompted for when not given.")
@database_command()
def create_user_command(email: str, role: str, password: str):
    """Create a user with a password."""
    db = get_db()
    role_id = existing_role(role)
    try:
        check_new_password(password)
        with transaction(db):
            user = insert_user(db, email, role_id, password=password)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created user {user.email} with role {roles(db)[role_id]} (id {user.id}).")


@click.command("set-password")
@click.argument("email")
@database_command()
def set_password_command(email: str):
    """Set a user's password, asked for twice without echo (never on the command line); their sessions end."""
    user = existing_user(email)
    password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        set_password(get_db(), user.id, password)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Set the password of {user.email}; their browser sessions are signed out.")


@click.command("unlock")
@click.argument("email", required=False)
@click.option("--address", help="Only the failures from this client address.")
@database_command()
def unlock_command(email: str | None, address: str | None):
    """Forget failed sign-ins and unknown tokens: all of them, or those of EMAIL and/or an --address."""
    forgotten = clear_failures(get_db(), email=email, address=address)
    whose = " ".join(part for part in (email and f"of {email.strip()}", address and f"from {address}") if part)
    click.echo(f"Forgot {forgotten} failed attempt{'s' if forgotten != 1 else ''}{' ' + whose if whose else ''}.")


@click.command("gen-token")
@click.argument("email")
@database_command()
def gen_token_command(email: str):
    """Generate a new API token for a user (the old one stops working) and print it."""
    click.echo(generate_token(get_db(), existing_user(email).id))


@click.command("remove-token")
@click.argument("email")
@database_command()
def remove_token_command(email: str):
    """Remove a user's API token."""
    user = existing_user(email)
    remove_token(get_db(), user.id)
    click.echo(f"Removed the API token of {user.email}.")


@click.command("list-users")
@database_command()
def list_users_command():
    """List the users: id, email, role and whether they have an API token."""
    db = get_db()
    role_names = roles(db)
    accounts = list_accounts(db)
    echo_columns(
        ("id", "email", "role", "API token"),
        [(a.id, a.email, role_names.get(a.role_id, a.role_id), token_state(a.has_token, a.api_token_created_at))
         for a in accounts],
    )  # fmt: skip


def token_state(has_token: bool, created_at: str | None) -> str:
    if not has_token:
        return "-"
    return f"since {created_at}" if created_at else "yes"


@click.command("set-role")
@click.argument("email")
@click.argument("role")
@database_command()
def set_role_command(email: str, role: str):
    """Give a user another role (by name or id); the last admin stays an admin."""
    user = existing_user(email)
    role_id = existing_role(role)
    try:
        set_role(get_db(), user.id, role_id)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{user.email} now has the role {roles(get_db())[role_id]}.")


@click.command("delete-user")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask first.")
@database_command()
def delete_user_command(email: str, yes: bool):
    """Delete a user and their API token (never the last admin, nor a user that rows refer to)."""
    user = existing_user(email)
    if not yes:
        click.confirm(f"Delete the user {user.email}?", abort=True, err=True)
    try:
        delete_account(get_db(), user.id)
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Deleted the user {user.email}.")


@click.command("list-tables")
@database_command()
def list_tables_command():
    """List the tables: name, id, rows and the roles that may read and write them."""
    db = get_db()
    role_names = roles(db)
    tables = [load_table(db, name) for name in table_names(db)]
    echo_columns(
        ("table", "id", "rows", "read", "write"),
        [(t.name, t.id, count_rows(db, t, Query()), role_names.get(t.min_role_read, t.min_role_read),
          role_names.get(t.min_role_write, t.min_role_write)) for t in tables],
    )  # fmt: skip


def existing_table(name: str) -> Table:
    table = load_table(get_db(), name)
    if table is None or table.read_only:
        raise click.ClickException(f"No table {name}")
    return table


def create_constraint(table_name: str, constraint_type: str, fields: tuple[str, ...]) -> None:
    table = existing_table(table_name)
    try:
        constraint = add_constraint(get_db(), table.id, constraint_type, list(fields))
    except DefinitionError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {describe(constraint.type, constraint.fields)} in {table.name}.")


def remove_constraint(table_name: str, constraint_type: str, fields: tuple[str, ...]) -> None:
    table = existing_table(table_name)
    found = next((c for c in table.constraints if c.type == constraint_type and c.fields == fields), None)
    if found is None:
        raise click.ClickException(f"{table.name} has no {describe(constraint_type, fields)}")
    drop_constraint(get_db(), table.id, found.id)
    click.echo(f"Dropped {describe(constraint_type, fields)} from {table.name}.")


@click.command("create-index")
@click.argument("table")
@click.argument("field")
@database_command()
def create_index_command(table: str, field: str):
    """Index a field, so filters and sorting on it stay fast on big tables."""
    create_constraint(table, "Index", (field,))


@click.command("drop-index")
@click.argument("table")
@click.argument("field")
@database_command()
def drop_index_command(table: str, field: str):
    """Drop the index on a field."""
    remove_constraint(table, "Index", (field,))


@click.command("create-unique")
@click.argument("table")
@click.argument("fields", nargs=-1, required=True)
@database_command()
def create_unique_command(table: str, fields: tuple[str, ...]):
    """Refuse rows whose values in all these fields together another row has."""
    create_constraint(table, "Unique", fields)


@click.command("drop-unique")
@click.argument("table")
@click.argument("fields", nargs=-1, required=True)
@database_command()
def drop_unique_command(table: str, fields: tuple[str, ...]):
    """Drop the unique constraint over exactly these fields."""
    remove_constraint(table, "Unique", fields)


@click.command("load-fixture")
@click.argument("file", type=click.File("rb"))
@click.option("--replace", is_flag=True, help="Drop every existing table and user first.")
@database_command(must_exist=False)
def load_fixture_command(file, replace: bool):
    """Load a fixture file (all or nothing)."""
    try:
        data = json.load(file)
    except ValueError as error:  # UnicodeDecodeError included
        raise click.ClickException(f"{file.name} is not valid JSON: {error}") from None
    except RecursionError:
        raise click.ClickException(f"{file.name} cannot be read: its JSON is nested too deeply") from None
    try:
        with progress(f"Loading {file.name}", fixture_row_count(data)) as step:
            loaded = load_fixture(get_db(), data, replace=replace, progress=step)
    except FixtureError as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    click.echo(
        f"Loaded {loaded['tables']} tables, {loaded['rows']} rows, {loaded['users']} users"
        f" and {loaded['roles']} roles from {file.name}."
    )


@click.command("dump-fixture")
@click.argument("file", type=click.Path(dir_okay=False, writable=True), required=False)
@click.option("--with-secrets", is_flag=True, help="Include password and API token hashes.")
@database_command()
def dump_fixture_command(file: str | None, with_secrets: bool):
    """Write the whole instance as a fixture to FILE (default: standard output)."""
    db = get_db()
    tables = [load_table(db, name) for name in table_names(db)]
    total = sum(count_rows(db, table, Query()) for table in tables if table is not None)
    with progress("Dumping", total) as step:
        data = dump_fixture(db, with_secrets=with_secrets, progress=step)
    text = json.dumps(data, indent=2)
    if file is None:
        click.echo(text)
        return
    try:
        # Password and token hashes are for the owner's eyes only, whoever else may read the directory.
        mode = 0o600 if with_secrets else 0o666
        with os.fdopen(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8") as out:
            if with_secrets:
                os.fchmod(out.fileno(), 0o600)  # also when the file was there before
            out.write(text + "\n")
    except OSError as error:
        raise click.ClickException(f"Cannot write {file}: {error.strerror}") from None
    rows = sum(len(table["rows"]) for table in data["tables"])
    click.echo(f"Wrote {len(data['tables'])} tables, {rows} rows and {len(data['users'])} users to {file}.")


@click.command("import-csv")
@click.argument("table")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--check", is_flag=True, help="Only check the file, as an import would; store nothing.")
@database_command()
def import_csv_command(table: str, file: str, check: bool):
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
        check_import(get_db(), table, parsed)  # before the progress shows
        label = f"Checking {file} against {table}" if check else f"Importing {file} into {table}"
        with progress(label, len(parsed.records)) as step:
            imported = import_csv(get_db(), table, parsed, progress=step, store=not check)
    except CsvError as error:
        raise click.ClickException(f"{file}: {error}") from None
    if check:
        click.echo(f"{file} would import {imported} rows into {table}; nothing was stored.")
    else:
        click.echo(f"Imported {imported} rows into {table} from {file}.")


@click.command("export-csv")
@click.argument("table")
@click.argument("file", type=click.Path(dir_okay=False, writable=True), required=False)
@click.option(
    "--safe", is_flag=True,
    help="For spreadsheets: put a ' before text starting with = + - @, tab or CR, so it is never run as a formula.",
)  # fmt: skip
@database_command()
def export_csv_command(table: str, file: str | None, safe: bool):
    """Write TABLE's rows as CSV to FILE (default: standard output)."""
    text = io.StringIO(newline="")
    db = get_db()
    try:
        found = load_table(db, table)
        with progress(f"Exporting {table}", count_rows(db, found, Query()) if found else 0) as step:
            exported = export_csv(db, table, text, safe=safe, progress=step)
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
@database_command(must_exist=False)
def reset_demo_command():
    """Replace everything in the database with the demo data and demo users."""
    database = current_app.config["DATABASE"]
    for line in demo_lines(database, reset_demo(database)):
        click.echo(line)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@database_command()
def backup_command(path: str, force: bool):
    """Copy the database to PATH while the server keeps running: the copy is the database as it was when the
    command started (on PostgreSQL, a pg_dump archive)."""
    database = current_app.config["DATABASE"]
    postgres_url = is_postgres(database)
    if os.path.lexists(path) and not force:
        raise click.ClickException(f"{path} exists; add --force to replace it")
    if not postgres_url and os.path.exists(path) and os.path.samefile(path, database):
        raise click.ClickException(f"{path} is the database itself")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        handle, partial = tempfile.mkstemp(prefix=".backup-", suffix=".partial", dir=directory)
    except OSError as error:
        raise click.ClickException(f"Cannot write {path}: {error.strerror}") from None
    os.close(handle)
    shown = database_label(database)
    try:
        if postgres_url:
            how = postgres().backup(database, partial)
        else:
            pages = sqlite.backup(database, partial, functools.partial(progress, "Backing up", unit="pages"))
            how = f"{pages} pages"
        os.replace(partial, path)
    except (RuntimeError, OSError) as error:
        raise click.ClickException(f"Cannot back up {shown} to {path}: {error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
    size = os.path.getsize(path)
    click.echo(f"Backed up {shown} to {path} ({how}, {size:,} bytes).")


@click.command("copy-db")
@click.argument("source")
@click.argument("target")
def copy_db_command(source: str, target: str):
    """Copy the whole instance at SOURCE into the empty database TARGET, each a SQLite file or a postgresql:// URL:
    roles, settings, users with their password and token hashes, tables, rows with their ids, id sequences.

    All or nothing; servers may keep writing to SOURCE meanwhile (the copy is SOURCE as it was at the start).
    Every token and password works unchanged against TARGET.
    """
    if not is_database_url(source) and not os.path.isfile(source):
        raise click.ClickException(f"No database at {database_label(source)}")
    new_file = not is_database_url(target) and not os.path.lexists(target)
    try:
        copied = copy_database(source, target, functools.partial(progress, "Copying"))
    except CopyError as error:
        if new_file:  # made by this copy: leave nothing behind
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(target + suffix)
        raise click.ClickException(f"Cannot copy to {database_label(target)}: {error}") from None
    click.echo(
        f"Copied {copied['tables']} tables, {copied['rows']} rows and {copied['users']} users"
        f" from {database_label(source)} to {database_label(target)}."
    )


COMMANDS = (
    init_db_command, create_user_command, gen_token_command, remove_token_command,
    list_users_command, set_role_command, set_password_command, unlock_command, delete_user_command,
    list_tables_command, create_index_command,
    drop_index_command, create_unique_command, drop_unique_command,
    load_fixture_command, dump_fixture_command, import_csv_command, export_csv_command, reset_demo_command,
    backup_command, copy_db_command,
)  # fmt: skip


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
