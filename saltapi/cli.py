"""Admin commands for Flask's CLI (`flask --app app <command>`); each says what it did, or fails in one line."""

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .db import get_db, init_db, transaction
from .fixtures import FixtureError, count_rows, dump_fixture, load_fixture
from .metadata import resolve_role, roles
from .users import User, UserError, find_user, generate_token, insert_user, remove_token


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


COMMANDS = (
    init_db_command, create_user_command, gen_token_command, remove_token_command,
    load_fixture_command, dump_fixture_command,
)  # fmt: skip


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
