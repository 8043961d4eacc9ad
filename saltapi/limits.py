"""Bounds on what one request may send, and their words: the checks (body.py, api/views.py), the error answers
(errors.py) and the OpenAPI document all read them here, so a limit changes in one place."""

MAX_BODY_BYTES = 1024 * 1024
# A request target past the server's own limit (64 KiB, serve.py) is refused before it reaches the app.
MAX_QUERY_BYTES = 6 * 1024
MAX_QUERY_PARAMETERS = 500


def size_text(size: int) -> str:
    """`1048576` -> `1 MiB`, `6144` -> `6 KiB`."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


BODY_LIMIT = size_text(MAX_BODY_BYTES)
QUERY_LIMIT = size_text(MAX_QUERY_BYTES)
BODY_TOO_LARGE = f"Request body too large (the limit is {BODY_LIMIT})"
QUERY_TOO_LONG = f"Query string too long (the limit is {QUERY_LIMIT})"
TOO_MANY_PARAMETERS = f"Too many query parameters (the limit is {MAX_QUERY_PARAMETERS})"
