"""JSON answers, with row keys kept in field order whatever the host app's JSON settings are."""

import itertools
import json
from collections.abc import Iterable, Iterator

from flask import Response

ROWS_PER_CHUNK = 200


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def json_response(payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(compact(payload), status=status, headers=headers, mimetype="application/json")


def json_array_chunks(head: str, items: Iterable, tail: str) -> Iterator[str]:
    """`head` + a JSON array of `items` + `tail`, in chunks of a few hundred items.

    Closing this generator (a client that went away) closes `items` too, so what it holds is let go at once.
    """
    items = iter(items)
    try:
        yield head + "["
        separator = ""
        while chunk := list(itertools.islice(items, ROWS_PER_CHUNK)):
            yield separator + compact(chunk)[1:-1]  # one encoder call per chunk, without its brackets
            separator = ","
        yield "]" + tail
    finally:
        if hasattr(items, "close"):
            items.close()


def streamed_json(head: str, items: Iterable, tail: str) -> Response:
    """A JSON answer written out while `items` are still being read."""
    return Response(json_array_chunks(head, items, tail), mimetype="application/json")
