"""Big tables: how reads hold up from 1k to 100k to 1M rows (issue 11, "Big tables").

    .venv/bin/python bench/big_tables.py [--sizes 1000,100000,1000000] [--requests 40] [--workers 2]

For each size it builds a database (the table through saltapi's own fixture loader, with an Index constraint on
`score`; the rows in one transaction with executemany, the search index's triggers firing as they would for any
insert), starts `python app.py` on it, and times each read one request at a time (after warm-up requests):
p50 and p90 in ms. It prints one table with a column per size and, for the filtered sorted read and the 5-character
`_fts` term, the 1M figure against the 1k one. Everything it writes is under a temporary folder.
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saltapi import create_app  # noqa: E402
from saltapi.db import get_db  # noqa: E402
from saltapi.fixtures import load_fixture  # noqa: E402
from saltapi.store.connection import transaction  # noqa: E402
from saltapi.store.metadata import load_table  # noqa: E402
from saltapi.store.search import create_search_index, drop_search_index  # noqa: E402

KINDS = 10
START_SECONDS = 60
WARM_UP = 8  # requests not timed: each worker opens its connection and reads the metadata once


def fixture() -> dict:
    return {
        "tables": [
            {"name": "kinds", "min_role_read": 100, "fields": [{"name": "name", "type": "String", "required": True}],
             "rows": [{"id": i, "name": f"kind {i}"} for i in range(1, KINDS + 1)]},
            {"name": "events", "min_role_read": 100, "min_role_write": 1,
             "fields": [{"name": "kind", "type": "Key to kinds", "attributes": {"summary_field": "name"}},
                        {"name": "score", "type": "Integer", "required": True},
                        {"name": "label", "type": "String"},
                        {"name": "note", "type": "String"}],
             "constraints": [{"type": "Index", "configuration": {"field": "score"}}]},
        ]
    }  # fmt: skip


def word(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=7))


def build_database(path: Path, size: int) -> tuple[float, float, str]:
    """Make the database; return the seconds the rows took, those the search index took, and a 5-character term
    from a row in the middle. The index is made once the rows are in (one INSERT ... SELECT), as a bulk load
    should: its triggers, firing per row, take about twice as long."""
    rng = random.Random(size)
    rows = [(i % KINDS + 1, rng.randrange(1_000_000), f"{word(rng)} {word(rng)}", f"Note {i}") for i in range(size)]
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "bench"})
    with app.app_context():
        db = get_db()
        load_fixture(db, fixture())
        started = time.perf_counter()
        with transaction(db):
            drop_search_index(db, "events")
            db.executemany('INSERT INTO "events" ("kind", "score", "label", "note") VALUES (?, ?, ?, ?)', rows)
            inserted = time.perf_counter()
            events = load_table(db, "events")
            assert events is not None  # made above
            create_search_index(db, "events", events.fields)
        indexed = time.perf_counter()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    label = rows[size // 2][2]
    return inserted - started, indexed - inserted, label[1:6].upper()  # found case-insensitively


def cases(size: int, term: str) -> list[tuple[str, str]]:
    return [
        ("filter kind, sortBy indexed score, limit 20", "/api/events?kind=3&sortBy=score&sortDesc=true&limit=20"),
        ("filter kind, id order, limit 20", "/api/events?kind=3&limit=20"),
        (f"_fts, 5 characters ({term})", f"/api/events?_fts={quote(term)}"),
        ("label approximate, 5 characters", f"/api/events?label={quote(term)}&approximate=1"),
        ("label[ilike], 5 characters", f"/api/events?label[ilike]={quote(term)}"),
        ("_fts, 2 characters (scan), limit 20", f"/api/events?_fts={quote(term[:2])}&limit=20"),
        ("count", "/api/events/count"),
        ("count, filter kind", "/api/events/count?kind=3"),
        ("offset deep (size - 100), limit 20", f"/api/events?offset={max(size - 100, 0)}&limit=20"),
    ]


@contextlib.contextmanager
def saltapi_server(db_path: Path, workers: int):
    """`python app.py` on the database until the block ends (it waits, bounded, for the first answer)."""
    port = free_port()
    command = [sys.executable, "app.py", "--db", str(db_path), "--port", str(port), "--workers", str(workers)]
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "SALTAPI_SECRET_KEY": "bench"}, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"app.py exited:\n{log.read().decode(errors='replace')}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/api/kinds")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer within {START_SECONDS} s")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(port: int, path: str, requests: int) -> tuple[float, float, int]:
    """(p50 ms, p90 ms, rows or count in the answer) over `requests` sequential requests, after WARM_UP unmeasured."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    times, answer = [], b""
    for index in range(requests + WARM_UP):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {answer[:200]!r}")
        if index >= WARM_UP:
            times.append((time.perf_counter() - started) * 1000)
    connection.close()
    success = json.loads(answer)["success"]
    quantiles = statistics.quantiles(times, n=10)
    return statistics.median(times), quantiles[-1], success if isinstance(success, int) else len(success)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per case (default 40)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results, builds = {}, {}
    with tempfile.TemporaryDirectory(prefix="saltapi-big-") as workdir:
        for size in sizes:
            db_path = Path(workdir) / f"big-{size}.sqlite"
            *builds[size], term = build_database(db_path, size)
            print(f"{size:,} rows: inserted in {builds[size][0]:.1f} s, indexed in {builds[size][1]:.1f} s", file=sys.stderr)
            with saltapi_server(db_path, args.workers) as port:
                results[size] = [(name, *timed(port, path, args.requests)) for name, path in cases(size, term)]
            for suffix in ("", "-wal", "-shm", ".secret"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    print(f"# big tables, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, SQLite via Python {sys.version.split()[0]},"
          f" {args.workers} workers, {args.requests} sequential requests per case")
    print("| read | " + " | ".join(f"{size:,} rows p50 / p90 ms (answer)" for size in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for index, (name, *_) in enumerate(results[sizes[0]]):
        cells = []
        for size in sizes:
            _, p50, p90, answer = results[size][index]
            cells.append(f"{p50:.1f} / {p90:.1f} ({answer:,})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| inserting the rows (one transaction, executemany) | " + " | ".join(f"{builds[s][0]:.1f} s" for s in sizes) + " |")
    print("| then making the search index | " + " | ".join(f"{builds[s][1]:.1f} s" for s in sizes) + " |")
    smallest, largest = sizes[0], sizes[-1]
    for index in (0, 2):
        name, small = results[smallest][index][0], results[smallest][index][1]
        large = results[largest][index][1]
        print(f"{name}: {largest:,} rows answer at {small / large:.2f}x the speed of {smallest:,} rows ({large:.1f} ms vs {small:.1f} ms p50)")


if __name__ == "__main__":
    main()
