"""`saltapi backup PATH` on PostgreSQL: a pg_dump archive that pg_restore brings back whole, or, without pg_dump,
one line saying what to use instead."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from test_copy_db import dump

pytestmark = pytest.mark.postgres_only  # SQLite's backup is its own API (tests/test_backup.py)


def saltapi(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saltapi", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def test_a_backup_is_a_pg_dump_archive_that_restores_the_whole_instance(db_path, postgres_cluster, tmp_path):
    archive = tmp_path / "saltapi.dump"
    result = saltapi("backup", str(archive), "--db", db_path)
    assert result.returncode == 0, result.stderr
    size = archive.stat().st_size
    assert result.stdout == (
        f"Backed up {db_path} to {archive} (pg_dump's custom format, for pg_restore, {size:,} bytes).\n"
    )
    restored = postgres_cluster.create()
    try:
        subprocess.run(
            [shutil.which("pg_restore"), "--no-owner", f"--dbname={restored}", str(archive)],
            check=True, capture_output=True,
        )  # fmt: skip
        assert dump(restored) == dump(db_path)
    finally:
        postgres_cluster.drop(restored)


def test_a_password_in_the_url_reaches_pg_dump_by_its_environment_never_its_command_line(db_path, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen"
    wrapper = bin_dir / "pg_dump"  # the real pg_dump, after noting what it was given
    wrapper.write_text(f'#!/bin/sh\necho "$* PGPASSWORD=$PGPASSWORD" > {seen}\nexec {shutil.which("pg_dump")} "$@"\n')
    wrapper.chmod(0o755)
    url = db_path.replace("postgres@", "postgres:s3cr%40t@", 1)  # trust authentication: any password signs in
    archive = tmp_path / "saltapi.dump"
    result = saltapi("backup", str(archive), "--db", url, env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Backed up {db_path.replace('postgres@', 'postgres:***@', 1)} to {archive} (")
    assert "s3cr" not in result.stdout + result.stderr
    arguments, password = seen.read_text().rstrip("\n").split(" PGPASSWORD=")
    assert password == "s3cr@t"
    assert "s3cr" not in arguments and arguments.endswith(f"--dbname={db_path}")


def test_without_pg_dump_it_says_what_to_use_in_one_line(db_path, tmp_path):
    archive = tmp_path / "saltapi.dump"
    env = {**os.environ, "PATH": str(tmp_path)}  # no pg_dump there
    result = saltapi("backup", str(archive), "--db", db_path, env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines()[1:] == [
        f"Error: Cannot back up {db_path} to {archive}: pg_dump is not installed;"
        " back up PostgreSQL with pg_dump or your provider's backups"
    ]
    assert list(tmp_path.iterdir()) == []
