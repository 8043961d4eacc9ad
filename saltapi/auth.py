"""Who is calling: the API token in its one allowed place, else the signed-in browser session (with its CSRF
check for writes), and the access decorator of the API routes.
"""

import functools
import time

from flask import current_app, g, request, session

from .body import request_body
from .csrf import FORM_FIELD as CSRF_FIELD
from .csrf import is_valid_csrf_token, new_csrf_token, sent_csrf_token
from .db import get_db
from .errors import BadRequest, CsrfFailed, InvalidToken, NotAuthorized, NotFound, TooManyFailedAttempts
from .store.connection import Connection, transaction
from .store.login_limits import LoginLimiter, token_address_key
from .store.metadata import PUBLIC_ROLE_ID, Table, load_table, load_table_by_id
from .store.sessions import end_sessions, session_account, session_generation
from .store.users import User, find_user_by_token, prefetch_token_owner, user_from_row

TOKEN_KEY = "access_token"
UNUSABLE_TOKEN = ""  # stands for a malformed credential: it matches no user, so it fails loudly
SESSION_USER_ID = "_saltapi_user_id"
SESSION_EMAIL = "_saltapi_email"
SESSION_GENERATION = "_saltapi_generation"  # the user's session generation (store/sessions.py) at sign-in
SESSION_SEEN = "_saltapi_seen"  # when the session was last used (Unix seconds), for the idle expiry
IDLE_MINUTES_SETTING = "SALTAPI_SESSION_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 8 * 60  # a working day; SALTAPI_SESSION_IDLE_MINUTES changes it
SEEN_REFRESH_SECONDS = 60  # `seen` is rewritten (a new cookie) at most once a minute
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Unknown tokens from one address: 20 free in an hour, then that address's unknown tokens wait 1 s, 2 s ... up to
# 5 minutes after its latest one (429). A correct token is never refused.
TOKEN_FREE_FAILURES = 20
TOKEN_MAX_DELAY_SECONDS = 5 * 60
TOKEN_WINDOW_SECONDS = 60 * 60
TOKEN_LIMITER_KEY = "saltapi_token_limiter"  # in app.extensions; tests put a limiter with their own clock there


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header; other schemes are not ours to judge."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    words = credentials.split()
    return words[0] if len(words) == 1 else UNUSABLE_TOKEN


def token_from_request() -> str | None:
    """The API token of the header or the query string; None when there is none. The body is not read.

    :raises BadRequest: when a token is sent in more than one place.
    """
    found = request.args.getlist(TOKEN_KEY)
    header_token = bearer_token()
    if header_token is not None:
        found.append(header_token)
    if len(found) > 1:
        raise BadRequest("Send the API token in only one place")
    return found[0] if found else None


def token_from_body() -> str | None:
    """The body's `access_token`, removed so it never reaches a row; None when there is none (and for GET, HEAD
    and OPTIONS, whose bodies are never read)."""
    body = request_body()
    if TOKEN_KEY not in body:
        return None
    token = body.pop(TOKEN_KEY)
    return token if isinstance(token, str) else UNUSABLE_TOKEN


def sign_in(db: Connection, user: User) -> None:
    """Make this browser session `user`'s: a fresh session (nothing from before survives), naming the user's
    current session generation, and a new CSRF token."""
    session.clear()
    session[SESSION_USER_ID] = user.id
    session[SESSION_EMAIL] = user.email
    session[SESSION_GENERATION] = session_generation(db, user.id)
    session[SESSION_SEEN] = int(time.time())
    new_csrf_token()


def sign_out(db: Connection) -> None:
    """End this session and, on the server, every other session of its user (a copied cookie included)."""
    user = session_user(db)
    if user is not None:
        with transaction(db):
            end_sessions(db, user.id)
    session.clear()


def idle_seconds() -> float:
    return float(current_app.config[IDLE_MINUTES_SETTING]) * 60


def session_user(db: Connection) -> User | None:
    """The user signed in to this browser session, looked up afresh so a role change or deletion applies at once.

    The session ends on the server: it must name the user's current session generation (signing out, a new
    password or role, deleting the user replace it) and have been used within the idle time. The email must
    still match too, so a session outlives no database loaded anew.
    """
    user_id, seen, now = session.get(SESSION_USER_ID), session.get(SESSION_SEEN), time.time()
    if not isinstance(user_id, int) or not isinstance(seen, int) or now - seen > idle_seconds():
        return None
    row = session_account(db, user_id)
    if row is None or row["email"] != session.get(SESSION_EMAIL) or row["generation"] != session.get(SESSION_GENERATION):
        return None
    if now - seen >= SEEN_REFRESH_SECONDS:
        session[SESSION_SEEN] = int(now)
    return user_from_row(row)


def session_csrf_token() -> object:
    """The CSRF token a cookie-authenticated write sends: header `X-CSRF-Token` (or another name csurf reads, such
    as pysaltcorn's `CSRF-Token`), else Saltcorn's `_csrf` body key.

    `_csrf` is taken out of the body, so it never reaches a row.
    """
    return sent_csrf_token(request_body().pop(CSRF_FIELD, None))


def token_limiter() -> LoginLimiter:
    """Counts unknown tokens per address, in the same shared table as failed sign-ins, with its own limits."""
    return current_app.extensions.setdefault(
        TOKEN_LIMITER_KEY,
        LoginLimiter(
            free_failures=TOKEN_FREE_FAILURES, max_delay=TOKEN_MAX_DELAY_SECONDS, window_seconds=TOKEN_WINDOW_SECONDS
        ),
    )


def user_from_token(db: Connection, token: str) -> User:
    """The token's owner. A correct token is always accepted, whatever else came from its address (behind a proxy
    every client may share one). Unknown ones are counted per address, and an address that sent too many lately
    gets 429 for its unknown tokens, without a write: guessing from one address is slowed, at no cost to anyone.

    :raises TooManyFailedAttempts: for an unknown token while this address must wait.
    :raises InvalidToken: when the token matches no user (counted against the address).
    """
    user = find_user_by_token(db, token)
    if user is not None:
        return user
    limiter, key = token_limiter(), token_address_key(request.remote_addr)
    wait = limiter.retry_after(db, key)
    if wait is not None:
        raise TooManyFailedAttempts(wait)
    limiter.record_failure(db, key)
    raise InvalidToken()


def caller_from_request(db: Connection) -> User | None:
    """The user behind the request's credentials, or None for the public (docs/api.md §3).

    A token, when sent, alone decides; else the signed-in browser session does, and a write it authenticates
    must carry the session's CSRF token, since a browser sends the cookie along with any site's request.

    :raises InvalidToken: when a token is sent and matches no user.
    :raises TooManyFailedAttempts: when a token is sent from an address that sent too many unknown ones.
    :raises CsrfFailed: for a cookie-only write without the session's CSRF token.
    """
    token = token_from_request()
    if token is not None:
        # Resolved before the body is read: an unknown token costs no parsing, however big the body.
        user = user_from_token(db, token)
        if token_from_body() is not None:
            raise BadRequest("Send the API token in only one place")
        return user
    token = token_from_body()
    if token is not None:
        return user_from_token(db, token)
    signed_in = session_user(db)
    if signed_in is not None and request.method not in SAFE_METHODS and not is_valid_csrf_token(session_csrf_token()):
        raise CsrfFailed()
    return signed_in


def caller_may_read(table_name: str) -> bool:
    """May the caller of this request read `table_name`? Role rules hold for summaries of other tables too."""
    table = load_table(get_db(), table_name)
    return table is not None and g.saltapi_role_id <= table.min_role_read


def resolve_table(db: Connection, table_name: str, numeric_id: bool) -> Table:
    """:raises NotFound: when no table has that name (or, where `numeric_id` allows, that id)."""
    table = load_table(db, table_name)
    # Names never start with a digit, so digits can only be an id; one past 64 bits names nothing (and SQLite
    # could not even take it as a parameter).
    if table is None and numeric_id and table_name.isascii() and table_name.isdigit() and len(table_name) < 19:
        table = load_table_by_id(db, int(table_name))
    if table is None:
        raise NotFound()
    return table


def row_owner(table: Table, kind: str, user: User | None, existing_row: bool = False) -> int | None:
    """Whose rows the caller may `kind` ("read"/"write"; `existing_row` for an update or delete): None for every
    row, else the caller's own user id, when the role is too weak but the table has an owner field (docs/api.md §7a).

    On an owned table, changing an existing row takes the read role too (else only one's own rows), so a caller
    cannot change or delete what they could not see.

    :raises NotAuthorized: when the caller may reach no row at all (the public owns nothing).
    """
    needed = table.min_role(kind)
    if kind == "write" and existing_row and table.owner_field is not None:
        needed = min(needed, table.min_role_read)
    if (PUBLIC_ROLE_ID if user is None else user.role_id) <= needed:
        return None
    if table.owner_field is not None and user is not None:
        return user.id
    raise NotAuthorized()


def table_access(kind: str, numeric_id: bool = False):
    """Resolve `<table_name>` and let the view run only for callers whose role may `kind` ("read"/"write") it,
    or who own rows of it: the view gets `owner`, the user id whose rows alone the caller reaches (None for all).

    Order as Saltcorn's api routes: unknown table 404 first, then credentials, then the role check.
    """

    def decorator(view):
        @functools.wraps(view)
        def wrapped(table_name: str, **kwargs):
            db = get_db()
            token = bearer_token() or request.args.get(TOKEN_KEY)
            if token:  # a pure read, so the checks below keep their order: their first two statements as one
                prefetch_token_owner(db, token)
            table = resolve_table(db, table_name, numeric_id)
            if kind == "write" and table.read_only:
                raise BadRequest(f"The {table.name} table is read-only through the API")
            user = caller_from_request(db)
            role_id = PUBLIC_ROLE_ID if user is None else user.role_id
            owner = row_owner(table, kind, user, existing_row="row_id" in kwargs)
            g.saltapi_user = user
            g.saltapi_role_id = role_id
            if "row_id" in kwargs and kwargs["row_id"] is None:  # outside signed 64 bits: no row has that id
                raise NotFound()
            return view(table, owner=owner, **kwargs)

        return wrapped

    return decorator
