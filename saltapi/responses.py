"""JSON answers, with row keys kept in field order whatever the host app's JSON settings are."""

import json

from flask import Response


def json_response(payload, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, status=status, headers=headers, mimetype="application/json")
