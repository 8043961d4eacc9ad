"""`GET /api/openapi.json`: a valid OpenAPI 3.1 document per caller, that covers every route and tells the truth."""

import json
import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from conftest import TOKENS, bearer
from saltapi.db import get_db
from saltapi.store.connection import transaction
from saltapi.store.metadata import Field
from saltapi.store.tables import TableDefinition, create_tables

DOCUMENT = "/api/openapi.json"
ROLES = ["admin", "staff", "user", "public"]
ALL_TABLES = {"books", "items", "notes", "patients", "publisher"}


def headers_for(role: str) -> dict[str, str]:
    return {} if role == "public" else bearer(TOKENS[role])


def document(client, role: str = "admin") -> dict:
    response = client.get(DOCUMENT, headers=headers_for(role))
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/json"
    return response.json


def table_names(doc: dict) -> set[str]:
    return {tag["name"] for tag in doc["tags"]} - {"openapi.json"}


def writable_tables(doc: dict) -> set[str]:
    return {name for name in table_names(doc) if "post" in doc["paths"][f"/api/{name}"]}


def resolve(doc: dict, item: dict) -> dict:
    """Follow a local `$ref` (parameters, responses)."""
    while "$ref" in item:
        ref, item = item["$ref"], doc
        for part in ref.removeprefix("#/").split("/"):
            item = item[part]
    return item


def validator(doc: dict, schema: dict) -> Draft202012Validator:
    """A JSON Schema validator for `schema`, with the document's components for its `$ref`s."""
    return Draft202012Validator({**schema, "components": doc["components"]})


def row_validator(doc: dict, table: str, kind: str = "Row") -> Draft202012Validator:
    return validator(doc, {"$ref": f"#/components/schemas/{table}.{kind}"})


def answer_validator(doc: dict, path: str, method: str, status: str = "200") -> Draft202012Validator:
    response = resolve(doc, doc["paths"][path][method]["responses"][status])
    return validator(doc, response["content"]["application/json"]["schema"])


def parameter_names(doc: dict, path: str, method: str = "get") -> list[str]:
    return [resolve(doc, parameter)["name"] for parameter in doc["paths"][path][method]["parameters"]]


@pytest.mark.parametrize("role", ROLES)
def test_document_is_valid_openapi_for_each_role(client, role):
    doc = document(client, role)
    validate(doc)  # raises on anything the OpenAPI 3.1 schema or its rules reject
    assert doc["openapi"].startswith("3.1.")
    for path, item in doc["paths"].items():
        for method in set(item) - {"parameters"}:
            names = parameter_names(doc, path, method)
            assert len(names) == len(set(names)), (path, method)


@pytest.mark.parametrize(
    "role, readable, writable",
    [
        ("public", {"books", "items"}, {"items"}),
        ("user", {"books", "items", "notes"}, {"items"}),
        ("staff", {"books", "items", "notes", "patients"}, {"items", "notes"}),
        ("admin", {*ALL_TABLES, "users"}, ALL_TABLES),
    ],
)  # fmt: skip
def test_each_role_sees_what_it_may_read_and_write(client, role, readable, writable):
    doc = document(client, role)
    assert table_names(doc) == readable
    assert writable_tables(doc) == writable
    assert {path.split("/")[2] for path in doc["paths"]} == readable | {"openapi.json"}
    assert {name.split(".")[0] for name in doc["components"]["schemas"]} == readable | {"Error", "KeyOption"}
    for name in readable - writable:
        assert set(doc["paths"][f"/api/{name}/{{row_id}}"]) == {"parameters", "get"}
        assert f"/api/{name}/delete/{{row_id}}" not in doc["paths"]


def test_public_document_leaks_nothing_of_hidden_tables(client):
    text = json.dumps(document(client, "public"))
    for hidden in ("patients", "notes", "favbook", "owner", "@foo.com", "Refers to `publisher`"):
        assert hidden not in text
    books = document(client, "public")["components"]["schemas"]["books.ListedRow"]["properties"]
    assert "publisher_name" not in books  # dereference of an unreadable table adds nothing


def test_dereference_keys_follow_the_callers_rights(client):
    assert "owner_email" not in document(client, "user")["components"]["schemas"]["notes.ListedRow"]["properties"]
    owner_email = document(client, "admin")["components"]["schemas"]["notes.ListedRow"]["properties"]["owner_email"]
    assert owner_email["type"] == ["string", "null"]


def test_users_table_is_read_only_even_for_admins(client):
    doc = document(client, "admin")
    assert set(doc["paths"]["/api/users"]) == {"get"}
    assert set(doc["components"]["schemas"]["users.Row"]["properties"]) == {"id", "email", "role_id"}


def openapi_template(rule: str) -> str:
    """`/api/<table_name>/<int(max=9):row_id>` -> `/api/{table_name}/{row_id}`."""
    return re.sub(r"<(?:[^<>]*:)?(\w+)>", r"{\1}", rule)


def test_every_api_route_is_in_the_document(app, client):
    doc = document(client, "admin")
    # The API blueprint's routes; /api/docs is a page (Swagger UI) about the document, not an operation in it.
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")]
    assert len(rules) >= 6
    for rule in rules:
        path = openapi_template(rule.rule).replace("{table_name}", "books")
        assert path in doc["paths"], rule.rule
        documented = {method.upper() for method in doc["paths"][path] if method != "parameters"}
        assert rule.methods - {"HEAD", "OPTIONS"} <= documented, rule.rule


def test_every_documented_operation_is_a_real_route(app, client):
    adapter = app.url_map.bind("localhost")
    for path, item in document(client, "admin")["paths"].items():
        concrete = path.replace("{row_id}", "1").replace("{field_name}", "id")
        for method in set(item) - {"parameters"}:
            endpoint, _ = adapter.match(concrete, method=method.upper())
            assert endpoint.startswith("api."), (path, method)


def test_document_route_is_not_shadowed_by_a_table_route(app, client):
    assert app.url_map.bind("localhost").match(DOCUMENT, method="GET")[0] == "api.openapi_document"
    assert client.get(DOCUMENT).json["openapi"].startswith("3.1.")


def test_every_query_parameter_of_the_spec_is_listed(client):
    doc = document(client, "public")
    names = parameter_names(doc, "/api/items")
    reserved = ["fields", "limit", "offset", "sortBy", "sortDesc", "approximate", "dereference", "_fts",
                "access_token", "tabulator_pagination_format", "page", "size"]  # fmt: skip
    per_field = ["due", "due[gt]", "due[lt]", "due[gte]", "due[lte]", "due[eq]", "due[ilike]", "due[in]",
                 "_gte_due", "_lte_due", "_gt_due", "_lt_due", "_not_due", "_fromdate_due", "_todate_due"]  # fmt: skip
    assert set(reserved + per_field + ["id", "code", "qty", "_gte_id"]) <= set(names)
    assert "limit" not in parameter_names(doc, "/api/items/count")
    assert {"approximate", "_fts", "qty", "_lt_qty"} <= set(parameter_names(doc, "/api/items/count"))
    equality = resolve(doc, doc["paths"]["/api/items"]["get"]["parameters"][names.index("qty")])
    assert (equality["style"], equality["explode"], equality["schema"]["type"]) == ("form", True, "array")


def test_security_schemes_and_error_responses(client):
    doc = document(client, "public")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert (schemes["accessTokenQuery"]["in"], schemes["accessTokenQuery"]["name"]) == ("query", "access_token")
    assert "body" in schemes["bearerToken"]["description"]
    assert set(doc["components"]["responses"]) == {
        "BadRequest", "NotAuthorized", "NotFound", "MethodNotAllowed", "PayloadTooLarge"
    }  # fmt: skip
    insert = doc["paths"]["/api/items"]["post"]
    assert {"200", "400", "401", "404", "413"} <= set(insert["responses"])
    assert {} in doc["paths"]["/api/items"]["post"]["security"]  # the public may write items
    assert {} not in document(client, "admin")["paths"]["/api/books"]["post"]["security"]


@pytest.mark.parametrize("role", ROLES)
def test_row_schemas_validate_the_rows_the_api_returns(client, role):
    doc = document(client, role)
    for name in table_names(doc):
        rows = client.get(f"/api/{name}", headers=headers_for(role)).json["success"]
        assert rows, name
        for row in rows:
            row_validator(doc, name).validate(row)
            single = client.get(f"/api/{name}/{row['id']}", headers=headers_for(role))
            answer_validator(doc, f"/api/{name}/{{row_id}}", "get").validate(single.json)
        listed = client.get(f"/api/{name}", headers=headers_for(role))
        answer_validator(doc, f"/api/{name}", "get").validate(listed.json)


def test_answers_match_their_documented_schemas(client):
    doc = document(client, "admin")
    answers = [
        ("/api/patients", "/api/patients?dereference=favbook&dereference=parent&fields=name,favbook_author"),
        ("/api/items", "/api/items?tabulator_pagination_format=true&page=2&size=2"),
        ("/api/items/count", "/api/items/count?qty[gte]=5"),
        ("/api/items/distinct/{field_name}", "/api/items/distinct/due"),
        ("/api/patients/distinct/{field_name}", "/api/patients/distinct/favbook"),
    ]
    for path, url in answers:
        response = client.get(url, headers=bearer(TOKENS["admin"]))
        assert response.status_code == 200, url
        answer_validator(doc, path, "get").validate(response.json)
    inserted = client.post("/api/items", json={"code": "CC", "due": "2024-06-01T12:00:00+02:00"})
    answer_validator(doc, "/api/items", "post").validate(inserted.json)
    missing = client.get("/api/items/999")
    answer_validator(doc, "/api/items/{row_id}", "get", "404").validate(missing.json)


@pytest.mark.parametrize(
    "table, row",
    [
        ("books", {"id": 1, "author": "A", "pages": "many", "publisher": None}),
        ("books", {"id": 1, "author": None, "pages": 1, "publisher": None}),
        ("books", {"id": 1, "author": "A", "pages": 1}),
        ("books", {"id": 1, "author": "A", "pages": 1, "publisher": None, "extra": 1}),
        ("items", {"id": 1, "code": "AA", "size": "S", "qty": 5, "price": 9.5, "active": "yes", "due": None}),
        ("items", {"id": 1, "code": "AA", "size": "S", "qty": 5, "price": 9.5, "active": True, "due": "2024/05/01"}),
        ("items", {"id": 1, "code": "AA", "size": "S", "qty": 1.5, "price": 9.5, "active": True, "due": None}),
    ],
)
def test_row_schemas_reject_wrong_rows(client, table, row):
    assert not row_validator(document(client, "admin"), table).is_valid(row)


@pytest.mark.parametrize(
    "table, kind, body, valid",
    [
        ("books", "Insert", {"author": "A", "pages": 0, "publisher": {"id": 1}}, True),
        ("books", "Insert", {"pages": 3}, False),  # author is required
        ("books", "Insert", {"author": "A", "pages": -1}, False),  # min 0
        ("books", "Insert", {"author": None, "pages": 1}, False),
        ("books", "Update", {"pages": 5}, True),
        ("books", "Update", {"author": None}, False),
        ("items", "Insert", {"code": "A"}, False),  # min_length 2
        ("items", "Insert", {"code": "ABCDEFGHI"}, False),  # max_length 8
        ("items", "Insert", {"size": "XL"}, False),  # options
        ("items", "Insert", {"size": None, "qty": 100, "price": 0.5, "active": False}, True),
        ("items", "Insert", {"qty": 101}, False),
        ("items", "Insert", {"price": 0.25}, False),
    ],
)
def test_body_schemas_carry_types_required_fields_and_attributes(client, table, kind, body, valid):
    assert row_validator(document(client, "admin"), table, kind).is_valid(body) is valid


@pytest.mark.parametrize(
    "headers, url, expected",
    [
        (bearer("no-such-token"), DOCUMENT, 401),
        ({}, f"{DOCUMENT}?access_token=no-such-token", 401),
        (bearer(TOKENS["admin"]), f"{DOCUMENT}?access_token={TOKENS['admin']}", 400),
    ],
)
def test_credentials_work_as_on_the_table_routes(client, headers, url, expected):
    response = client.get(url, headers=headers)
    assert response.status_code == expected
    assert response.mimetype == "application/json"
    assert set(response.json) == {"error"} and isinstance(response.json["error"], str)
    if expected == 401:
        assert response.json == {"error": "Not authorized"}
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_query_token_identifies_the_caller(client):
    response = client.get(f"{DOCUMENT}?access_token={TOKENS['admin']}")
    assert "users" in table_names(response.json)


def test_a_new_table_shows_in_the_next_document(app, client):
    assert "gadgets" not in table_names(document(client, "public"))
    fields = (
        Field(name="label", label="Label", type="String", required=True, attributes={"options": "red, green"}),
        Field(name="limit", label="Limit", type="Integer"),  # reserved: no equality filter
        Field(name="page", label="Page", type="String"),  # reserved beside tabulator_pagination_format
        Field(name="_gt_label", label="Odd", type="Float"),  # a key that would otherwise be a prefix filter
        Field(name="access_token", label="Token", type="String"),  # never a column of a body
        Field(name="maker", label="Maker", type="Key", reftable_name="gadgets", attributes={"summary_field": "label"}),
    )
    with app.app_context():
        db = get_db()
        with transaction(db):
            create_tables(db, [TableDefinition(name="gadgets", fields=fields, min_role_read=100, min_role_write=100)])
    doc = document(client, "public")
    validate(doc)
    assert {"gadgets"} <= writable_tables(doc)
    list_names = parameter_names(doc, "/api/gadgets")
    assert len(list_names) == len(set(list_names))
    assert list_names.count("limit") == 1 and "_gte_limit" in list_names
    parameters = {resolve(doc, p)["name"]: resolve(doc, p) for p in doc["paths"]["/api/gadgets"]["get"]["parameters"]}
    assert "`_gt_label` equals" in parameters["_gt_label"]["description"]
    assert "page" in parameter_names(doc, "/api/gadgets/count")  # a plain filter there
    insert = doc["components"]["schemas"]["gadgets.Insert"]
    assert insert["required"] == ["label"]
    assert insert["properties"]["label"]["enum"] == ["red", "green"]
    assert "token" in insert["properties"]["access_token"]["description"]
    assert "maker_label" in doc["components"]["schemas"]["gadgets.ListedRow"]["properties"]
    new_id = client.post("/api/gadgets", json={"label": "red", "_gt_label": 1.5}).json["success"]
    row = client.get(f"/api/gadgets/{new_id}").json["success"]
    row_validator(doc, "gadgets").validate(row)


def test_a_new_field_and_new_rights_show_in_the_next_document(app, client):
    """What the admin UI changes (a field, a table's roles) is in the very next document."""
    with app.app_context():
        db = get_db()
        with transaction(db):
            table_id = db.execute("SELECT id FROM _sc_tables WHERE name = 'books'").fetchone()[0]
            db.execute(
                "INSERT INTO _sc_fields (table_id, position, name, label, type, required, is_unique, attributes)"
                " VALUES (?, 9, 'isbn', 'ISBN', 'String', 0, 0, ?)",
                (table_id, json.dumps({"max_length": 13})),
            )
            db.execute('ALTER TABLE "books" ADD COLUMN "isbn" TEXT')
            db.execute("UPDATE _sc_tables SET min_role_read = 100 WHERE name = 'patients'")
    doc = document(client, "public")
    assert doc["components"]["schemas"]["books.Insert"]["properties"]["isbn"]["maxLength"] == 13
    assert "isbn" in doc["components"]["schemas"]["books.Row"]["required"]
    assert "_todate_isbn" in parameter_names(doc, "/api/books")
    assert "patients" in table_names(doc)
    for row in client.get("/api/books").json["success"]:
        row_validator(doc, "books").validate(row)
