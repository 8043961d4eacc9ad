"""The users pages (`/useradmin`, admins only): the list, creating users, their roles, deleting them, and each
user's page with the "API token" card.
"""

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..db import get_db
from ..store.metadata import roles
from ..store.users import (
    MIN_PASSWORD_LENGTH,
    UserError,
    create_account,
    delete_account,
    generate_token,
    get_account,
    list_accounts,
    remove_token,
    set_password,
    set_role,
)  # fmt: skip
from .pages import admin_required, current_user, fail, pop_new_token, role_from_form, setup_pages, stash_new_token

bp = Blueprint("useradmin", __name__, url_prefix="/useradmin")
setup_pages(bp)


def account_or_404(user_id: int):
    account = get_account(get_db(), user_id)
    if account is None:
        fail(404, "No such user", f"There is no user with id {user_id}.")
    return account


def user_list(status: int = 200, error: str | None = None, form: dict | None = None):
    db = get_db()
    page = render_template(
        "saltapi/useradmin/list.html",
        accounts=list_accounts(db),
        role_names=roles(db),
        error=error,
        form=form or {},
        min_length=MIN_PASSWORD_LENGTH,
    )
    return page, status


@bp.get("")
@admin_required
def index():
    return user_list()


@bp.post("/save")
@admin_required
def create():
    email = request.form.get("email", "")
    form = {"email": email, "role_id": request.form.get("role_id", "")}
    role_id = role_from_form("role_id")
    if role_id is None:
        return user_list(400, "Choose a role.", form)
    try:
        user = create_account(get_db(), email, role_id, request.form.get("password", ""))
    except UserError as error:
        return user_list(400, str(error), form)
    flash(f"Created {user.email}.", "success")
    return redirect(url_for(".user_page", user_id=user.id))


@bp.get("/<dbid:user_id>")
@admin_required
def user_page(user_id: int):
    db, me = get_db(), current_user()
    account = account_or_404(user_id)
    return render_template(
        "saltapi/useradmin/user.html",
        account=account,
        role_names=roles(db),
        new_token=pop_new_token(account.id),
        is_self=me is not None and account.id == me.id,
        min_length=MIN_PASSWORD_LENGTH,
    )


@bp.post("/set-role/<dbid:user_id>")
@admin_required
def change_role(user_id: int):
    account = account_or_404(user_id)
    role_id = role_from_form("role_id")
    if role_id is None:
        flash("Choose a role.", "error")
        return redirect(url_for(".user_page", user_id=user_id))
    try:
        set_role(get_db(), user_id, role_id)
    except UserError as error:
        flash(str(error), "error")
    else:
        flash(f"{account.email} is now {roles(get_db())[role_id]}.", "success")
    return redirect(url_for(".user_page", user_id=user_id))


@bp.post("/set-password/<dbid:user_id>")
@admin_required
def set_user_password(user_id: int):
    """An admin sets another user's password (theirs they change in their account, giving the current one)."""
    account, me = account_or_404(user_id), current_user()
    if me is not None and account.id == me.id:
        flash("Change your own password in your account settings.", "error")
    elif request.form.get("password", "") != request.form.get("password_again", ""):
        flash("The two passwords differ.", "error")
    else:
        try:
            set_password(get_db(), user_id, request.form.get("password", ""))
        except UserError as error:
            flash(str(error), "error")
        else:
            flash(f"The password of {account.email} is set; their sessions are signed out.", "success")
    return redirect(url_for(".user_page", user_id=user_id))


@bp.post("/delete/<dbid:user_id>")
@admin_required
def delete(user_id: int):
    account_or_404(user_id)
    try:
        account = delete_account(get_db(), user_id)
    except UserError as error:
        flash(str(error), "error")
        return redirect(url_for(".user_page", user_id=user_id))
    flash(f"Deleted {account.email}.", "success")
    return redirect(url_for(".index"))


@bp.post("/gen-api-token/<dbid:user_id>")
@admin_required
def gen_api_token(user_id: int):
    """Make a new token (the old one stops working); it is shown once, on the page this redirects to."""
    account_or_404(user_id)
    stash_new_token(user_id, generate_token(get_db(), user_id))
    return redirect(url_for(".user_page", user_id=user_id))


@bp.post("/remove-api-token/<dbid:user_id>")
@admin_required
def remove_api_token(user_id: int):
    account = account_or_404(user_id)
    remove_token(get_db(), user_id)
    flash(f"Removed the API token of {account.email}; it no longer works.", "success")
    return redirect(url_for(".user_page", user_id=user_id))
