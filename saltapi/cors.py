"""CORS under /api/, as Saltcorn answers: any origin's scripts may call the API with a token, never with cookies.

The setting `SALTAPI_CORS_ORIGINS` (app config, else the environment variable) is `*` (the default), a list of
origins separated by spaces or commas (`https://app.example https://admin.example`), or `off`.
"""

import os

from flask import Flask, Response, current_app, request

from .errors import is_api_path

SETTING = "SALTAPI_CORS_ORIGINS"
ANY_ORIGIN = "*"
OFF = "off"
# What a cross-origin script may send: a token and a JSON body. No CSRF header: a cookie never crosses origins
# here, since Access-Control-Allow-Credentials is never sent.
ALLOWED_HEADERS = "Authorization, Content-Type"
ALLOWED_METHODS = "GET, HEAD, POST, DELETE, OPTIONS"
EXPOSED_HEADERS = "Retry-After, WWW-Authenticate"
PREFLIGHT_MAX_AGE_SECONDS = "600"


def allowed_origins(setting: str) -> frozenset[str] | None:
    """The origins a setting lists (empty when off); None means any origin."""
    setting = setting.strip()
    if setting == ANY_ORIGIN:
        return None
    if setting.lower() in (OFF, ""):
        return frozenset()
    return frozenset(origin.rstrip("/") for origin in setting.replace(",", " ").split())


def allow_origin(origins: frozenset[str] | None) -> str | None:
    """The `Access-Control-Allow-Origin` value for this request, or None to send none."""
    if origins is None:
        return ANY_ORIGIN
    origin = request.headers.get("Origin")
    return origin if origin in origins else None


def add_cors_headers(response: Response) -> Response:
    if not is_api_path(request.path):
        return response
    origins = allowed_origins(current_app.config[SETTING])
    if origins is not None:
        response.vary.add("Origin")  # the answer depends on the Origin header: caches must keep them apart
    origin = allow_origin(origins)
    if origin is None:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:  # a preflight
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE_SECONDS
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault(SETTING, os.environ.get(SETTING, ANY_ORIGIN))
    app.after_request(add_cors_headers)
