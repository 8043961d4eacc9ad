"""Reading a request body (JSON object or HTML form) into a dict, refusing anything else clearly and cheaply.

Every check that can refuse a body runs on its raw bytes, in time linear in its size and in C (bytes methods), before
anything is parsed: a body within MAX_BODY_BYTES costs milliseconds to refuse or to parse, whoever sends it.
"""

import json

from flask import g, request
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import BadRequest, PayloadTooLarge
from .limits import BODY_TOO_LARGE, MAX_BODY_BYTES

MAX_NESTING = 32
# Parsing cost grows with the number of values more than with bytes (349,000 empty arrays took seconds): a row
# body is one flat object, so these bounds are far above any real request.
MAX_JSON_CONTAINERS = 1000
MAX_FORM_FIELDS = 1000
METHODS_WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
FORM = "application/x-www-form-urlencoded"
# Every bracket becomes "[" or "]" (depth is all that is counted here), every other byte is dropped.
AS_BRACKETS = bytes.maketrans(b"{}", b"[]")
NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def parse_finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999 parses to infinity
        raise ValueError("number out of range")
    return value


def structure_of(raw: bytes) -> bytes:
    """The brackets of a JSON text outside its strings, `{}` written as `[]`.

    Escaped backslashes and quotes go first (left to right, as JSON pairs them), so every remaining quote opens or
    closes a string and the text between every other quote is outside strings.
    """
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[::2]).translate(AS_BRACKETS, NOT_BRACKETS)


def nests_deeper(brackets: bytes, limit: int) -> bool:
    """Do these brackets nest deeper than `limit`? Each pass removes the innermost pairs, i.e. one level.

    Unbalanced brackets stop changing before they are gone: that is invalid JSON, which json.loads reports.
    """
    for _ in range(limit):
        shorter = brackets.replace(b"[]", b"")
        if shorter == brackets:
            return False
        brackets = shorter
    return brackets.replace(b"[]", b"") != brackets


def parse_json(raw: bytes) -> dict:
    """:raises BadRequest: for invalid JSON, non-objects, NaN/Infinity, nesting deeper than 32 or more than 1000
    arrays and objects."""
    if not raw.strip():
        return {}
    brackets = structure_of(raw)
    if nests_deeper(brackets, MAX_NESTING):
        raise BadRequest(f"JSON nested deeper than {MAX_NESTING} levels")
    if brackets.count(b"[") > MAX_JSON_CONTAINERS:
        raise BadRequest(f"JSON body with more than {MAX_JSON_CONTAINERS} arrays and objects")
    try:
        value = json.loads(raw, parse_constant=reject_constant, parse_float=parse_finite_float)
    except RecursionError:  # opening brackets without their closing ones, thousands deep
        raise BadRequest(f"JSON nested deeper than {MAX_NESTING} levels") from None
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        raise BadRequest("Invalid JSON body") from None
    if not isinstance(value, dict):
        raise BadRequest("Body must be a JSON object")
    return value


def refuse_oversized_body() -> None:
    """Refuse a body over MAX_BODY_BYTES, and a form of more than 1000 fields, before anything parses it.

    A body the method does not use (GET, HEAD, OPTIONS) is never read: only its announced length is judged.

    :raises PayloadTooLarge: over MAX_BODY_BYTES, also when it comes chunked (without a length).
    :raises BadRequest: for a form of more than 1000 fields.
    """
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(BODY_TOO_LARGE)
    if request.method in METHODS_WITHOUT_BODY:
        return
    raw = read_raw_body()
    if request.mimetype == FORM and raw.count(b"&") >= MAX_FORM_FIELDS:
        raise BadRequest(f"Too many form fields (the limit is {MAX_FORM_FIELDS})")


def read_raw_body() -> bytes:
    """The body's bytes (kept, so a form parsed afterwards reads them again).

    :raises PayloadTooLarge: for a body over MAX_BODY_BYTES, also when it comes chunked (without a length).
    """
    # For this request only: a host app's own limits stay as they are. One byte more than allowed is read: a
    # chunked body is cut off quietly at the limit, and a cut-off form is still a form, so only the extra byte
    # tells a body of exactly MAX_BODY_BYTES from a longer one.
    request.max_content_length = request.max_form_memory_size = MAX_BODY_BYTES + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raw = None
    if raw is None or len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(BODY_TOO_LARGE)
    return raw


def request_body() -> dict:
    """The request's body as a dict (parsed once per request; an absent body, or any body of a GET, HEAD or
    OPTIONS request, is {}).

    :raises BadRequest: for a content type other than JSON or form data, or a malformed body.
    """
    if "_saltapi_body" not in g:
        g._saltapi_body = {} if request.method in METHODS_WITHOUT_BODY else read_body()
    return g._saltapi_body


def read_body() -> dict:
    refuse_oversized_body()
    raw = read_raw_body()
    mimetype = request.mimetype
    if mimetype == FORM:
        return request.form.to_dict()
    if mimetype == "application/json" or (not raw and not mimetype):
        return parse_json(raw)
    if not raw:
        return {}
    raise BadRequest("Unsupported body type: send application/json or application/x-www-form-urlencoded")
