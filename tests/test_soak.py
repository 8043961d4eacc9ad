"""Soak: 16 client threads write and read through three server processes on one file; nothing is lost.

The issue's 30-second run is `SALTAPI_SOAK_SECONDS=30 pytest tests/test_soak.py -s`; CI runs a shorter one.
The `Writer` model here is shared with tests/test_crash.py.
"""

import os
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import TOKENS, running_server
from saltapi.fixtures import load_fixture
from saltapi.store.connection import connect

# Checks SQLite's file (integrity_check, WAL) after the soak; PostgreSQL's soak is its own.
pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

SOAK_SECONDS = float(os.environ.get("SALTAPI_SOAK_SECONDS", "10"))
CLIENT_THREADS = 16
WORKERS = 3
TIMEOUT = 10
JOIN_SECONDS = 30
HEADERS = {"Authorization": f"Bearer {TOKENS['admin']}"}
ABSENT = None  # a row's state once it is deleted
ITEMS, NODES = "soak_items", "soak_nodes"
# Two tables of the writers' own, added to the test data: every field type, a unique field, and Keys.
TABLES = {
    "tables": [
        {
            "name": ITEMS,
            "fields": [
                {"name": "code", "type": "String", "required": True, "is_unique": True},
                {"name": "size", "type": "String"},
                {"name": "qty", "type": "Integer"},
                {"name": "price", "type": "Float"},
                {"name": "active", "type": "Bool"},
                {"name": "due", "type": "Date"},
            ],
        },
        {
            "name": NODES,
            "fields": [
                {"name": "name", "type": "String", "required": True, "is_unique": True},
                {"name": "favbook", "type": "Key", "reftable_name": "books"},
                {"name": "parent", "type": "Key", "reftable_name": NODES},
            ],
        },
    ]
}


class Unanswered(Exception):
    """A request got no answer (the server died under it): the write may or may not have happened."""


class Writer:
    """One client thread's writes and what the database must hold because of them.

    Each writer touches only rows it created (their `code`/`name` starts with its prefix), so after every
    acknowledged write it knows exactly what the row holds. `rows` maps (table, id) to the states the row
    may be in: one state once the write was acknowledged, two when a request got no answer (before or
    after). `pending` holds inserts that got no answer: their row may exist, but only whole.

    The counter is a row only this writer updates: each increment reads the value through the API (any
    worker may answer) and writes value + 1, so it proves that an acknowledged update is seen by the very
    next read on another process, and that no acknowledged increment is lost. The API has no
    compare-and-set, so a counter shared by several writers would lose increments by design; it is not
    tested.
    """

    def __init__(self, number: int, seed: int):
        self.prefix = f"w{number}-"
        self.rng = random.Random(seed)
        self.rows: dict[tuple[str, int], list] = {}
        self.pending: dict[tuple[str, str], dict] = {}
        self.sequence = 0
        self.counter_id: int | None = None
        self.acknowledged = Counter()
        self.requests = 0
        self.unanswered = 0
        self.outcomes = Counter()  # what became of writes that got no answer
        self.error: BaseException | None = None

    # --- requests -------------------------------------------------------------------------------------

    def call(
        self, session: requests.Session, method: str, url: str, json: dict | None = None, params: dict | None = None
    ) -> requests.Response:
        self.requests += 1
        try:
            response = session.request(method, url, json=json, params=params, headers=HEADERS, timeout=TIMEOUT)
        except requests.RequestException as error:
            self.unanswered += 1
            raise Unanswered(f"{method} {url}: {error}") from error
        assert response.status_code < 500, f"{method} {url} -> {response.status_code} {response.text}"
        return response

    def next_code(self, kind: str) -> str:
        self.sequence += 1
        return f"{self.prefix}{kind}{self.sequence}"

    def item_values(self) -> dict:
        """Values for every mutable field of an item, so a half-applied update would show."""
        n = self.rng.randrange(1_000_000)
        return {
            "size": self.rng.choice(["S", "M", "L", f"X{n}"]),
            "qty": n,
            "price": n + 0.25,
            "active": self.rng.random() < 0.5,
            "due": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
        }

    def certain(self, table: str) -> list[tuple[int, dict | None]]:
        return [(key[1], states[0]) for key, states in self.rows.items() if key[0] == table and len(states) == 1]

    def present(self, table: str) -> list[tuple[int, dict]]:
        return [(row_id, state) for row_id, state in self.certain(table) if state is not ABSENT]

    def pick(self, table: str) -> tuple[int, dict] | None:
        rows = [row for row in self.present(table) if row[0] != self.counter_id]
        return self.rng.choice(rows) if rows else None

    # --- operations -----------------------------------------------------------------------------------

    def insert(self, session, url: str, table: str, body: dict) -> int:
        key = (table, body["code"] if table == ITEMS else body["name"])
        self.pending[key] = body
        response = self.call(session, "POST", f"{url}/api/{table}", body)
        assert response.status_code == 200, (response.request.method, response.url, response.text)
        row_id = response.json()["success"]
        del self.pending[key]
        self.rows[(table, row_id)] = [body]
        self.acknowledged["insert"] += 1
        return row_id

    def update(self, session, url: str, table: str, row_id: int, old: dict, changes: dict, kind: str = "update"):
        new = {**old, **changes}
        self.rows[(table, row_id)] = [old, new]
        response = self.call(session, "POST", f"{url}/api/{table}/{row_id}", changes)
        assert response.status_code == 200, (response.request.method, response.url, response.text)
        self.rows[(table, row_id)] = [new]
        self.acknowledged[kind] += 1

    def delete(self, session, url: str, table: str, row_id: int, old: dict, referenced: bool):
        self.rows[(table, row_id)] = [old, ABSENT]
        response = self.call(session, "DELETE", f"{url}/api/{table}/{row_id}")
        if referenced:
            assert response.status_code == 400, (response.request.method, response.url, response.text)
            assert response.json()["error"].startswith(f"Cannot delete: referenced by {NODES}.parent")
            self.rows[(table, row_id)] = [old]
        else:
            assert response.status_code == 200, (response.request.method, response.url, response.text)
            self.rows[(table, row_id)] = [ABSENT]
            self.acknowledged["delete"] += 1

    def read_one(self, session, url: str):
        rows = self.certain(ITEMS)
        if not rows:
            return
        row_id, state = self.rng.choice(rows)
        response = self.call(session, "GET", f"{url}/api/{ITEMS}/{row_id}")
        if state is ABSENT:
            assert response.status_code == 404, (response.request.method, response.url, response.text)
        else:
            assert response.status_code == 200, (response.request.method, response.url, response.text)
            assert response.json()["success"] == {"id": row_id, **state}

    def read_list(self, session, url: str):
        picked = self.pick(ITEMS)
        if picked is None:
            return
        row_id, state = picked
        response = self.call(session, "GET", f"{url}/api/{ITEMS}", params={"code": state["code"]})
        assert response.status_code == 200, (response.request.method, response.url, response.text)
        assert response.json()["success"] == [{"id": row_id, **state}]

    def increment(self, session, url: str):
        if self.counter_id is None:
            self.counter_id = self.insert(session, url, ITEMS, {"code": f"{self.prefix}counter", **ZERO_COUNTER})
            return
        (state,) = self.rows[(ITEMS, self.counter_id)]
        response = self.call(session, "GET", f"{url}/api/{ITEMS}/{self.counter_id}")
        assert response.status_code == 200, (response.request.method, response.url, response.text)
        seen = response.json()["success"]
        assert seen == {"id": self.counter_id, **state}, "a read missed an acknowledged increment"
        self.update(session, url, ITEMS, self.counter_id, state, {"qty": seen["qty"] + 1}, kind="increment")

    def step(self, session: requests.Session, url: str) -> None:
        """One random operation; every answer is checked against what this writer knows."""
        roll = self.rng.random()
        if roll < 0.25:
            self.insert(session, url, ITEMS, {"code": self.next_code("i"), **self.item_values()})
        elif roll < 0.42:
            picked = self.pick(ITEMS)
            if picked:
                self.update(session, url, ITEMS, *picked, self.item_values())
        elif roll < 0.50:
            picked = self.pick(ITEMS)
            if picked:
                self.delete(session, url, ITEMS, *picked, referenced=False)
        elif roll < 0.62:
            self.read_one(session, url)
        elif roll < 0.67:
            self.read_list(session, url)
        elif roll < 0.80:
            self.increment(session, url)
        elif roll < 0.90:
            parents = self.present(NODES)
            parent = self.rng.choice(parents)[0] if parents and self.rng.random() < 0.7 else None
            body = {"name": self.next_code("p"), "favbook": self.rng.choice([None, 1, 2]), "parent": parent}
            self.insert(session, url, NODES, body)
        else:
            picked = self.pick(NODES)
            if picked:
                row_id, _ = picked
                referenced = any(state["parent"] == row_id for _, state in self.present(NODES))
                self.delete(session, url, NODES, *picked, referenced=referenced)

    def run(self, url: str, stop: threading.Event, tolerate_unanswered: bool) -> None:
        """Work until `stop` is set; a request without an answer ends the run (when tolerated)."""
        try:
            with requests.Session() as session:
                while not stop.is_set():
                    self.step(session, url)
        except Unanswered as error:
            if not tolerate_unanswered:
                self.error = error
        except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
            self.error = error

    # --- checking -------------------------------------------------------------------------------------

    def check(self, stored: dict[str, dict[int, dict]]) -> None:
        """Compare with what the database holds, then take its state as known (nothing is in flight)."""
        for (table, row_id), states in self.rows.items():
            actual = stored[table].get(row_id, ABSENT)
            assert actual in states, f"{table} {row_id}: stored {actual}, acknowledged {states}"
            if len(states) > 1:
                applied = actual == states[-1]
                self.outcomes["unanswered write applied" if applied else "unanswered write not applied"] += 1
            self.rows[(table, row_id)] = [actual]
        applied_before = self.outcomes["unanswered write applied"]
        for table, name_key in ((ITEMS, "code"), (NODES, "name")):
            for row_id, row in stored[table].items():
                if not row[name_key].startswith(self.prefix) or (table, row_id) in self.rows:
                    continue
                # A row nobody acknowledged: only an unanswered insert may have made it, and whole.
                body = self.pending.get((table, row[name_key]))
                assert body is not None, f"{table} {row_id} was never written by {self.prefix}: {row}"
                assert row == body, f"{table} {row_id} is not the insert that was sent: {row} != {body}"
                self.rows[(table, row_id)] = [row]
                self.outcomes["unanswered write applied"] += 1
                if row_id != self.counter_id and row[name_key] == f"{self.prefix}counter":
                    self.counter_id = row_id
        landed = self.outcomes["unanswered write applied"] - applied_before
        self.outcomes["unanswered write not applied"] += len(self.pending) - landed
        self.pending.clear()


ZERO_COUNTER = {"size": "counter", "qty": 0, "price": 0.0, "active": True, "due": "2026-01-01"}


def add_tables(db_path: Path) -> None:
    """Add the writers' tables to a copy of the test data."""
    db = connect(db_path)
    try:
        load_fixture(db, TABLES)
    finally:
        db.close()


def stored_rows(url: str) -> dict[str, dict[int, dict]]:
    """Every row of the two tables the writers use, through the API, keyed by id (without it)."""
    stored = {}
    for table in (ITEMS, NODES):
        response = requests.get(f"{url}/api/{table}", headers=HEADERS, timeout=TIMEOUT)
        assert response.status_code == 200, (response.request.method, response.url, response.text)
        stored[table] = {row.pop("id"): row for row in response.json()["success"]}
    return stored


def check_file(db_path: Path) -> None:
    """SQLite's own checks of the whole file."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()


def run_writers(writers: list[Writer], url: str, seconds: float, tolerate_unanswered: bool = False, on_the_way=None):
    """Run every writer in a thread of its own for `seconds` (calling `on_the_way()` meanwhile), then join."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=writer.run, args=(url, stop, tolerate_unanswered), daemon=True) for writer in writers
    ]
    for thread in threads:
        thread.start()
    try:
        if on_the_way is not None:
            on_the_way()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(thread.is_alive() for thread in threads):
            stop.wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a client thread did not finish"
    errors = [writer.error for writer in writers if writer.error is not None]
    assert not errors, f"{len(errors)} client threads failed, the first with: {errors[0]!r}"


def totals(writers: list[Writer]) -> Counter:
    total = Counter(requests=sum(writer.requests for writer in writers))
    for writer in writers:
        total.update(writer.acknowledged)
    return total


def test_soak_many_writers_on_several_processes_lose_nothing(db_path, tmp_path):
    add_tables(db_path)
    writers = [Writer(number, seed=number) for number in range(CLIENT_THREADS)]
    with running_server(db_path, tmp_path / "server.log", ("--workers", str(WORKERS))) as server:
        run_writers(writers, server.url, SOAK_SECONDS)
        stored = stored_rows(server.url)
        for writer in writers:
            writer.check(stored)
            if writer.counter_id is not None:
                assert stored[ITEMS][writer.counter_id]["qty"] == writer.acknowledged["increment"]
        log = server.output()
    check_file(db_path)
    assert '" 5' not in log  # the access log's status column: no 5xx answer at all
    total = totals(writers)
    assert total["insert"] > CLIENT_THREADS and total["update"] and total["delete"] and total["increment"]
    print(
        f"\nsoak: {CLIENT_THREADS} client threads, {WORKERS} workers, {SOAK_SECONDS:g} s, {total['requests']} requests;"
        f" acknowledged {total['insert']} inserts, {total['update']} updates, {total['delete']} deletes,"
        f" {total['increment']} counter increments: all present exactly once"
    )
