"""The web UI's shared parts: the blueprint with the templates, stylesheet and home page, page guards, error
pages, the CSRF check of forms and the headers every page gets.
"""

import datetime
import functools
import json
from typing import NoReturn
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, g, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import IntegerConverter, ValidationError

from ..auth import row_owner, session_user
from ..body import refuse_oversized_body
from ..csrf import FORM_FIELD as CSRF_FIELD
from ..csrf import csrf_token, is_valid_csrf_token, sent_csrf_token
from ..db import get_db
from ..errors import NotAuthorized
from ..store.metadata import ADMIN_ROLE_ID, load_table, roles, table_names
from ..store.rows import Query, count_rows, owned_by
from ..store.token_showings import keep_for_showing, take_for_showing
from ..store.types import INT64_MAX
from ..store.users import User, has_users

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/saltapi/static"
)
NEW_TOKEN_KEY = "_saltapi_new_token"
# Pages only ever load their own stylesheet and script; nothing may frame them (clickjacking).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class DatabaseIdConverter(IntegerConverter):
    """`<dbid:name>`: the id of a user, table or row in a page's path. ASCII digits only (werkzeug's \\d would read
    "١" as 1), and a number beyond signed 64 bits matches no route, so it is a 404 page, not a database error."""

    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > INT64_MAX:
            raise ValidationError()
        return number


def role_from_form(key: str) -> int | None:
    """The role id the form sent under `key`, or None when it names no role (every role picker reads it so)."""
    raw = request.form.get(key, "")
    role_id = int(raw) if raw.strip().isdigit() else None
    return role_id if role_id in roles(get_db()) else None


def current_user() -> User | None:
    """The signed-in user of this request (looked up once per request)."""
    if "_saltapi_page_user" not in g:
        g._saltapi_page_user = session_user(get_db())
    return g._saltapi_page_user


def error_page(status: int, title: str, message: str) -> Response:
    response = Response(render_template("saltapi/error.html", title=title, message=message), status)
    return response


ERROR_TITLES = {400: "Bad request", 403: "Not allowed", 404: "Not found", 405: "Method not allowed", 413: "Too large"}
ERROR_MESSAGES = {
    404: "There is no page at this address.",
    405: "This page does not answer that kind of request.",
    500: "Something went wrong on our side; the error is logged.",
}


def page_for_error(status: int, message: str | None = None) -> Response:
    """The UI's own error page for what no page view answered itself: unknown addresses, wrong methods, refused
    bodies, bugs. Outside a page blueprint's request, so the page context and headers are added here."""
    try:
        context = page_context()
    except Exception:  # the error may be the database's own; the page must still be shown
        context = page_context(anonymous=True)
    page = render_template(
        "saltapi/error.html", title=ERROR_TITLES.get(status, "Error"),
        message=message or ERROR_MESSAGES.get(status, "The request could not be answered."), **context,
    )  # fmt: skip
    return page_headers(Response(page, status))


def fail(status: int, title: str, message: str) -> NoReturn:
    """Stop the request with an error page."""
    abort(error_page(status, title, message))


def login_page_url() -> str:
    return url_for("web_auth.login", next=request.full_path if request.query_string else request.path)


def login_required(view):
    """Signed-out callers are sent to the sign-in page, which brings them back here."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if current_user() is None:
            return redirect(login_page_url())
        return view(**kwargs)

    return wrapped


def admin_required(view):
    """Signed-out callers sign in first; signed-in ones who are not admins get a 403 page."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        user = current_user()
        if user is None:
            return redirect(login_page_url())
        if user.role_id != ADMIN_ROLE_ID:
            fail(403, "Not allowed", "This page is for admins only.")
        return view(**kwargs)

    return wrapped


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site (never `//elsewhere` or `https://elsewhere`), without
    control characters (a CR or LF would split the Location header)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("web.home")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in target):
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return url_for("web.home")
    return target


def protect_form():
    """Every POST to a page carries the session's CSRF token: in the form field `_csrf`, or in a CSRF header
    (csrf.HEADERS) as Saltcorn's clients send it (pysaltcorn posts `/auth/gen-api-token` with no form at all)."""
    if request.method == "POST" and not is_valid_csrf_token(sent_csrf_token(request.form.get(CSRF_FIELD))):
        return error_page(
            403, "Form expired", "CSRF token missing or invalid. Go back, reload the page and send the form again."
        )
    return None


def page_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP 2
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")  # pages show tokens and private data
    return response


def format_when(iso: str | None) -> str:
    """An ISO-8601 moment as `2025-01-31 14:05 UTC`."""
    if iso is None:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def format_attribute(value) -> str:
    """A field attribute as a person reads it: lists joined, booleans as yes/no, others as JSON has them."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(format_attribute, value))
    return value if isinstance(value, str) else json.dumps(value)


def page_context(anonymous: bool = False) -> dict:
    user = None if anonymous else current_user()
    return {
        "current_user": user, "is_admin": is_admin(user), "csrf_token": csrf_token, "format_when": format_when,
        "format_attribute": format_attribute,
    }  # fmt: skip


def is_admin(user: User | None) -> bool:
    return user is not None and user.role_id == ADMIN_ROLE_ID


def add_dbid_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("dbid", DatabaseIdConverter)


def setup_pages(blueprint: Blueprint) -> None:
    """What every page blueprint has: ids in paths, the body limits and the CSRF check of forms, the page headers,
    and the template context."""
    blueprint.record_once(add_dbid_converter)
    blueprint.before_request(refuse_oversized_body)
    blueprint.before_request(protect_form)
    blueprint.after_request(page_headers)
    blueprint.context_processor(page_context)


setup_pages(bp)


def stash_new_token(user_id: int, token: str) -> None:
    """Keep a new token for the next page only: it is shown once, right after it was made. The session cookie
    (signed, not encrypted) gets only the key to it (store/token_showings.py), never the token."""
    session[NEW_TOKEN_KEY] = {"user_id": user_id, **keep_for_showing(get_db(), user_id, token)}


def pop_new_token(user_id: int) -> str | None:
    kept = session.pop(NEW_TOKEN_KEY, None)
    if isinstance(kept, dict) and kept.get("user_id") == user_id:
        return take_for_showing(get_db(), user_id, kept)
    return None


@bp.get("/")
def home():
    """The tables the signed-in user may read (or owns rows of, counting only those), with links to their rows."""
    user = current_user()
    if user is None:
        return redirect(url_for("web_auth.login" if has_users(get_db()) else "web_auth.create_first_user"))
    db = get_db()
    readable = []
    for table in (load_table(db, name) for name in table_names(db)):
        try:
            owner = row_owner(table, "read", user)
        except NotAuthorized:
            continue
        rows = count_rows(db, table, Query(filters=owned_by(table, owner)))
        readable.append({"table": table, "rows": rows, "owned": owner is not None,
                         "can_write": user.role_id <= table.min_role_write})  # fmt: skip
    return render_template("saltapi/home.html", tables=readable, role_names=roles(db))
