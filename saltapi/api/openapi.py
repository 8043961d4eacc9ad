"""The OpenAPI 3.1 document of the API (`GET /api/openapi.json`), built for one caller from the live metadata.

`build_document` is a pure function of the tables and the caller: it lists only the tables the caller may read
(by role, or as the owner of rows, docs/api.md §7a), and write operations only where they may write, saying where
ownership limits them. Nothing is cached, so a change shows at once.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..auth import row_owner
from ..errors import API_PREFIX, NotAuthorized
from ..limits import BODY_LIMIT, MAX_QUERY_PARAMETERS, QUERY_LIMIT
from ..query import MAX_SAFE_INTEGER, OPERATORS, PREFIXES, RESERVED_KEYS
from ..store.connection import Connection
from ..store.metadata import PUBLIC_ROLE_ID, USERS_TABLE_NAME, Field, Table, load_table, table_names, users_table
from ..store.types import INT64_MAX
from ..store.users import User

OPENAPI_VERSION = "3.1.1"
DOCUMENT_VERSION = "1.0.0"
# Table and field names never contain a dot, so names built with one never collide with them or each other.
DOCUMENT_TAG = "openapi.json"
BEARER = "bearerToken"
QUERY_TOKEN = "accessTokenQuery"
TABULATOR_KEYS = frozenset({"page", "size"})  # reserved only beside tabulator_pagination_format
READS = frozenset({"list", "count", "distinct", "read"})

Readable = Mapping[str, Table]  # the tables the caller may read, by name

TOKEN_PLACES = (
    "Send an API token in exactly one of three places: the `Authorization: Bearer <token>` header, the"
    " `access_token` query parameter, or the `access_token` key of a JSON or form body (never stored as a"
    " column). A token in two places is a 400; a token that matches no user is a 401 with"
    ' `WWW-Authenticate: Bearer error="invalid_token"`, even where the public may read.'
)
DESCRIPTION = f"""Saltcorn's table-data REST API, as this caller may use it: only the tables the caller's role
may read are listed, and write operations only where it may write. Without credentials the caller is public
(role 100); lower roles are more powerful. A table may also let a signed-in caller whose role is too weak reach
the rows that one of its Keys to users gives the caller's user id; the operations of such a table say so.

Every answer is JSON: `{{"success": ...}}`, or `{{"error": "<message>"}}` with status 400 (bad input), 401 (not
allowed, or a token that matches no user), 404 (unknown table, row, field or route), 405 (wrong method; the
`Allow` header lists the right ones), 413 (a body over {BODY_LIMIT}), 414 (a query string over {QUERY_LIMIT})
or 429 (too many unknown tokens from the caller's address lately; `Retry-After` says how many seconds to wait).
Over {MAX_QUERY_PARAMETERS} query parameters is a 400. Table and field names are case-sensitive; a trailing slash
on any route is accepted.

{TOKEN_PLACES} Without a token, a browser session signed in to the web UI authenticates too; a write it
authenticates needs the session's CSRF token in the `X-CSRF-Token` header (else 403)."""

# A value as a client sends it (query string or body) ...
VALUE_TYPES = {
    "String": {"type": "string"},
    "Integer": {"type": "integer", "format": "int64"},
    "Float": {"type": "number"},
    "Bool": {"type": "boolean"},
    "Date": {"type": "string", "description": "An ISO-8601 date or date-time."},
    "Key": {"type": "integer", "format": "int64"},
}
# ... and as a row holds it (docs/api.md §4: a date-time in UTC with milliseconds, or a bare date).
ROW_TYPES = {**VALUE_TYPES, "Date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}\.\d{3}Z)?$"}}
TYPE_NOTES = {
    "String": "A String.",
    "Integer": "An Integer (signed 64-bit).",
    "Float": "A Float.",
    "Bool": "A Bool.",
    "Date": "A Date: `YYYY-MM-DD`, or a UTC date-time `YYYY-MM-DDTHH:MM:SS.sssZ`.",
    "Key": "A Key: the id of the referenced row.",
}
INPUT_NOTES = {
    "String": "",
    "Integer": " An integral number, or a string of one, is accepted too.",
    "Float": " A numeric string is accepted too.",
    "Bool": " The strings true/false, t/f, on/off, yes/no and 1/0 are accepted too.",
    "Date": " Any ISO-8601 date or date-time; a date-time is stored in UTC.",
    "Key": ' The id may also be a string of digits or `{"id": n}`; null or "" means no reference.',
}
# A Key in a body: an id or {"id": n}; `properties` and `required` apply only to the object form.
KEY_INPUT = {
    "type": ["integer", "object"],
    "format": "int64",
    "properties": {"id": {"type": "integer"}},
    "required": ["id"],
    "additionalProperties": False,
}
EMPTY_FILTER = {
    "String": "An empty value matches the empty string.",
    "Integer": "An empty value means no filter.",
    "Float": "An empty value means no filter.",
    "Key": "An empty value means no value (IS NULL).",
    "Bool": "An empty value means no value (IS NULL). Bools take t/f, on/off, yes/no and 1/0 too.",
    "Date": "An empty value means no value (IS NULL).",
}
PREFIX_MEANINGS = {
    "_gte_": "at least the value",
    "_lte_": "at most the value",
    "_gt_": "greater than the value",
    "_lt_": "less than the value",
    "_not_": "not equal to the value (rows where it has no value are excluded too; `null` means it has one)",
    "_fromdate_": "on or after the value (meant for Date fields)",
    "_todate_": "on or before the value; a bare date includes that whole day (meant for Date fields)",
}
OPERATOR_MEANINGS = {
    "gt": "greater than the value",
    "lt": "less than the value",
    "gte": "at least the value",
    "lte": "at most the value",
    "eq": "equal to the value (`null` means no value)",
    "ilike": "contains the value, case-insensitively",
    "in": "equal to one of the values, separated by commas",
}


def load_tables(db: Connection) -> list[Table]:
    """Every table as the API sees it now: the user tables in creation order, then `users`."""
    tables = [load_table(db, name) for name in table_names(db)]
    return [*(table for table in tables if table is not None), users_table(db)]  # None only in a race with a drop


def build_document(tables: Iterable[Table], user: User | None, server_url: str = "/") -> dict:
    """The OpenAPI document for `user` (None: the public): the tables they reach, their routes and schemas.

    Key summaries are shown only from tables the caller's role may read, as the API's `dereference` does.
    """
    role_id = PUBLIC_ROLE_ID if user is None else user.role_id
    tables = list(tables)
    readable = {table.name: table for table in tables if role_id <= table.min_role_read}
    paths = {f"{API_PREFIX}/openapi.json": {"get": document_operation()}}
    schemas = {"Error": ERROR_SCHEMA, "KeyOption": KEY_OPTION_SCHEMA}
    parameters = dict(SHARED_PARAMETERS)
    listed = []
    for table in tables:
        access = table_access_for(table, user)
        if access is None:
            continue
        listed.append(table)
        filters = filter_parameters(table)
        parameters.update(filters)
        paths.update(table_paths(table, access, filters, readable))
        schemas.update(table_schemas(table, readable))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "saltapi", "version": DOCUMENT_VERSION, "description": DESCRIPTION},
        "servers": [{"url": server_url}],
        "security": optional_security(),
        "tags": [{"name": DOCUMENT_TAG, "description": "This document."}, *map(table_tag, listed)],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": parameters,
            "responses": ERROR_RESPONSES,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


@dataclass(frozen=True)
class Access:
    """What one caller may do with one table: `owner` is their user id where ownership limits them, else None."""

    read_owner: int | None
    writable: bool
    insert_owner: int | None = None
    change_owner: int | None = None


def table_access_for(table: Table, user: User | None) -> Access | None:
    """The caller's access to `table` by the API's own rule (`auth.row_owner`); None when they reach no row."""
    try:
        read_owner = row_owner(table, "read", user)
    except NotAuthorized:
        return None
    if table.read_only:
        return Access(read_owner, writable=False)
    try:
        insert_owner = row_owner(table, "write", user)
        change_owner = row_owner(table, "write", user, existing_row=True)
    except NotAuthorized:
        return Access(read_owner, writable=False)
    return Access(read_owner, True, insert_owner, change_owner)


def own_rows_note(table: Table, owner: int | None, what: str) -> str:
    """The sentence an operation gains where the caller reaches only their own rows."""
    if owner is None:
        return ""
    return f" Ownership: {what.format(field=f'`{table.owner_field}`', me=owner)}"


READ_OWN = "you see only the rows whose {field} is your user id ({me}); the others are neither listed nor counted."
DISTINCT_OWN = "a plain field's values come only from the rows whose {field} is your user id ({me})."
READ_ONE_OWN = "only a row whose {field} is your user id ({me}); another's row is a 404, as a missing one."
INSERT_OWN = "the body must give {field} your user id ({me}); omitted, null or another id is a 400 `Not authorized`."
CHANGE_OWN = (
    "only rows whose {field} is your user id ({me}); another's row is a 404, as a missing one. An update that"
    " would set {field} to another id or to null is a 400 `Not authorized`."
)
DELETE_OWN = "only rows whose {field} is your user id ({me}); another's row is a 404, as a missing one."


# Security: a bearer header or a query parameter (OpenAPI has no scheme for a body key; the text says it).

SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer", "description": TOKEN_PLACES},
    QUERY_TOKEN: {"type": "apiKey", "in": "query", "name": "access_token", "description": TOKEN_PLACES},
}


def required_security() -> list[dict]:
    return [{BEARER: []}, {QUERY_TOKEN: []}]


def optional_security() -> list[dict]:
    return [{}, *required_security()]


def security_for(min_role: int) -> list[dict]:
    """Anonymous access is an option only where the public role is allowed."""
    return optional_security() if PUBLIC_ROLE_ID <= min_role else required_security()


# Answers: `{"success": ...}`, or `{"error": ...}` with one of five statuses.

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
    "additionalProperties": False,
}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error_response(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": json_content({"$ref": "#/components/schemas/Error"})}
    if headers:
        response["headers"] = headers
    return response


def header(description: str) -> dict:
    return {"description": description, "schema": {"type": "string"}}


ERROR_RESPONSES = {
    "BadRequest": error_response(
        "Bad input: an invalid parameter, filter value or body (the message names each field at fault), a"
        " constraint the change would break, or a token sent in more than one place."
    ),
    "NotAuthorized": error_response(
        "Not allowed for the caller's role, or a token that matches no user.",
        {"WWW-Authenticate": header('`Bearer`, or `Bearer error="invalid_token"` for a token that matches no user.')},
    ),
    "NotFound": error_response("No such table, row, field or route."),
    "MethodNotAllowed": error_response(
        "The route exists, but not with this method (e.g. `PUT` anywhere).",
        {"Allow": header("The methods the route accepts.")},
    ),
    "PayloadTooLarge": error_response(f"The body is over {BODY_LIMIT}."),
}
ERROR_NAMES = {
    400: "BadRequest", 401: "NotAuthorized", 404: "NotFound", 405: "MethodNotAllowed", 413: "PayloadTooLarge"
}  # fmt: skip
# Limits any route may hit, before the route itself is looked at; written out in each operation that may give them.
LIMIT_ERRORS = {
    414: error_response(f"The query string is over {QUERY_LIMIT}."),
    429: error_response(
        "Too many tokens that match no user came from the caller's address lately; until the wait is over, an"
        " unknown token from there gets this answer (a correct token is always answered).",
        {"Retry-After": header("How many seconds to wait.")},
    ),
}
READ_ERRORS = (400, 401, 404, 414, 429)
WRITE_ERRORS = (400, 401, 404, 413, 414, 429)
DOCUMENT_ERRORS = (400, 401, 414, 429)


def error_refs(statuses: Iterable[int]) -> dict:
    return {str(status): LIMIT_ERRORS.get(status) or error_ref(status) for status in statuses}


def error_ref(status: int) -> dict:
    return {"$ref": f"#/components/responses/{ERROR_NAMES[status]}"}


def envelope(schema: dict) -> dict:
    """Saltcorn's `{"success": ...}` around a value."""
    return {"type": "object", "properties": {"success": schema}, "required": ["success"], "additionalProperties": False}


def success(schema: dict, description: str) -> dict:
    return {"description": description, "content": json_content(envelope(schema))}


# Schemas of rows and bodies.

KEY_OPTION_SCHEMA = {
    "type": "object",
    "description": 'One option of a Key field; the empty option is {"label": "", "value": ""}.',
    "properties": {
        "label": {"description": "The referenced row's summary field value."},
        "value": {"type": ["integer", "string"], "description": "The referenced row's id."},
    },
    "required": ["label", "value"],
    "additionalProperties": False,
}


def schema_name(table: Table, kind: str) -> str:
    return f"{table.name}.{kind}"


def schema_ref(table: Table, kind: str) -> dict:
    return {"$ref": f"#/components/schemas/{schema_name(table, kind)}"}


def nullable(schema: dict) -> dict:
    """The same schema, with null allowed."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    schema = {**schema, "type": [*types, "null"]}
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def field_description(column: Field, readable: Readable) -> str:
    """Label and type; a Key names its table only when the caller may read that table."""
    text = f"{column.label}. {TYPE_NOTES[column.type]}"
    if column.type == "Key" and column.reftable_name in readable:
        text += f" Refers to `{column.reftable_name}`."
    return text


def row_property(column: Field, readable: Readable) -> dict:
    """A column in a row: its type, null unless required.

    Attributes are left out: rows stored before an attribute changed need not obey it.
    """
    schema = {**ROW_TYPES[column.type], "description": field_description(column, readable)}
    return schema if column.required or column.name == "id" else nullable(schema)


def attribute_keywords(column: Field) -> dict:
    """A field's attributes as JSON Schema keywords."""
    attributes, keywords = column.attributes, {}
    if column.type in ("Integer", "Float"):
        keywords = {"minimum": attributes.get("min"), "maximum": attributes.get("max")}
    elif column.type == "String":
        keywords = {
            "minLength": attributes.get("min_length"),
            "maxLength": attributes.get("max_length"),
            "enum": string_options(attributes.get("options")),
        }
    return {keyword: value for keyword, value in keywords.items() if value is not None}


def string_options(options) -> list[str] | None:
    """Saltcorn keeps a String's options as a list or as one comma-separated string."""
    if isinstance(options, str):
        options = [option.strip() for option in options.split(",") if option.strip()]
    return options or None


def input_property(column: Field, readable: Readable) -> dict:
    """A column in an insert or update body: type and attributes; null only where the field is not required."""
    schema = KEY_INPUT if column.type == "Key" else {**VALUE_TYPES[column.type], **attribute_keywords(column)}
    schema = {**schema, "description": field_description(column, readable) + INPUT_NOTES[column.type]}
    return schema if column.required else nullable(schema)


def table_schemas(table: Table, readable: Readable) -> dict:
    """The row, a row of a list (`fields`, `dereference`), and the insert and update bodies."""
    return {
        schema_name(table, "Row"): row_schema(table, readable),
        schema_name(table, "ListedRow"): listed_row_schema(table, readable),
        schema_name(table, "Insert"): insert_schema(table, readable),
        schema_name(table, "Update"): update_schema(table, readable),
    }


def row_properties(table: Table, readable: Readable) -> dict:
    return {column.name: row_property(column, readable) for column in table.columns}


def row_schema(table: Table, readable: Readable) -> dict:
    return {
        "type": "object",
        "description": f"A row of `{table.name}`: `id` and every field, in field order.",
        "properties": row_properties(table, readable),
        "required": [column.name for column in table.columns],
        "additionalProperties": False,
    }


def listed_row_schema(table: Table, readable: Readable) -> dict:
    properties = row_properties(table, readable)
    for name, schema in dereference_properties(table, readable).items():
        properties.setdefault(name, schema)
    return {
        "type": "object",
        "description": (
            f"A row of `{table.name}` in a list: every key unless `fields` names some, plus `<key>_<summary>`"
            " for each `dereference`."
        ),
        "properties": properties,
        "additionalProperties": False,
    }


def summary_column(column: Field, readable: Readable) -> Field | None:
    """A Key's summary field in the referenced table, when it has one and the caller may read that table."""
    summary_name = column.attributes.get("summary_field")
    if column.type != "Key" or not summary_name or column.referenced_table not in readable:
        return None
    return readable[column.referenced_table].column(summary_name)


def dereference_properties(table: Table, readable: Readable) -> dict:
    """`dereference=f` adds `f_<summary field>` to each row: the summary's type, null when the key is."""
    properties = {}
    for column in table.fields:
        summary = summary_column(column, readable)
        if summary is not None:
            description = f"With `dereference={column.name}`: the `{summary.name}` of the referenced row."
            schema = {**ROW_TYPES[summary.type], "description": description}
            properties[f"{column.name}_{summary.name}"] = nullable(schema)
    return properties


def body_schema(description: str, properties: dict, required: list[str]) -> dict:
    """A body; `access_token` is never a column, even where a field has that name."""
    token = {"type": "string", "description": "An API token, instead of the header (never stored)."}
    return {
        "type": "object",
        "description": description + " Keys that name no field are ignored.",
        "properties": {**properties, "access_token": token},
        "required": [name for name in required if name != "access_token"],
    }


def insert_schema(table: Table, readable: Readable) -> dict:
    new_id = nullable({**VALUE_TYPES["Integer"], "description": "Used as the new row's id."})
    properties = {"id": new_id, **{column.name: input_property(column, readable) for column in table.fields}}
    required = [column.name for column in table.fields if column.required]
    description = f"A new row of `{table.name}`; a required field may not be absent or null."
    return body_schema(description, properties, required)


def update_schema(table: Table, readable: Readable) -> dict:
    same_id = {**VALUE_TYPES["Integer"], "description": "Ignored when it equals the URL's id, else a 400."}
    properties = {"id": same_id, **{column.name: input_property(column, readable) for column in table.fields}}
    return body_schema(f"The fields of a `{table.name}` row to change; the others stay.", properties, [])


# Query parameters (docs/api.md §5).


def query_parameter(name: str, description: str, schema: dict, explode: bool = True) -> dict:
    return {
        "name": name, "in": "query", "description": description, "schema": schema, "style": "form", "explode": explode
    }  # fmt: skip


COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_SAFE_INTEGER}
SHARED_PARAMETERS = {
    "limit": query_parameter(
        "limit", "At most this many rows (1 to 2^53-1, else 400 `Invalid limit parameter`).", {**COUNT, "minimum": 1}
    ),
    "offset": query_parameter(
        "offset", "Skip this many rows (0 to 2^53-1, else 400 `Invalid offset parameter`); works without `limit` too.",
        COUNT,
    ),
    "sortDesc": query_parameter(
        "sortDesc", "Any value but `false` sorts descending (by `id` when there is no `sortBy`).", {"type": "string"}
    ),
    "approximate": query_parameter(
        "approximate",
        "Any non-empty value makes String filters case-insensitive substring matches (`%` and `_` are literal).",
        {"type": "string"},
    ),
    "_fts": query_parameter(
        "_fts",
        "Full-text search: a case-insensitive substring of the row's String fields joined by spaces, plus the"
        " summaries of Key fields marked `include_fts`.",
        {"type": "string"},
    ),
    "tabulator_pagination_format": query_parameter(
        "tabulator_pagination_format",
        'Any non-empty value (e.g. `true`) answers `{"last_page": <pages>, "data": [rows]}` for page `page` of'
        " `size` rows instead of the usual answer; `size` is then required.",
        {"type": "string"},
    ),
    "page": query_parameter(
        "page", "With `tabulator_pagination_format`: the page, from 1 (the default).", {**COUNT, "minimum": 1}
    ),
    "size": query_parameter(
        "size", "With `tabulator_pagination_format`: rows per page, from 1.", {**COUNT, "minimum": 1}
    ),
    "access_token": query_parameter(
        "access_token", f"An API token (the `{QUERY_TOKEN}` security scheme). {TOKEN_PLACES}", {"type": "string"}
    ),
}  # fmt: skip


def shared(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def names_schema(names: list[str]) -> dict:
    return {"type": "string", "enum": names} if names else {"type": "string"}


def filter_parameters(table: Table) -> dict[str, dict]:
    """Every filter key of the table, by component name, in the order the server tries to read a key.

    A key can mean only one thing (a field may be called `_gt_pages`); the first reading wins, as in
    `query.FilterParser.add`, and reserved keys are never filters.
    """
    candidates = [(column.name, equality_parameter(column)) for column in table.columns]
    candidates += [
        (f"{column.name}.{operator}", operator_parameter(column, operator))
        for column in table.columns
        for operator in OPERATORS
    ]
    candidates += [
        (f"{column.name}.{prefix}", prefix_parameter(column, prefix)) for prefix in PREFIXES for column in table.columns
    ]
    parameters, taken = {}, set(RESERVED_KEYS)
    for key, parameter in candidates:
        if parameter["name"] not in taken:
            taken.add(parameter["name"])
            parameters[f"{table.name}.{key}"] = parameter
    return parameters


def filter_value(column: Field, null_text: bool = False) -> dict:
    """A filter value as sent: the field's type; where the text `null` means no value, that too."""
    schema = VALUE_TYPES[column.type]
    return {"anyOf": [schema, {"const": "null"}]} if null_text and column.type != "String" else schema


def equality_parameter(column: Field) -> dict:
    name = column.name
    description = (
        f"Rows whose `{name}` equals the value, converted to its type ({column.type}); a value that cannot be"
        f" converted is a 400. Repeat the key (`{name}=a&{name}=b`, or `{name}[]=a&{name}[]=b`) for any of several"
        f" values; `null` means no value. {EMPTY_FILTER[column.type]}"
    )
    if column.type == "String":
        description += " Strings match exactly and case-sensitively, or as substrings with `approximate`."
    return query_parameter(column.name, description, {"type": "array", "items": filter_value(column, null_text=True)})


def operator_parameter(column: Field, operator: str) -> dict:
    name, description = f"{column.name}[{operator}]", f"Rows whose `{column.name}` is {OPERATOR_MEANINGS[operator]}."
    if operator == "in":
        return query_parameter(name, description, {"type": "array", "items": filter_value(column)}, explode=False)
    value = {"type": "string"} if operator == "ilike" else filter_value(column, null_text=operator == "eq")
    return query_parameter(name, description + " Any operator not listed here is a 400.", value)


def prefix_parameter(column: Field, prefix: str) -> dict:
    description = f"Rows whose `{column.name}` is {PREFIX_MEANINGS[prefix]}. An empty value means no filter."
    return query_parameter(f"{prefix}{column.name}", description, filter_value(column, null_text=prefix == "_not_"))


def filter_refs(filters: Mapping[str, dict], taken: frozenset[str] = frozenset()) -> list[dict]:
    return [shared(key) for key, parameter in filters.items() if parameter["name"] not in taken]


def list_parameters(table: Table, filters: Mapping[str, dict], readable: Readable) -> list[dict]:
    """Every parameter of `GET /api/<table>`: the reserved keys, then the filters."""
    column_names = [column.name for column in table.columns]
    selectable = column_names + list(dereference_properties(table, readable))
    summarised = [column.name for column in table.fields if summary_column(column, readable) is not None]
    return [
        query_parameter(
            "fields",
            "Comma-separated keys to keep in each row, in that order (`fields=a,b`); unknown names are skipped,"
            " empty means all. Keys added by `dereference` can be selected too.",
            {"type": "array", "items": {"type": "string", "examples": selectable}},
            explode=False,
        ),
        shared("limit"),
        shared("offset"),
        query_parameter(
            "sortBy",
            "Sort by this field or `id`, ascending; unknown names are ignored. Without it rows come in `id` order.",
            names_schema(column_names),
        ),
        shared("sortDesc"),
        shared("approximate"),
        query_parameter(
            "dereference",
            "For each Key field named (repeat the key for several) with a summary field `s`, each row gains"
            " `<key>_<s>`: the referenced row's value, null when the key is null. Omitted where the caller may not"
            " read the referenced table.",
            {"type": "array", "items": names_schema(summarised)},
        ),
        shared("_fts"),
        shared("tabulator_pagination_format"),
        shared("page"),
        shared("size"),
        shared("access_token"),
        *filter_refs(filters, taken=TABULATOR_KEYS),
    ]


# Operations and paths (docs/api.md §4).

ROW_ID = {
    "name": "row_id",
    "in": "path",
    "required": True,
    "description": "The row's id.",
    "schema": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
}


def table_tag(table: Table) -> dict:
    write = "read-only through the API" if table.read_only else f"min_role_write {table.min_role_write}"
    owned = "" if table.owner_field is None else f", ownership field `{table.owner_field}`"
    return {
        "name": table.name,
        "description": f"Table `{table.name}` (min_role_read {table.min_role_read}, {write}{owned}).",
    }


def by_number(table: Table) -> str:
    """docs/api.md §4 (n): the list, count and distinct routes also take a user table's numeric id."""
    if table.name == USERS_TABLE_NAME:
        return ""
    return f" The table may also be named by its id: `{API_PREFIX}/{table.id}`."


def operation(table: Table, kind: str, summary: str, description: str, responses: dict, parameters: list) -> dict:
    return {
        "operationId": f"{table.name}.{kind}",
        "tags": [table.name],
        "summary": summary,
        "description": description,
        "security": security_for(table.min_role_read if kind in READS else table.min_role_write),
        "parameters": parameters,
        "responses": responses,
    }


def list_operation(table: Table, filters: Mapping[str, dict], readable: Readable, owner: int | None) -> dict:
    listed = {"type": "array", "items": schema_ref(table, "ListedRow")}
    tabulator = {
        "type": "object",
        "properties": {"last_page": {"type": "integer", "minimum": 0}, "data": listed},
        "required": ["last_page", "data"],
        "additionalProperties": False,
    }
    answer = {
        "description": "The rows, or with `tabulator_pagination_format` one page of them.",
        "content": json_content({"oneOf": [envelope(listed), tabulator]}),
    }
    description = (
        "Rows in `id` order unless sorted. Every filter must hold; a repeated key matches any of its values."
        + by_number(table)
        + own_rows_note(table, owner, READ_OWN)
    )
    return operation(
        table, "list", f"List rows of {table.name}", description,
        {"200": answer, **error_refs(READ_ERRORS)}, list_parameters(table, filters, readable),
    )  # fmt: skip


def count_operation(table: Table, filters: Mapping[str, dict], owner: int | None) -> dict:
    return operation(
        table, "count", f"Count rows of {table.name}",
        "The number of rows the same filters would list; limit and offset do not apply." + by_number(table)
        + own_rows_note(table, owner, READ_OWN),
        {"200": success({"type": "integer", "minimum": 0}, "The number of rows."), **error_refs(READ_ERRORS)},
        [shared("approximate"), shared("_fts"), shared("access_token"), *filter_refs(filters)],
    )  # fmt: skip


def distinct_operation(table: Table, owner: int | None) -> dict:
    field_name = {
        "name": "field_name",
        "in": "path",
        "required": True,
        "description": "A field of the table, or `id`.",
        "schema": names_schema([column.name for column in table.columns]),
    }
    items = []
    for column in table.columns:
        is_key = column.type == "Key"
        item = {"$ref": "#/components/schemas/KeyOption"} if is_key else {"type": ROW_TYPES[column.type]["type"]}
        if item not in items:
            items.append(item)
    description = (
        "A plain field: its distinct non-null values, ascending. A Key field: Saltcorn's option list over the"
        ' referenced rows in id order, led by the empty option {"label": "", "value": ""} unless the field is'
        " required; only the empty option when the caller may not read the referenced table." + by_number(table)
        + own_rows_note(table, owner, DISTINCT_OWN)
    )
    answer = success({"type": "array", "items": {"anyOf": items}}, "The values, or the options.")
    return operation(
        table, "distinct", f"Distinct values of a field of {table.name}", description,
        {"200": answer, **error_refs(READ_ERRORS)}, [field_name, shared("access_token")],
    )  # fmt: skip


def read_operation(table: Table, owner: int | None) -> dict:
    return operation(
        table, "read", f"Read one row of {table.name}",
        "The row with this id; 404 when there is none." + own_rows_note(table, owner, READ_ONE_OWN),
        {"200": success(schema_ref(table, "Row"), "The row."), **error_refs(READ_ERRORS)}, [shared("access_token")],
    )  # fmt: skip


def request_body_object(table: Table, kind: str) -> dict:
    schema = schema_ref(table, kind)
    return {
        "required": False,
        "content": {"application/json": {"schema": schema}, "application/x-www-form-urlencoded": {"schema": schema}},
    }


VALIDATION = (
    " Every message is `<field>: <message>`, joined by `, `: type and attribute messages in body order, then"
    " `required` ones in field order. A unique value taken, or a Key pointing nowhere, is a 400 too."
)


def insert_operation(table: Table, owner: int | None) -> dict:
    return {
        **operation(
            table, "insert", f"Insert a row into {table.name}",
            "Answers the new row's id. An `id` in the body is used as the new row's id." + VALIDATION
            + own_rows_note(table, owner, INSERT_OWN),
            {"200": success({"type": "integer"}, "The new row's id."), **error_refs(WRITE_ERRORS)},
            [shared("access_token")],
        ),
        "requestBody": request_body_object(table, "Insert"),
    }  # fmt: skip


def update_operation(table: Table, owner: int | None) -> dict:
    return {
        **operation(
            table, "update", f"Update a row of {table.name}",
            "Only the given fields change; null for a required field is a 400. An id that does not exist is a 404."
            + VALIDATION + own_rows_note(table, owner, CHANGE_OWN),
            {"200": success({"const": True}, "Updated."), **error_refs(WRITE_ERRORS)}, [shared("access_token")],
        ),
        "requestBody": request_body_object(table, "Update"),
    }  # fmt: skip


def delete_operation(table: Table, kind: str, owner: int | None) -> dict:
    alias = " (`POST` alias of `DELETE`)" if kind == "deleteByPost" else ""
    return operation(
        table, kind, f"Delete a row of {table.name}{alias}",
        "An id that does not exist is a 404; a row another row refers to cannot be deleted (400)."
        + own_rows_note(table, owner, DELETE_OWN),
        {"200": success({"const": True}, "Deleted."), **error_refs(WRITE_ERRORS)}, [shared("access_token")],
    )  # fmt: skip


def table_paths(table: Table, access: Access, filters: Mapping[str, dict], readable: Readable) -> dict:
    """docs/api.md §4's routes for one table; write operations only when the caller may write."""
    base, reader, changer = f"{API_PREFIX}/{table.name}", access.read_owner, access.change_owner
    paths: dict[str, dict] = {
        base: {"get": list_operation(table, filters, readable, reader)},
        f"{base}/count": {"get": count_operation(table, filters, reader)},
        f"{base}/distinct/{{field_name}}": {"get": distinct_operation(table, reader)},
        f"{base}/{{row_id}}": {"parameters": [ROW_ID], "get": read_operation(table, reader)},
    }
    if access.writable:
        paths[base]["post"] = insert_operation(table, access.insert_owner)
        paths[f"{base}/{{row_id}}"] |= {
            "post": update_operation(table, changer), "delete": delete_operation(table, "delete", changer)
        }  # fmt: skip
        paths[f"{base}/delete/{{row_id}}"] = {
            "parameters": [ROW_ID], "post": delete_operation(table, "deleteByPost", changer)
        }  # fmt: skip
    return paths


def document_operation() -> dict:
    return {
        "operationId": "openapi",
        "tags": [DOCUMENT_TAG],
        "summary": "This document, for the caller",
        "description": "Made on each request from the current tables, for the caller's role.",
        "security": optional_security(),
        "parameters": [shared("access_token")],
        "responses": {
            "200": {"description": "An OpenAPI 3.1 document.", "content": json_content({"type": "object"})},
            **error_refs(DOCUMENT_ERRORS),
        },
    }
