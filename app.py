"""Run saltapi: `python app.py [--host H] [--port P] [--db PATH] [--no-demo | --demo [--demo-reset-minutes N]]`.

`flask --app app ...` runs the admin commands.
"""

import argparse
import os

from saltapi import create_app
from saltapi.demo import PeriodicDemoReset, build_demo_snapshot, demo_lines, reset_demo
from saltapi.serve import default_workers, serve
from saltapi.startup import prepare


def positive_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0
    if not minutes > 0 or minutes == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, not {text!r}")
    return minutes


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve Saltcorn's table-data REST API on one SQLite file.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--db", help="database file (default $SALTAPI_DB or instance/saltapi.sqlite)")
    parser.add_argument(
        "--workers", type=positive_int, default=default_workers(), help="worker processes (default: one per core, at least 2)"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="threads per worker process (default 1)")
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument(
        "--no-demo", action="store_true", help="do not load the demo data into a new database (or SALTAPI_DEMO=0)"
    )
    seed.add_argument(
        "--demo",
        action="store_true",
        help="a throwaway demo: replace everything in the database with the demo data and demo users",
    )
    parser.add_argument(
        "--demo-reset-minutes",
        type=positive_minutes,
        metavar="N",
        help="with --demo: reset to the demo data every N minutes (or SALTAPI_DEMO_RESET_MINUTES)",
    )
    args = parser.parse_args(argv)
    if args.demo_reset_minutes is None and os.environ.get("SALTAPI_DEMO_RESET_MINUTES"):
        try:
            args.demo_reset_minutes = positive_minutes(os.environ["SALTAPI_DEMO_RESET_MINUTES"])
        except argparse.ArgumentTypeError as error:
            parser.error(f"SALTAPI_DEMO_RESET_MINUTES {error}")
    if args.demo_reset_minutes is not None and not args.demo:
        parser.error("resetting to the demo data every few minutes needs --demo")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    app = create_app({"DATABASE": args.db} if args.db else None)
    database = app.config["DATABASE"]
    if args.demo:
        snapshot = build_demo_snapshot()
        lines = demo_lines(database, reset_demo(database, snapshot))
        if args.demo_reset_minutes:
            PeriodicDemoReset(database, args.demo_reset_minutes * 60, snapshot).start()
            lines.append(f"Everything is reset to the demo data every {args.demo_reset_minutes:g} minutes.")
    else:
        demo = not args.no_demo and os.environ.get("SALTAPI_DEMO", "1") != "0"
        lines = prepare(app, demo, server_url=f"http://{args.host}:{args.port}")
    for line in lines:
        print(line)
    print(f"saltapi is serving on http://{args.host}:{args.port}/ (try /api/books); Ctrl+C stops it.", flush=True)
    serve(app, args.host, args.port, workers=args.workers, threads=args.threads)


if __name__ == "__main__":
    main()
else:
    app = create_app()
