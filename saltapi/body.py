"""Reading a request body (JSON object or HTML form) into a dict, refusing anything else clearly."""

import json

from flask import g, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import BadRequest, PayloadTooLarge

MAX_BODY_BYTES = 1024 * 1024
MAX_NESTING = 32


def reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def parse_finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999 parses to infinity
        raise ValueError("number out of range")
    return value


def nesting_depth(value) -> int:
    """How deeply arrays and objects nest (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_json(raw: bytes) -> dict:
    """:raises BadRequest: for invalid JSON, non-objects, NaN/Infinity or nesting deeper than 32."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=reject_constant, parse_float=parse_finite_float)
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {MAX_NESTING} levels") from None
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        raise BadRequest("Invalid JSON body") from None
    if nesting_depth(value) > MAX_NESTING:
        raise BadRequest(f"JSON nested deeper than {MAX_NESTING} levels")
    if not isinstance(value, dict):
        raise BadRequest("Body must be a JSON object")
    return value


def read_raw_body() -> bytes:
    """:raises PayloadTooLarge: for a body over 1 MiB, also when it comes chunked (without a length)."""
    # For this request only: a host app's own limits stay as they are. One byte more than allowed is read: a
    # chunked body is cut off quietly at the limit, and a cut-off form is still a form, so only the extra byte
    # tells a body of exactly 1 MiB from a longer one.
    request.max_content_length = request.max_form_memory_size = MAX_BODY_BYTES + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("Request body too large (the limit is 1 MiB)")
    return raw


def request_body() -> dict:
    """The request's body as a dict (parsed once per request; an absent body is {}).

    :raises BadRequest: for a content type other than JSON or form data, or a malformed body.
    """
    if "_saltapi_body" not in g:
        g._saltapi_body = read_body()
    return g._saltapi_body


def read_body() -> dict:
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        read_raw_body()  # enforce the size limit before werkzeug parses the form
        return request.form.to_dict()
    raw = read_raw_body()
    if mimetype == "application/json" or (not raw and not mimetype):
        return parse_json(raw)
    if not raw:
        return {}
    raise BadRequest("Unsupported body type: send application/json or application/x-www-form-urlencoded")
