"""The two DuckDB instances of a warehouse: the sandboxed one for SQL text, the file one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from .errors import WarehouseError
from .macros import _REDSHIFT_MACROS

DEFAULT_SCHEMA = "public"

#: Settings of the instance that runs SQL text: no files, network, extensions or
#: replacement scans of Python variables, and no way to change that from SQL.
_SANDBOX_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "arrow_lossless_conversion": True,
    "lock_configuration": True,
}
#: Settings of the in-memory instance that reads and writes the platform's files.
_FILES_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "arrow_lossless_conversion": True,
}
#: Rows per Arrow batch between the two instances.
_ARROW_BATCH = 122_880


class _Connection:
    """A warehouse's sandboxed database instance and its in-memory file instance.

    Parameters
    ----------
    path : Path
        The DuckDB database file (created if absent).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), config=dict(_SANDBOX_CONFIG))
            self._files = duckdb.connect(
                ":memory:",
                config=dict(_FILES_CONFIG, temp_directory=str(self.path) + ".files.tmp"),
            )
        except duckdb.Error as exc:
            if getattr(self, "_con", None) is not None:
                self._con.close()
            raise WarehouseError(f"cannot open warehouse {self.path}: {exc}") from None
        self._write_lock = threading.RLock()
        self._closed = False
        self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {DEFAULT_SCHEMA}")
        for macro in _REDSHIFT_MACROS:
            self._con.execute(f"CREATE OR REPLACE MACRO main.{macro}")

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh DuckDB cursor with ``public`` as the default schema.

        Yields
        ------
        duckdb.DuckDBPyConnection
            Closed when the block ends.
        """
        if self._closed:
            raise WarehouseError("the warehouse is closed")
        cur = self._con.cursor()
        try:
            cur.execute(f"SET search_path = '{DEFAULT_SCHEMA},main'")
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _files_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the file instance (the platform's privileged path).

        Only SQL built here from the platform's own paths and validated
        settings runs on it, never SQL text from a request.
        """
        if self._closed:
            raise WarehouseError("the warehouse is closed")
        cur = self._files.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def close(self) -> None:
        """Close the database (further use raises :class:`WarehouseError`)."""
        if not self._closed:
            self._closed = True
            self._con.close()
            self._files.close()
