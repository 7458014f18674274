"""All warehouses of a platform, opened lazily by database id."""

from __future__ import annotations

import threading
from pathlib import Path

from .database import Warehouse


class Warehouses:
    """All warehouses of a platform: one DuckDB file per database id.

    Parameters
    ----------
    data_dir : Path
        Directory holding ``db_<id>.duckdb`` files.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._open: dict[int, Warehouse] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Warehouses({str(self.data_dir)!r})"

    def path(self, database_id: int) -> Path:
        """The DuckDB file of a database.

        Parameters
        ----------
        database_id : int
            Platform database id.

        Returns
        -------
        Path
        """
        return self.data_dir / f"db_{int(database_id)}.duckdb"

    def get(self, database_id: int) -> Warehouse:
        """The warehouse of a database, opened (or created) on first use.

        Parameters
        ----------
        database_id : int
            Platform database id.

        Returns
        -------
        Warehouse
        """
        key = int(database_id)
        with self._lock:
            wh = self._open.get(key)
            if wh is None:
                wh = self._open[key] = Warehouse(self.path(key))
            return wh

    __getitem__ = get

    def close(self) -> None:
        """Close every open warehouse."""
        with self._lock:
            for wh in self._open.values():
                wh.close()
            self._open.clear()
