"""Benchmark of the pytest plugin (not a test): the reset between tests, and starting the session's server.

    python bench/plugin_bench.py [--tables 10] [--rows 10000] [--resets 50]

Builds a fixture of TABLES tables holding ROWS rows in all (every table with a String, an Integer, a Float,
a Bool, a Date and a Key to the previous table), then reports:
- loading it (what the first test of a session waits for, without the server),
- starting the live server: from asking for `.url` to the first answered request,
- the reset between tests: its median and worst time over RESETS resets, each after a write through the
  live server, so there is something to undo while the server runs.
"""

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from saltapi.pytest_plugin import SaltapiInstance

TIMEOUT = 10


def build_fixture(tables: int, rows: int) -> dict:
    per_table = rows // tables
    admin = {"email": "admin@bench.example", "role_id": 1, "api_token": "bench-admin-token"}
    fixture = {"users": [admin], "tables": []}
    for number in range(tables):
        fields = [
            {"name": "title", "type": "String", "required": True},
            {"name": "count", "type": "Integer"},
            {"name": "price", "type": "Float"},
            {"name": "active", "type": "Bool"},
            {"name": "due", "type": "Date"},
        ]
        if number:
            fields.append({"name": "parent", "type": "Key", "reftable_name": f"t{number - 1}"})
        table_rows = [
            {"id": i, "title": f"row {i} of table {number}", "count": i, "price": i / 4, "active": i % 2 == 0,
             "due": "2024-05-01", **({"parent": i} if number else {})}
            for i in range(1, per_table + 1)
        ]  # fmt: skip
        fixture["tables"].append({"name": f"t{number}", "min_role_read": 100, "fields": fields, "rows": table_rows})
    return fixture


def get(url: str, token: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return response.read()


def write_one(url: str) -> None:
    request = urllib.request.Request(
        f"{url}/api/t0",
        data=b'{"title": "written by the benchmark"}',
        headers={"Authorization": "Bearer bench-admin-token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--resets", type=int, default=50)
    args = parser.parse_args()
    fixture = build_fixture(args.tables, args.rows)
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        instance = SaltapiInstance(Path(directory), fixture, "benchmark fixture")
        loaded = time.perf_counter() - started
        try:
            started = time.perf_counter()
            url = instance.url
            get(f"{url}/api/t0/count")
            first_answer = time.perf_counter() - started
            times = []
            for _ in range(args.resets):
                write_one(url)
                started = time.perf_counter()
                assert instance.reset(), "the write was not noticed"
                times.append(time.perf_counter() - started)
            count = json.loads(get(f"{url}/api/t0/count"))["success"]
            assert count == args.rows // args.tables, f"after the last reset t0 has {count} rows"
            size = instance.db_path.stat().st_size
        finally:
            instance.close()
    print(f"fixture: {args.tables} tables, {args.rows} rows, database {size / 1e6:.1f} MB")
    print(f"loading the fixture: {loaded * 1000:.0f} ms")
    print(f"server start to first answered request: {first_answer * 1000:.1f} ms")
    print(
        f"reset between tests: median {statistics.median(times) * 1000:.1f} ms,"
        f" max {max(times) * 1000:.1f} ms over {len(times)} resets"
    )


if __name__ == "__main__":
    main()
