"""Serving for real: gunicorn's pre-forked workers (chosen by measurement, see README "Performance")."""

import os

from flask import Flask
from gunicorn.app.base import BaseApplication

# The path without the query string: tokens sent as ?access_token= must never reach a log.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def default_workers() -> int:
    """One worker per core: requests are short and CPU-bound, and SQLite serialises writers anyway."""
    return max(2, os.cpu_count() or 1)


class Server(BaseApplication):
    """gunicorn running an app object built in this process (workers fork after it is made)."""

    def __init__(self, app: Flask, options: dict):
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app


def serve(app: Flask, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until stopped (SIGINT/SIGTERM); one thread per worker uses gunicorn's plain sync workers."""
    Server(
        app,
        {
            "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "sync" if threads == 1 else "gthread",
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "graceful_timeout": 5,
            # gunicorn 27's runtime control socket has one path per user: several saltapi instances (a test
            # suite starts many) would take it from each other, and saltapi needs no runtime control.
            "control_socket_disable": True,
            # gunicorn's longest (default 4094): room for the API's own 6 KiB query limit, which answers in JSON.
            "limit_request_line": 8190,
            # A sync worker is silent while it streams a long list to a slow client; 30 s would kill it.
            "timeout": 120,
        },
    ).run()
