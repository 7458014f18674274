"""Which objects are in which projects."""

from __future__ import annotations

from ..sqlite import Database

__all__ = ["Projects"]


class Projects:
    """Project membership of objects.

    Parameters
    ----------
    db : Database
        The store's database.
    """

    def __init__(self, db: Database):
        self._db = db

    def add(self, project_id: int, obj_id: int) -> None:
        """Put an object in a project."""
        with self._db.tx() as con:
            con.execute("INSERT OR IGNORE INTO project_items VALUES (?, ?)", (project_id, obj_id))

    def remove(self, project_id: int, obj_id: int) -> None:
        """Take an object out of a project."""
        with self._db.tx() as con:
            con.execute(
                "DELETE FROM project_items WHERE project_id = ? AND object_id = ?",
                (project_id, obj_id),
            )

    def of(self, obj_id: int) -> list[int]:
        """Ids of the projects an object is in."""
        rows = self._db.rows("SELECT project_id FROM project_items WHERE object_id = ?", (obj_id,))
        return [r["project_id"] for r in rows]

    def items(self, project_id: int) -> list[int]:
        """Ids of the objects in a project."""
        rows = self._db.rows(
            "SELECT object_id FROM project_items WHERE project_id = ?", (project_id,)
        )
        return [r["object_id"] for r in rows]
