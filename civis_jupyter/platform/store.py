"""The platform's object store: objects, ids, authors, permissions (SQLite).

Public API (every method is thread-safe; ``user`` is a user dict with ``id``):

- objects: ``create(kind, fields, user)``, ``get(kind, id, user, level="read")``,
  ``update(kind, id, fields, user)`` (merge), ``replace(kind, id, fields, user)``,
  ``delete(kind, id, user)``, ``list(kind, user, archived=False)``,
  ``set_archived(kind, id, user, archived)``, ``kind_of(id)``, ``raw(id)``;
  ``kind`` is the collection path (``"scripts/containers"``, ``"files"``...),
  objects are camelCase dicts with ``id``, ``createdAt``, ``updatedAt``,
  ``archived`` and ``author`` (a short user object); all kinds share one id
  sequence, so ``/jobs/{id}`` can resolve any job.
- permissions: ``permission_level(obj, user)`` -> ``"manage"|"write"|"read"|None``;
  authors manage their objects, shares grant levels to users and groups,
  ``public=True`` objects (databases) are readable by everyone;
  ``share(id, kind, principal_id, level)``, ``unshare(id, kind, principal_id)``,
  ``shares(id)``; missing or invisible objects raise 404, too-low levels 403.
- identity: ``create_user(username, ...)``, ``user(id)``, ``users()``,
  ``admin_user()``, ``create_key(user_id, name, ...)`` -> (token, record),
  ``user_for_token(token)``, ``keys(user_id)``, ``revoke_key(key_id)``,
  ``revoke_token(token)``; tokens are stored hashed.
- projects: ``add_to_project(project_id, id)``, ``remove_from_project(...)``,
  ``projects_of(id)``, ``project_items(project_id)``.
- warehouse tables: ``table_id(db_id, schema, name, user)`` gives a stable id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .api import ApiError

__all__ = ["LEVELS", "Store", "iso_now"]

LEVELS = {"read": 1, "write": 2, "manage": 3}

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
"""


def iso_now() -> str:
    """The current UTC time as ``2026-01-02T03:04:05.000Z``."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _short_user(user: dict[str, Any] | None) -> dict[str, Any] | None:
    if user is None:
        return None
    name = user.get("name") or user.get("username") or ""
    initials = "".join(part[0] for part in name.split()[:2]).upper() or name[:1].upper()
    return {
        "id": user["id"],
        "name": name,
        "username": user.get("username"),
        "initials": initials,
        "online": None,
    }


class Store:
    """Objects, users, keys and permissions in one SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        The SQLite file (created if absent).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"<Store {self.path}>"

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._con.close()

    def wipe(self) -> None:
        """Delete everything (for resetting a platform between tests)."""
        with self._tx() as con:
            for table in ("objects", "shares", "api_keys", "project_items", "warehouse_tables"):
                con.execute(f"DELETE FROM {table}")

    # -- objects --------------------------------------------------------------
    def _to_obj(self, row: sqlite3.Row) -> dict[str, Any]:
        obj = json.loads(row["data"])
        obj["id"] = row["id"]
        obj["createdAt"] = row["created_at"]
        obj["updatedAt"] = row["updated_at"]
        obj["archived"] = bool(row["archived"])
        if row["kind"] != "users":
            obj["author"] = _short_user(self.user(row["author_id"])) if row["author_id"] else None
        return obj

    def _row(self, obj_id: int) -> sqlite3.Row | None:
        rows = self._rows("SELECT * FROM objects WHERE id = ?", (int(obj_id),))
        return rows[0] if rows else None

    @staticmethod
    def _data(fields: dict[str, Any]) -> str:
        skip = {"id", "createdAt", "updatedAt", "archived", "author"}
        return json.dumps({k: v for k, v in fields.items() if k not in skip})

    def create(
        self, kind: str, fields: dict[str, Any], user: dict[str, Any] | None, public: bool = False
    ) -> dict[str, Any]:
        """Store a new object authored by ``user``.

        Parameters
        ----------
        kind : str
            Collection path.
        fields : dict
            camelCase fields.
        user : dict or None
            The author.
        public : bool, optional
            Readable by every user.

        Returns
        -------
        dict
            The stored object with its id.
        """
        now = iso_now()
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO objects (kind, author_id, public, archived, created_at, updated_at,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    kind,
                    user["id"] if user else None,
                    int(public),
                    int(bool(fields.get("archived"))),
                    now,
                    now,
                    self._data(fields),
                ),
            )
            obj_id = cur.lastrowid
        return self._to_obj(self._row(obj_id))

    def raw(self, obj_id: int) -> dict[str, Any] | None:
        """An object regardless of permissions (``None`` if absent)."""
        row = self._row(obj_id)
        return self._to_obj(row) if row else None

    def kind_of(self, obj_id: int) -> str | None:
        """The kind of the object with this id, or ``None``."""
        row = self._row(obj_id)
        return row["kind"] if row else None

    def permission_level(
        self, obj: dict[str, Any] | sqlite3.Row, user: dict[str, Any]
    ) -> str | None:
        """The user's level on an object: ``manage``, ``write``, ``read`` or ``None``."""
        obj_id = obj["id"]
        row = obj if isinstance(obj, sqlite3.Row) else self._row(obj_id)
        if row is None:
            return None
        if row["author_id"] == user["id"]:
            return "manage"
        best = 1 if row["public"] else 0
        groups = self.groups_of(user["id"])
        for share in self._rows("SELECT * FROM shares WHERE object_id = ?", (obj_id,)):
            if (share["principal_kind"] == "user" and share["principal_id"] == user["id"]) or (
                share["principal_kind"] == "group" and share["principal_id"] in groups
            ):
                best = max(best, LEVELS[share["level"]])
        return {0: None, 1: "read", 2: "write", 3: "manage"}[best]

    def get(
        self, kind: str | None, obj_id: int, user: dict[str, Any], level: str = "read"
    ) -> dict[str, Any]:
        """An object the user may access at ``level``.

        Parameters
        ----------
        kind : str or None
            Expected kind (``None``: any).
        obj_id : int
        user : dict
        level : {'read', 'write', 'manage'}

        Returns
        -------
        dict

        Raises
        ------
        ApiError
            404 when absent (or invisible to the user), 403 when the level is too low.
        """
        row = self._row(obj_id)
        if row is None or (kind is not None and row["kind"] != kind):
            raise ApiError(404, "The requested resource could not be found.", "not_found")
        have = self.permission_level(row, user)
        if have is None:
            raise ApiError(404, "The requested resource could not be found.", "not_found")
        if LEVELS[have] < LEVELS[level]:
            raise ApiError(
                403, f"You need {level} permission on this object; you have {have}.", "forbidden"
            )
        return self._to_obj(row)

    def update(
        self, kind: str | None, obj_id: int, fields: dict[str, Any], user: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge ``fields`` into an object (write permission)."""
        current = self.get(kind, obj_id, user, "write")
        merged = {**current, **fields}
        return self._write(obj_id, merged)

    def replace(
        self, kind: str | None, obj_id: int, fields: dict[str, Any], user: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace an object's fields (write permission)."""
        self.get(kind, obj_id, user, "write")
        return self._write(obj_id, fields)

    def write_raw(self, obj_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Merge fields without a permission check (for the platform itself)."""
        current = self.raw(obj_id)
        if current is None:
            raise ApiError(404, "The requested resource could not be found.", "not_found")
        return self._write(obj_id, {**current, **fields})

    def _write(self, obj_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        with self._tx() as con:
            con.execute(
                "UPDATE objects SET data = ?, updated_at = ?, archived = ? WHERE id = ?",
                (self._data(fields), iso_now(), int(bool(fields.get("archived"))), obj_id),
            )
        return self._to_obj(self._row(obj_id))

    def set_archived(
        self, kind: str | None, obj_id: int, user: dict[str, Any], archived: bool
    ) -> dict[str, Any]:
        """Archive or restore an object (write permission)."""
        current = self.get(kind, obj_id, user, "write")
        return self._write(obj_id, {**current, "archived": bool(archived)})

    def delete(self, kind: str | None, obj_id: int, user: dict[str, Any]) -> None:
        """Delete an object (manage permission)."""
        self.get(kind, obj_id, user, "manage")
        with self._tx() as con:
            con.execute("DELETE FROM objects WHERE id = ?", (obj_id,))
            con.execute("DELETE FROM shares WHERE object_id = ?", (obj_id,))
            con.execute("DELETE FROM project_items WHERE object_id = ?", (obj_id,))

    def list(
        self, kind: str, user: dict[str, Any] | None, archived: bool | None = False
    ) -> list[dict[str, Any]]:
        """Objects of a kind the user may read, oldest first.

        Parameters
        ----------
        kind : str
        user : dict or None
            ``None`` lists every object (for the platform itself).
        archived : bool or None, optional
            Only unarchived (default), only archived, or both (``None``).

        Returns
        -------
        list of dict
        """
        sql = "SELECT * FROM objects WHERE kind = ?"
        params: tuple[Any, ...] = (kind,)
        if archived is not None:
            sql += " AND archived = ?"
            params += (int(archived),)
        rows = self._rows(sql + " ORDER BY id", params)
        if user is None:
            return [self._to_obj(r) for r in rows]
        return [self._to_obj(r) for r in rows if self.permission_level(r, user)]

    def author(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The short user object of an object's author."""
        row = self._row(obj["id"])
        return _short_user(self.user(row["author_id"])) if row and row["author_id"] else None

    def transfer(self, obj_id: int, user_id: int) -> None:
        """Make another user the author (owner) of an object."""
        with self._tx() as con:
            con.execute("UPDATE objects SET author_id = ? WHERE id = ?", (user_id, obj_id))

    # -- shares ------------------------------------------------------------------
    def share(self, obj_id: int, principal_kind: str, principal_id: int, level: str) -> None:
        """Grant a user or group a permission level on an object."""
        if level not in LEVELS:
            raise ApiError(400, f"permission level must be one of {sorted(LEVELS)}", "bad_request")
        with self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO shares VALUES (?, ?, ?, ?)",
                (obj_id, principal_kind, principal_id, level),
            )

    def unshare(self, obj_id: int, principal_kind: str, principal_id: int) -> None:
        """Revoke a user's or group's permission on an object."""
        with self._tx() as con:
            con.execute(
                "DELETE FROM shares"
                " WHERE object_id = ? AND principal_kind = ? AND principal_id = ?",
                (obj_id, principal_kind, principal_id),
            )

    def shares(self, obj_id: int) -> list[dict[str, Any]]:
        """The shares of an object: ``{principal_kind, principal_id, level}``."""
        return [
            dict(r)
            for r in self._rows(
                "SELECT principal_kind, principal_id, level FROM shares WHERE object_id = ?",
                (obj_id,),
            )
        ]

    # -- users, groups, keys -------------------------------------------------------
    def create_user(
        self, username: str, name: str | None = None, email: str | None = None, admin: bool = False
    ) -> dict[str, Any]:
        """Create a user (usernames are unique).

        Returns
        -------
        dict
            The user.
        """
        if any(u["username"] == username for u in self.users()):
            raise ApiError(409, f"user {username!r} already exists", "conflict")
        fields = {
            "username": username,
            "name": name or username,
            "email": email or f"{username}@localhost",
            "admin": admin,
            "active": True,
            "featureFlags": {},
            "roles": ["sdm"] + (["admin"] if admin else []),
            "organizationName": "Local Platform",
        }
        user = self.create("users", fields, None, public=True)
        self._rows("UPDATE objects SET author_id = ? WHERE id = ?", (user["id"], user["id"]))
        return user

    def user(self, user_id: int | None) -> dict[str, Any] | None:
        """A user by id (``None`` if absent)."""
        if user_id is None:
            return None
        row = self._row(user_id)
        return self._to_obj(row) if row is not None and row["kind"] == "users" else None

    def users(self) -> list[dict[str, Any]]:
        """All users, oldest first."""
        return self.list("users", None)

    def admin_user(self) -> dict[str, Any]:
        """The platform's first user."""
        users = self.users()
        if not users:
            raise ApiError(500, "the platform has no users", "internal_error")
        return users[0]

    def groups_of(self, user_id: int) -> set[int]:
        """Ids of the groups a user is a member of."""
        return {
            g["id"]
            for g in self.list("groups", None)
            if user_id in [m.get("id") for m in g.get("members") or []]
        }

    def create_key(
        self,
        user_id: int,
        name: str,
        expires_at: str | None = None,
        run_id: int | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Create an API key for a user.

        Parameters
        ----------
        user_id : int
        name : str
        expires_at : str, optional
            ISO time after which the key stops working.
        run_id : int, optional
            The run this key is scoped to (revoked when it ends).

        Returns
        -------
        tuple of (str, dict)
            The token (shown once) and the key's record.
        """
        token = secrets.token_hex(24)
        now = iso_now()
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO api_keys (user_id, token_hash, name, created_at, expires_at, run_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, _hash(token), name, now, expires_at, run_id),
            )
            key_id = cur.lastrowid
        return token, self.key(key_id)

    def key(self, key_id: int) -> dict[str, Any] | None:
        """A key's record (never its token)."""
        rows = self._rows("SELECT * FROM api_keys WHERE id = ?", (key_id,))
        if not rows:
            return None
        r = rows[0]
        return {
            "id": r["id"],
            "userId": r["user_id"],
            "name": r["name"],
            "createdAt": r["created_at"],
            "expiresAt": r["expires_at"],
            "revokedAt": None if not r["revoked"] else r["created_at"],
            "active": not r["revoked"],
            "runId": r["run_id"],
        }

    def keys(self, user_id: int) -> list[dict[str, Any]]:
        """A user's keys."""
        ids = self._rows("SELECT id FROM api_keys WHERE user_id = ? ORDER BY id", (user_id,))
        return [self.key(r["id"]) for r in ids]

    def revoke_key(self, key_id: int) -> None:
        """Revoke a key by id."""
        with self._tx() as con:
            con.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (key_id,))

    def revoke_token(self, token: str) -> None:
        """Revoke a key by its token."""
        with self._tx() as con:
            con.execute("UPDATE api_keys SET revoked = 1 WHERE token_hash = ?", (_hash(token),))

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The user a valid (unrevoked, unexpired) token belongs to."""
        digest = _hash(token)
        rows = self._rows(
            "SELECT user_id, expires_at, revoked FROM api_keys WHERE token_hash = ?", (digest,)
        )
        if not rows or rows[0]["revoked"]:
            return None
        expires = rows[0]["expires_at"]
        if expires and expires < iso_now():
            return None
        return self.user(rows[0]["user_id"])

    # -- projects ---------------------------------------------------------------------
    def add_to_project(self, project_id: int, obj_id: int) -> None:
        """Put an object in a project."""
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO project_items VALUES (?, ?)", (project_id, obj_id))

    def remove_from_project(self, project_id: int, obj_id: int) -> None:
        """Take an object out of a project."""
        with self._tx() as con:
            con.execute(
                "DELETE FROM project_items WHERE project_id = ? AND object_id = ?",
                (project_id, obj_id),
            )

    def projects_of(self, obj_id: int) -> list[int]:
        """Ids of the projects an object is in."""
        rows = self._rows("SELECT project_id FROM project_items WHERE object_id = ?", (obj_id,))
        return [r["project_id"] for r in rows]

    def project_items(self, project_id: int) -> list[int]:
        """Ids of the objects in a project."""
        rows = self._rows("SELECT object_id FROM project_items WHERE project_id = ?", (project_id,))
        return [r["object_id"] for r in rows]

    # -- warehouse tables ---------------------------------------------------------------
    def table_id(
        self, database_id: int, schema: str, name: str, user: dict[str, Any] | None
    ) -> int:
        """A stable id for a warehouse table, created on first sight."""
        key = (database_id, schema, name)
        with self._lock:
            rows = self._rows(
                "SELECT object_id FROM warehouse_tables WHERE database_id = ? AND schema_name = ?"
                " AND table_name = ?",
                key,
            )
            if rows:
                return rows[0]["object_id"]
            fields = {"databaseId": database_id, "schema": schema, "name": name}
            obj = self.create("tables", fields, user, public=True)
            with self._tx() as con:
                con.execute("INSERT INTO warehouse_tables VALUES (?, ?, ?, ?)", (*key, obj["id"]))
            return obj["id"]
