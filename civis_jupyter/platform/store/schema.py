"""The store's tables, and the migration of data directories written earlier."""

from __future__ import annotations

import json
from pathlib import Path

from ..sqlite import Database
from .query import FLAG_COLUMNS, parent_key

__all__ = ["TABLES", "open_database"]

#: Every table of the store (emptied by :meth:`Store.wipe`).
TABLES = ("objects", "shares", "api_keys", "project_items", "warehouse_tables")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    author_id INTEGER,
    public INTEGER NOT NULL DEFAULT 0,
    archived INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_kind ON objects(kind);
CREATE INDEX IF NOT EXISTS objects_kind_updated ON objects(kind, archived, updated_at);
CREATE INDEX IF NOT EXISTS objects_author ON objects(author_id);
CREATE TABLE IF NOT EXISTS shares (
    object_id INTEGER NOT NULL,
    principal_kind TEXT NOT NULL,
    principal_id INTEGER NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (object_id, principal_kind, principal_id)
);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked INTEGER NOT NULL DEFAULT 0,
    run_id INTEGER
);
CREATE TABLE IF NOT EXISTS project_items (
    project_id INTEGER NOT NULL,
    object_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, object_id)
);
CREATE TABLE IF NOT EXISTS warehouse_tables (
    database_id INTEGER NOT NULL,
    schema_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    object_id INTEGER NOT NULL,
    PRIMARY KEY (database_id, schema_name, table_name)
);
CREATE INDEX IF NOT EXISTS warehouse_tables_object ON warehouse_tables(object_id);
CREATE INDEX IF NOT EXISTS shares_principal ON shares(principal_kind, principal_id);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user_id);
"""
#: Columns added after the first release: the JSON of a nested object's
#: parent ids, and the ``hidden`` flag.
_MIGRATIONS = (
    ("parent", "ALTER TABLE objects ADD COLUMN parent TEXT"),
    ("hidden", "ALTER TABLE objects ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0"),
)
_LATE_INDEXES = """
CREATE INDEX IF NOT EXISTS objects_kind_parent ON objects(kind, parent, id);
CREATE INDEX IF NOT EXISTS objects_kind_hidden ON objects(kind, archived, hidden, updated_at);
"""


def open_database(path: Path) -> Database:
    """Open (or create) a store's SQLite file, brought up to date.

    Parameters
    ----------
    path : pathlib.Path
        The SQLite file.

    Returns
    -------
    Database
    """
    db = Database(path, _SCHEMA)
    with db.tx():
        _migrate(db)
    db.script(_LATE_INDEXES)
    return db


def _migrate(db: Database) -> None:
    """Add the columns a data directory written by an older version lacks."""
    have = {r["name"] for r in db.rows("PRAGMA table_info(objects)")}
    for column, sql in _MIGRATIONS:
        if column in have:
            continue
        db.execute(sql)
        if column == "parent":
            rows = db.rows(
                "SELECT id, json_extract(data, '$._parent') AS parent FROM objects"
                " WHERE json_type(data, '$._parent') = 'object'"
            )
            for row in rows:
                key = parent_key(json.loads(row["parent"]))
                db.execute("UPDATE objects SET parent = ? WHERE id = ?", (key, row["id"]))
        elif column in FLAG_COLUMNS:
            for row in db.rows("SELECT id, data FROM objects"):
                if json.loads(row["data"]).get(column):
                    db.execute(f"UPDATE objects SET {column} = 1 WHERE id = ?", (row["id"],))
