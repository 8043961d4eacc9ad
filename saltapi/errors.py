"""The API's errors: exceptions that carry their status, and the one place that turns them into JSON."""

import functools
import logging
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .limits import BODY_TOO_LARGE
from .responses import json_response
from .store.connection import INTEGRITY_ERRORS, OPERATIONAL_ERRORS, is_unavailable

API_PREFIX = "/api"
CONSTRAINT_MESSAGE = "The change breaks a constraint of the table"
log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    headers: dict[str, str] = {}

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ApiError):
    status = 400


class NotAuthorized(ApiError):
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}

    def __init__(self, message: str = "Not authorized"):
        super().__init__(message)


class InvalidToken(NotAuthorized):
    """A token was sent and matches no user: fail loudly, even where the public could read (docs/api.md §9)."""

    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class CsrfFailed(ApiError):
    """A write that only a session cookie authenticates, without the session's CSRF token (docs/api.md §3)."""

    status = 403

    def __init__(self, message: str = "CSRF token missing or invalid"):
        super().__init__(message)


class TooManyFailedAttempts(ApiError):
    """Too many unknown tokens from this address lately; `Retry-After` says how many seconds to wait."""

    status = 429

    def __init__(self, retry_after: int, message: str = "Too many failed attempts; try again later"):
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class NotFound(ApiError):
    status = 404

    def __init__(self, message: str = "Not found"):
        super().__init__(message)


class PayloadTooLarge(ApiError):
    status = 413


class QueryTooLong(ApiError):
    status = 414


class TooManyParameters(ApiError):
    status = 400


HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: BODY_TOO_LARGE,
}


def is_api_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def json_error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


PageError = Callable[[int, str | None], Response]  # (status, message or None) -> the web UI's error page


def handle_api_error(render_page: PageError | None, error: ApiError) -> Response:
    """JSON under /api/; elsewhere (a refused body of a form, say) the UI's error page."""
    if render_page is not None and not is_api_path(request.path):
        return with_headers(render_page(error.status, error.message), error.headers)
    return json_error(error.message, error.status, error.headers)


def handle_http_exception(render_page: PageError | None, error: HTTPException):
    """Routing and protocol errors: JSON under /api/, the UI's own error page elsewhere."""
    headers = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    if is_api_path(request.path):
        status = error.code or 500
        return json_error(HTTP_MESSAGES.get(status, error.name), status, headers)
    if render_page is None:
        return error
    return with_headers(render_page(error.code or 500, None), headers)


def with_headers(response: Response, headers: dict[str, str]) -> Response:
    response.headers.update(headers)
    return response


def handle_integrity_error(error: Exception) -> Response:
    """A constraint the pre-checks did not foresee: say so plainly, never with the database's own text."""
    log.warning("integrity error not caught by validation: %s", error)
    return json_error(CONSTRAINT_MESSAGE, 400)


def handle_operational_error(error: Exception):
    """The disk, the lock or the server failed, not the request: a 503 the client may retry; else it is a bug."""
    if not is_api_path(request.path) or not is_unavailable(error):
        return handle_unexpected_error(error)
    log.error("database unavailable on %s %s: %s", request.method, request.path, error)
    return json_error("The database is unavailable right now; try again", 503, {"Retry-After": "1"})


def handle_unexpected_error(error: Exception):
    if not is_api_path(request.path):
        raise error
    log.exception("unexpected error on %s %s", request.method, request.path)
    return json_error("Internal server error", 500)


def register_error_handlers(app: Flask, render_page: PageError | None = None) -> None:
    """JSON errors under /api/; `render_page(status, message)` makes the error pages everywhere else."""
    app.register_error_handler(ApiError, functools.partial(handle_api_error, render_page))
    app.register_error_handler(HTTPException, functools.partial(handle_http_exception, render_page))
    for error_class in INTEGRITY_ERRORS:
        app.register_error_handler(error_class, handle_integrity_error)
    for error_class in OPERATIONAL_ERRORS:
        app.register_error_handler(error_class, handle_operational_error)
    app.register_error_handler(Exception, handle_unexpected_error)
