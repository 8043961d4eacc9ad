"""`/api/docs`: Swagger UI, served from the package (static/swagger-ui, no CDN), showing the caller's own
`/api/openapi.json`: signed in, the browser's session decides which tables and operations it lists."""

from flask import Blueprint, render_template

from .pages import setup_pages

bp = Blueprint("api_docs", __name__)
SWAGGER_UI_VERSION = "5.35.0"  # static/swagger-ui/README.txt says where it came from


@bp.get("/api/docs")
def index():
    return render_template("saltapi/api_docs.html", swagger_ui_version=SWAGGER_UI_VERSION)


setup_pages(bp)
