"""One SQLite connection shared by threads, and its transaction helper.

The platform keeps its objects (``platform.sqlite3``) and its runs
(``runs.sqlite3``) in SQLite files opened through :class:`Database`: WAL
journal, one connection guarded by a re-entrant lock, and :meth:`Database.tx`,
the one way anything writes in a transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Database", "inserted_id"]


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an ``INSERT`` on ``cursor`` just added.

    Parameters
    ----------
    cursor : sqlite3.Cursor
        The cursor that ran the ``INSERT``.

    Returns
    -------
    int

    Raises
    ------
    RuntimeError
        If the cursor's last statement inserted no row.
    """
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("the statement inserted no row")
    return int(rowid)


class Database:
    """A SQLite file with one thread-safe connection.

    Parameters
    ----------
    path : pathlib.Path
        The file (created with its directory if absent).
    schema : str, optional
        SQL script run once at opening (``CREATE TABLE IF NOT EXISTS ...``).
    """

    def __init__(self, path: Path, schema: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            if schema:
                self._con.executescript(schema)

    def __repr__(self) -> str:
        return f"<Database {self.path}>"

    @property
    def lock(self) -> threading.RLock:
        """The lock held by every use of the connection (re-entrant)."""
        return self._lock

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed at the end, rolled back on error.

        Nested uses join the outermost transaction, so a repository can call
        another inside its own transaction.

        Yields
        ------
        sqlite3.Connection
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._con
                finally:
                    self._depth -= 1
                return
            self._con.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._con
            except BaseException:
                self._depth = 0
                self._con.execute("ROLLBACK")
                raise
            self._depth = 0
            self._con.execute("COMMIT")

    def rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """Run one statement and return all its rows."""
        with self._lock:
            return self._con.execute(sql, tuple(params)).fetchall()

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Cursor:
        """Run one statement outside any explicit transaction (autocommit)."""
        with self._lock:
            return self._con.execute(sql, tuple(params))

    def script(self, sql: str) -> None:
        """Run an SQL script (schema changes)."""
        with self._lock:
            self._con.executescript(sql)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._con.close()
