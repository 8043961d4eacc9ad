-- saltapi metadata. Idempotent: run on every start, never drops anything.
-- User tables are real SQLite tables named as the user named them; the `_sc_` prefix is reserved
-- for these metadata tables, so the two can never collide.

CREATE TABLE IF NOT EXISTS _sc_roles (
    id   INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 100),
    role TEXT NOT NULL UNIQUE
) STRICT;

INSERT OR IGNORE INTO _sc_roles (id, role) VALUES (1, 'admin'), (40, 'staff'), (80, 'user'), (100, 'public');

CREATE TABLE IF NOT EXISTS _sc_users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    email                TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash        TEXT,
    role_id              INTEGER NOT NULL REFERENCES _sc_roles (id) ON DELETE RESTRICT,
    api_token_hash       TEXT UNIQUE,
    api_token_created_at TEXT
) STRICT;

CREATE TABLE IF NOT EXISTS _sc_tables (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE COLLATE NOCASE,
    min_role_read  INTEGER NOT NULL DEFAULT 1 REFERENCES _sc_roles (id) ON DELETE RESTRICT,
    min_role_write INTEGER NOT NULL DEFAULT 1 REFERENCES _sc_roles (id) ON DELETE RESTRICT
) STRICT;

CREATE TABLE IF NOT EXISTS _sc_fields (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    table_id      INTEGER NOT NULL REFERENCES _sc_tables (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL COLLATE NOCASE,
    label         TEXT NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('String', 'Integer', 'Float', 'Bool', 'Date', 'Key')),
    required      INTEGER NOT NULL DEFAULT 0 CHECK (required IN (0, 1)),
    is_unique     INTEGER NOT NULL DEFAULT 0 CHECK (is_unique IN (0, 1)),
    reftable_name TEXT,
    attributes    TEXT NOT NULL DEFAULT '{}',
    UNIQUE (table_id, name)
) STRICT;

CREATE INDEX IF NOT EXISTS _sc_fields_reftable ON _sc_fields (reftable_name);

-- A table's owner field (docs/api.md §7a): a Key to users. Deleting the field or the table ends the ownership with it.
CREATE TABLE IF NOT EXISTS _sc_table_owners (
    table_id INTEGER PRIMARY KEY REFERENCES _sc_tables (id) ON DELETE CASCADE,
    field_id INTEGER NOT NULL UNIQUE REFERENCES _sc_fields (id) ON DELETE CASCADE
) STRICT;

-- Table constraints as Saltcorn has them (table packs' `constraints`): an Index on one field, or Unique over
-- fields taken together (`fields` is their names as a JSON list, in order). Each is the index `_sc_constraint_<id>`.
CREATE TABLE IF NOT EXISTS _sc_table_constraints (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    table_id INTEGER NOT NULL REFERENCES _sc_tables (id) ON DELETE CASCADE,
    type     TEXT NOT NULL CHECK (type IN ('Index', 'Unique')),
    fields   TEXT NOT NULL,
    UNIQUE (table_id, type, fields)
) STRICT;

CREATE TABLE IF NOT EXISTS _sc_config (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- A counter that every change to the metadata bumps (by the triggers below, so no code path can forget),
-- letting each process keep its parsed metadata until the counter moves.
CREATE TABLE IF NOT EXISTS _sc_metadata_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT OR IGNORE INTO _sc_metadata_version (id, version) VALUES (1, 0);

CREATE TRIGGER IF NOT EXISTS _sc_roles_insert AFTER INSERT ON _sc_roles
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_roles_update AFTER UPDATE ON _sc_roles
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_roles_delete AFTER DELETE ON _sc_roles
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_tables_insert AFTER INSERT ON _sc_tables
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_tables_update AFTER UPDATE ON _sc_tables
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_tables_delete AFTER DELETE ON _sc_tables
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_fields_insert AFTER INSERT ON _sc_fields
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_fields_update AFTER UPDATE ON _sc_fields
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_fields_delete AFTER DELETE ON _sc_fields
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_table_owners_insert AFTER INSERT ON _sc_table_owners
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_table_owners_update AFTER UPDATE ON _sc_table_owners
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_table_owners_delete AFTER DELETE ON _sc_table_owners
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_table_constraints_insert AFTER INSERT ON _sc_table_constraints
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_table_constraints_update AFTER UPDATE ON _sc_table_constraints
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_table_constraints_delete AFTER DELETE ON _sc_table_constraints
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_config_insert AFTER INSERT ON _sc_config
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_config_update AFTER UPDATE ON _sc_config
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS _sc_config_delete AFTER DELETE ON _sc_config
BEGIN UPDATE _sc_metadata_version SET version = version + 1; END;

-- Each user's session generation (saltapi/store/sessions.py): every session cookie names the one it was made
-- under; replacing it (signing out, a new password or role) ends all of them, deleting the user removes it.
CREATE TABLE IF NOT EXISTS _sc_user_sessions (
    user_id    INTEGER PRIMARY KEY REFERENCES _sc_users (id) ON DELETE CASCADE,
    generation INTEGER NOT NULL
) STRICT;

-- A new API token waiting for its one showing (saltapi/store/token_showings.py), sealed with a pad that only the
-- browser's session holds: neither half alone is the token.
CREATE TABLE IF NOT EXISTS _sc_token_showings (
    id         TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES _sc_users (id) ON DELETE CASCADE,
    sealed     TEXT NOT NULL,
    created_at REAL NOT NULL
) STRICT;

-- Failed sign-ins, kept in the shared file so that every server process counts the same failures.
CREATE TABLE IF NOT EXISTS _sc_login_failures (
    key TEXT NOT NULL,
    at  REAL NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS _sc_login_failures_key ON _sc_login_failures (key, at);
