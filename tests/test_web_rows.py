"""The rows pages: a paged list, add, edit, delete, with exactly the API's role rules and error messages."""

import pytest

from conftest import TABLE_IDS, TOKENS, bearer

ADMIN = bearer(TOKENS["admin"])
BOOKS, PATIENTS, PUBLISHER, NOTES, ITEMS = TABLE_IDS.values()


def api_row(client, table: str, row_id: int):
    response = client.get(f"/api/{table}/{row_id}", headers=ADMIN)
    return response.json.get("success") if response.status_code == 200 else None


def fields(**values) -> dict:
    return {f"f.{name}": value for name, value in values.items()}


# Who may use them: the API's rules


@pytest.mark.parametrize("path", [f"/table/{BOOKS}/rows", f"/table/{BOOKS}/rows/new", f"/table/{BOOKS}/rows/1"])
def test_signed_out_goes_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.location.startswith("/auth/login?next=")


@pytest.mark.parametrize(
    "who, path, status",
    [
        ("user", f"/table/{PATIENTS}/rows", 403),  # patients: staff read
        ("staff", f"/table/{PATIENTS}/rows", 200),
        ("staff", f"/table/{PATIENTS}/rows/new", 403),  # admins write
        ("staff", f"/table/{PATIENTS}/rows/1", 403),
        ("user", f"/table/{NOTES}/rows", 200),  # notes: users read, staff write
        ("user", f"/table/{NOTES}/rows/new", 403),
        ("staff", f"/table/{NOTES}/rows/1", 200),
        ("user", f"/table/{ITEMS}/rows/new", 200),  # items: anyone writes
        ("staff", f"/table/{PUBLISHER}/rows", 403),
    ],
)
def test_pages_follow_the_tables_roles(client, web, who, path, status):
    web.login(who)
    response = client.get(path)
    assert response.status_code == status
    if status == 403:
        assert "you need the role" in response.text


@pytest.mark.parametrize(
    "who, path, form",
    [
        ("staff", f"/table/{PATIENTS}/rows/new", fields(name="X")),
        ("staff", f"/table/{PATIENTS}/rows/1", fields(name="X")),
        ("staff", f"/table/{PATIENTS}/rows/2/delete", {}),
        ("user", f"/table/{NOTES}/rows/1/delete", {}),
    ],
)
def test_writes_follow_the_tables_roles(web, snapshot, who, path, form):
    web.login(who)
    before = snapshot()
    assert web.post(path, form).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(
    "path, form",
    [
        (f"/table/{BOOKS}/rows/new", fields(author="A", pages="1")),
        (f"/table/{BOOKS}/rows/1", fields(author="A")),
        (f"/table/{BOOKS}/rows/1/delete", {}),
    ],
)
def test_forms_without_csrf_are_refused(client, admin, snapshot, path, form):
    before = snapshot()
    response = client.post(path, data=form)
    assert response.status_code == 403
    assert "CSRF token missing or invalid" in response.text
    assert snapshot() == before


def test_home_lists_the_tables_a_user_may_read(client, web):
    web.login("user")
    page = client.get("/").text
    assert ">books</a>" in page and ">notes</a>" in page and ">items</a>" in page
    assert ">patients</a>" not in page and ">publisher</a>" not in page
    assert "/useradmin" not in page  # no Settings menu for non-admins


def test_unknown_table_or_row_is_404(client, admin):
    assert client.get("/table/999/rows").status_code == 404
    assert client.get(f"/table/{BOOKS}/rows/999").status_code == 404


# The list


def test_list_shows_rows_with_key_summaries(client, admin):
    page = client.get(f"/table/{PATIENTS}/rows").text
    assert "Kirk Douglas" in page and "Michael Douglas" in page
    assert "Herman Melville" in page  # favbook's summary, as the API's dereference gives it
    assert "2 rows" in page


def test_list_leaves_out_summaries_the_user_may_not_read(client, web):
    web.login("user")
    page = client.get(f"/table/{NOTES}/rows").text  # owner is a Key to users, which admins only may read
    assert "first note" in page
    assert "user@foo.com" not in page.split("</header>")[1]  # (the menu shows the signed-in email)
    assert "#3" in page


def test_list_is_paged(client, admin):
    for number in range(30):
        client.post("/api/publisher", json={"name": f"Publisher {number:02d}"}, headers=ADMIN)
    first = client.get(f"/table/{PUBLISHER}/rows").text
    assert "Page 1 of 2" in first
    assert "Publisher 22" in first and "Publisher 23" not in first
    second = client.get(f"/table/{PUBLISHER}/rows?page=2").text
    assert "Publisher 23" in second and "Publisher 29" in second and "AK Press" not in second
    assert "Page 2 of 2" in client.get(f"/table/{PUBLISHER}/rows?page=99").text
    assert "Page 1 of 2" in client.get(f"/table/{PUBLISHER}/rows?page=abc").text


def test_list_search_and_sort_use_the_apis_rules(client, admin):
    page = client.get(f"/table/{BOOKS}/rows?_fts=tolstoy").text
    assert "Leo Tolstoy" in page and "Herman Melville" not in page
    page = client.get(f"/table/{BOOKS}/rows?sortBy=pages").text
    assert page.index("Leo Tolstoy") < page.index("Herman Melville")
    page = client.get(f"/table/{BOOKS}/rows?sortBy=pages&sortDesc=true").text
    assert page.index("Herman Melville") < page.index("Leo Tolstoy")


# Adding, editing and deleting


def test_add_row(client, admin):
    response = admin.post(f"/table/{BOOKS}/rows/new", fields(author="Ursula K. Le Guin", pages="183", publisher="2"))
    assert response.location == f"/table/{BOOKS}/rows"
    assert "Added row 3." in client.get(response.location).text
    assert api_row(client, "books", 3) == {"id": 3, "author": "Ursula K. Le Guin", "pages": 183, "publisher": 2}


def test_add_form_offers_key_choices(client, admin):
    page = client.get(f"/table/{BOOKS}/rows/new").text
    assert '<option value="1">AK Press (#1)</option>' in page
    assert '<option value="2">No starch (#2)</option>' in page


@pytest.mark.parametrize(
    "form, body",
    [
        (fields(author="", pages="-10"), {"pages": -10}),
        (fields(author="A", pages="12.5"), {"author": "A", "pages": "12.5"}),
        (fields(author="A", pages="1", publisher="9"), {"author": "A", "pages": 1, "publisher": 9}),
    ],
)
def test_add_row_shows_the_apis_error_next_to_the_form(client, admin, snapshot, form, body):
    before = snapshot()
    expected = client.post("/api/books", json=body, headers=ADMIN).json["error"]
    response = admin.post(f"/table/{BOOKS}/rows/new", form)
    assert response.status_code == 400
    assert f'role="alert">{expected}</div>' in response.text
    assert snapshot() == before
    assert 'name="f.author" value="{}"'.format(form["f.author"]) in response.text  # what was typed stays
    assert 'name="f.pages" value="{}"'.format(form["f.pages"]) in response.text


def test_add_row_unique_and_option_messages(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/table/{ITEMS}/rows/new", fields(code="AA", size="XL", qty="", price="", active="", due=""))
    assert response.status_code == 400
    assert "size: Must be one of: S, M, L" in response.text
    response = admin.post(f"/table/{ITEMS}/rows/new", fields(code="AA", size="M", qty="", price="", active="", due=""))
    assert "Duplicate value for unique field: Code" in response.text
    assert snapshot() == before


def test_edit_row_changes_only_what_changed(client, admin):
    form = client.get(f"/table/{ITEMS}/rows/2").text
    assert 'name="f.due" value="2024-05-01T10:30:00.000Z"' in form
    assert '<option value="false" selected>false</option>' in form
    response = admin.post(
        f"/table/{ITEMS}/rows/2",
        fields(code="BB", size="", qty="7", price="", active="false", due="2024-05-01T10:30:00.000Z"),
    )
    assert response.location == f"/table/{ITEMS}/rows"
    assert api_row(client, "items", 2) == {
        "id": 2, "code": "BB", "size": None, "qty": 7, "price": None, "active": False, "due": "2024-05-01T10:30:00.000Z"
    }  # fmt: skip


def test_edit_row_empty_box_means_no_value(client, admin):
    form = fields(code="AA", size="", qty="5", price="9.5", active="true", due="2024-05-01")
    admin.post(f"/table/{ITEMS}/rows/1", form)
    assert api_row(client, "items", 1)["size"] is None


def test_edit_row_shows_the_apis_error(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/table/{BOOKS}/rows/1", fields(author="", pages="-1", publisher=""))
    assert response.status_code == 400
    assert "pages: Must be 0 or higher, author: required" in response.text
    assert snapshot() == before


def test_delete_row(client, admin):
    created = client.post("/api/books", json={"author": "Gone", "pages": 1}, headers=ADMIN).json["success"]
    response = admin.post(f"/table/{BOOKS}/rows/{created}/delete")
    assert response.location == f"/table/{BOOKS}/rows"
    assert f"Deleted row {created}." in client.get(response.location).text
    assert api_row(client, "books", created) is None


def test_delete_referenced_row_shows_the_apis_message(client, admin, snapshot):
    before = snapshot()
    response = admin.post(f"/table/{BOOKS}/rows/1/delete")
    assert "Row 1: Cannot delete: referenced by patients.favbook" in client.get(response.location).text
    assert snapshot() == before


def test_delete_a_missing_row_says_so(client, admin):
    response = admin.post(f"/table/{BOOKS}/rows/999/delete")
    assert "Row 999: Not found" in client.get(response.location).text


def test_values_are_escaped(client, admin):
    attack = '<script>alert("row")</script>'
    admin.post(f"/table/{BOOKS}/rows/new", fields(author=attack, pages="1"))
    for path in (f"/table/{BOOKS}/rows", f"/table/{BOOKS}/rows/3", f"/table/{PATIENTS}/rows/new"):
        page = client.get(path).text
        assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(&#34;row&#34;)&lt;/script&gt;" in client.get(f"/table/{BOOKS}/rows").text
    assert api_row(client, "books", 3)["author"] == attack  # stored as typed
