"""SQLite persistence of runs, their log lines and their outputs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from ..sqlite import Database

_RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    user_id INTEGER,
    state TEXT NOT NULL,
    is_cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job_id, id);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    message TEXT NOT NULL,
    level TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id, id);
CREATE TABLE IF NOT EXISTS outputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_id INTEGER,
    name TEXT,
    link TEXT,
    value TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_run ON outputs (run_id, id);
"""


class _RunDB(Database):
    """SQLite persistence of runs, log lines and outputs."""

    def __init__(self, path: Path):
        super().__init__(path, _RUNS_SCHEMA)
        columns = {r["name"] for r in self.rows("PRAGMA table_info(runs)")}
        # Where a command run's processes are: found again after a crash.
        for name, kind in (("pid", "INTEGER"), ("pid_start", "INTEGER"), ("marker", "TEXT")):
            if name not in columns:
                self.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """All rows of one statement."""
        return self.rows(sql, params)


def _run_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = {
        "id": row["id"],
        "jobId": row["job_id"],
        "kind": row["kind"],
        "userId": row["user_id"],
        "state": row["state"],
        "isCancelRequested": bool(row["is_cancel_requested"]),
        "createdAt": row["created_at"],
        "startedAt": row["started_at"],
        "finishedAt": row["finished_at"],
        "error": row["error"],
    }
    out.update(json.loads(row["detail"] or "{}"))
    return out


def _output_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "runId": row["run_id"],
        "objectType": row["object_type"],
        "objectId": row["object_id"],
        "name": row["name"],
        "link": row["link"],
        "value": json.loads(row["value"]) if row["value"] is not None else None,
        "createdAt": row["created_at"],
    }
