"""Stable ids for warehouse tables."""

from __future__ import annotations

from ..sqlite import Database
from .objects import Objects

__all__ = ["WarehouseTables"]


class WarehouseTables:
    """The ids of warehouse tables, made on first sight.

    A table belongs to its database: it has no author of its own, and each
    user has on it the level they have on the database.

    Parameters
    ----------
    db : Database
        The store's database.
    objects : Objects
        Where a table's object is created.
    """

    def __init__(self, db: Database, objects: Objects):
        self._db = db
        self._objects = objects

    def table_id(self, database_id: int, schema: str, name: str) -> int:
        """A stable id for a warehouse table, created on first sight.

        Parameters
        ----------
        database_id : int
        schema, name : str
            The table's schema and name.

        Returns
        -------
        int
        """
        key = (int(database_id), schema, name)
        with self._db.tx() as con:
            row = con.execute(
                "SELECT object_id FROM warehouse_tables WHERE database_id = ? AND schema_name = ?"
                " AND table_name = ?",
                key,
            ).fetchone()
            if row is not None:
                return int(row["object_id"])
            fields = {"databaseId": key[0], "schema": schema, "name": name}
            obj = self._objects.create("tables", fields, None)
            con.execute("INSERT INTO warehouse_tables VALUES (?, ?, ?, ?)", (*key, obj["id"]))
            return int(obj["id"])
