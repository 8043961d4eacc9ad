"""User accounts in the database: creating them, their passwords and their one API token."""

import datetime
import functools
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from .connection import Connection, Row, transaction
from .metadata import ADMIN_ROLE_ID, USERS_SQL_NAME, USERS_TABLE_NAME, referencing_fields, roles
from .metadata_cache import note_version
from .rows import exists
from .sessions import end_sessions

MIN_FIXTURE_TOKEN_LENGTH = 6
MIN_PASSWORD_LENGTH = 8  # for every password chosen in the web UI or the CLI; fixtures are the operator's business
TOKEN_HASH = re.compile(r"[0-9a-f]{64}")  # what hash_token() stores


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role_id: int


@dataclass(frozen=True)
class Account(User):
    """A user as the admin pages show them: whether they have an API token, and since when (never the token)."""

    has_token: bool = False
    api_token_created_at: str | None = None  # None for a token loaded from a fixture file, which has no date


class UserError(ValueError):
    """A user operation that cannot be done, with a message fit for a person."""


def hash_token(token: str) -> str:
    """SHA-256 is enough for random tokens: there is nothing to brute-force in 122 random bits."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def user_from_row(row: Row) -> User:
    return User(id=row["id"], email=row["email"], role_id=row["role_id"])


def has_users(db: Connection) -> bool:
    return db.execute("SELECT 1 FROM _sc_users LIMIT 1").fetchone() is not None


def find_user(db: Connection, email: str) -> User | None:
    row = db.execute("SELECT id, email, role_id FROM _sc_users WHERE email = ?", (email,)).fetchone()
    return None if row is None else user_from_row(row)


def prefetch_token_owner(db: Connection, token: str) -> None:
    """Read the token's owner and the metadata version in one statement, for find_user_by_token and the metadata
    cache to use during this request: an API request needs both, first its table and then its caller."""
    token_hash = hash_token(token)
    row = db.execute(
        "SELECT v.version, u.id, u.email, u.role_id, u.api_token_hash"
        " FROM _sc_metadata_version AS v LEFT JOIN _sc_users AS u ON u.api_token_hash = ?",
        (token_hash,),
    ).fetchone()
    note_version(db, row["version"])
    db.token_owner = (token_hash, None if row["id"] is None else row)


def find_user_by_token(db: Connection, token: str) -> User | None:
    """The token's owner: one indexed lookup on the hash (or its prefetched answer), confirmed in constant time."""
    token_hash = hash_token(token)
    prefetched = getattr(db, "token_owner", None)
    if prefetched is not None and prefetched[0] == token_hash:
        row = prefetched[1]
    else:
        row = db.execute(
            "SELECT id, email, role_id, api_token_hash FROM _sc_users WHERE api_token_hash = ?", (token_hash,)
        ).fetchone()
    if row is None or not hmac.compare_digest(row["api_token_hash"], token_hash):
        return None
    return user_from_row(row)


@functools.cache
def unmatchable_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def check_password(db: Connection, email: str, password: str) -> User | None:
    row = db.execute("SELECT * FROM _sc_users WHERE email = ?", (email,)).fetchone()
    if row is None or not row["password_hash"]:
        # Hash anyway, so the time taken does not tell which emails have accounts.
        check_password_hash(unmatchable_hash(), password)
        return None
    if not check_password_hash(row["password_hash"], password):
        return None
    return user_from_row(row)


def insert_user(
    db: Connection,
    email: str,
    role_id: int,
    password: str | None = None,
    password_hash: str | None = None,
    user_id: int | None = None,
) -> User:
    """Insert a user inside the caller's transaction.

    :raises UserError: when the email is empty or taken, or the password or its hash is not a string.
    """
    if password is not None and not isinstance(password, str):
        raise UserError("Password must be a string")
    if password_hash is not None and not isinstance(password_hash, str):
        raise UserError("password_hash must be a string")
    email = email.strip()
    if "@" not in email:
        raise UserError(f"Not an email address: {email!r}")
    if find_user(db, email) is not None:
        raise UserError(f"A user with email {email} already exists")
    if password is not None:
        password_hash = generate_password_hash(password)
    if user_id is None:  # PostgreSQL takes a NULL id as a NULL, not as "the next one"
        new_id = db.insert(
            "INSERT INTO _sc_users (email, password_hash, role_id) VALUES (?, ?, ?)",
            (email, password_hash, role_id),
            USERS_SQL_NAME,
        )
    else:
        new_id = db.insert(
            "INSERT INTO _sc_users (id, email, password_hash, role_id) VALUES (?, ?, ?, ?)",
            (user_id, email, password_hash, role_id),
            USERS_SQL_NAME,
            explicit_id=True,
        )
    return User(id=new_id, email=email, role_id=role_id)


def store_token(db: Connection, user_id: int, token_hash: str | None) -> None:
    """Replace the user's token hash (None removes it) inside the caller's transaction."""
    created_at = None if token_hash is None else datetime.datetime.now(datetime.UTC).isoformat()
    db.execute(
        "UPDATE _sc_users SET api_token_hash = ?, api_token_created_at = ? WHERE id = ?",
        (token_hash, created_at, user_id),
    )


def set_fixture_token(db: Connection, user_id: int, token: str) -> None:
    """Give a user a token chosen by a fixture file, inside the caller's transaction.

    :raises UserError: when it is shorter than 6 characters or another user has it.
    """
    if not isinstance(token, str) or len(token) < MIN_FIXTURE_TOKEN_LENGTH:
        raise UserError(f"API tokens must be strings of at least {MIN_FIXTURE_TOKEN_LENGTH} characters")
    set_fixture_token_hash(db, user_id, hash_token(token))


def set_fixture_token_hash(db: Connection, user_id: int, token_hash: str) -> None:
    """Restore a token hash from a dump with secrets, inside the caller's transaction.

    :raises UserError: when it is not a SHA-256 hex digest or another user has it.
    """
    if not isinstance(token_hash, str) or not TOKEN_HASH.fullmatch(token_hash):
        raise UserError("api_token_hash must be a SHA-256 hex digest (64 lowercase hex characters)")
    other = db.execute("SELECT 1 FROM _sc_users WHERE api_token_hash = ? AND id != ?", (token_hash, user_id))
    if other.fetchone() is not None:
        raise UserError("Two users cannot share an API token")
    store_token(db, user_id, token_hash)


def generate_token(db: Connection, user_id: int) -> str:
    """Give the user a new random token, replacing any old one; the plain token is returned only here."""
    token = str(uuid.uuid4())
    with transaction(db):
        store_token(db, user_id, hash_token(token))
    return token


def remove_token(db: Connection, user_id: int) -> None:
    with transaction(db):
        store_token(db, user_id, None)


def account_from_row(row: Row) -> Account:
    has_token = row["api_token_hash"] is not None
    return Account(
        id=row["id"], email=row["email"], role_id=row["role_id"], has_token=has_token,
        api_token_created_at=row["api_token_created_at"] if has_token else None,
    )  # fmt: skip


def list_accounts(db: Connection) -> list[Account]:
    """Every user, by email."""
    rows = db.execute(
        "SELECT id, email, role_id, api_token_hash, api_token_created_at FROM _sc_users ORDER BY email, id"
    )
    return [account_from_row(row) for row in rows]


def get_account(db: Connection, user_id: int) -> Account | None:
    row = db.execute(
        "SELECT id, email, role_id, api_token_hash, api_token_created_at FROM _sc_users WHERE id = ?", (user_id,)
    ).fetchone()
    return None if row is None else account_from_row(row)


def check_new_password(password) -> str:
    """:raises UserError: unless the password is a string of at least MIN_PASSWORD_LENGTH characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def create_first_admin(db: Connection, email: str, password: str) -> User:
    """Create the first user, an admin, in one transaction.

    :raises UserError: when a user exists already (checked under the write lock, so two browsers cannot both
        win), or the email or password will not do.
    """
    check_new_password(password)
    with transaction(db):
        if has_users(db):
            raise UserError("There is a user already; sign in instead")
        return insert_user(db, email, ADMIN_ROLE_ID, password=password)


def create_account(db: Connection, email: str, role_id: int, password: str) -> User:
    """:raises UserError: when the role does not exist, or the email or password will not do."""
    check_new_password(password)
    with transaction(db):
        if role_id not in roles(db):
            raise UserError(f"There is no role {role_id}")
        return insert_user(db, email, role_id, password=password)


def other_admins(db: Connection, user_id: int) -> int:
    return db.execute(
        "SELECT count(*) FROM _sc_users WHERE role_id = ? AND id != ?", (ADMIN_ROLE_ID, user_id)
    ).fetchone()[0]


def set_role(db: Connection, user_id: int, role_id: int) -> None:
    """:raises UserError: for an unknown user or role, or when it would leave no admin."""
    with transaction(db):
        account = get_account(db, user_id)
        if account is None:
            raise UserError("There is no such user")
        if role_id not in roles(db):
            raise UserError(f"There is no role {role_id}")
        if account.role_id == ADMIN_ROLE_ID and role_id != ADMIN_ROLE_ID and not other_admins(db, user_id):
            raise UserError(f"{account.email} is the last admin; make another user admin first")
        if role_id != account.role_id:
            db.execute("UPDATE _sc_users SET role_id = ? WHERE id = ?", (role_id, user_id))
            end_sessions(db, user_id)  # whoever holds a session of theirs signs in again, under the new role


def set_password(db: Connection, user_id: int, password) -> None:
    """Give the user a new password and end every session of theirs (a session may be the reason for it).

    :raises UserError: for an unknown user, or a password shorter than MIN_PASSWORD_LENGTH.
    """
    check_new_password(password)
    password_hash = generate_password_hash(password)
    with transaction(db):
        if db.execute("UPDATE _sc_users SET password_hash = ? WHERE id = ?", (password_hash, user_id)).rowcount != 1:
            raise UserError("There is no such user")
        end_sessions(db, user_id)


def delete_account(db: Connection, user_id: int) -> Account:
    """Delete a user (and with them their token) and return who it was.

    :raises UserError: for an unknown user, the last admin, or a user that rows of a table refer to
        through a Key to users (the message names the table and field).
    """
    with transaction(db):
        account = get_account(db, user_id)
        if account is None:
            raise UserError("There is no such user")
        if account.role_id == ADMIN_ROLE_ID and not other_admins(db, user_id):
            raise UserError(f"{account.email} is the last admin and cannot be deleted")
        for table_name, field_name in referencing_fields(db, USERS_TABLE_NAME):
            if exists(db, table_name, field_name, user_id):
                raise UserError(
                    f"{account.email} cannot be deleted: rows of {table_name} refer to this user in"
                    f" {field_name}; change or delete those rows first"
                )
        db.execute("DELETE FROM _sc_users WHERE id = ?", (user_id,))
    return account
