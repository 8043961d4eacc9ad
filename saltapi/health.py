"""`GET /healthz` for load balancers and service managers: 200 while the database answers, 503 when it does not.

No credentials, no details: the answer says only whether this process can use its database.
"""

import logging

from flask import Blueprint, Response

from .db import get_db
from .responses import json_response

bp = Blueprint("saltapi_health", __name__)
log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}  # a cached "ok" would hide an outage


@bp.get("/healthz")
def healthz() -> Response:
    try:
        get_db().execute("SELECT count(*) FROM _sc_tables").fetchone()
    except Exception:  # whatever stops the database from answering makes this process unhealthy, and only that
        log.exception("health check: the database does not answer")
        return json_response({"status": "unavailable", "error": "The database does not answer"}, 503, NO_STORE)
    return json_response({"status": "ok"}, 200, NO_STORE)
