"""The request's database connection: taken from the app's pool on first use, handed back at teardown."""

import functools
from collections.abc import Callable

from flask import Flask, current_app, g

from .store.connection import Connection, init_db
from .store.metadata_cache import MetadataCache
from .store.pool import ConnectionPool
from .store.search import ensure_search_indexes


def get_db() -> Connection:
    """The request's connection, from the thread's pool; the schema is ensured once per process."""
    if "_saltapi_db" not in g:
        state = current_app.extensions["saltapi"]
        db = current_app.extensions["saltapi_pool"].acquire(current_app.config["DATABASE"])
        if not state.schema_ready:
            init_db(db)
            ensure_search_indexes(db)
            state.schema_ready = True
        g._saltapi_db = db
    return g._saltapi_db


def detach_db() -> tuple[Connection, Callable[[], None]]:
    """Take the request's connection beyond the request (to stream an answer, say), with the function
    that hands it back to its pool afterwards."""
    db = get_db()
    g.pop("_saltapi_db")
    pool = current_app.extensions["saltapi_pool"]
    return db, functools.partial(pool.release, db)


def release_db(exception: BaseException | None = None) -> None:
    db = g.pop("_saltapi_db", None)
    if db is not None:
        current_app.extensions["saltapi_pool"].release(db)


def init_app(app: Flask) -> None:
    app.extensions["saltapi_pool"] = ConnectionPool(MetadataCache())
    app.teardown_appcontext(release_db)
