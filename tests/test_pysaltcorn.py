"""The third-party client pysaltcorn 0.3.1, written for Saltcorn, used unchanged against the session's live server.

pysaltcorn sends the token as `Authorization: Bearer <token>` (taken from the URL's password when the user is
`token`), raises SaltcornAuthError for a 401 and SaltcornTransportError for any other error status, and keeps the
server's answer on the chained `requests.HTTPError`. Only field_distinct_values accepts a timeout; the other calls
are bounded by pytest-timeout (pytest.ini). Tests that write make their own rows and delete them afterwards.

Its session methods sign in through the web UI (`/auth/login`, cookie `connect.sid`) and then call the API with
that cookie; they send the session's CSRF token (header `CSRF-Token`) only when the client is made with
`csrf_fixup=True`, which docs/api.md §3 needs for writes.
"""

import re
import urllib.parse
import uuid
import warnings

import pytest
import requests

with warnings.catch_warnings():
    # pysaltcorn 0.3.1 imports the stdlib's cgi (deprecated since 3.11; it has its own fallback for 3.13+), and
    # pytest.ini turns warnings into errors. Only that one warning, only during the import, is let through.
    warnings.filterwarnings("ignore", message="'cgi' is deprecated", category=DeprecationWarning)
    from pysaltcorn import SaltcornAuthError, SaltcornClient, SaltcornTransportError

from conftest import PASSWORDS, TOKENS, bearer, load_data

TIMEOUT = 10
UNKNOWN_TOKEN = "no-such-token-999"
KIRK = {"id": 1, "name": "Kirk Douglas", "favbook": 1, "parent": None}
MICHAEL = {"id": 2, "name": "Michael Douglas", "favbook": 2, "parent": 1}
MELVILLE = {"id": 1, "author": "Herman Melville", "pages": 967, "publisher": None}
TOLSTOY = {"id": 2, "author": "Leo Tolstoy", "pages": 728, "publisher": 1}
ITEM_1 = {"id": 1, "code": "AA", "size": "S", "qty": 5, "price": 9.5, "active": True, "due": "2024-05-01"}
ITEM_2 = {
    "id": 2, "code": "BB", "size": None, "qty": None, "price": None, "active": False,
    "due": "2024-05-01T10:30:00.000Z",
}
FIXTURE_BOOKS = {"id": [1, 2]}  # other tests add books; these filters keep to the fixture's two
FIXTURE_ITEMS = {"id": [1, 2, 3]}
NOT_FOUND = {"error": "Not found"}
NOT_AUTHORIZED = {"error": "Not authorized"}
CSRF_ERROR = {"error": "CSRF token missing or invalid"}
EMPTY_OPTION = {"label": "", "value": ""}
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
# A user with a password and no token in tests/data.json: the token tests give it one, and take it away after.
TOKENLESS = next((user["email"], user["password"]) for user in load_data()["users"] if "api_token" not in user)


def client_for(server, who: str) -> SaltcornClient:
    """A pysaltcorn client: the API token is the URL's password, for user `token` (pysaltcorn's default user)."""
    if who == "public":
        client = SaltcornClient(server.url)
        client.auth = client.auth.get_kind("public")  # pysaltcorn's own credential-less auth: no header at all
        return client
    token = TOKENS.get(who, who)
    parts = urllib.parse.urlsplit(server.url)
    netloc = f"token:{urllib.parse.quote(token, safe='')}@{parts.netloc}"
    return SaltcornClient(parts._replace(netloc=netloc).geturl())


def refusal(excinfo) -> tuple[int, dict]:
    """The status and JSON body behind a pysaltcorn error: it chains the `requests.HTTPError` that carries them."""
    response = excinfo.value.__cause__.response
    assert response.headers["Content-Type"] == "application/json", response.text
    return response.status_code, response.json()


def unique_text(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture
def created(live_server):
    """A list the test appends (table, id) to; those rows are deleted afterwards (newest first) by plain requests."""
    rows: list[tuple[str, int]] = []
    yield rows
    for table, row_id in reversed(rows):
        response = requests.delete(
            f"{live_server.url}/api/{table}/{row_id}", headers=bearer(TOKENS["admin"]), timeout=TIMEOUT
        )
        assert response.status_code in (200, 404), response.text


def insert_book(server, created, **values) -> int:
    row = {"author": unique_text("Pysaltcorn author"), "pages": 1, **values}
    book_id = client_for(server, "admin").row_insert("books", row)
    created.append(("books", book_id))
    return book_id


# Credentials


@pytest.mark.parametrize("who", ["staff", "admin"])
def test_token_client_reads_a_staff_table(live_server, who):
    assert client_for(live_server, who).row_list("patients") == [KIRK, MICHAEL]


@pytest.mark.parametrize("who", ["public", "user"])
def test_role_too_low_to_read_is_an_auth_error(live_server, who):
    with pytest.raises(SaltcornAuthError) as excinfo:
        client_for(live_server, who).row_list("patients")
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)


def test_public_client_reads_a_public_table(live_server):
    assert client_for(live_server, "public").row_list("books", **FIXTURE_BOOKS) == [MELVILLE, TOLSTOY]


def test_unknown_token_is_an_auth_error_even_on_a_public_table(live_server):
    """docs/api.md §9: a token that matches no user fails loudly; Saltcorn would treat the caller as public."""
    with pytest.raises(SaltcornAuthError) as excinfo:
        client_for(live_server, UNKNOWN_TOKEN).row_list("books", **FIXTURE_BOOKS)
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)


def test_client_built_without_a_token_sends_an_empty_bearer_and_is_refused(live_server, monkeypatch):
    """pysaltcorn's default auth is user `token` with password `SALTCORN_TOKEN` or "", so it sends `Bearer `.

    docs/api.md §3 counts an empty Bearer token as a token that matches no user (401, §9), where Saltcorn would serve
    the public. A pysaltcorn user without a token must switch to pysaltcorn's "public" auth (see client_for).
    """
    monkeypatch.delenv("SALTCORN_TOKEN", raising=False)
    client = SaltcornClient(live_server.url)
    assert (client.auth.kind, client.auth.password) == ("token", "")
    with pytest.raises(SaltcornAuthError) as excinfo:
        client.row_list("books", **FIXTURE_BOOKS)
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)


# Reading: row_list passes its keyword arguments as the query string


@pytest.mark.parametrize(
    "who, table, filters, rows",
    [
        ("staff", "patients", {"name": "Kirk Douglas"}, [KIRK]),
        ("staff", "patients", {"name": "kirk douglas"}, []),
        ("staff", "patients", {"name": ["Kirk Douglas", "Michael Douglas"]}, [KIRK, MICHAEL]),
        ("staff", "patients", {"id": 2}, [MICHAEL]),
        ("staff", "patients", {"parent": 1}, [MICHAEL]),
        ("staff", "patients", {"parent": "null"}, [KIRK]),
        ("staff", "patients", {"favbook": 2, "name": "Kirk Douglas"}, []),
        ("staff", "patients", {"nosuchfield": 1}, [KIRK, MICHAEL]),
        (
            "staff", "patients", {"dereference": "favbook"},
            [{**KIRK, "favbook_author": "Herman Melville"}, {**MICHAEL, "favbook_author": "Leo Tolstoy"}],
        ),
        ("public", "books", {**FIXTURE_BOOKS, "sortBy": "pages"}, [TOLSTOY, MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "sortBy": "pages", "sortDesc": "false"}, [TOLSTOY, MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "sortBy": "author", "sortDesc": "true"}, [TOLSTOY, MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "sortDesc": "true"}, [TOLSTOY, MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "limit": 1}, [MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "limit": 1, "offset": 1}, [TOLSTOY]),
        ("public", "books", {**FIXTURE_BOOKS, "offset": 1}, [TOLSTOY]),
        (
            "public", "books", {**FIXTURE_BOOKS, "fields": "author,id"},
            [{"author": "Herman Melville", "id": 1}, {"author": "Leo Tolstoy", "id": 2}],
        ),
        ("public", "books", {**FIXTURE_BOOKS, "author": "tolstoy", "approximate": "true"}, [TOLSTOY]),
        ("public", "books", {**FIXTURE_BOOKS, "_fts": "MELVILLE"}, [MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "publisher": "null"}, [MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "_gte_pages": 800}, [MELVILLE]),
        ("public", "books", {**FIXTURE_BOOKS, "pages[lt]": 800}, [TOLSTOY]),
        ("public", "items", {**FIXTURE_ITEMS, "active": True}, [ITEM_1]),  # requests sends active=True
        ("public", "items", {**FIXTURE_ITEMS, "active": False}, [ITEM_2]),
    ],
)
def test_row_list_filters(live_server, who, table, filters, rows):
    assert client_for(live_server, who).row_list(table, **filters) == rows


def test_row_list_keeps_the_asked_field_order(live_server):
    rows = client_for(live_server, "public").row_list("books", id=1, fields="pages,author")
    assert [list(row) for row in rows] == [["pages", "author"]]


@pytest.mark.parametrize(
    "table, filters, status, body",
    [
        ("books", {"pages": "abc"}, 400, {"error": "pages: Must be an integer"}),
        ("books", {"publisher": "x"}, 400, {"error": "publisher: Must be an integer id"}),
        ("books", {"limit": 0}, 400, {"error": "Invalid limit parameter"}),
        ("books", {"offset": -1}, 400, {"error": "Invalid offset parameter"}),
        ("nosuchtable", {}, 404, NOT_FOUND),
    ],
)
def test_row_list_errors_are_transport_errors(live_server, table, filters, status, body):
    with pytest.raises(SaltcornTransportError) as excinfo:
        client_for(live_server, "admin").row_list(table, **filters)
    assert refusal(excinfo) == (status, body)


# Writing


def test_row_insert_returns_the_new_id(live_server, created):
    author = unique_text("Pysaltcorn insert")
    admin = client_for(live_server, "admin")
    new_id = admin.row_insert("books", {"author": author, "pages": 12, "publisher": 2})
    created.append(("books", new_id))
    assert isinstance(new_id, int) and not isinstance(new_id, bool)
    assert admin.row_list("books", author=author) == [{"id": new_id, "author": author, "pages": 12, "publisher": 2}]


def test_row_insert_by_staff_into_notes(live_server, created):
    title = unique_text("Pysaltcorn note")
    staff = client_for(live_server, "staff")
    note_id = staff.row_insert("notes", {"title": title})
    created.append(("notes", note_id))
    assert staff.row_list("notes", id=note_id) == [{"id": note_id, "title": title, "owner": None}]


def test_row_insert_needs_the_write_role(live_server):
    title = unique_text("Pysaltcorn refused note")
    user = client_for(live_server, "user")
    with pytest.raises(SaltcornAuthError) as excinfo:
        user.row_insert("notes", {"title": title})
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)
    assert user.row_list("notes", title=title) == []


@pytest.mark.parametrize(
    "table, row, body",
    [
        ("books", {"pages": -10}, {"error": "pages: Must be 0 or higher, author: required"}),
        ("books", {"author": "x", "pages": 12.7}, {"error": "pages: Must be an integer"}),
        (
            "books", {"author": "x", "pages": 1, "publisher": 999999},
            {"error": "publisher: No publisher row with id 999999"},
        ),
        ("users", {"email": "new@foo.com"}, {"error": "The users table is read-only through the API"}),
    ],
)
def test_row_insert_refused_with_saltcorns_message(live_server, table, row, body):
    admin = client_for(live_server, "admin")
    marker = unique_text("Pysaltcorn invalid")
    if "author" in row:
        row = {**row, "author": marker}
    with pytest.raises(SaltcornTransportError) as excinfo:
        admin.row_insert(table, row)
    assert refusal(excinfo) == (400, body)
    assert admin.row_list("books", author=marker) == []


def test_row_update_changes_only_the_given_fields(live_server, created):
    author = unique_text("Pysaltcorn update")
    book_id = insert_book(live_server, created, author=author, pages=10, publisher=1)
    admin = client_for(live_server, "admin")
    assert admin.row_update("books", {"id": book_id, "pages": 11}) is True
    assert admin.row_list("books", id=book_id) == [{"id": book_id, "author": author, "pages": 11, "publisher": 1}]


def test_row_update_of_a_row_as_read(live_server, created):
    """The usual round trip: read a row, change it, send it all back (its `id` equals the URL's)."""
    book_id = insert_book(live_server, created, pages=10)
    admin = client_for(live_server, "admin")
    [row] = admin.row_list("books", id=book_id)
    row.update(pages=20, publisher=2)
    assert admin.row_update("books", row) is True
    assert admin.row_list("books", id=book_id) == [row]


def test_row_update_of_a_missing_row_is_404(live_server):
    """docs/api.md §9: Saltcorn answers success; saltapi says the row is not there."""
    with pytest.raises(SaltcornTransportError) as excinfo:
        client_for(live_server, "admin").row_update("books", {"id": 999999, "pages": 1})
    assert refusal(excinfo) == (404, NOT_FOUND)


def test_row_update_needs_the_write_role(live_server, created):
    book_id = insert_book(live_server, created, pages=10)
    with pytest.raises(SaltcornAuthError) as excinfo:
        client_for(live_server, "staff").row_update("books", {"id": book_id, "pages": 99})
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)
    assert client_for(live_server, "public").row_list("books", id=book_id)[0]["pages"] == 10


def test_row_update_refused_value_changes_nothing(live_server, created):
    book_id = insert_book(live_server, created, pages=10)
    admin = client_for(live_server, "admin")
    before = admin.row_list("books", id=book_id)
    with pytest.raises(SaltcornTransportError) as excinfo:
        admin.row_update("books", {"id": book_id, "pages": 5, "author": None})
    assert refusal(excinfo) == (400, {"error": "author: required"})
    assert admin.row_list("books", id=book_id) == before


def test_row_delete_removes_the_row(live_server, created):
    book_id = insert_book(live_server, created)
    admin = client_for(live_server, "admin")
    assert admin.row_delete("books", book_id) is True
    assert admin.row_list("books", id=book_id) == []
    with pytest.raises(SaltcornTransportError) as excinfo:
        admin.row_delete("books", book_id)
    assert refusal(excinfo) == (404, NOT_FOUND)


def test_row_delete_needs_the_write_role(live_server, created):
    book_id = insert_book(live_server, created)
    with pytest.raises(SaltcornAuthError) as excinfo:
        client_for(live_server, "staff").row_delete("books", book_id)
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)
    assert [row["id"] for row in client_for(live_server, "public").row_list("books", id=book_id)] == [book_id]


def test_row_delete_of_a_referenced_row_is_refused(live_server, created):
    """Other tests list every patient, so the patient made here goes away with the test (see `created`)."""
    book_id = insert_book(live_server, created)
    admin = client_for(live_server, "admin")
    patient_id = admin.row_insert("patients", {"name": unique_text("Pysaltcorn reader"), "favbook": book_id})
    created.append(("patients", patient_id))
    with pytest.raises(SaltcornTransportError) as excinfo:
        admin.row_delete("books", book_id)
    assert refusal(excinfo) == (400, {"error": "Cannot delete: referenced by patients.favbook"})
    assert [row["id"] for row in admin.row_list("books", id=book_id)] == [book_id]


# Distinct values


@pytest.mark.parametrize(
    "who, table, field, values",
    [
        ("staff", "patients", "name", ["Kirk Douglas", "Michael Douglas"]),
        (
            "staff", "patients", "parent",
            [EMPTY_OPTION, {"label": "Kirk Douglas", "value": 1}, {"label": "Michael Douglas", "value": 2}],
        ),
        (
            "admin", "books", "publisher",
            [EMPTY_OPTION, {"label": "AK Press", "value": 1}, {"label": "No starch", "value": 2}],
        ),
        ("public", "books", "publisher", [EMPTY_OPTION]),  # publisher is for admins only
        (
            "admin", "notes", "owner",
            [
                EMPTY_OPTION,
                {"label": "admin@foo.com", "value": 1},
                {"label": "staff@foo.com", "value": 2},
                {"label": "user@foo.com", "value": 3},
                {"label": "tokenless@foo.com", "value": 4},
            ],
        ),
        ("staff", "notes", "owner", [EMPTY_OPTION]),  # users is for admins only
    ],
)
def test_field_distinct_values(live_server, who, table, field, values):
    assert client_for(live_server, who).field_distinct_values(table, field, timeout=TIMEOUT) == values


def test_field_distinct_values_of_a_key_field_with_its_own_table(live_server):
    options = client_for(live_server, "staff").field_distinct_values("patients", "favbook", timeout=TIMEOUT)
    assert options[:3] == [
        EMPTY_OPTION, {"label": "Herman Melville", "value": 1}, {"label": "Leo Tolstoy", "value": 2}
    ]


def test_field_distinct_values_of_an_unknown_field(live_server):
    client = client_for(live_server, "admin")
    with pytest.raises(SaltcornTransportError) as excinfo:
        client.field_distinct_values("books", "nosuchfield", timeout=TIMEOUT)
    assert refusal(excinfo) == (404, NOT_FOUND)
    assert client.field_distinct_values("books", "nosuchfield", null_404=True, timeout=TIMEOUT) is None


def test_field_distinct_values_needs_the_read_role(live_server):
    with pytest.raises(SaltcornAuthError) as excinfo:
        client_for(live_server, "user").field_distinct_values("patients", "name", timeout=TIMEOUT)
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)


# Sessions: login_session, then the API through the session cookie (docs/api.md §3), and the account page's token


def session_client(server, who: str | tuple[str, str], csrf_fixup: bool = True) -> SaltcornClient:
    """A pysaltcorn client signed in (login_session) as `who`: a key of PASSWORDS, or an (email, password)."""
    client = SaltcornClient(server.url, csrf_fixup=csrf_fixup)
    email, password = PASSWORDS[who] if isinstance(who, str) else who
    session_id = client.login_session(email, password)
    assert session_id == client.session.cookies["connect.sid"]
    assert client.session.cookies["loggedin"] == "true"
    assert client.auth.kind == "session"
    return client


def remove_own_token(server, email: str, password: str) -> None:
    """Sign in with plain requests, as a browser does, and remove the user's own API token."""
    with requests.Session() as browser:
        page = browser.get(f"{server.url}/auth/login", timeout=TIMEOUT)
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        form = {"email": email, "password": password, "_csrf": csrf}
        signed_in = browser.post(f"{server.url}/auth/login", data=form, allow_redirects=False, timeout=TIMEOUT)
        assert signed_in.status_code == 302, signed_in.text
        settings = browser.get(f"{server.url}/auth/settings", timeout=TIMEOUT)
        csrf = re.search(r'name="_csrf" value="([^"]+)"', settings.text).group(1)
        removed = browser.post(
            f"{server.url}/auth/remove-api-token", data={"_csrf": csrf}, allow_redirects=False, timeout=TIMEOUT
        )
        assert removed.status_code == 302, removed.text


@pytest.fixture
def tokenless(live_server):
    """The tokenless user's email and password; whatever token a test gives it is removed afterwards."""
    yield TOKENLESS
    remove_own_token(live_server, *TOKENLESS)


def test_login_session_reads_and_writes_through_the_session(live_server, created):
    client = session_client(live_server, "staff")
    sent = client.auth(requests.Request("GET", live_server.url).prepare()).headers
    assert sent["Authorization"].startswith("Basic ")  # pysaltcorn's; saltapi ignores Basic (docs/api.md §3)
    assert client.row_list("patients") == [KIRK, MICHAEL]  # staff may read patients; the public may not
    title = unique_text("Pysaltcorn session note")
    note_id = client.row_insert("notes", {"title": title})  # staff may write notes
    created.append(("notes", note_id))
    assert client.csrf  # fetched from the signed-in page before the first POST, sent as `CSRF-Token`
    assert client.row_update("notes", {"id": note_id, "title": title + " changed"}) is True
    assert client.row_list("notes", id=note_id) == [{"id": note_id, "title": title + " changed", "owner": None}]


def test_login_session_role_rules_apply(live_server):
    client = session_client(live_server, "user")
    with pytest.raises(SaltcornAuthError) as excinfo:
        client.row_list("patients")  # staff and up
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)
    title = unique_text("Pysaltcorn refused session note")
    with pytest.raises(SaltcornAuthError) as excinfo:
        client.row_insert("notes", {"title": title})  # users read notes, staff write them
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)
    assert client.row_list("notes", title=title) == []


def test_login_session_with_a_wrong_password_raises_the_pages_message(live_server):
    client = SaltcornClient(live_server.url)
    with pytest.raises(SaltcornAuthError) as excinfo:
        client.login_session(PASSWORDS["user"][0], "not the password")
    assert str(excinfo.value) == "Incorrect email or password."
    assert client.auth.kind == "basic" and "loggedin" not in client.session.cookies


def test_session_write_without_csrf_fixup_is_refused(live_server):
    """docs/api.md §3: a write that only the session cookie authenticates needs the session's CSRF token.

    Without csrf_fixup pysaltcorn sends none (Saltcorn exempts /api/ from its CSRF check), so it gets the 403.
    """
    client = session_client(live_server, "staff", csrf_fixup=False)
    title = unique_text("Pysaltcorn note without CSRF")
    with pytest.raises(SaltcornTransportError) as excinfo:
        client.row_insert("notes", {"title": title})
    assert refusal(excinfo) == (403, CSRF_ERROR)
    assert client.row_list("notes", title=title) == []


def test_session_row_delete_is_refused_for_want_of_csrf(live_server, created):
    """pysaltcorn sends its CSRF token with POST only, and row_delete is a DELETE: docs/api.md §3 refuses it (403)."""
    client = session_client(live_server, "staff")
    note_id = client.row_insert("notes", {"title": unique_text("Pysaltcorn note to keep")})
    created.append(("notes", note_id))
    with pytest.raises(SaltcornTransportError) as excinfo:
        client.row_delete("notes", note_id)
    assert refusal(excinfo) == (403, CSRF_ERROR)
    assert [row["id"] for row in client.row_list("notes", id=note_id)] == [note_id]


def test_auth_gen_token_then_auth_get_token(live_server, tokenless):
    client = session_client(live_server, tokenless)
    assert client.auth_get_token() is None  # no token yet
    token = client.auth_gen_token()  # POST /auth/gen-api-token, then reads /auth/settings with auth_get_token
    assert UUID4.fullmatch(token)
    assert client_for(live_server, token).row_list("notes", id=1) == [{"id": 1, "title": "first note", "owner": 3}]
    assert client.auth_get_token() is None  # shown once (docs/api.md §3): saltapi keeps only a hash


def test_login_token_makes_a_new_token_each_time(live_server, tokenless):
    """login_token reuses the token auth_get_token finds on the account page; saltapi shows a token only right
    after making it (docs/api.md §3), so each login_token makes a new one, and the one before stops working.
    """
    first_client = session_client(live_server, tokenless)
    first = first_client.login_token()
    assert UUID4.fullmatch(first) and first_client.auth.kind == "token"
    assert first_client.row_list("notes", id=1)[0]["id"] == 1  # now through `Authorization: Bearer`
    second = session_client(live_server, tokenless).login_token()
    assert UUID4.fullmatch(second) and second != first
    with pytest.raises(SaltcornAuthError) as excinfo:
        first_client.row_list("notes", id=1)
    assert refusal(excinfo) == (401, NOT_AUTHORIZED)
    assert client_for(live_server, second).row_list("notes", id=1)[0]["id"] == 1
