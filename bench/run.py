"""saltapi against plain Flask + sqlite3 baselines, side by side, under a real HTTP load generator.

    .venv/bin/python bench/run.py [--duration 5] [--rounds 3] [--connections 16] [--servers NAME,...]

Every server runs on 127.0.0.1 on its own copy of the same data, with 2 worker processes, and all are driven in
turn, the order rotating each round, with Debian's `wrk` when it is installed, else with a small Python load
generator of keep-alive connections (slower, so only its ratios mean anything). It prints requests/s and
p50/p99 latency per case and server, each server's ratio to the first (median of the rounds), a growth table
(the same filtered read and insert at 1k, 100k and 1M rows) and the server's peak memory while streaming 1M
rows. Everything it starts, it stops; everything it writes is under a temporary folder.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from saltapi import create_app  # noqa: E402
from saltapi.db import get_db  # noqa: E402
from saltapi.fixtures import load_fixture  # noqa: E402
from saltapi.serve import DEFAULT_THREADS  # noqa: E402

STAFF_TOKEN = "bench-staff-token"
ADMIN_TOKEN = "bench-admin-token"
KINDS = 10
START_SECONDS = 30
WORKERS = 2
CASES = [
    # name, method, path, body, token
    ("GET by id, Bearer, staff table", "GET", "/api/people/500", None, STAFF_TOKEN),
    ("GET 100-row page, Bearer", "GET", "/api/books?limit=100", None, STAFF_TOKEN),
    ("POST insert, Bearer", "POST", "/api/events", {"kind": 2, "score": 7, "label": "new event"}, ADMIN_TOKEN),
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


def saltapi_server(db_path: Path, workers: int = WORKERS):
    """saltapi as its users start it."""
    port = free_port()
    command = [sys.executable, "app.py", "--db", str(db_path), "--port", str(port), "--workers", str(workers)]
    return server(command, port, env={"SALTAPI_SECRET_KEY": "bench"}), port


def gunicorn(target: str, *options: str):
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), *options, "-b", f"127.0.0.1:{port}", target]

    return command


def granian(target: str, threads: int):
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", str(WORKERS),
                "--blocking-threads", str(threads), "--no-log", "--port", str(port), target]  # fmt: skip

    return command


def uwsgi(target: str):
    def command(port: int) -> list[str]:
        return [str(Path(sys.executable).with_name("uwsgi")), "--http-socket", f"127.0.0.1:{port}", "--master",
                "--processes", str(WORKERS), "--lazy-apps", "--disable-logging", "--module", target]  # fmt: skip

    return command


def saltapi_env(db_path: Path) -> dict:
    return {"SALTAPI_DB": str(db_path), "SALTAPI_SECRET_KEY": "bench"}


def python_app_py(port: int) -> list[str]:
    return [sys.executable, "app.py", "--port", str(port), "--workers", str(WORKERS)]


# name -> (label, command(port), environment(db_path), working directory). The first one run is the baseline.
SERVERS = {
    "reference": ("reference, gunicorn 2 sync workers", gunicorn("reference_app:app"),
                  lambda db: {"REFERENCE_DB": str(db)}, ROOT / "bench"),
    "reference-per-request": ("reference, a connection per request, gunicorn 2 sync", gunicorn("reference_app:app"),
                              lambda db: {"REFERENCE_DB": str(db), "REFERENCE_CONNECT": "per-request"}, ROOT / "bench"),
    "reference-granian": (f"reference, granian 2 workers x {DEFAULT_THREADS} threads",
                          granian("reference_app:app", DEFAULT_THREADS),
                          lambda db: {"REFERENCE_DB": str(db)}, ROOT / "bench"),
    "saltapi": ("saltapi, python app.py", python_app_py, saltapi_env, ROOT),
    # Other ways to serve saltapi, for choosing the server behind python app.py (--servers to run them; uwsgi needs
    # `pip install pyuwsgi`).
    "saltapi-gunicorn-sync": ("saltapi, gunicorn 2 sync workers", gunicorn("app:app"), saltapi_env, ROOT),
    "saltapi-gunicorn-gthread": ("saltapi, gunicorn 2 workers x 4 threads", gunicorn("app:app", "--threads", "4"),
                                 saltapi_env, ROOT),
    "saltapi-granian-1": ("saltapi, granian 2 workers x 1 thread", granian("app:app", 1), saltapi_env, ROOT),
    "saltapi-granian-4": ("saltapi, granian 2 workers x 4 threads", granian("app:app", 4), saltapi_env, ROOT),
    "saltapi-uwsgi": ("saltapi, uWSGI 2 processes", uwsgi("app:app"), saltapi_env, ROOT),
}  # fmt: skip
DEFAULT_SERVERS = "reference,reference-per-request,reference-granian,saltapi"


def start(name: str, db_path: Path):
    """The server `name` on `db_path`: (its context manager, its port)."""
    _, command, environment, cwd = SERVERS[name]
    port = free_port()
    return server(command(port), port, env=environment(db_path), cwd=cwd), port


# Load generators


def must_match(pattern: str, text: str, whole: bool = False) -> re.Match[str]:
    """:raises ValueError: when a tool's output does not have the expected line (a changed format fails loudly)."""
    match = re.fullmatch(pattern, text) if whole else re.search(pattern, text)
    if match is None:
        raise ValueError(f"{pattern!r} not found in {text[:200]!r}")
    return match


def parse_duration(text: str) -> float:
    """wrk's '1.23ms' / '850.00us' / '1.02s' in milliseconds."""
    number, unit = must_match(r"([\d.]+)(us|ms|s|m)", text, whole=True).groups()
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
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    if len(percentiles) != 2:
        raise RuntimeError(f"wrk on port {port} {method} {path} gave no latencies:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(must_match(r"Requests/sec:\s+([\d.]+)", output).group(1)),
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
    """Every case against every server, rotating which goes first each round."""
    template = workdir / "template.sqlite"
    build_database(template, 100_000)
    names = args.servers
    results: dict[str, dict[str, list]] = {case[0]: {name: [] for name in names} for case in CASES}
    with contextlib.ExitStack() as stack:
        ports = {}
        for name in names:
            db_path = workdir / f"{name}.sqlite"
            shutil.copyfile(template, db_path)
            context, ports[name] = start(name, db_path)
            stack.enter_context(context)
        for round_number in range(args.rounds):
            order = names[round_number % len(names):] + names[:round_number % len(names)]
            for case in CASES:
                for name in order:
                    results[case[0]][name].append(load(ports[name], case, args))
    return [summarize(case_name, names, runs) for case_name, runs in results.items()]


def summarize(case_name: str, names: list[str], runs: dict) -> dict:
    """Medians per server, and each server's ratios to the first (and to the server of its own round)."""
    baseline = runs[names[0]]
    row: dict[str, Any] = {"case": case_name, "servers": {}}
    for name in names:
        row["servers"][name] = {
            **{key: statistics.median(run[key] for run in runs[name]) for key in ("rps", "p50", "p99")},
            "rps_ratio": statistics.median(s["rps"] / b["rps"] for s, b in zip(runs[name], baseline)),
            "p99_ratio": statistics.median(s["p99"] / b["p99"] for s, b in zip(runs[name], baseline)),
            "errors": sum(run["errors"] for run in runs[name]),
        }
    return row


# The filtered read twice: in id order the Key's index also gives the order, so it stays flat; sorted by a
# column without an index, SQLite must sort every matching row, which grows with the table.
GROWTH_CASES = [
    ("GET filter, id order, limit", "GET", "/api/events?kind=3&sortDesc=true&limit=20", None, None),
    ("GET filter, sortBy score, limit", "GET", "/api/events?kind=3&sortBy=score&sortDesc=true&limit=20", None, None),
    ("POST insert", *CASES[2][1:]),
]


def growth(args, workdir: Path) -> dict[int, dict]:
    """The filtered reads and the insert at three table sizes."""
    cases = GROWTH_CASES
    table = {}
    for size in (1_000, 100_000, 1_000_000):
        db_path = workdir / f"growth-{size}.sqlite"
        build_database(db_path, size)
        context, port = saltapi_server(db_path)
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
    return int(must_match(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def print_report(args, comparison, growth_table, memory) -> None:
    generator = "wrk" if shutil.which("wrk") else "the Python fallback load generator (install wrk for real figures)"
    print(f"\nbench/run.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores,"
          f" {WORKERS} workers per server, {args.connections} connections, {args.duration}s x {args.rounds} rounds"
          f" (order rotating), load by {generator}; ratio = req/s / the first server's,"
          " median of the rounds\n")  # fmt: skip
    if comparison:
        print("| case | server | req/s | ratio | p50 / p99 ms | p99 ratio |")
        print("|---|---|---|---|---|---|")
        for row in comparison:
            for name, figures in row["servers"].items():
                print(f"| {row['case']} | {SERVERS[name][0]} | {figures['rps']:.0f} | {figures['rps_ratio']:.2f}"
                      f" | {figures['p50']:.1f} / {figures['p99']:.1f} | {figures['p99_ratio']:.2f} |")  # fmt: skip
        errors = sum(figures["errors"] for row in comparison for figures in row["servers"].values())
        print(f"\nnon-2xx answers during the runs: {errors}")
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


def server_names(text: str) -> list[str]:
    names = text.split(",")
    unknown = [name for name in names if name not in SERVERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown server {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per load run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations per case (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--servers", type=server_names, default=server_names(DEFAULT_SERVERS),
                        help=f"servers to compare, the first is the baseline (default {DEFAULT_SERVERS});"
                             f" known: {', '.join(SERVERS)}")  # fmt: skip
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
