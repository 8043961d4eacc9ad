"""Browser sessions that end on the server: each user's session generation, which every session cookie names.

Signing out, a new password, a new role and deleting the user replace (or remove) it, so every earlier cookie of
that user is worthless at once. Generations are random, not counted: a user deleted and made again with the same
id and email (a fixture loaded anew, say) never gets one that an old cookie names.
"""

import secrets

from .connection import Connection, Row, transaction


def new_generation() -> int:
    return secrets.randbits(62)


def session_generation(db: Connection, user_id: int) -> int:
    """The user's current generation, made on first use (a user who never signed in has none)."""
    row = db.execute("SELECT generation FROM _sc_user_sessions WHERE user_id = ?", (user_id,)).fetchone()
    if row is not None:
        return row[0]
    with transaction(db):
        db.execute(
            "INSERT INTO _sc_user_sessions (user_id, generation) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING",
            (user_id, new_generation()),
        )
        return db.execute("SELECT generation FROM _sc_user_sessions WHERE user_id = ?", (user_id,)).fetchone()[0]


def end_sessions(db: Connection, user_id: int) -> None:
    """Make every session of the user worthless, inside the caller's transaction."""
    db.execute(
        "INSERT INTO _sc_user_sessions (user_id, generation) VALUES (?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET generation = excluded.generation",
        (user_id, new_generation()),
    )


def session_account(db: Connection, user_id: int) -> Row | None:
    """The user (id, email, role_id) and their current generation; None when the user is gone or never signed in."""
    return db.execute(
        "SELECT u.id, u.email, u.role_id, s.generation FROM _sc_users AS u"
        " JOIN _sc_user_sessions AS s ON s.user_id = u.id WHERE u.id = ?",
        (user_id,),
    ).fetchone()
