"""The platform's object store: objects, ids, authors, permissions (SQLite).

Public API (every method is thread-safe; ``user`` is a user dict with ``id``):

- objects: ``create(kind, fields, user)``, ``get(kind, id, user, level="read")``,
  ``update(kind, id, fields, user)`` (merge), ``replace(kind, id, fields, user)``,
  ``delete(kind, id, user)``, ``list(kind, user, archived=False)``,
  ``page(Query(...), user)`` (filtered, ordered and paged in SQL),
  ``set_archived(kind, id, user, archived)``, ``kind_of(id)``, ``raw(id)``;
  ``kind`` is the collection path (``"scripts/containers"``, ``"files"``...),
  objects are camelCase dicts with ``id``, ``createdAt``, ``updatedAt``,
  ``archived`` and ``author`` (a short user object); all kinds share one id
  sequence, so ``/jobs/{id}`` can resolve any job. Every call that reaches an
  object for a user names the kind (or kinds) it expects: an object of
  another kind is absent (404).
- permissions: ``permission_level(obj, user)`` -> ``"manage"|"write"|"read"|None``;
  authors manage their objects, shares grant levels to users and groups,
  ``public=True`` objects (databases) are readable by everyone, and a
  warehouse table has the level its database has;
  ``share(id, kind, principal_id, level)``, ``unshare(id, kind, principal_id)``,
  ``shares(id)``; missing or invisible objects raise 404, too-low levels 403;
  only an administrator changes a user's ``admin`` or ``roles``, and never
  their own.
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
import re
import secrets
import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .http_types import ApiError

__all__ = ["LEVELS", "Query", "Store", "iso_now"]

LEVELS = {"read": 1, "write": 2, "manage": 3}
#: The largest id SQLite can hold; larger ones name nothing.
MAX_ID = 2**63 - 1
#: User fields that only an administrator may change, and never on themself.
PRIVILEGED_USER_FIELDS = frozenset({"admin", "roles"})
#: Object fields kept in columns (camelCase name -> column).
_COLUMNS = {
    "id": "id",
    "createdAt": "created_at",
    "created_at": "created_at",
    "updatedAt": "updated_at",
    "updated_at": "updated_at",
    "author": "author_id",
}
_SAFE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_FOUND = "The requested resource could not be found."

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
#: Added after the first release: the JSON of a nested object's parent ids.
_MIGRATIONS = (
    ("parent", "ALTER TABLE objects ADD COLUMN parent TEXT"),
    ("hidden", "ALTER TABLE objects ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0"),
)
_LATE_INDEXES = """
CREATE INDEX IF NOT EXISTS objects_kind_parent ON objects(kind, parent, id);
CREATE INDEX IF NOT EXISTS objects_kind_hidden ON objects(kind, archived, hidden, updated_at);
"""
#: Flags kept in columns as well as in ``data`` (``Query.falsy`` reads the column).
_FLAG_COLUMNS = ("hidden",)


def _parent_key(parent: Any) -> str | None:
    """The canonical text of a nested object's parent ids (``None`` if top level)."""
    if not isinstance(parent, Mapping) or not parent:
        return None
    return json.dumps(dict(parent), sort_keys=True, separators=(",", ":"), default=str)


def _valid_id(obj_id: Any) -> int | None:
    """An id SQLite can look up, or ``None`` for anything else."""
    if isinstance(obj_id, bool):
        return None
    try:
        value = int(obj_id)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if 0 < value <= MAX_ID else None


def _kinds(kind: str | Collection[str]) -> frozenset[str]:
    if kind is None:
        raise TypeError("name the kind (or kinds) of object expected")
    return frozenset([kind] if isinstance(kind, str) else kind)


@dataclass(frozen=True)
class Query:
    """What to list: filters, order and page, all evaluated in SQL.

    Attributes
    ----------
    kinds : tuple of str
        Kinds of object listed.
    archived : bool or None
        Only unarchived (default), only archived, or both (``None``).
    parent : mapping or None
        Only nested objects with these parent ids.
    authors : collection of int or None
        Only objects authored by these users.
    equals : mapping
        camelCase field -> wanted value (a list: any of them); strings match
        case-insensitively, and a field an object lacks does not restrict it.
    falsy : tuple of str
        Fields that must be absent, null or false (``hidden`` is read from
        its indexed column).
    text : str or None
        Case-insensitive substring of the id (if ``text_in_id``) or of one
        of ``text_fields`` (or any object of ``text_kinds``).
    text_fields : tuple of str
    text_kinds : tuple of str
    text_in_id : bool
    ids : collection of int or None
        Only these ids.
    order : sequence of (str, bool)
        (field or column, descending) pairs; ties go by ascending id.
    fields : tuple of str or None
        Read only these fields of each object (besides its columns); a
        field the object lacks reads as null. ``None``: every field.
    limit : int or None
        Page size (``None``: everything).
    offset : int
        Objects skipped before the page.
    """

    kinds: tuple[str, ...]
    archived: bool | None = False
    parent: Mapping[str, Any] | None = None
    authors: Collection[int] | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    falsy: tuple[str, ...] = ()
    text: str | None = None
    text_fields: tuple[str, ...] = ("name",)
    text_kinds: tuple[str, ...] = ()
    text_in_id: bool = True
    ids: Collection[int] | None = None
    order: Sequence[tuple[str, bool]] = ()
    fields: tuple[str, ...] | None = None
    limit: int | None = None
    offset: int = 0


def _json_path(name: str) -> str:
    return f'$."{name}"'


def _value_expr(name: str) -> tuple[str, str, list[Any]]:
    """SQL for a field's value, for whether the object has it, and their parameters."""
    column = _COLUMNS.get(name)
    if column is not None:
        return f"o.{column}", "1", []
    path = _json_path(name)
    return "json_extract(o.data, ?)", "json_type(o.data, ?) IS NOT NULL", [path]


def _equals_sql(name: str, wanted: Any) -> tuple[str, list[Any]]:
    """One ``equals`` filter: the object lacks the field, or its value matches."""
    if not _SAFE_FIELD.match(name):
        return "1", []  # not a field name anything stores: no restriction
    value, present, vparams = _value_expr(name)
    options = wanted if isinstance(wanted, list) else [wanted]
    tests: list[str] = []
    params: list[Any] = []
    for option in options:
        if isinstance(option, bool):
            tests.append(f"{value} = ?")
            params += [*vparams, int(option)]
        elif isinstance(option, str):
            tests.append(f"(typeof({value}) = 'text' AND lower({value}) = lower(?))")
            tests.append(f"CAST({value} AS TEXT) = ?")
            params += [*vparams, *vparams, option, *vparams, option]
        else:
            tests.append(f"{value} = ? OR CAST({value} AS TEXT) = ?")
            params += [*vparams, option, *vparams, str(option)]
    if not tests:
        return "0", []
    return f"(NOT ({present}) OR {' OR '.join(tests)})", [*vparams, *params]


def _order_sql(name: str, descending: bool) -> tuple[str, list[Any]]:
    """ORDER BY terms for one key: nulls last (first when descending), text caseless."""
    way = "DESC" if descending else "ASC"
    column = _COLUMNS.get(name)
    if column is not None:
        return f"o.{column} {way}", []
    if not _SAFE_FIELD.match(name):
        raise ApiError(400, f"cannot order by {name!r}", "bad_request")
    path = _json_path(name)
    expr = "json_extract(o.data, ?)"
    sortable = f"CASE WHEN typeof({expr}) = 'text' THEN lower({expr}) ELSE {expr} END"
    return f"({expr} IS NULL) {way}, {sortable} {way}", [path, path, path, path]


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
            self._migrate()

    def _migrate(self) -> None:
        """Bring a data directory written by an older version up to date."""
        have = {r["name"] for r in self._con.execute("PRAGMA table_info(objects)")}
        for column, sql in _MIGRATIONS:
            if column in have:
                continue
            self._con.execute(sql)
            if column == "parent":
                rows = self._con.execute(
                    "SELECT id, json_extract(data, '$._parent') AS parent FROM objects"
                    " WHERE json_type(data, '$._parent') = 'object'"
                ).fetchall()
                for row in rows:
                    key = _parent_key(json.loads(row["parent"]))
                    self._con.execute(
                        "UPDATE objects SET parent = ? WHERE id = ?", (key, row["id"])
                    )
            elif column in _FLAG_COLUMNS:
                for row in self._con.execute("SELECT id, data FROM objects").fetchall():
                    flag = int(bool(json.loads(row["data"]).get(column)))
                    if flag:
                        self._con.execute(
                            f"UPDATE objects SET {column} = 1 WHERE id = ?", (row["id"],)
                        )
        self._con.executescript(_LATE_INDEXES)

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

    def _to_objs(self, rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
        """Objects from rows, their authors read in one query."""
        author_ids = sorted(
            {r["author_id"] for r in rows if r["author_id"] and r["kind"] != "users"}
        )
        authors: dict[int, dict[str, Any] | None] = {}
        if author_ids:
            marks = ",".join("?" * len(author_ids))
            users = self._rows(
                f"SELECT * FROM objects WHERE kind = 'users' AND id IN ({marks})", tuple(author_ids)
            )
            authors = {u["id"]: self._to_obj(u) for u in users}
        out = []
        for row in rows:
            obj = json.loads(row["data"])
            obj["id"] = row["id"]
            obj["createdAt"] = row["created_at"]
            obj["updatedAt"] = row["updated_at"]
            obj["archived"] = bool(row["archived"])
            if row["kind"] != "users":
                obj["author"] = _short_user(authors.get(row["author_id"]))
            out.append(obj)
        return out

    def _row(self, obj_id: Any) -> sqlite3.Row | None:
        valid = _valid_id(obj_id)
        if valid is None:
            return None
        rows = self._rows("SELECT * FROM objects WHERE id = ?", (valid,))
        return rows[0] if rows else None

    @staticmethod
    def _data(fields: dict[str, Any]) -> str:
        skip = {"id", "createdAt", "updatedAt", "archived", "author"}
        return json.dumps({k: v for k, v in fields.items() if k not in skip})

    def create(
        self,
        kind: str,
        fields: dict[str, Any],
        user: dict[str, Any] | None,
        public: bool = False,
        obj_id: int | None = None,
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
        obj_id : int, optional
            An explicit id for a built-in object (e.g. a template whose id
            clients know); it must be free, and later objects get larger ids.

        Returns
        -------
        dict
            The stored object with its id.
        """
        now = iso_now()
        with self._tx() as con:
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
                    self._data(fields),
                    _parent_key(fields.get("_parent")),
                    int(bool(fields.get("hidden"))),
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

    def kinds_of(self, ids: Sequence[int]) -> dict[int, str]:
        """The kinds of several objects by id (absent ones left out)."""
        wanted = sorted({i for i in (_valid_id(x) for x in ids) if i is not None})
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._rows(f"SELECT id, kind FROM objects WHERE id IN ({marks})", tuple(wanted))
        return {r["id"]: r["kind"] for r in rows}

    def permission_levels(self, ids: Sequence[int], user: dict[str, Any]) -> dict[int, str | None]:
        """The user's level on each of several objects (one query for all).

        Returns
        -------
        dict
            id -> ``manage``, ``write``, ``read`` or ``None`` (absent ids too).
        """
        wanted = sorted({i for i in (_valid_id(x) for x in ids) if i is not None})
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._rows(
            f"SELECT id, kind, author_id, public FROM objects WHERE id IN ({marks})", tuple(wanted)
        )
        out: dict[int, str | None] = dict.fromkeys(wanted)
        if any(r["kind"] == "tables" for r in rows):  # rare: through their databases
            return {**out, **{r["id"]: self.permission_level(r, user) for r in rows}}
        groups = self.groups_of(user["id"])
        best = {
            r["id"]: 3 if r["author_id"] == user["id"] else int(bool(r["public"])) for r in rows
        }
        others = [i for i, level in best.items() if level < 3]
        shares = (
            self._rows(
                f"SELECT * FROM shares WHERE object_id IN ({','.join('?' * len(others))})",
                tuple(others),
            )
            if others
            else []
        )
        for share in shares:
            mine = share["principal_kind"] == "user" and share["principal_id"] == user["id"]
            ours = share["principal_kind"] == "group" and share["principal_id"] in groups
            if (mine or ours) and share["object_id"] in best:
                best[share["object_id"]] = max(best[share["object_id"]], LEVELS[share["level"]])
        names = {0: None, 1: "read", 2: "write", 3: "manage"}
        out.update({obj_id: names[level] for obj_id, level in best.items()})
        return out

    def permission_level(
        self, obj: dict[str, Any] | sqlite3.Row, user: dict[str, Any]
    ) -> str | None:
        """The user's level on an object: ``manage``, ``write``, ``read`` or ``None``.

        A warehouse table has the level the user has on its database.
        """
        obj_id = obj["id"]
        row = obj if isinstance(obj, sqlite3.Row) else self._row(obj_id)
        if row is None:
            return None
        if row["kind"] == "tables":
            db = self._rows(
                "SELECT d.* FROM warehouse_tables w JOIN objects d ON d.id = w.database_id"
                " WHERE w.object_id = ?",
                (row["id"],),
            )
            return self.permission_level(db[0], user) if db else None
        if row["author_id"] == user["id"]:
            return "manage"
        best = 1 if row["public"] else 0
        groups = self.groups_of(user["id"])
        for share in self._rows("SELECT * FROM shares WHERE object_id = ?", (row["id"],)):
            if (share["principal_kind"] == "user" and share["principal_id"] == user["id"]) or (
                share["principal_kind"] == "group" and share["principal_id"] in groups
            ):
                best = max(best, LEVELS[share["level"]])
        return {0: None, 1: "read", 2: "write", 3: "manage"}[best]

    def get(
        self,
        kind: str | Collection[str],
        obj_id: int,
        user: dict[str, Any],
        level: str = "read",
    ) -> dict[str, Any]:
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

    def _checked_row(
        self, kind: str | Collection[str], obj_id: int, user: dict[str, Any], level: str
    ) -> sqlite3.Row:
        kinds = _kinds(kind)
        row = self._row(obj_id)
        if row is None or row["kind"] not in kinds:
            raise ApiError(404, _NOT_FOUND, "not_found")
        have = self.permission_level(row, user)
        if have is None:
            raise ApiError(404, _NOT_FOUND, "not_found")
        if LEVELS[have] < LEVELS[level]:
            raise ApiError(
                403, f"You need {level} permission on this object; you have {have}.", "forbidden"
            )
        return row

    def update(
        self, kind: str | Collection[str], obj_id: int, fields: dict[str, Any], user: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge ``fields`` into an object of ``kind`` (write permission)."""
        row = self._checked_row(kind, obj_id, user, "write")
        current = self._to_obj(row)
        merged = {**current, **fields}
        self._guard_user_fields(row, current, merged, user)
        return self._write(row["id"], merged)

    def replace(
        self, kind: str | Collection[str], obj_id: int, fields: dict[str, Any], user: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace the fields of an object of ``kind`` (write permission)."""
        row = self._checked_row(kind, obj_id, user, "write")
        current = self._to_obj(row)
        if row["kind"] == "users":
            fields = {**{k: current.get(k) for k in PRIVILEGED_USER_FIELDS}, **fields}
        self._guard_user_fields(row, current, fields, user)
        return self._write(row["id"], fields)

    @staticmethod
    def _guard_user_fields(
        row: sqlite3.Row, current: dict[str, Any], new: dict[str, Any], user: dict[str, Any]
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

    def write_raw(self, obj_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Merge fields without a permission check (for the platform itself)."""
        current = self.raw(obj_id)
        if current is None:
            raise ApiError(404, "The requested resource could not be found.", "not_found")
        return self._write(obj_id, {**current, **fields})

    def _write(self, obj_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        with self._tx() as con:
            con.execute(
                "UPDATE objects SET data = ?, updated_at = ?, archived = ?, hidden = ?"
                " WHERE id = ?",
                (
                    self._data(fields),
                    iso_now(),
                    int(bool(fields.get("archived"))),
                    int(bool(fields.get("hidden"))),
                    obj_id,
                ),
            )
        return self._to_obj(self._row(obj_id))

    def set_archived(
        self, kind: str | Collection[str], obj_id: int, user: dict[str, Any], archived: bool
    ) -> dict[str, Any]:
        """Archive or restore an object of ``kind`` (write permission)."""
        current = self.get(kind, obj_id, user, "write")
        return self._write(current["id"], {**current, "archived": bool(archived)})

    def set_public(self, obj_id: int, public: bool) -> None:
        """Make an object readable by every user, or not (for the platform itself)."""
        with self._tx() as con:
            con.execute("UPDATE objects SET public = ? WHERE id = ?", (int(public), int(obj_id)))

    def delete(self, kind: str | Collection[str], obj_id: int, user: dict[str, Any]) -> None:
        """Delete an object of ``kind`` (manage permission)."""
        obj_id = self.get(kind, obj_id, user, "manage")["id"]
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
        return self.page(Query((kind,), archived=archived), user)[1]

    def page(self, query: Query, user: dict[str, Any] | None) -> tuple[int, list[dict[str, Any]]]:
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
        order, order_params = self._order(query)
        page_sql = ""
        page_params: list[Any] = []
        if query.limit is not None:
            page_sql = " LIMIT ? OFFSET ?"
            page_params = [int(query.limit), int(query.offset)]
        columns, column_params = self._columns(query)
        with self._lock:
            total = self._rows(f"SELECT count(*) AS n FROM objects o WHERE {where}", tuple(params))
            rows = self._rows(
                f"SELECT {columns} FROM objects o WHERE {where} ORDER BY {order}{page_sql}",
                (*column_params, *params, *order_params, *page_params),
            )
            return int(total[0]["n"]), self._to_objs(rows)

    @staticmethod
    def _columns(query: Query) -> tuple[str, list[Any]]:
        """The columns a page reads: all, or the object's columns and some fields."""
        if query.fields is None:
            return "o.*", []
        names = [n for n in query.fields if _SAFE_FIELD.match(n)]
        pairs = ", ".join("?, json_extract(o.data, ?)" for _ in names)
        params: list[Any] = []
        for name in names:
            params += [name, _json_path(name)]
        data = f"json_object({pairs})" if names else "'{}'"
        columns = "o.id, o.kind, o.author_id, o.public, o.archived, o.created_at, o.updated_at"
        return f"{columns}, {data} AS data", params

    def select_ids(self, query: Query, user: dict[str, Any] | None) -> list[int]:
        """The ids of every object a query matches, in its order (no page)."""
        where, params = self._where(query, user)
        order, order_params = self._order(query)
        rows = self._rows(
            f"SELECT o.id FROM objects o WHERE {where} ORDER BY {order}", (*params, *order_params)
        )
        return [r["id"] for r in rows]

    def objects_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Objects by id, in the order given (absent ones left out; no permission check)."""
        wanted = [i for i in (_valid_id(x) for x in ids) if i is not None]
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self._rows(f"SELECT * FROM objects WHERE id IN ({marks})", tuple(wanted))
        by_id = {o["id"]: o for o in self._to_objs(rows)}
        return [by_id[i] for i in wanted if i in by_id]

    def _where(self, query: Query, user: dict[str, Any] | None) -> tuple[str, list[Any]]:
        kinds = sorted(set(query.kinds))
        if not kinds:
            return "0", []
        clauses = [f"o.kind IN ({','.join('?' * len(kinds))})"]
        params: list[Any] = list(kinds)
        if query.archived is not None:
            clauses.append("o.archived = ?")
            params.append(int(query.archived))
        if query.parent is not None:
            clauses.append("o.parent IS ?")
            params.append(_parent_key(query.parent))
        if query.authors is not None:
            authors = sorted({int(a) for a in query.authors})
            clauses.append(f"o.author_id IN ({','.join('?' * len(authors))})")
            params += authors
        if query.ids is not None:
            ids = sorted({i for i in (_valid_id(x) for x in query.ids) if i is not None})
            clauses.append(f"o.id IN ({','.join('?' * len(ids))})")
            params += ids
        for name in query.falsy:
            if name in _FLAG_COLUMNS:
                clauses.append(f"o.{name} = 0")
            elif _SAFE_FIELD.match(name):
                clauses.append("NOT coalesce(json_extract(o.data, ?), 0)")
                params.append(_json_path(name))
        for name, wanted in query.equals.items():
            sql, extra = _equals_sql(name, wanted)
            clauses.append(sql)
            params += extra
        if query.text:
            sql, extra = self._text_sql(query)
            clauses.append(sql)
            params += extra
        if user is not None:
            sql, extra = self._visible_sql(user, "tables" in kinds)
            clauses.append(sql)
            params += extra
        return " AND ".join(clauses), params

    @staticmethod
    def _text_sql(query: Query) -> tuple[str, list[Any]]:
        text = str(query.text).lower()
        tests = ["instr(CAST(o.id AS TEXT), ?) > 0"] if query.text_in_id else []
        params: list[Any] = [text] if query.text_in_id else []
        for name in query.text_fields:
            if _SAFE_FIELD.match(name):
                tests.append("instr(lower(CAST(json_extract(o.data, ?) AS TEXT)), ?) > 0")
                params += [_json_path(name), text]
        if query.text_kinds:
            tests.append(f"o.kind IN ({','.join('?' * len(query.text_kinds))})")
            params += list(query.text_kinds)
        return f"({' OR '.join(tests) or '0'})", params

    def _visible_sql(self, user: dict[str, Any], tables: bool) -> tuple[str, list[Any]]:
        """SQL true for objects the user may read (as ``o``)."""
        uid = int(user["id"])
        groups = sorted(self.groups_of(uid))

        def readable(alias: str) -> tuple[str, list[Any]]:
            principals = "(s.principal_kind = 'user' AND s.principal_id = ?)"
            params: list[Any] = [uid, uid]
            if groups:
                marks = ",".join("?" * len(groups))
                principals += f" OR (s.principal_kind = 'group' AND s.principal_id IN ({marks}))"
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

    @staticmethod
    def _order(query: Query) -> tuple[str, list[Any]]:
        terms: list[str] = []
        params: list[Any] = []
        for name, descending in query.order:
            sql, extra = _order_sql(name, descending)
            terms.append(sql)
            params += extra
        if not any(name == "id" for name, _ in query.order):
            terms.append("o.id ASC")
        return ", ".join(terms), params

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
        rows = self._rows(
            "SELECT DISTINCT g.id FROM objects g, json_each(g.data, '$.members') m"
            " WHERE g.kind = 'groups' AND json_type(g.data, '$.members') = 'array'"
            " AND json_extract(m.value, '$.id') = ?",
            (int(user_id),),
        )
        return {r["id"] for r in rows}

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
        valid = _valid_id(key_id)
        if valid is None:
            return None
        rows = self._rows("SELECT * FROM api_keys WHERE id = ?", (valid,))
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
        self, database_id: int, schema: str, name: str, user: dict[str, Any] | None = None
    ) -> int:
        """A stable id for a warehouse table, created on first sight.

        The table belongs to its database: it has no author of its own and
        each user has on it the level they have on the database (``user``,
        the one who first saw it, is not recorded).
        """
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
            obj = self.create("tables", fields, None)
            with self._tx() as con:
                con.execute("INSERT INTO warehouse_tables VALUES (?, ?, ?, ?)", (*key, obj["id"]))
            return obj["id"]
