"""A new API token's one showing, kept on the server: the page that generated it redirects, and the next page
shows it once.

The token is split in two: a random pad of its length goes into the browser's session, the token XOR the pad into
the database. Neither half alone tells anything, so neither a session cookie (signed, not encrypted) nor the
database file ever holds the plain token; the row is deleted when it is shown, or left to expire.
"""

import secrets
import sqlite3
import time

from .connection import transaction

SHOWING_SECONDS = 10 * 60  # a showing not asked for within this long is dropped


def xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


def keep_for_showing(db: sqlite3.Connection, user_id: int, token: str) -> dict[str, str]:
    """Store the sealed token; return what the session keeps to open it (an id and the pad, never the token)."""
    plain = token.encode("utf-8")
    pad = secrets.token_bytes(len(plain))
    showing_id = secrets.token_urlsafe(16)
    now = time.time()
    with transaction(db):
        db.execute("DELETE FROM _sc_token_showings WHERE created_at < ?", (now - SHOWING_SECONDS,))
        db.execute(
            "INSERT INTO _sc_token_showings (id, user_id, sealed, created_at) VALUES (?, ?, ?, ?)",
            (showing_id, user_id, xor(plain, pad).hex(), now),
        )
    return {"id": showing_id, "pad": pad.hex()}


def take_for_showing(db: sqlite3.Connection, user_id: int, kept: dict) -> str | None:
    """The token kept for `user_id` under `kept` (from keep_for_showing), once: its row goes as it is read."""
    if not isinstance(kept, dict) or not isinstance(kept.get("id"), str) or not isinstance(kept.get("pad"), str):
        return None
    with transaction(db):
        row = db.execute(
            "SELECT sealed FROM _sc_token_showings WHERE id = ? AND user_id = ? AND created_at >= ?",
            (kept["id"], user_id, time.time() - SHOWING_SECONDS),
        ).fetchone()
        db.execute("DELETE FROM _sc_token_showings WHERE id = ?", (kept["id"],))
    if row is None:
        return None
    try:
        return xor(bytes.fromhex(row["sealed"]), bytes.fromhex(kept["pad"])).decode("utf-8")
    except ValueError:  # a pad that does not fit (a forged session cannot get here: it is signed)
        return None
