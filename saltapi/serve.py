"""Serving for real: granian's worker processes running the WSGI app (chosen by measurement, see README
"Performance").

granian reads requests in Rust, so clients that connect and send nothing, or send their headers a byte a second,
hold no thread that runs the app. A client that stalls mid-body does hold one (granian reads the body from the
app's thread, with no time limit), so each worker keeps a pool of threads, made as they are needed.
"""

import logging
import multiprocessing
import os
import socket

from flask import Flask
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.log import LOGGING_CONFIG
from granian.server import Server

# The path without the query string: tokens sent as ?access_token= must never reach a log.
ACCESS_LOG_FORMAT = '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'
DEFAULT_THREADS = 32
HEADER_READ_TIMEOUT_MS = 10_000  # a client gets this long to send a request's headers
STOP_SECONDS = 5  # on SIGTERM, requests in flight get this long to finish before their worker is killed
LOCAL_PROXIES = frozenset({"127.0.0.1", "::1"})


def default_workers() -> int:
    """One worker per core: requests are short and CPU-bound, and SQLite serialises writers anyway."""
    return max(2, os.cpu_count() or 1)


class EscapedPath(logging.Filter):
    """Write control characters of a logged path (a decoded %0A, say) as escapes: a URL cannot forge log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict) and isinstance(record.args.get("path"), str):
            record.args = {**record.args, "path": record.args["path"].encode("unicode_escape").decode("ascii")}
        return True


def scheme_from_local_proxy(app: Flask):
    """The WSGI app, told the request came over HTTPS when a proxy on this machine that ends TLS says so in
    X-Forwarded-Proto (gunicorn's default, kept: README "Deploying"); from anywhere else the header is ignored."""

    def wsgi(environ, start_response):
        if environ.get("HTTP_X_FORWARDED_PROTO") == "https" and environ.get("REMOTE_ADDR") in LOCAL_PROXIES:
            environ["wsgi.url_scheme"] = "https"
        return app(environ, start_response)

    return wsgi


def log_config() -> dict:
    """granian's logging, with the access log's paths escaped."""
    handlers = LOGGING_CONFIG["handlers"]
    return {
        **LOGGING_CONFIG,
        "filters": {"escaped_path": {"()": f"{__name__}.EscapedPath"}},
        "handlers": {**handlers, "access": {**handlers["access"], "filters": ["escaped_path"]}},
    }


def refuse_a_taken_port(host: str, port: int) -> None:
    """granian listens with SO_REUSEPORT, so a second server on a taken port would start and silently take half of
    the first one's requests; binding once without it fails as other servers do.

    :raises OSError: EADDRINUSE when something listens there already.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT leftovers are no listener
        probe.bind((host, port))


def serve(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until stopped (SIGINT/SIGTERM): `workers` processes, each running the app in up to `threads` threads."""
    # The workers are forks of this process and take the app it built (Python 3.14 would spawn them afresh).
    multiprocessing.set_start_method("fork", force=True)
    server = Server(
        "saltapi",  # only a name: the workers run the app built above
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        log_dictconfig=log_config(),
        log_access=True,
        log_access_format=ACCESS_LOG_FORMAT,
        workers_kill_timeout=STOP_SECONDS,
    )
    wsgi = scheme_from_local_proxy(app)
    server.serve(target_loader=lambda: wsgi, wrap_loader=False)
