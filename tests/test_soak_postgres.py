"""Soak on PostgreSQL: client threads race through two server processes (of two workers each) on one database,
inserting and updating rows whose unique and Key fields they contend for. Nothing acknowledged is lost or
duplicated, nothing answers 5xx, and every refused write is refused with its field's own 400 message.

`SALTAPI_SOAK_SECONDS=30 pytest tests/test_soak_postgres.py -s` is the issue's 30-second run; CI runs 10 s.
"""

import random
import threading
from collections import Counter

import pytest
import requests

from conftest import running_server
from saltapi.fixtures import load_fixture
from saltapi.store.connection import connect
from test_soak import HEADERS, JOIN_SECONDS, SOAK_SECONDS, TIMEOUT

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]  # SQLite's soak is tests/test_soak.py

SERVERS = 2
WORKERS = 2
CLIENT_THREADS = 12
ITEMS, LINKS = "race_items", "race_links"
MISSING_ID = 10**9  # no item ever gets this id
TABLES = {
    "tables": [
        {
            "name": ITEMS,
            "fields": [
                {"name": "code", "label": "Code", "type": "String", "required": True, "is_unique": True},
                {"name": "qty", "label": "Quantity", "type": "Integer"},
            ],
        },
        {
            "name": LINKS,
            "fields": [
                {"name": "name", "label": "Name", "type": "String", "is_unique": True},
                {"name": "item", "label": "Item", "type": "Key", "reftable_name": ITEMS},
            ],
        },
    ]
}
DUPLICATE_CODE = {"error": "Duplicate value for unique field: Code"}
DUPLICATE_NAME = {"error": "Duplicate value for unique field: Name"}
MISSING_ITEM = {"error": f"item: No {ITEMS} row with id {MISSING_ID}"}


class Racer:
    """One client thread. It owns the rows it inserted, so it knows what each holds after every acknowledged
    write; the values it wants are contended: every racer asks for the same codes and names in the same order
    (`c0`, `c1`, ... and `n0`, `n1`, ...), so exactly one gets each and the others must get the field's 400."""

    def __init__(self, number: int, urls: list[str], items: list[int]):
        self.number = number
        self.rng = random.Random(number)
        self.urls = urls
        self.shared_items = items  # ids of acknowledged items, any racer's: items are never deleted
        self.rows: dict[str, dict[int, dict]] = {ITEMS: {}, LINKS: {}}
        self.won = Counter()
        self.refused = Counter()
        self.requests = 0
        self.contested = {"code": 0, "name": 0}
        self.fresh = 0
        self.error: BaseException | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        self.requests += 1
        url = self.rng.choice(self.urls)
        response = self.session.request(method, url + path, json=body, headers=HEADERS, timeout=TIMEOUT)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code} {response.text}"
        assert response.status_code in (200, 400), f"{method} {path} -> {response.status_code} {response.text}"
        return response

    def value(self, key: str) -> str:
        """The next contended value (half the time), else one of this racer's own."""
        if self.rng.random() < 0.5:
            self.contested[key] += 1
            return f"{key[0]}{self.contested[key] - 1}"
        self.fresh += 1
        return f"r{self.number}-{self.fresh}"

    def write(self, table: str, row_id: int | None, body: dict, refusals: list[dict]) -> None:
        path = f"/api/{table}" if row_id is None else f"/api/{table}/{row_id}"
        response = self.call("POST", path, body)
        if response.status_code == 400:
            assert response.json() in refusals, f"POST {path} {body} -> {response.text}"
            self.refused[response.json()["error"]] += 1
            return
        if row_id is None:
            row_id = response.json()["success"]
            assert row_id not in self.rows[table], f"{table} id {row_id} handed out twice"
            self.rows[table][row_id] = body
            if table == ITEMS:
                self.shared_items.append(row_id)
        else:
            self.rows[table][row_id] = {**self.rows[table][row_id], **body}
        self.won[table] += 1

    def link_body(self) -> tuple[dict, list[dict]]:
        name = self.value("name")
        if self.rng.random() < 0.2:
            return {"name": name, "item": MISSING_ID}, [DUPLICATE_NAME, MISSING_ITEM]
        return {"name": name, "item": self.rng.choice(self.shared_items)}, [DUPLICATE_NAME]

    def step(self) -> None:
        roll = self.rng.random()
        if roll < 0.35 or not self.rows[ITEMS]:
            self.write(ITEMS, None, {"code": self.value("code"), "qty": self.rng.randrange(1000)}, [DUPLICATE_CODE])
        elif roll < 0.55:
            row_id = self.rng.choice(list(self.rows[ITEMS]))
            self.write(ITEMS, row_id, {"code": self.value("code"), "qty": self.rng.randrange(1000)}, [DUPLICATE_CODE])
        elif roll < 0.75 or not self.rows[LINKS]:
            self.write(LINKS, None, *self.link_body())
        elif roll < 0.9:
            self.write(LINKS, self.rng.choice(list(self.rows[LINKS])), *self.link_body())
        else:
            row_id = self.rng.choice(list(self.rows[LINKS]))
            assert self.call("DELETE", f"/api/{LINKS}/{row_id}").status_code == 200
            del self.rows[LINKS][row_id]
            self.won["delete"] += 1

    def run(self, stop: threading.Event) -> None:
        try:
            with requests.Session() as self.session:
                # Every racer starts by contending for c0 and n0: conflicts for sure, however slow the machine.
                self.write(ITEMS, None, {"code": "c0", "qty": 0}, [DUPLICATE_CODE])
                self.contested["code"] = 1
                self.write(LINKS, None, {"name": "n0", "item": self.shared_items[0]}, [DUPLICATE_NAME])
                self.contested["name"] = 1
                while not stop.is_set():
                    self.step()
        except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
            self.error = error


def stored_rows(url: str, table: str) -> dict[int, dict]:
    response = requests.get(f"{url}/api/{table}", headers=HEADERS, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    rows = response.json()["success"]
    by_id = {row.pop("id"): row for row in rows}
    assert len(by_id) == len(rows)
    return by_id


def test_racing_writers_on_two_servers_lose_nothing_and_get_their_fields_400(db_path, tmp_path):
    db = connect(db_path)
    try:
        load_fixture(db, TABLES)
        seed = db.execute(f'INSERT INTO "{ITEMS}" (code, qty) VALUES (?, ?) RETURNING id', ("seed", 0)).fetchone()[0]
    finally:
        db.close()
    items = [seed]
    stop = threading.Event()
    with running_server(db_path, tmp_path / "a.log", ("--no-demo", "--workers", str(WORKERS))) as one, \
            running_server(db_path, tmp_path / "b.log", ("--no-demo", "--workers", str(WORKERS))) as other:  # fmt: skip
        racers = [Racer(number, [one.url, other.url], items) for number in range(CLIENT_THREADS)]
        threads = [threading.Thread(target=racer.run, args=(stop,), daemon=True) for racer in racers]
        for thread in threads:
            thread.start()
        stop.wait(SOAK_SECONDS)
        stop.set()
        for thread in threads:
            thread.join(JOIN_SECONDS)
        assert not any(thread.is_alive() for thread in threads), "a client thread did not finish"
        errors = [racer.error for racer in racers if racer.error is not None]
        assert not errors, f"{len(errors)} client threads failed, the first with: {errors[0]!r}"
        stored = {table: stored_rows(other.url, table) for table in (ITEMS, LINKS)}
        logs = one.output() + other.output()
    acknowledged = {ITEMS: {seed: {"code": "seed", "qty": 0}}, LINKS: {}}
    for racer in racers:
        for table, rows in racer.rows.items():
            assert not acknowledged[table].keys() & rows.keys(), f"{table}: one id acknowledged to two racers"
            acknowledged[table].update(rows)
    assert stored == acknowledged  # every acknowledged write there exactly once, and nothing else
    assert '" 5' not in logs  # the access logs' status column: no 5xx answer at all
    refused = sum((racer.refused for racer in racers), Counter())
    won = sum((racer.won for racer in racers), Counter())
    assert refused[DUPLICATE_CODE["error"]] >= CLIENT_THREADS - 1
    assert refused[DUPLICATE_NAME["error"]] >= CLIENT_THREADS - 1
    print(
        f"\npostgres soak: {CLIENT_THREADS} client threads, {SERVERS} servers x {WORKERS} workers, {SOAK_SECONDS:g} s,"
        f" {sum(racer.requests for racer in racers)} requests; acknowledged {won[ITEMS]} item and {won[LINKS]} link"
        f" writes, {won['delete']} deletes, all present exactly once; refused {dict(refused)}"
    )
