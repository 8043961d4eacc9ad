"""Crashes: kill -9 the whole server (the server's main process and workers) under load, again and again; restart it
and find every acknowledged write exactly once, and no half-written row.

`SALTAPI_CRASH_KILLS` sets the number of kills (default 10).
"""

import contextlib
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import LiveServer
from test_soak import Writer, add_tables, check_file, run_writers, stored_rows, totals

# kill -9 and then SQLite's file on disk: what WAL and synchronous=FULL promise.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

KILLS = int(os.environ.get("SALTAPI_CRASH_KILLS", "10"))
CLIENT_THREADS = 16
WORKERS = 3
WAIT_SECONDS = 10


def living_members(group: int) -> list[int]:
    """Processes of the group that still run (a killed worker stays a zombie until something reaps it)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses, so split after the last ")".
            state, _, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
            if int(pgrp) == group and state != "Z":
                members.append(int(stat.parent.name))
    return members


def kill_server(server: LiveServer) -> None:
    """SIGKILL the server's process group: the master and every worker at the same instant."""
    os.killpg(server.process.pid, signal.SIGKILL)
    try:
        server.process.wait(timeout=WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail("the killed server did not exit")
    deadline = time.monotonic() + WAIT_SECONDS
    while living_members(server.process.pid):
        assert time.monotonic() < deadline, "a worker outlived the kill"
        time.sleep(0.01)


def test_kill_9_under_load_loses_no_acknowledged_write(db_path, tmp_path):
    add_tables(db_path)
    rng = random.Random(7)
    writers = [Writer(number, seed=100 + number) for number in range(CLIENT_THREADS)]
    killed_during = []
    for round_number in range(KILLS + 1):
        log_path = tmp_path / f"server{round_number}.log"
        server = LiveServer(db_path, log_path, ("--workers", str(WORKERS)), new_session=True)
        try:
            server.wait_until_up()
            # What the crash left behind: acknowledged writes whole and present, unanswered ones whole or absent.
            stored = stored_rows(server.url)
            for writer in writers:
                writer.check(stored)
            if round_number == KILLS:
                break
            before = totals(writers)["requests"]
            seconds = rng.uniform(0.2, 1.0)
            run_writers(
                writers, server.url, seconds=WAIT_SECONDS * 2, tolerate_unanswered=True,
                on_the_way=lambda seconds=seconds, server=server: (time.sleep(seconds), kill_server(server)),
            )  # fmt: skip
            killed_during.append(totals(writers)["requests"] - before)
        finally:
            if server.process.poll() is None:
                os.killpg(server.process.pid, signal.SIGKILL)
                server.process.wait(timeout=WAIT_SECONDS)
            server.log.close()
        check_file(db_path)
    assert len(killed_during) == KILLS and all(killed_during), "every kill must come while requests are being made"
    total = totals(writers)
    unanswered = sum(writer.unanswered for writer in writers)
    outcomes = sum((writer.outcomes for writer in writers), Counter())
    assert unanswered >= KILLS  # each kill cut off at least one request
    print(
        f"\ncrash: {KILLS} kill -9 of master and {WORKERS} workers under {CLIENT_THREADS} client threads,"
        f" {total['requests']} requests ({unanswered} unanswered: {outcomes['unanswered write applied']} writes"
        f" applied, {outcomes['unanswered write not applied']} not, none in part);"
        f" acknowledged {total['insert']} inserts, {total['update']} updates, {total['delete']} deletes,"
        f" {total['increment']} counter increments: all present exactly once, nothing half-written"
    )
