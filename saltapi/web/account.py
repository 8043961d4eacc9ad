"""Signing in and out (`/auth/...`), the first admin, and the signed-in user's own account page and API token."""

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth import sign_in, sign_out
from ..db import get_db
from ..store.login_limits import LoginLimiter, account_address_key, address_key
from ..store.metadata import get_setting, roles
from ..store.users import (
    MIN_PASSWORD_LENGTH,
    User,
    UserError,
    check_password,
    create_first_admin,
    generate_token,
    get_account,
    has_users,
    remove_token,
    set_password,
)  # fmt: skip
from .pages import current_user, login_required, pop_new_token, safe_next, setup_pages, stash_new_token

bp = Blueprint("web_auth", __name__, url_prefix="/auth")
LOGGED_IN_COOKIE = "loggedin"  # Saltcorn's marker of a signed-in browser; clients such as pysaltcorn look for it


setup_pages(bp)


def login_limiter() -> LoginLimiter:
    return current_app.extensions["saltapi"].login_limiter


def limit_keys(email: str) -> tuple[str, str]:
    """Who is guessing: this address, and this account from this address (never the account alone, so no
    failure from elsewhere keeps its owner out)."""
    return account_address_key(email, request.remote_addr), address_key(request.remote_addr)


def login_form(status: int = 200, error: str | None = None, email: str = "") -> tuple[str, int]:
    """The sign-in page; an `error` goes in `<div id="alerts-area">`, where Saltcorn clients read it."""
    return render_template("saltapi/auth/login.html", error=error, email=email, next=request.values.get("next")), status


def wait_message(wait: int) -> str:
    if wait < 60:
        return f"Too many failed sign-ins from this address. Try again in {wait} second{'s' if wait != 1 else ''}."
    minutes = -(-wait // 60)
    return f"Too many failed sign-ins from this address. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


@bp.route("/login", methods=["GET", "POST"])
def login():
    db = get_db()
    if request.method == "GET":
        if not has_users(db):
            return redirect(url_for(".create_first_user"))
        if current_user() is not None:
            return redirect(safe_next(request.args.get("next")))
        return login_form()
    email, password = request.form.get("email", ""), request.form.get("password", "")
    keys = limit_keys(email)
    wait = login_limiter().retry_after(db, *keys)
    if wait is not None:
        body, status = login_form(429, wait_message(wait), email)
        return Response(body, status, headers={"Retry-After": str(wait)})
    user = check_password(db, email.strip(), password) if email.strip() else None
    if user is None:
        login_limiter().record_failure(db, *keys)
        # 200, like the sign-in page Saltcorn shows after a failure: Saltcorn clients read the message off the page.
        return login_form(200, "Incorrect email or password.", email)
    login_limiter().reset(db, keys[0])
    return signed_in(user, redirect(safe_next(request.form.get("next"))))


def signed_in(user: User, response: Response) -> Response:
    """Sign `user` in, and mark `response` with Saltcorn's `loggedin=true` cookie.

    The marker is no credential (only the session cookie is) and says nothing a page does not, so scripts may
    read it, as on Saltcorn; it goes where the session cookie goes and is cleared on signing out.
    """
    sign_in(get_db(), user)
    app, cookies = current_app, current_app.session_interface
    response.set_cookie(
        LOGGED_IN_COOKIE, "true", secure=cookies.get_cookie_secure(app), samesite=cookies.get_cookie_samesite(app),
        **logged_in_cookie_place(),
    )
    return response


def logged_in_cookie_place() -> dict:
    """The session cookie's path and domain, so the marker is set and deleted where that cookie lives."""
    app, cookies = current_app, current_app.session_interface
    return {"path": cookies.get_cookie_path(app), "domain": cookies.get_cookie_domain(app)}


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    """GET asks (a link or a prefetch must not sign anyone out); the POST, with its CSRF token, signs out."""
    if request.method == "GET":
        if current_user() is None:
            return redirect(url_for(".login"))
        return render_template("saltapi/auth/logout.html")
    sign_out(get_db())
    flash("You are signed out.", "success")
    response = redirect(url_for(".login"))
    response.delete_cookie(LOGGED_IN_COOKIE, **logged_in_cookie_place())
    return response


@bp.route("/create_first_user", methods=["GET", "POST"])
def create_first_user():
    """Only while there are no users: the first one is an admin, signed in at once."""
    db = get_db()
    if has_users(db):
        flash("There is a user already: sign in.", "info")
        return redirect(url_for(".login"))
    if request.method == "GET":
        return render_template("saltapi/auth/create_first_user.html", min_length=MIN_PASSWORD_LENGTH)
    email = request.form.get("email", "")
    try:
        user = create_first_admin(db, email, request.form.get("password", ""))
    except UserError as error:
        page = render_template(
            "saltapi/auth/create_first_user.html", min_length=MIN_PASSWORD_LENGTH, error=str(error), email=email
        )
        return page, 400
    response = signed_in(user, redirect(url_for("web.home")))
    flash(f"Welcome! You are signed in as {user.email}, an admin.", "success")  # after sign_in, which clears
    return response


def may_have_token(role_id: int) -> bool:
    return role_id <= int(get_setting(get_db(), "min_role_apikeygen"))


@bp.get("/settings")
@login_required
def settings():
    return settings_page()


def settings_page(
    status: int = 200, password_error: str | None = None, headers: dict | None = None
) -> ResponseReturnValue:
    db, user = get_db(), current_user()
    account = None if user is None else get_account(db, user.id)
    if account is None:  # gone since login_required looked
        return redirect(url_for(".login"))
    page = render_template(
        "saltapi/auth/settings.html",
        account=account,
        role_names=roles(db),
        token_allowed=may_have_token(account.role_id),
        new_token=pop_new_token(account.id),
        password_error=password_error,
        min_length=MIN_PASSWORD_LENGTH,
    )
    return Response(page, status, headers=headers)


@bp.post("/settings")
@login_required
def change_password():
    """A new password for the signed-in user, who must give the current one (a session left open is not enough).

    Wrong current passwords count as failed sign-ins. Every other session of the user ends; this one goes on.
    """
    db, user = get_db(), current_user()
    keys = limit_keys(user.email)
    wait = login_limiter().retry_after(db, *keys)
    if wait is not None:
        return settings_page(429, wait_message(wait), {"Retry-After": str(wait)})
    if check_password(db, user.email, request.form.get("password", "")) is None:
        login_limiter().record_failure(db, *keys)
        return settings_page(400, "The current password is not right.")
    new_password = request.form.get("new_password", "")
    if new_password != request.form.get("new_password_again", ""):
        return settings_page(400, "The two new passwords differ.")
    try:
        set_password(db, user.id, new_password)
    except UserError as error:
        return settings_page(400, str(error))
    sign_in(db, user)
    flash("Your password is changed; your other sessions are signed out.", "success")
    return redirect(url_for(".settings"))


@bp.post("/gen-api-token")
@login_required
def gen_own_token():
    user = current_user()
    if not may_have_token(user.role_id):
        flash("Your role may not have an API token.", "error")
    else:
        stash_new_token(user.id, generate_token(get_db(), user.id))
    return redirect(url_for(".settings"))


@bp.post("/remove-api-token")
@login_required
def remove_own_token():
    user = current_user()
    remove_token(get_db(), user.id)
    flash("Your API token is removed; it no longer works.", "success")
    return redirect(url_for(".settings"))
