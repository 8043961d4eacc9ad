"""Serving for real: granian's worker processes running the WSGI app (chosen by measurement, see README
"Performance").

granian reads requests in Rust, so clients that connect and send nothing, or send their headers a byte a second,
hold no thread. A body is read from a Python thread, with no time limit (granian issue 728), so each worker has
spare threads that only wait for bodies, and the app itself runs in a few threads at a time (BodyFirst).
"""

import io
import multiprocessing
import os
import socket
import threading
import time

from flask import Flask
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.server import Server

from .body import MAX_BODY_BYTES

DEFAULT_THREADS = 2  # threads running the app at once, per worker: more only take turns with the GIL
WAITING_THREADS = 64  # more threads per worker, each of which may wait for a slow client's body
HEADER_READ_TIMEOUT_MS = 10_000  # a client gets this long to send a request's headers
STOP_SECONDS = 5  # on SIGTERM, requests in flight get this long to finish before their worker is killed
LOCAL_PROXIES = frozenset({"127.0.0.1", "::1"})


def default_workers() -> int:
    """One worker per core: requests are short and CPU-bound, and SQLite serialises writers anyway."""
    return max(2, os.cpu_count() or 1)


class AccessLog:
    """One line per request on standard output: address, method, path (never the query string, where tokens may
    travel), protocol, status and the time until the answer started. Written with one os.write: granian's access
    log goes through `logging`, which cost a third of a GET by id."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started, status = time.perf_counter(), ["500"]

        def start_and_note(status_line, headers, exc_info=None):
            status[0] = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, start_and_note)
        finally:
            line = (
                f'{environ.get("REMOTE_ADDR", "-")} "{environ["REQUEST_METHOD"]} {loggable(environ["PATH_INFO"])}'
                f' {environ["SERVER_PROTOCOL"]}" {status[0]} {(time.perf_counter() - started) * 1000:.1f}ms\n'
            )
            os.write(1, line.encode("ascii", "backslashreplace"))


def loggable(path: str) -> str:
    """The path with control characters (a decoded %0A, say) and other non-ASCII written as escapes, so a URL
    cannot forge log lines."""
    if path.isascii() and path.isprintable():
        return path
    return path.encode("latin-1").decode("utf-8", "replace").encode("unicode_escape").decode("ascii")


class BodyFirst:
    """The app, run by at most `threads` threads of the worker at a time, each only once its request's body is in:
    a client that stalls mid-body holds one waiting thread, not the app, and few threads take turns with the GIL
."""

    def __init__(self, app, threads: int):
        self.app, self.turns = app, threading.BoundedSemaphore(threads)

    def __call__(self, environ, start_response):
        read_body_first(environ)
        with self.turns:
            return self.app(environ, start_response)


def read_body_first(environ: dict) -> None:
    """Read the body now when it is at most MAX_BODY_BYTES (a chunked one up to one byte more, so the app still
    tells a longer one apart); one declared longer is left to the app, which refuses it unread."""
    length = environ.get("CONTENT_LENGTH", "")
    if length.isdigit() and 0 < int(length) <= MAX_BODY_BYTES:
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(int(length)))
    elif not length and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(MAX_BODY_BYTES + 1))


def scheme_from_local_proxy(app):
    """The WSGI app, told the request came over HTTPS when a proxy on this machine that ends TLS says so in
    X-Forwarded-Proto (gunicorn's default, kept: README "Deploying"); from anywhere else the header is ignored."""

    def wsgi(environ, start_response):
        if environ.get("HTTP_X_FORWARDED_PROTO") == "https" and environ.get("REMOTE_ADDR") in LOCAL_PROXIES:
            environ["wsgi.url_scheme"] = "https"
        return app(environ, start_response)

    return wsgi


def refuse_a_taken_port(host: str, port: int) -> None:
    """granian listens with SO_REUSEPORT, so a second server on a taken port would start and silently take half of
    the first one's requests; binding once without it fails as other servers do.

    :raises OSError: EADDRINUSE when something listens there already.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no listener
        probe.bind((host, port))


def serve(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until stopped (SIGINT/SIGTERM): `workers` processes, each running the app in `threads` threads."""
    # The workers are forks of this process and take the app it built (Python 3.14 would spawn them afresh).
    multiprocessing.set_start_method("fork", force=True)
    server = Server(
        "saltapi",  # only a name: the workers run the app built above
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads + WAITING_THREADS,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        workers_kill_timeout=STOP_SECONDS,
    )
    wsgi = AccessLog(scheme_from_local_proxy(BodyFirst(app, threads)))
    server.serve(target_loader=lambda: wsgi, wrap_loader=False)
