"""Run saltapi: `python app.py [--host H] [--port P] [--db PATH] [--no-demo]`; `flask --app app ...` for admin commands."""

import argparse
import os

from saltapi import create_app
from saltapi.startup import prepare


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve Saltcorn's table-data REST API on one SQLite file.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    parser.add_argument("--db", help="database file (default $SALTAPI_DB or instance/saltapi.sqlite)")
    parser.add_argument(
        "--no-demo", action="store_true", help="do not load the demo data into a new database (or SALTAPI_DEMO=0)"
    )
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    app = create_app({"DATABASE": args.db} if args.db else None)
    demo = not args.no_demo and os.environ.get("SALTAPI_DEMO", "1") != "0"
    for line in prepare(app, demo):
        print(line)
    print(f"saltapi is serving on http://{args.host}:{args.port}/ (try /api/books); Ctrl+C stops it.", flush=True)
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
else:
    app = create_app()
