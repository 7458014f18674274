"""Who may do what to an object: authors, shares, groups, public objects.

Authors manage their objects; shares grant ``read``, ``write`` or ``manage``
to users and groups; ``public`` objects (databases, users) are readable by
everyone; a warehouse table has the level its database has.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..http_types import ApiError, User
from ..sqlite import Database
from .query import marks, valid_id, valid_ids

__all__ = ["LEVELS", "Permissions"]

LEVELS = {"read": 1, "write": 2, "manage": 3}
_NAMES: dict[int, str | None] = {0: None, 1: "read", 2: "write", 3: "manage"}
_NOT_FOUND = "The requested resource could not be found."


class Permissions:
    """Shares and permission levels, in the store's database.

    Parameters
    ----------
    db : Database
        The store's database.
    """

    def __init__(self, db: Database):
        self._db = db

    def groups_of(self, user_id: int) -> set[int]:
        """Ids of the groups a user is a member of."""
        rows = self._db.rows(
            "SELECT DISTINCT g.id FROM objects g, json_each(g.data, '$.members') m"
            " WHERE g.kind = 'groups' AND json_type(g.data, '$.members') = 'array'"
            " AND json_extract(m.value, '$.id') = ?",
            (int(user_id),),
        )
        return {r["id"] for r in rows}

    def level(self, obj: Mapping[str, Any] | sqlite3.Row, user: User) -> str | None:
        """The user's level on an object: ``manage``, ``write``, ``read`` or ``None``.

        Parameters
        ----------
        obj : mapping or sqlite3.Row
            The object (only its ``id`` is read) or its row.
        user : dict

        Returns
        -------
        str or None
        """
        row = obj if isinstance(obj, sqlite3.Row) else self._row(obj["id"])
        if row is None:
            return None
        if row["kind"] == "tables":
            db = self._db.rows(
                "SELECT d.* FROM warehouse_tables w JOIN objects d ON d.id = w.database_id"
                " WHERE w.object_id = ?",
                (row["id"],),
            )
            return self.level(db[0], user) if db else None
        if row["author_id"] == user["id"]:
            return "manage"
        best = 1 if row["public"] else 0
        groups = self.groups_of(user["id"])
        for share in self._db.rows("SELECT * FROM shares WHERE object_id = ?", (row["id"],)):
            if _grants(share, user, groups):
                best = max(best, LEVELS[share["level"]])
        return _NAMES[best]

    def levels(self, ids: Sequence[int], user: User) -> dict[int, str | None]:
        """The user's level on each of several objects (one query for all).

        Returns
        -------
        dict
            id -> ``manage``, ``write``, ``read`` or ``None`` (absent ids too).
        """
        wanted = valid_ids(ids)
        if not wanted:
            return {}
        rows = self._db.rows(
            f"SELECT id, kind, author_id, public FROM objects WHERE id IN ({marks(wanted)})",
            wanted,
        )
        out: dict[int, str | None] = dict.fromkeys(wanted)
        if any(r["kind"] == "tables" for r in rows):  # rare: through their databases
            return {**out, **{r["id"]: self.level(r, user) for r in rows}}
        groups = self.groups_of(user["id"])
        best = {
            r["id"]: 3 if r["author_id"] == user["id"] else int(bool(r["public"])) for r in rows
        }
        others = [i for i, level in best.items() if level < 3]
        shares = (
            self._db.rows(f"SELECT * FROM shares WHERE object_id IN ({marks(others)})", others)
            if others
            else []
        )
        for share in shares:
            if _grants(share, user, groups) and share["object_id"] in best:
                best[share["object_id"]] = max(best[share["object_id"]], LEVELS[share["level"]])
        out.update({obj_id: _NAMES[level] for obj_id, level in best.items()})
        return out

    def check(self, row: sqlite3.Row, user: User, level: str) -> None:
        """Raise unless the user has at least ``level`` on the object of ``row``.

        Raises
        ------
        ApiError
            404 when the user cannot see the object, 403 when the level is too low.
        """
        have = self.level(row, user)
        if have is None:
            raise ApiError(404, _NOT_FOUND, "not_found")
        if LEVELS[have] < LEVELS[level]:
            raise ApiError(
                403, f"You need {level} permission on this object; you have {have}.", "forbidden"
            )

    def visible_sql(self, user: User, tables: bool) -> tuple[str, list[Any]]:
        """SQL true for objects (as ``o``) the user may read, and its parameters.

        Parameters
        ----------
        user : dict
        tables : bool
            Whether warehouse tables may be among the objects (they are
            visible through their database).
        """
        uid = int(user["id"])
        groups = sorted(self.groups_of(uid))

        def readable(alias: str) -> tuple[str, list[Any]]:
            principals = "(s.principal_kind = 'user' AND s.principal_id = ?)"
            params: list[Any] = [uid, uid]
            if groups:
                principals += (
                    f" OR (s.principal_kind = 'group' AND s.principal_id IN ({marks(groups)}))"
                )
                params += groups
            sql = (
                f"({alias}.author_id = ? OR {alias}.public = 1 OR EXISTS (SELECT 1 FROM shares s"
                f" WHERE s.object_id = {alias}.id AND ({principals})))"
            )
            return sql, params

        own, own_params = readable("o")
        if not tables:
            return own, own_params
        via_db, db_params = readable("d")
        sql = (
            f"((o.kind = 'tables' AND EXISTS (SELECT 1 FROM warehouse_tables w"
            f" JOIN objects d ON d.id = w.database_id WHERE w.object_id = o.id AND {via_db}))"
            f" OR (o.kind != 'tables' AND {own}))"
        )
        return sql, [*db_params, *own_params]

    def share(self, obj_id: int, principal_kind: str, principal_id: int, level: str) -> None:
        """Grant a user or group a permission level on an object.

        Raises
        ------
        ApiError
            400 for an unknown level.
        """
        if level not in LEVELS:
            raise ApiError(400, f"permission level must be one of {sorted(LEVELS)}", "bad_request")
        with self._db.tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO shares VALUES (?, ?, ?, ?)",
                (obj_id, principal_kind, principal_id, level),
            )

    def unshare(self, obj_id: int, principal_kind: str, principal_id: int) -> None:
        """Revoke a user's or group's permission on an object."""
        with self._db.tx() as con:
            con.execute(
                "DELETE FROM shares"
                " WHERE object_id = ? AND principal_kind = ? AND principal_id = ?",
                (obj_id, principal_kind, principal_id),
            )

    def shares(self, obj_id: int) -> list[dict[str, Any]]:
        """The shares of an object: ``{principal_kind, principal_id, level}``."""
        rows = self._db.rows(
            "SELECT principal_kind, principal_id, level FROM shares WHERE object_id = ?",
            (obj_id,),
        )
        return [dict(r) for r in rows]

    def _row(self, obj_id: Any) -> sqlite3.Row | None:
        valid = valid_id(obj_id)
        rows = self._db.rows("SELECT * FROM objects WHERE id = ?", (valid,)) if valid else []
        return rows[0] if rows else None


def _grants(share: sqlite3.Row, user: User, groups: set[int]) -> bool:
    """Whether a share is the user's own or one of their groups'."""
    if share["principal_kind"] == "user":
        return bool(share["principal_id"] == user["id"])
    return share["principal_kind"] == "group" and share["principal_id"] in groups
