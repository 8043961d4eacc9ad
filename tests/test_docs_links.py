"""The repository carries its own contract: links in the docs stay inside it and resolve, and every
`docs/api.md §N` that code and tests cite names a section that exists."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {heading_anchor(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda path: path.name)
def test_relative_links_resolve_inside_the_repository(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        assert path.is_relative_to(ROOT) and path.exists(), f"{doc.name}: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{doc.name}: {target}"


def test_nothing_points_outside_the_repository():
    offenders = [
        str(path.relative_to(ROOT))
        for path in tracked_files()
        if path.suffix in {".py", ".md", ".toml", ".ini", ".txt", ".json", ".html", ".sql", ".cfg"}
        and re.search(r"\.\./shared|SPEC\.md|\bSPEC §", path.read_text(encoding="utf-8", errors="replace"))
        and path != Path(__file__).resolve()
    ]
    assert offenders == []


def test_cited_sections_of_the_api_reference_exist():
    sections = set(re.findall(r"^## (\d+a?)\. ", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.M))
    cited = {
        (str(path.relative_to(ROOT)), section)
        for path in tracked_files()
        if path.suffix in {".py", ".sql"}
        for section in re.findall(r"docs/api\.md §(\d+a?)", path.read_text(encoding="utf-8"))
    }
    assert cited, "code and tests cite docs/api.md sections"
    assert {(name, section) for name, section in cited if section not in sections} == set()
