"""saltapi against a plain Flask + sqlite3 baseline, side by side, under a real HTTP load generator.

    .venv/bin/python bench/run.py [--duration 5] [--rounds 3] [--connections 8] [--workers 2]

Both servers run on 127.0.0.1 on copies of the same data, with the same number of worker processes, and are
driven in turn (A/B, then B/A, ...) with Debian's `wrk` when it is installed, else with a small Python load
generator of keep-alive connections (slower, so only its ratios mean anything). It prints requests/s and
p50/p99 latency per case, the ratio saltapi / baseline (median of the rounds), a growth table (the same
filtered read and insert at 1k, 100k and 1M rows) and the server's peak memory while streaming 1M rows.
Everything it starts, it stops; everything it writes is under a temporary folder.
"""

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saltapi import create_app  # noqa: E402
from saltapi.db import get_db  # noqa: E402
from saltapi.fixtures import load_fixture  # noqa: E402

STAFF_TOKEN = "bench-staff-token"
ADMIN_TOKEN = "bench-admin-token"
KINDS = 10
START_SECONDS = 30
CASES = [
    # name, method, path, body, token
    ("GET by id, Bearer, staff table", "GET", "/api/people/500", None, STAFF_TOKEN),
    ("GET 100-row page, public", "GET", "/api/books?limit=100", None, None),
    ("GET filter+sort+limit, 100k rows", "GET", "/api/events?kind=3&sortBy=score&sortDesc=true&limit=20", None, None),
    ("count with filter, 100k rows", "GET", "/api/events/count?kind=3", None, None),
    ("POST insert, token", "POST", "/api/events", {"kind": 2, "score": 7, "label": "new event"}, ADMIN_TOKEN),
    ("POST update, token", "POST", "/api/people/42", {"name": "Renamed Person"}, ADMIN_TOKEN),
]


def fixture() -> dict:
    """Tables and users; the big tables' rows are bulk-inserted afterwards."""
    return {
        "users": [
            {"email": "staff@bench.test", "role_id": 40, "api_token": STAFF_TOKEN},
            {"email": "admin@bench.test", "role_id": 1, "api_token": ADMIN_TOKEN},
        ],
        "tables": [
            {"name": "kinds", "min_role_read": 100, "fields": [{"name": "name", "type": "String", "required": True}],
             "rows": [{"id": i, "name": f"kind {i}"} for i in range(1, KINDS + 1)]},
            {"name": "events", "min_role_read": 100, "min_role_write": 1, "fields": [
                {"name": "kind", "type": "Key to kinds", "attributes": {"summary_field": "name"}},
                {"name": "score", "type": "Integer", "required": True},
                {"name": "label", "type": "String"}]},
            {"name": "people", "min_role_read": 40, "min_role_write": 1, "fields": [
                {"name": "name", "type": "String", "required": True},
                {"name": "email", "type": "String", "is_unique": True}]},
            {"name": "books", "min_role_read": 100, "min_role_write": 1, "fields": [
                {"name": "author", "type": "String", "required": True},
                {"name": "pages", "type": "Integer", "required": True, "attributes": {"min": 0}}]},
        ],
    }  # fmt: skip


def build_database(path: Path, event_count: int) -> None:
    """Tables through saltapi's own loader, then plain bulk inserts for the many rows."""
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "bench"})
    with app.app_context():
        db = get_db()
        load_fixture(db, fixture())
        db.execute("BEGIN")
        db.executemany(
            'INSERT INTO "events" ("kind", "score", "label") VALUES (?, ?, ?)',
            ((i % KINDS + 1, (i * 7919) % 1000, f"event {i}") for i in range(event_count)),
        )
        db.executemany(
            'INSERT INTO "people" ("name", "email") VALUES (?, ?)',
            ((f"Person {i}", f"person{i}@bench.test") for i in range(1000)),
        )
        db.executemany(
            'INSERT INTO "books" ("author", "pages") VALUES (?, ?)', ((f"Author {i}", i) for i in range(200))
        )
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], port: int, env: dict | None = None, cwd: Path = ROOT):
    """Run a server until the block ends; wait (bounded) for it to answer first."""
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{command[0]} exited:\n{log.read().decode(errors='replace')}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(command)} did not listen within {START_SECONDS} s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def saltapi_server(db_path: Path, workers: int):
    port = free_port()
    command = [sys.executable, "app.py", "--db", str(db_path), "--port", str(port), "--workers", str(workers)]
    return server(command, port, env={"SALTAPI_SECRET_KEY": "bench"}), port


def reference_server(db_path: Path, workers: int):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "reference_app:app"]
    return server(command, port, env={"REFERENCE_DB": str(db_path)}, cwd=ROOT / "bench"), port


# Load generators


def parse_duration(text: str) -> float:
    """wrk's '1.23ms' / '850.00us' / '1.02s' in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(port: int, method: str, path: str, body, token, seconds: float, connections: int) -> dict:
    script = ["wrk.method = " + json.dumps(method)]
    if body is not None:
        script += ["wrk.body = " + json.dumps(json.dumps(body)), 'wrk.headers["Content-Type"] = "application/json"']
    if token:
        script.append(f'wrk.headers["Authorization"] = "Bearer {token}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write("\n".join(script) + "\n")
        lua.flush()
        threads = min(2, connections)
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua.name,
                   f"http://127.0.0.1:{port}{path}"]  # fmt: skip
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": parse_duration(percentiles["50"]),
        "p99": parse_duration(percentiles["99"]),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_python_load(port: int, method: str, path: str, body, token, seconds: float, connections: int) -> dict:
    """The fallback: `connections` threads, each a keep-alive HTTP/1.1 connection, for `seconds`."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = json.dumps(body) if body is not None else None
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, failed = [], 0
        while time.monotonic() < deadline:
            start = time.perf_counter()
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            failed += response.status >= 300
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
        "errors": errors[0],
    }


def load(port: int, case: tuple, args) -> dict:
    _, method, path, body, token = case
    generator = run_wrk if shutil.which("wrk") else run_python_load
    return generator(port, method, path, body, token, args.duration, args.connections)


# The three parts of the report


def compare(args, workdir: Path) -> list[dict]:
    """Every case against both servers, alternating which goes first."""
    saltapi_db, reference_db = workdir / "saltapi.sqlite", workdir / "reference.sqlite"
    build_database(saltapi_db, 100_000)
    shutil.copyfile(saltapi_db, reference_db)
    saltapi, saltapi_port = saltapi_server(saltapi_db, args.workers)
    reference, reference_port = reference_server(reference_db, args.workers)
    results = {case[0]: {"saltapi": [], "reference": []} for case in CASES}
    with saltapi, reference:
        for round_number in range(args.rounds):
            order = [("saltapi", saltapi_port), ("reference", reference_port)]
            for case in CASES:
                for name, port in order if round_number % 2 == 0 else reversed(order):
                    results[case[0]][name].append(load(port, case, args))
    return [summarize(case_name, runs) for case_name, runs in results.items()]


def summarize(case_name: str, runs: dict) -> dict:
    def median(name, key):
        return statistics.median(run[key] for run in runs[name])

    return {
        "case": case_name,
        **{f"{name}_{key}": median(name, key) for name in ("saltapi", "reference") for key in ("rps", "p50", "p99")},
        "rps_ratio": statistics.median(s["rps"] / r["rps"] for s, r in zip(runs["saltapi"], runs["reference"])),
        "p99_ratio": statistics.median(s["p99"] / r["p99"] for s, r in zip(runs["saltapi"], runs["reference"])),
        "errors": sum(run["errors"] for name in runs for run in runs[name]),
    }


# The filtered read twice: in id order the Key's index also gives the order, so it stays flat; sorted by a
# column without an index, SQLite must sort every matching row, which grows with the table.
GROWTH_CASES = [
    ("GET filter, id order, limit", "GET", "/api/events?kind=3&sortDesc=true&limit=20", None, None),
    ("GET filter, sortBy score, limit", *CASES[2][1:]),
    ("POST insert", *CASES[4][1:]),
]


def growth(args, workdir: Path) -> dict[int, dict]:
    """The filtered reads and the insert at three table sizes."""
    cases = GROWTH_CASES
    table = {}
    for size in (1_000, 100_000, 1_000_000):
        db_path = workdir / f"growth-{size}.sqlite"
        build_database(db_path, size)
        context, port = saltapi_server(db_path, args.workers)
        with context:
            table[size] = {case[0]: statistics.median(load(port, case, args)["rps"] for _ in range(args.rounds))
                           for case in cases}  # fmt: skip
        db_path.unlink()
    return table


def memory_while_streaming(workdir: Path) -> tuple[float, float, int]:
    """(RSS before, peak RSS while streaming all 1M rows, rows received) of a one-worker server, in MB."""
    db_path = workdir / "growth-stream.sqlite"
    build_database(db_path, 1_000_000)
    context, port = saltapi_server(db_path, 1)
    with context as process:
        worker = worker_pid(process.pid)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/api/books?limit=1")  # warm the worker up before the baseline
        connection.getresponse().read()
        before = rss_mb(worker)
        peak, received, done = [before], [0], threading.Event()

        def sample():
            while not done.is_set():
                peak.append(rss_mb(worker))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            connection.request("GET", "/api/events")
            response = connection.getresponse()
            tail = b""
            while chunk := response.read(1 << 16):
                received[0] += (tail + chunk).count(b'"kind"')  # each row has one key "kind"
                tail = chunk[-5:]  # a key split across two chunks is counted once, in the second
        finally:
            done.set()
            sampler.join(10)
            connection.close()
    return before, max(peak), received[0]


def worker_pid(master: int) -> int:
    """The worker process of a one-worker server (the master itself when it does not fork)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0]) if children else master


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def print_report(args, comparison, growth_table, memory) -> None:
    generator = "wrk" if shutil.which("wrk") else "the Python fallback load generator (install wrk for real figures)"
    print(f"\nsaltapi vs baseline, {os.cpu_count()} cores, {args.workers} workers each, {args.connections} connections,"
          f" {args.duration}s x {args.rounds} rounds, load by {generator}\n")  # fmt: skip
    if comparison:
        print("| case | saltapi req/s | baseline req/s | ratio | saltapi p50 / p99 ms | baseline p50 / p99 ms | p99 ratio |")
        print("|---|---|---|---|---|---|---|")
        for row in comparison:
            print(f"| {row['case']} | {row['saltapi_rps']:.0f} | {row['reference_rps']:.0f} | {row['rps_ratio']:.2f}"
                  f" | {row['saltapi_p50']:.1f} / {row['saltapi_p99']:.1f} | {row['reference_p50']:.1f} /"
                  f" {row['reference_p99']:.1f} | {row['p99_ratio']:.2f} |")  # fmt: skip
        print(f"\nnon-2xx answers during the runs: {sum(row['errors'] for row in comparison)}")
    if growth_table:
        names = list(next(iter(growth_table.values())))
        print("\n| rows | " + " | ".join(f"{name} req/s" for name in names) + " |")
        print("|---|" + "---|" * len(names))
        for size, figures in growth_table.items():
            print(f"| {size:,} | " + " | ".join(f"{figures[name]:.0f}" for name in names) + " |")
        smallest, largest = growth_table[min(growth_table)], growth_table[max(growth_table)]
        print("1M / 1k: " + ", ".join(f"{name} {largest[name] / smallest[name]:.2f}x" for name in names))
    if memory:
        before, peak, received = memory
        print(f"\nstreaming {received:,} rows: worker RSS {before:.1f} MB before, {peak:.1f} MB at peak"
              f" (+{peak - before:.1f} MB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per load run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations per case (default 3)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server (default 2)")
    parser.add_argument("--skip-compare", action="store_true", help="leave out the side-by-side comparison")
    parser.add_argument("--skip-growth", action="store_true", help="leave out the 1k/100k/1M growth table")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the 1M-row streaming memory check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="saltapi-bench-") as directory:
        workdir = Path(directory)
        comparison = [] if args.skip_compare else compare(args, workdir)
        growth_table = {} if args.skip_growth else growth(args, workdir)
        memory = None if args.skip_memory else memory_while_streaming(workdir)
    print_report(args, comparison, growth_table, memory)


if __name__ == "__main__":
    main()
