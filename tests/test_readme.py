"""The README's tables against the code: the command table, the route list and the layout table name exactly
what exists, so a command, a route or a module cannot be added, renamed or removed without the README."""

import re

from conftest import ROOT
from saltapi import create_app
from saltapi.console import main

README = (ROOT / "README.md").read_text(encoding="utf-8")
CODE = re.compile(r"`([^`]+)`")
ROUTE_PARAMETER = re.compile(r"<(?:[^<>:]+:)?(\w+)>")  # `<int:table_id>` -> `<table_id>`


def section(title: str) -> str:
    """The text of the README section `## title`, up to the next `## `."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row in `text`, header and separator left out."""
    rows = [line.strip().strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:] if not set(row[0]) <= {"-", " "}]


def test_the_command_table_lists_every_command():
    listed = {
        CODE.search(first).group(1).split()[1]
        for first, *_ in table_rows(section("Running it"))
        if first.startswith("`saltapi ")
    }
    assert listed == set(main.commands)


def test_the_route_list_is_every_route(tmp_path):
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "routes.sqlite"), "SECRET_KEY": "test"})
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = ROUTE_PARAMETER.sub(r"<\1>", rule.rule)
        routes.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    listed: dict[str, set[str]] = {}
    for methods, path, _ in table_rows(section("Routes")):
        listed.setdefault(CODE.fullmatch(path).group(1), set()).update(methods.split(", "))
    assert listed == routes


def layout_paths() -> set[str]:
    """Every file and folder the layout table names. A path whose first part is at the top of the repository is
    read from there; any other belongs to the folder of its row's first path (`saltapi/db.py`, `auth.py`)."""
    named = set()
    for cells in table_rows(section("Layout")):
        first = CODE.findall(cells[0])[0]
        base = first if first.endswith("/") else first.rpartition("/")[0] + "/" if "/" in first else ""
        for cell in cells:
            for path in CODE.findall(cell):
                if re.fullmatch(r"[\w./-]+\.\w+|[\w./-]+/", path):
                    named.add(path if (ROOT / path.split("/")[0]).exists() else base + path)
    return named


def test_the_layout_table_names_every_module_and_nothing_else():
    named = layout_paths()
    modules = {
        str(path.relative_to(ROOT))
        for path in [*ROOT.glob("*.py"), *(ROOT / "saltapi").rglob("*.py")]
        if path.name != "__init__.py" or path.parent.name == "saltapi"
    }
    assert modules - named == set(), "modules the README's layout table does not name"
    assert {path for path in named if not (ROOT / path).exists()} == set(), "paths in the layout table that do not exist"
