"""saltapi on PostgreSQL next to SQLite: bench/run.py's cases with 1 and 2 worker processes on each engine.

    .venv/bin/python bench/postgres.py [--duration 5] [--rounds 3] [--connections 16]

One run, one machine: a throwaway PostgreSQL cluster is started as the tests start theirs (tests/conftest.py), but
durable (fsync and synchronous commits on, as SQLite's default FULL sync is), on 127.0.0.1 beside the servers.
bench/run.py's data is built once in SQLite and moved to PostgreSQL with `copy-db`'s own code; every server has a
copy of its own. The servers are driven in turn, the order rotating each round, with wrk when it is installed.
It also prints the SQL statements each request kind sends on each engine (on PostgreSQL each is a round trip).
Everything it starts, it stops; everything it writes is under a temporary folder.
"""

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import run as bench  # bench/run.py, beside this file

sys.path.insert(0, str(bench.ROOT / "tests"))
from conftest import PostgresCluster  # type: ignore[import-not-found]  # noqa: E402
from saltapi import create_app  # noqa: E402
from saltapi.store.instance import copy_database  # noqa: E402

EVENTS = 100_000
SERVERS = [("sqlite", 1), ("sqlite", 2), ("postgres", 1), ("postgres", 2)]  # (engine, worker processes)


def label(name: tuple[str, int]) -> str:
    engine, workers = name
    return f"{'SQLite' if engine == 'sqlite' else 'PostgreSQL'}, {workers} process{'es' if workers > 1 else ''}"


def statements_per_case(database) -> list[list[str]]:
    """The statements of each case on a warm app (cache and pool as a server has them): what a request costs in
    round trips to the database."""
    app = create_app({"DATABASE": str(database), "SECRET_KEY": "bench"})
    client, pool = app.test_client(), app.extensions["saltapi_pool"]
    counts = []
    try:
        for _, method, path, body, token in bench.CASES:
            headers = {"Authorization": f"Bearer {token}"}
            client.open(path, method=method, json=body, headers=headers)  # warm
            statements: list[str] = []
            pool.trace = statements.append
            try:
                status = client.open(path, method=method, json=body, headers=headers).status_code
            finally:
                pool.trace = None
            assert status == 200, (method, path, status)
            issued = [sql for sql in statements if not sql.startswith("-- ")]  # SQLite's inside a trigger
            counts.append([sql.split("\n")[0][:60] for i, sql in enumerate(issued) if i == 0 or sql != issued[i - 1]])
    finally:
        pool.close()
    return counts


def no_progress(total: int):
    return contextlib.nullcontext(lambda count: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per load run (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="turns per case and server (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="saltapi-bench-pg-") as directory:
        workdir = Path(directory)
        template = workdir / "template.sqlite"
        bench.build_database(template, EVENTS)
        cluster = PostgresCluster(durable=True)
        try:
            pg_template = cluster.create()
            copy_database(str(template), pg_template, no_progress)
            databases = {}
            for engine, workers in SERVERS:
                if engine == "sqlite":
                    databases[(engine, workers)] = workdir / f"sqlite-{workers}.sqlite"
                    shutil.copyfile(template, databases[(engine, workers)])
                else:
                    databases[(engine, workers)] = cluster.create(template=pg_template.rsplit("/", 1)[1])
            statements = {engine: statements_per_case(databases[(engine, 1)]) for engine in ("sqlite", "postgres")}
            results: dict[str, dict[tuple[str, int], list[dict]]] = {
                case[0]: {name: [] for name in SERVERS} for case in bench.CASES
            }
            with contextlib.ExitStack() as stack:
                ports = {}
                for name in SERVERS:
                    context, ports[name] = bench.saltapi_server(databases[name], workers=name[1])
                    stack.enter_context(context)
                for round_number in range(args.rounds):
                    order = SERVERS[round_number % len(SERVERS):] + SERVERS[:round_number % len(SERVERS)]
                    for case in bench.CASES:
                        for name in order:
                            results[case[0]][name].append(bench.load(ports[name], case, args))
        finally:
            cluster.stop()
    report(args, results, statements)


def report(args, results: dict, statements: dict) -> None:
    generator = "wrk" if shutil.which("wrk") else "the Python fallback load generator (install wrk for real figures)"
    print(f"\nbench/postgres.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores,"
          f" {args.connections} connections, {args.duration}s x {args.rounds} rounds (order rotating), load by"
          f" {generator}; PostgreSQL {cluster_version()} on the same machine; median of the rounds\n")  # fmt: skip
    print("| case | server | req/s | p50 / p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    for case_name, runs in results.items():
        for name, figures in runs.items():
            rps, p50, p99 = (statistics.median(run[key] for run in figures) for key in ("rps", "p50", "p99"))
            errors = sum(run["errors"] for run in figures)
            print(f"| {case_name} | {label(name)} | {rps:.0f} | {p50:.1f} / {p99:.1f} | {errors} |")
    print("\n| case | SQLite statements | PostgreSQL statements (round trips) |")
    print("|---|---|---|")
    for index, case in enumerate(bench.CASES):
        print(f"| {case[0]} | {len(statements['sqlite'][index])} | {len(statements['postgres'][index])} |")
    for engine, cases in statements.items():
        for case, issued in zip(bench.CASES, cases):
            print(f"\n{engine}, {case[0]}:\n  " + "\n  ".join(issued))


def cluster_version() -> str:
    from conftest import POSTGRES_BIN

    return POSTGRES_BIN.parent.name


if __name__ == "__main__":
    main()
