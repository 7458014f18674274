"""Stored objects: create, read, change, delete and list them (SQLite).

Objects are camelCase dicts with ``id``, ``createdAt``, ``updatedAt``,
``archived`` and ``author`` (a short user object); ``kind`` is the
collection path (``"scripts/containers"``, ``"files"``, ...). All kinds share
one id sequence, so ``/jobs/{id}`` can resolve any job. Every call that
reaches an object for a user names the kind (or kinds) it expects: an object
of another kind is absent (404), as is one the user may not see; too low a
permission level is a 403. ``raw`` and ``write_raw`` are the platform's own
bookkeeping, without permission checks.
"""

from __future__ import annotations

import builtins  # `list` below is a method of Objects
import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ..clock import iso_now
from ..http_types import ApiError, Obj, User
from ..sqlite import Database
from .permissions import Permissions
from .query import (
    FLAG_COLUMNS,
    SAFE_FIELD,
    Query,
    columns_sql,
    equals_sql,
    json_path,
    marks,
    ordering_sql,
    parent_key,
    text_sql,
    valid_id,
    valid_ids,
)

__all__ = ["PRIVILEGED_USER_FIELDS", "Kinds", "Objects", "author_id", "short_user"]

#: User fields that only an administrator may change, and never on themself.
PRIVILEGED_USER_FIELDS = frozenset({"admin", "roles"})
#: The kind, or kinds, of object a caller expects.
Kinds = str | Collection[str]
_NOT_FOUND = "The requested resource could not be found."
#: Fields kept in columns, never in an object's JSON data.
_COLUMN_FIELDS = frozenset({"id", "createdAt", "updatedAt", "archived", "author"})


def short_user(user: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The short user object Civis shows as an author (``None`` for no user)."""
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


def author_id(obj: Mapping[str, Any]) -> int | None:
    """The id of an object's author (from ``author`` or ``authorId``)."""
    author = obj.get("author")
    if isinstance(author, Mapping):
        return author.get("id")
    return obj.get("authorId")


def _kinds(kind: Kinds) -> frozenset[str]:
    if kind is None:
        raise TypeError("name the kind (or kinds) of object expected")
    return frozenset([kind] if isinstance(kind, str) else kind)


def _data(fields: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in fields.items() if k not in _COLUMN_FIELDS})


class Objects:
    """The store's objects.

    Parameters
    ----------
    db : Database
        The store's database.
    permissions : Permissions
        Decides who may read, write and manage an object.
    """

    def __init__(self, db: Database, permissions: Permissions):
        self._db = db
        self._permissions = permissions

    # -- rows ------------------------------------------------------------------------
    def _row(self, obj_id: Any) -> sqlite3.Row | None:
        valid = valid_id(obj_id)
        if valid is None:
            return None
        rows = self._db.rows("SELECT * FROM objects WHERE id = ?", (valid,))
        return rows[0] if rows else None

    def _to_obj(self, row: sqlite3.Row) -> Obj:
        return self._to_objs([row])[0]

    def _to_objs(self, rows: Sequence[sqlite3.Row]) -> list[Obj]:
        """Objects from rows, their authors read in one query."""
        ids = sorted({r["author_id"] for r in rows if r["author_id"] and r["kind"] != "users"})
        authors: dict[int, Obj] = {}
        if ids:
            users = self._db.rows(
                f"SELECT * FROM objects WHERE kind = 'users' AND id IN ({marks(ids)})", ids
            )
            authors = {u["id"]: self._to_objs([u])[0] for u in users}
        out = []
        for row in rows:
            obj = json.loads(row["data"])
            obj["id"] = row["id"]
            obj["createdAt"] = row["created_at"]
            obj["updatedAt"] = row["updated_at"]
            obj["archived"] = bool(row["archived"])
            if row["kind"] != "users":
                obj["author"] = short_user(authors.get(row["author_id"]))
            out.append(obj)
        return out

    def _checked_row(self, kind: Kinds, obj_id: Any, user: User, level: str) -> sqlite3.Row:
        row = self._row(obj_id)
        if row is None or row["kind"] not in _kinds(kind):
            raise ApiError(404, _NOT_FOUND, "not_found")
        self._permissions.check(row, user, level)
        return row

    # -- reading ---------------------------------------------------------------------
    def get(self, kind: Kinds, obj_id: Any, user: User, level: str = "read") -> Obj:
        """An object of an expected kind that the user may access at ``level``.

        Parameters
        ----------
        kind : str or collection of str
            The kind (or kinds) the caller expects; an object of any other
            kind is treated as absent.
        obj_id : int
        user : dict
        level : {'read', 'write', 'manage'}

        Returns
        -------
        dict

        Raises
        ------
        ApiError
            404 when absent, of another kind or invisible to the user, 403
            when the level is too low.
        """
        return self._to_obj(self._checked_row(kind, obj_id, user, level))

    def find(self, kind: Kinds, obj_id: Any, user: User) -> Obj | None:
        """An object of ``kind`` the user may read, or ``None``."""
        try:
            return self.get(kind, obj_id, user)
        except ApiError:
            return None

    def find_job(
        self, obj_id: Any, kinds: Collection[str], user: User, level: str = "read"
    ) -> tuple[str, Obj]:
        """Resolve a job id across kinds (one id space).

        Returns
        -------
        tuple of (str, dict)
            The job's kind and the job.

        Raises
        ------
        ApiError
            404 when no job of these kinds has the id, or the user cannot see it.
        """
        kind = self.kind_of(obj_id)
        if kind is None or kind not in kinds:
            raise ApiError(404, f"job {obj_id} not found", "not_found")
        return kind, self.get(kind, obj_id, user, level)

    def raw(self, obj_id: Any, kind: str | None = None) -> Obj | None:
        """An object regardless of permissions (of ``kind`` if given), or ``None``."""
        row = self._row(obj_id)
        if row is None or (kind is not None and row["kind"] != kind):
            return None
        return self._to_obj(row)

    def kind_of(self, obj_id: Any) -> str | None:
        """The kind of the object with this id, or ``None``."""
        row = self._row(obj_id)
        return row["kind"] if row else None

    def kinds_of(self, ids: Sequence[int]) -> dict[int, str]:
        """The kinds of several objects by id (absent ones left out)."""
        wanted = valid_ids(ids)
        if not wanted:
            return {}
        rows = self._db.rows(f"SELECT id, kind FROM objects WHERE id IN ({marks(wanted)})", wanted)
        return {r["id"]: r["kind"] for r in rows}

    def author(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """The short user object of an object's author."""
        row = self._row(obj["id"])
        if row is None or not row["author_id"]:
            return None
        author = self._row(row["author_id"])
        return short_user(self._to_obj(author)) if author and author["kind"] == "users" else None

    # -- listing ---------------------------------------------------------------------
    def list(self, kind: str, user: User | None, archived: bool | None = False) -> list[Obj]:
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
        return self.page(Query((kind,), archived=archived), user)[1]

    def page(self, query: Query, user: User | None) -> tuple[int, builtins.list[Obj]]:
        """One page of the objects a user may read, filtered and ordered in SQL.

        Parameters
        ----------
        query : Query
        user : dict or None
            ``None`` lists every object (for the platform itself).

        Returns
        -------
        tuple of (int, list of dict)
            How many objects match in all, and the page.
        """
        where, params = self._where(query, user)
        order, order_params = ordering_sql(query)
        page_sql = ""
        page_params: list[Any] = []
        if query.limit is not None:
            page_sql = " LIMIT ? OFFSET ?"
            page_params = [int(query.limit), int(query.offset)]
        columns, column_params = columns_sql(query)
        with self._db.lock:
            total = self._db.rows(f"SELECT count(*) AS n FROM objects o WHERE {where}", params)
            rows = self._db.rows(
                f"SELECT {columns} FROM objects o WHERE {where} ORDER BY {order}{page_sql}",
                [*column_params, *params, *order_params, *page_params],
            )
            return int(total[0]["n"]), self._to_objs(rows)

    def select_ids(self, query: Query, user: User | None) -> builtins.list[int]:
        """The ids of every object a query matches, in its order (no page)."""
        where, params = self._where(query, user)
        order, order_params = ordering_sql(query)
        rows = self._db.rows(
            f"SELECT o.id FROM objects o WHERE {where} ORDER BY {order}", [*params, *order_params]
        )
        return [r["id"] for r in rows]

    def objects_by_id(self, ids: Sequence[int]) -> builtins.list[Obj]:
        """Objects by id, in the order given (absent ones left out; no permission check)."""
        wanted = [i for i in (valid_id(x) for x in ids) if i is not None]
        if not wanted:
            return []
        rows = self._db.rows(f"SELECT * FROM objects WHERE id IN ({marks(wanted)})", wanted)
        by_id = {o["id"]: o for o in self._to_objs(rows)}
        return [by_id[i] for i in wanted if i in by_id]

    def _where(self, query: Query, user: User | None) -> tuple[str, builtins.list[Any]]:
        kinds = sorted(set(query.kinds))
        if not kinds:
            return "0", []
        clauses = [f"o.kind IN ({marks(kinds)})"]
        params: list[Any] = list(kinds)
        if query.archived is not None:
            clauses.append("o.archived = ?")
            params.append(int(query.archived))
        if query.parent is not None:
            clauses.append("o.parent IS ?")
            params.append(parent_key(query.parent))
        if query.authors is not None:
            authors = sorted({int(a) for a in query.authors})
            clauses.append(f"o.author_id IN ({marks(authors)})")
            params += authors
        if query.ids is not None:
            ids = valid_ids(query.ids)
            clauses.append(f"o.id IN ({marks(ids)})")
            params += ids
        for name in query.falsy:
            if name in FLAG_COLUMNS:
                clauses.append(f"o.{name} = 0")
            elif SAFE_FIELD.match(name):
                clauses.append("NOT coalesce(json_extract(o.data, ?), 0)")
                params.append(json_path(name))
        for name, wanted in query.equals.items():
            sql, extra = equals_sql(name, wanted)
            clauses.append(sql)
            params += extra
        if query.text:
            sql, extra = text_sql(query)
            clauses.append(sql)
            params += extra
        if user is not None:
            sql, extra = self._permissions.visible_sql(user, "tables" in kinds)
            clauses.append(sql)
            params += extra
        return " AND ".join(clauses), params

    # -- writing ---------------------------------------------------------------------
    def create(
        self,
        kind: str,
        fields: Mapping[str, Any],
        user: User | None,
        public: bool = False,
        obj_id: int | None = None,
    ) -> Obj:
        """Store a new object authored by ``user``.

        Parameters
        ----------
        kind : str
            Collection path.
        fields : mapping
            camelCase fields.
        user : dict or None
            The author.
        public : bool, optional
            Readable by every user.
        obj_id : int, optional
            An explicit id for a built-in object (e.g. a template whose id
            clients know); it must be free, and later objects get larger ids.

        Returns
        -------
        dict
            The stored object with its id.
        """
        now = iso_now()
        with self._db.tx() as con:
            cur = con.execute(
                "INSERT INTO objects (id, kind, author_id, public, archived, created_at,"
                " updated_at, data, parent, hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    obj_id,
                    kind,
                    user["id"] if user else None,
                    int(public),
                    int(bool(fields.get("archived"))),
                    now,
                    now,
                    _data(fields),
                    parent_key(fields.get("_parent")),
                    int(bool(fields.get("hidden"))),
                ),
            )
            row = con.execute("SELECT * FROM objects WHERE id = ?", (cur.lastrowid,)).fetchone()
        return self._to_obj(row)

    def update(self, kind: Kinds, obj_id: Any, fields: Mapping[str, Any], user: User) -> Obj:
        """Merge ``fields`` into an object of ``kind`` (write permission)."""
        row = self._checked_row(kind, obj_id, user, "write")
        current = self._to_obj(row)
        merged = {**current, **fields}
        _guard_user_fields(row, current, merged, user)
        return self._write(row["id"], merged)

    def replace(self, kind: Kinds, obj_id: Any, fields: Mapping[str, Any], user: User) -> Obj:
        """Replace the fields of an object of ``kind`` (write permission)."""
        row = self._checked_row(kind, obj_id, user, "write")
        current = self._to_obj(row)
        new = dict(fields)
        if row["kind"] == "users":
            new = {**{k: current.get(k) for k in PRIVILEGED_USER_FIELDS}, **new}
        _guard_user_fields(row, current, new, user)
        return self._write(row["id"], new)

    def write_raw(self, obj_id: Any, fields: Mapping[str, Any]) -> Obj:
        """Merge fields without a permission check (for the platform itself).

        Raises
        ------
        ApiError
            404 when there is no such object.
        """
        current = self.raw(obj_id)
        if current is None:
            raise ApiError(404, _NOT_FOUND, "not_found")
        return self._write(current["id"], {**current, **fields})

    def _write(self, obj_id: int, fields: Mapping[str, Any]) -> Obj:
        with self._db.tx() as con:
            con.execute(
                "UPDATE objects SET data = ?, updated_at = ?, archived = ?, hidden = ?"
                " WHERE id = ?",
                (
                    _data(fields),
                    iso_now(),
                    int(bool(fields.get("archived"))),
                    int(bool(fields.get("hidden"))),
                    obj_id,
                ),
            )
            row = con.execute("SELECT * FROM objects WHERE id = ?", (obj_id,)).fetchone()
        return self._to_obj(row)

    def set_archived(self, kind: Kinds, obj_id: Any, user: User, archived: bool) -> Obj:
        """Archive or restore an object of ``kind`` (write permission)."""
        current = self.get(kind, obj_id, user, "write")
        return self._write(current["id"], {**current, "archived": bool(archived)})

    def set_public(self, obj_id: int, public: bool) -> None:
        """Make an object readable by every user, or not (for the platform itself)."""
        with self._db.tx() as con:
            con.execute("UPDATE objects SET public = ? WHERE id = ?", (int(public), int(obj_id)))

    def transfer(self, obj_id: int, user_id: int) -> None:
        """Make another user the author (owner) of an object."""
        with self._db.tx() as con:
            con.execute("UPDATE objects SET author_id = ? WHERE id = ?", (user_id, obj_id))

    def delete(self, kind: Kinds, obj_id: Any, user: User) -> None:
        """Delete an object of ``kind`` (manage permission), its shares and memberships."""
        found = self.get(kind, obj_id, user, "manage")["id"]
        with self._db.tx() as con:
            con.execute("DELETE FROM objects WHERE id = ?", (found,))
            con.execute("DELETE FROM shares WHERE object_id = ?", (found,))
            con.execute("DELETE FROM project_items WHERE object_id = ?", (found,))


def _guard_user_fields(
    row: sqlite3.Row, current: Mapping[str, Any], new: Mapping[str, Any], user: User
) -> None:
    """403 when a change to a user's ``admin``/``roles`` is not an admin's, or is their own."""
    if row["kind"] != "users":
        return
    changed = [k for k in sorted(PRIVILEGED_USER_FIELDS) if new.get(k) != current.get(k)]
    if not changed:
        return
    if not user.get("admin"):
        raise ApiError(403, f"Only administrators can change {changed[0]}.", "forbidden")
    if row["id"] == user["id"]:
        raise ApiError(403, f"You cannot change your own {changed[0]}.", "forbidden")
