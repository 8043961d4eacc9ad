"""CSRF tokens: one random token per browser session, sent back with every form and with cookie-only API writes."""

import hmac
import secrets

from flask import request, session

SESSION_KEY = "_saltapi_csrf"
FORM_FIELD = "_csrf"  # what Saltcorn's own pages send
# docs/api.md §3 names X-CSRF-Token; the others are what Saltcorn's csurf also reads, and Saltcorn clients send
# (pysaltcorn sends CSRF-Token).
HEADERS = ("X-CSRF-Token", "CSRF-Token", "XSRF-Token", "X-XSRF-Token")


def csrf_token() -> str:
    """The session's token, made on first use (templates put it in every form)."""
    if not isinstance(session.get(SESSION_KEY), str):
        new_csrf_token()
    return session[SESSION_KEY]


def new_csrf_token() -> str:
    """Replace the session's token, e.g. on sign-in, so a token seen before signing in is worth nothing after."""
    session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


def sent_csrf_token(field_value: object = None) -> object:
    """The token this request sends: the first of `HEADERS` present (even if empty), else `field_value`, the
    request's `_csrf` form field or body key.
    """
    for header in HEADERS:
        if header in request.headers:
            return request.headers[header]
    return field_value


def is_valid_csrf_token(sent) -> bool:
    """Does `sent` equal the session's token? Compared in constant time; a session without one accepts nothing."""
    stored = session.get(SESSION_KEY)
    if not isinstance(sent, str) or not isinstance(stored, str) or not sent:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), stored.encode("utf-8"))
