"""The `saltapi` console command (also `python -m saltapi`): `saltapi serve` and every admin command of cli.py.

`python app.py [options]` in a checkout is `saltapi serve [options]`.
"""

import math
import os

import click
from flask.cli import ScriptInfo

from . import cli, create_app, proxies
from .demo import PeriodicDemoReset, build_demo_snapshot, demo_lines, reset_demo
from .serve import DEFAULT_THREADS, default_workers, refuse_a_taken_port, serve
from .startup import prepare


class PositiveMinutes(click.ParamType):
    name = "minutes"

    def convert(self, value, param, ctx) -> float:
        try:
            minutes = float(value)
        except (TypeError, ValueError):
            minutes = 0
        if not minutes > 0 or math.isinf(minutes):
            self.fail(f"must be a positive number of minutes, not {value!r}", param, ctx)
        return minutes


@click.command("serve")
@click.option("--host", default="127.0.0.1", envvar="SALTAPI_HOST", show_default=True,
              help="Address to listen on ($SALTAPI_HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=5000, envvar="SALTAPI_PORT", show_default=True,
              help="Port to listen on ($SALTAPI_PORT).")
@click.option("--db", "database", metavar="PATH",
              help="The database (default: $SALTAPI_DB, else instance/saltapi.sqlite); made on first start.")
@click.option("--workers", type=click.IntRange(min=1), default=default_workers, envvar="SALTAPI_WORKERS",
              help="Worker processes ($SALTAPI_WORKERS; default: one per core, at least 2).")
@click.option("--threads", type=click.IntRange(min=1), default=DEFAULT_THREADS, envvar="SALTAPI_THREADS",
              show_default=True, help="Threads per worker process running the app at once ($SALTAPI_THREADS).")
@click.option("--no-demo", is_flag=True, help="Do not load the demo data into a new database (or SALTAPI_DEMO=0).")
@click.option("--demo", is_flag=True,
              help="A throwaway demo: replace everything in the database with the demo data and demo users.")
@click.option("--demo-reset-minutes", type=PositiveMinutes(), metavar="N", envvar="SALTAPI_DEMO_RESET_MINUTES",
              help="With --demo: reset to the demo data every N minutes ($SALTAPI_DEMO_RESET_MINUTES).")
@click.option("--trusted-proxies", metavar="ADDRESSES", envvar=proxies.SETTING, default="",
              help="Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or networks,"
                   " separated by commas ($SALTAPI_TRUSTED_PROXIES; default none).")
def serve_command(
    host: str, port: int, database: str | None, workers: int, threads: int, no_demo: bool, demo: bool,
    demo_reset_minutes: float | None, trusted_proxies: str,
):  # fmt: skip
    """Serve the API and the web UI until stopped (Ctrl+C)."""
    if demo and no_demo:
        raise click.UsageError("--demo and --no-demo exclude each other")
    if demo_reset_minutes is not None and not demo:
        raise click.UsageError("resetting to the demo data every few minutes needs --demo")
    try:
        refuse_a_taken_port(host, port)
    except OSError as error:
        raise click.ClickException(f"Cannot listen on {host}:{port}: {error.strerror}") from None
    config = {proxies.SETTING: trusted_proxies, **({"DATABASE": database} if database else {})}
    try:
        app = create_app(config)
    except ValueError as error:  # a setting that makes no sense: say which, in one line
        raise click.ClickException(str(error)) from None
    database = app.config["DATABASE"]
    click.echo(f"Database: {cli.database_label(database)}")
    if demo:
        snapshot = build_demo_snapshot()
        lines = demo_lines(database, reset_demo(database, snapshot))
        if demo_reset_minutes:
            PeriodicDemoReset(database, demo_reset_minutes * 60, snapshot).start()
            lines.append(f"Everything is reset to the demo data every {demo_reset_minutes:g} minutes.")
    else:
        with_demo = not no_demo and os.environ.get("SALTAPI_DEMO", "1") != "0"
        lines = prepare(app, with_demo, server_url=f"http://{host}:{port}")
    for line in lines:
        click.echo(line)
    click.echo(f"saltapi is serving on http://{host}:{port}/ (try /api/books); Ctrl+C stops it.")
    serve(app, host, port, workers=workers, threads=threads)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="saltapi")
@click.pass_context
def main(ctx: click.Context) -> None:
    """saltapi: Saltcorn's table-data REST API on one SQLite file.

    Every command takes --db (default: $SALTAPI_DB, else instance/saltapi.sqlite).
    """
    info = ScriptInfo(create_app=lambda: create_app({"DATABASE": info.data[cli.CHOSEN_DATABASE]}))
    info.data[cli.CHOSEN_DATABASE] = None  # chosen by the command (cli.database_command)
    ctx.obj = info


main.add_command(serve_command)
for command in cli.COMMANDS:
    main.add_command(command)
