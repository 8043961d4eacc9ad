"""`import-csv` and `export-csv`: the API's conversions, all-or-nothing imports naming the bad line, round trips."""

import csv
import io
import os
import subprocess
import sys

import pytest

from conftest import ROOT, TOKENS, assert_one_error_line, bearer, load_data
from saltapi import create_app
from saltapi.csv_io import csv_cell
from saltapi.db import get_db
from saltapi.fixtures import dump_fixture, load_fixture
from saltapi.store.connection import connect

BOOKS_CSV = "id,author,pages,publisher\n1,Herman Melville,967,\n2,Leo Tolstoy,728,1\n"
ITEMS_CSV = (
    "id,code,size,qty,price,active,due\n"
    "1,AA,S,5,9.5,true,2024-05-01\n"
    "2,BB,,,,false,2024-05-01T10:30:00.000Z\n"
    "3,,L,100,0.5,,\n"
)
IMPORT_ORDER = ["publisher", "books", "patients", "notes", "items"]  # each refers only to tables before it


def write_file(tmp_path, content: str | bytes, name: str = "rows.csv") -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return str(path)


@pytest.fixture
def empty_copy(tmp_path):
    """An app with the test data's roles, users and tables, but no rows (passwords left out: hashing is slow)."""
    data = load_data()
    for user in data["users"]:
        user.pop("password")
    for table in data["tables"]:
        table["rows"] = []
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "empty.sqlite"), "SECRET_KEY": "test"})
    with app.app_context():
        load_fixture(get_db(), data)
    return app


def tables_of(app) -> list[dict]:
    db = connect(app.config["DATABASE"])
    try:
        return dump_fixture(db)["tables"]
    finally:
        db.close()


# --- export-csv -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("table, expected", [("books", BOOKS_CSV), ("items", ITEMS_CSV)])
def test_export_to_stdout(runner, table, expected):
    result = runner.invoke(args=["export-csv", table])
    assert result.exit_code == 0, result.output
    assert result.stdout == expected


def test_export_to_a_file(runner, tmp_path):
    path = tmp_path / "items.csv"
    result = runner.invoke(args=["export-csv", "items", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Exported 3 rows of items to {path}.\n"
    assert path.read_bytes() == ITEMS_CSV.encode()


def test_export_of_the_users_table_holds_no_secrets(runner):
    result = runner.invoke(args=["export-csv", "users"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "id,email,role_id", "1,admin@foo.com,1", "2,staff@foo.com,40", "3,user@foo.com,80", "4,tokenless@foo.com,80",
    ]  # fmt: skip


def test_export_quotes_what_needs_quoting(runner, client):
    title = 'comma, "quotes"\nand a new line'
    response = client.post("/api/notes", json={"title": title}, headers=bearer(TOKENS["admin"]))
    assert response.status_code == 200, response.json
    result = runner.invoke(args=["export-csv", "notes"])
    assert result.stdout == 'id,title,owner\n1,first note,3\n2,"comma, ""quotes""\nand a new line",\n'


@pytest.mark.parametrize(
    "args, message",
    [
        (["export-csv", "bookz"], "No table named bookz"),
        (["export-csv", "Books"], "No table named Books"),
    ],
)
def test_export_errors(runner, args, message):
    assert_one_error_line(runner.invoke(args=args), message)


def test_export_to_an_unwritable_place(runner, tmp_path):
    path = tmp_path / "no" / "such" / "dir.csv"
    result = runner.invoke(args=["export-csv", "books", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [  # the rows are read first, then written
        "Exporting books: 2 of 2 rows (100 %)", f"Error: Cannot write {path}: No such file or directory"
    ]


# --- import-csv -----------------------------------------------------------------------------------------


def test_import_converts_values_as_the_api_does(runner, client, tmp_path):
    path = write_file(
        tmp_path,
        "code,size,qty,price,active,due\n"
        "CC,M, 7 ,1.25,yes,2024-06-01T12:00:00+02:00\n"
        "DD,,,,,\n"
        "EE,L,8,3,off,2024-06-02\n",
    )
    result = runner.invoke(args=["import-csv", "items", path])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Imported 3 rows into items from {path}.\n"
    assert result.stderr.splitlines()[-1] == f"Importing {path} into items: 3 of 3 rows (100 %)"  # not a terminal
    assert client.get("/api/items?id=4&id=5&id=6").json["success"] == [
        {"id": 4, "code": "CC", "size": "M", "qty": 7, "price": 1.25, "active": True,
         "due": "2024-06-01T10:00:00.000Z"},
        {"id": 5, "code": "DD", "size": None, "qty": None, "price": None, "active": None, "due": None},
        {"id": 6, "code": "EE", "size": "L", "qty": 8, "price": 3.0, "active": False, "due": "2024-06-02"},
    ]  # fmt: skip


def test_import_uses_given_ids_and_columns_in_any_order(runner, client, tmp_path):
    path = write_file(tmp_path, "pages,id,author\n100,50,Ann\n200,,Bob\n")
    assert runner.invoke(args=["import-csv", "books", path]).exit_code == 0
    rows = client.get("/api/books?id=50&id=51").json["success"]
    assert rows == [
        {"id": 50, "author": "Ann", "pages": 100, "publisher": None},
        {"id": 51, "author": "Bob", "pages": 200, "publisher": None},
    ]


def test_import_reads_a_byte_order_mark_windows_line_ends_and_blank_lines(runner, client, tmp_path):
    path = write_file(tmp_path, "\ufeffauthor,pages\r\n\r\nAnn,1\r\n\r\n")
    result = runner.invoke(args=["import-csv", "books", path])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Imported 1 rows into books from {path}.\n"
    assert client.get("/api/books?author=Ann").json["success"][0]["pages"] == 1


def test_a_header_alone_imports_nothing(runner, snapshot, tmp_path):
    before = snapshot()
    path = write_file(tmp_path, "author,pages\n")
    result = runner.invoke(args=["import-csv", "books", path])
    assert result.stdout == f"Imported 0 rows into books from {path}.\n"
    assert snapshot() == before


def test_rows_may_refer_to_later_rows_and_themselves(runner, client, tmp_path):
    path = write_file(tmp_path, "id,name,favbook,parent\n10,Ann,1,11\n11,Bob,,11\n12,Cid,2,1\n")
    result = runner.invoke(args=["import-csv", "patients", path])
    assert result.exit_code == 0, result.output
    rows = client.get("/api/patients?id=10&id=11&id=12", headers=bearer(TOKENS["admin"])).json["success"]
    assert [(row["id"], row["parent"]) for row in rows] == [(10, 11), (11, 11), (12, 1)]


def test_a_big_file_is_one_transaction(runner, client, tmp_path):
    lines = ["author,pages"] + [f"Author {n},{n}" for n in range(5000)]
    path = write_file(tmp_path, "\n".join(lines) + "\n")
    result = runner.invoke(args=["import-csv", "books", path])
    assert result.stdout == f"Imported 5000 rows into books from {path}.\n"
    assert client.get("/api/books/count").json == {"success": 5002}


# Every case: the error names the line (and field) at fault, and nothing of the file is stored.
IMPORT_ERRORS = {
    "wrong type": ("books", "author,pages\nA,1\nB,x\n", "line 3: pages: Must be an integer"),
    "attribute": ("books", "author,pages\nA,-1\n", "line 2: pages: Must be 0 or higher"),
    "empty required cell": ("books", "author,pages\n,5\n", "line 2: author: required"),
    "every message of a line": ("books", "author,pages,publisher\n,abc,x\n",
                                "line 2: pages: Must be an integer, publisher: Must be an integer id, author: required"),
    "last line fails": ("books", "author,pages\nA,1\nB,2\nC,2.5\n", "line 4: pages: Must be an integer"),
    "after a value on two lines": ("books", 'author,pages\n"two\nlines",1\nB,x\n', "line 4: pages: Must be an integer"),
    "after blank lines": ("books", "author,pages\n\n\nB,x\n", "line 4: pages: Must be an integer"),
    "bad id": ("books", "id,author,pages\nx,A,1\n", "line 2: id: Must be an integer"),
    "existing id": ("books", "id,author,pages\n1,A,1\n", "line 2: Duplicate value for unique field: ID"),
    "id twice in the file": ("books", "id,author,pages\n10,A,1\n10,B,2\n", "line 3: Duplicate value for unique field: ID"),
    "existing unique value": ("items", "code\nAA\n", "line 2: Duplicate value for unique field: Code"),
    "unique value twice": ("items", "code\nXY\nXY\n", "line 3: Duplicate value for unique field: Code"),
    "option": ("items", "size\nXL\n", "line 2: size: Must be one of: S, M, L"),
    "Bool": ("items", "active\nmaybe\n", "line 2: active: Must be true or false"),
    "Date": ("items", "due\nsoon\n", "line 2: due: Must be a date"),
    "Float": ("items", "price\ncheap\n", "line 2: price: Must be a number"),
    "dangling Key": ("books", "author,pages,publisher\nA,1,99\n", "line 2: publisher: No publisher row with id 99"),
    "dangling Key to users": ("notes", "title,owner\nT,99\n", "line 2: owner: No users row with id 99"),
    "dangling self Key": ("patients", "id,name,parent\n10,Ann,11\n11,Bob,12\n", "line 3: parent: No patients row with id 12"),
    "too many values": ("books", "author,pages\nA,1,2\n", "line 2: expected 2 values, found 3"),
    "too few values": ("books", "author,pages\nA\n", "line 2: expected 2 values, found 1"),
    "unknown column": ("books", "author,pages,colour\n",
                       "line 1: books has no field 'colour'; its fields are id, author, pages, publisher"),
    "column in other case": ("books", "Author,pages\n",
                             "line 1: books has no field 'Author'; its fields are id, author, pages, publisher"),
    "column twice": ("books", "author,pages,author\n", "line 1: field 'author' is named twice"),
    "required column missing": ("books", "author\nA\n", "line 1: no column for the required field 'pages'"),
    "header after blank lines": ("books", "\n\nauthor\n", "line 3: no column for the required field 'pages'"),
    "empty file": ("books", "", "the file is empty: its first line must name the fields"),
    "blank lines only": ("books", "\n\r\n\n", "the file is empty: its first line must name the fields"),
    "unclosed quote": ("books", 'author,pages\n"A,1\nB,2\n', "line 2: unexpected end of data"),
    "text after a quote": ("books", 'author,pages\n"A"B,1\n', "line 2: ',' expected after '\"'"),
    "unknown table": ("bookz", "author,pages\n", "No table named bookz"),
    "users table": ("users", "email,role_id\nx@y.z,1\n", "The users table is read-only; add users with create-user"),
}  # fmt: skip


@pytest.mark.parametrize("table, content, message", IMPORT_ERRORS.values(), ids=IMPORT_ERRORS.keys())
def test_failing_import_names_the_line_and_changes_nothing(runner, snapshot, tmp_path, table, content, message):
    before = snapshot()
    path = write_file(tmp_path, content)
    result = runner.invoke(args=["import-csv", table, path])
    assert_one_error_line(result, f"{path}: {message}")
    assert snapshot() == before


def test_import_of_a_file_that_is_not_utf8(runner, snapshot, tmp_path):
    before = snapshot()
    path = write_file(tmp_path, b"author,pages\n\xff,1\n")
    result = runner.invoke(args=["import-csv", "books", path])
    assert_one_error_line(result, f"{path} is not UTF-8 text (byte 13 cannot be read)")
    assert snapshot() == before


def test_import_of_a_missing_file(runner, tmp_path):
    result = runner.invoke(args=["import-csv", "books", str(tmp_path / "nothing.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# --- round trips ----------------------------------------------------------------------------------------


def test_export_then_import_gives_the_same_rows(app, runner, client, empty_copy, tmp_path):
    """Every table of the test data, plus values that need quoting, through CSV into an empty copy of the tables."""
    admin = bearer(TOKENS["admin"])
    for title in ['comma, "quotes"\nand a\r\nnew line', " spaces around ", "Ünïcødé ✓", "=1+1", "0012"]:
        assert client.post("/api/notes", json={"title": title, "owner": 1}, headers=admin).status_code == 200
    item = {"code": 'a,"b"\nc', "price": 123.456789012345, "qty": 1}
    assert client.post("/api/items", json=item, headers=admin).status_code == 200
    exported = {}
    other = empty_copy.test_cli_runner()
    for table in IMPORT_ORDER:
        path = tmp_path / f"{table}.csv"
        assert runner.invoke(args=["export-csv", table, str(path)]).exit_code == 0
        exported[table] = path.read_bytes()
        result = other.invoke(args=["import-csv", table, str(path)])
        assert result.exit_code == 0, result.output
    assert tables_of(empty_copy) == tables_of(app)
    for table in IMPORT_ORDER:  # and exporting again gives the same bytes
        assert other.invoke(args=["export-csv", table]).stdout_bytes == exported[table]


def test_an_empty_string_comes_back_as_null(runner, client, empty_copy, tmp_path):
    """CSV has one empty cell for both; the import reads it as null (documented in the README)."""
    assert client.post("/api/notes", json={"title": ""}, headers=bearer(TOKENS["admin"])).status_code == 200
    path = tmp_path / "notes.csv"
    runner.invoke(args=["export-csv", "notes", str(path)])
    assert path.read_text(encoding="utf-8").splitlines()[-1] == "2,,"
    result = empty_copy.test_cli_runner().invoke(args=["import-csv", "notes", str(path)])
    assert_one_error_line(result, f"{path}: line 3: title: required")


def test_the_real_flask_command_line(db_path, tmp_path):
    """Wired into `flask --app app`: the progress bar goes to stderr, the result to stdout, SALTAPI_DB honoured."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FLASK_", "SALTAPI_"))}
    env["SALTAPI_DB"] = str(db_path)
    path = write_file(tmp_path, "author,pages\n" + "".join(f"Author {n},{n}\n" for n in range(3000)))

    def flask(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "flask", "--app", "app", *args]
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    imported = flask("import-csv", "books", path)
    assert (imported.returncode, imported.stdout) == (0, f"Imported 3000 rows into books from {path}.\n")
    assert imported.stderr.splitlines()[-1] == f"Importing {path} into books: 3,000 of 3,000 rows (100 %)"
    exported = flask("export-csv", "books")
    assert exported.returncode == 0
    assert exported.stdout.startswith(BOOKS_CSV)
    assert exported.stdout.count("\n") == 3003
    failed = flask("import-csv", "books", write_file(tmp_path, "author,pages\nA,x\n", "bad.csv"))
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.splitlines()[-1] == f"Error: {tmp_path / 'bad.csv'}: line 2: pages: Must be an integer"


def test_a_constraint_the_checks_miss_is_still_named_by_its_line(runner, snapshot, tmp_path, monkeypatch):
    """Should a check ever miss a constraint, SQLite refuses the row, and the message names its line, not SQLite."""
    monkeypatch.setattr("saltapi.csv_io.check_unique", lambda *args: None)
    before = snapshot()
    path = write_file(tmp_path, "id,author,pages\n5,A,1\n1,B,2\n")
    result = runner.invoke(args=["import-csv", "books", path])
    assert_one_error_line(result, f"{path}: line 3: the row breaks a constraint of the table")
    assert snapshot() == before


# --- formulas in exported cells (OWASP "CSV Injection") ---------------------------------------------------

FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def titles_of(exported: str) -> list[str]:
    """The titles of the notes added by a test (after the header and the one note of the test data)."""
    return [row[1] for row in csv.reader(io.StringIO(exported, newline=""))][2:]


def add_notes(client, titles) -> None:
    for title in titles:
        response = client.post("/api/notes", json={"title": title}, headers=bearer(TOKENS["admin"]))
        assert response.status_code == 200, response.json


def test_export_writes_formulas_verbatim_by_default(runner, client):
    """The default keeps every value as stored, so an export imports back unchanged (README says so)."""
    add_notes(client, FORMULAS)
    result = runner.invoke(args=["export-csv", "notes"])
    assert result.exit_code == 0, result.output
    assert titles_of(result.stdout) == FORMULAS


def test_safe_export_quotes_formulas_and_leaves_numbers_alone(runner, client):
    add_notes(client, [*FORMULAS, "plain = text", "'already quoted"])
    notes = runner.invoke(args=["export-csv", "notes", "--safe"])
    assert notes.exit_code == 0, notes.output
    assert titles_of(notes.stdout) == [f"'{title}" for title in FORMULAS] + ["plain = text", "'already quoted"]
    # Numbers are written by saltapi itself: a negative one stays a number.
    assert [csv_cell(value, safe=True) for value in (-5, -1.5, None, True)] == ["-5", "-1.5", "", "true"]
