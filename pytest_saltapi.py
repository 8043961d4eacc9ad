"""saltapi's pytest plugin (entry point `pytest11`, name `saltapi`; `-p no:saltapi` turns it off).

A test that asks for the `saltcorn` fixture gets a saltapi instance loaded from a fixture file (README "Using
saltapi in your tests"). This module is what pytest imports in every run of a project that installed saltapi,
so it imports nothing of saltapi's: Flask and the app load only when a test first asks for `saltcorn`
(the instances live in saltapi/pytest_plugin.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from saltapi.pytest_plugin import Saltcorn, SaltcornInstances

FIXTURE_FILE_OPTION = "saltapi_fixture_file"
FIXTURE_MARKER = "saltapi_fixture"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        FIXTURE_FILE_OPTION,
        "saltapi: the fixture file (JSON, as for `saltapi load-fixture`) the `saltcorn` fixture loads, relative to"
        " the ini file; default: saltapi's demo data",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{FIXTURE_MARKER}(source): the fixture file (relative to the test file) or dict the `saltcorn` fixture loads",
    )


@pytest.fixture
def saltcorn_fixture(request: pytest.FixtureRequest) -> Path | Mapping:
    """What `saltcorn` loads unless the test is marked: the ini option's file, else the demo. Override it to choose."""
    configured = request.config.getini(FIXTURE_FILE_OPTION)
    if configured:
        base = request.config.inipath.parent if request.config.inipath else request.config.rootpath
        return base / configured
    from saltapi.demo import demo_data

    return demo_data()


@pytest.fixture(scope="session")
def saltcorn_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaltcornInstances]:
    """Every saltapi instance of the session (one per fixture, its server started once and reused)."""
    from saltapi.pytest_plugin import SaltcornInstances

    instances = SaltcornInstances(tmp_path_factory)
    yield instances
    instances.close()


@pytest.fixture
def saltcorn(request: pytest.FixtureRequest, saltcorn_instances: SaltcornInstances, saltcorn_fixture) -> Saltcorn:
    """A saltapi instance as its fixture loaded it: `.url`, `.client`, `.token(email)`, `.db_path`."""
    from saltapi.fixtures import FixtureError
    from saltapi.pytest_plugin import Saltcorn

    source = saltcorn_fixture
    marker = request.node.get_closest_marker(FIXTURE_MARKER)
    if marker is not None:
        if len(marker.args) != 1 or marker.kwargs:
            pytest.fail(f"@pytest.mark.{FIXTURE_MARKER} takes one argument: a fixture file or dict", pytrace=False)
        source = marker.args[0] if isinstance(marker.args[0], Mapping) else request.path.parent / marker.args[0]
    try:
        instance = saltcorn_instances.get(source)
    except FixtureError as error:  # pytest.fail() inside the handler would print this error twice, chained
        raise pytest.fail.Exception(f"saltapi could not load the fixture: {error}", pytrace=False) from None
    instance.reset()
    return Saltcorn(instance)
