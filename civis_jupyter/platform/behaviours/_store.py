"""The behaviours' view of the platform's object store.

Every object read or written by the hand-written behaviours goes through
these functions, which map them onto :mod:`civis_jupyter.platform.store`.
Objects are camelCase dicts with at least ``id``, ``createdAt`` and
``updatedAt``; ``kind`` is the object's collection path (``"files"``,
``"scripts/containers"``, ...). Missing objects answer 404 and objects the
user may not change answer 403 (both as :class:`ApiError`); objects of
another kind than the one asked for, or that the user may not see, are 404.
"""

from __future__ import annotations

from typing import Any

from ..contract import ApiError
from ..store import Query

__all__ = [
    "Query",
    "admin_user",
    "author",
    "author_id",
    "create",
    "credential",
    "database",
    "databases",
    "default_credential_id",
    "default_database_id",
    "fetch",
    "find",
    "find_job",
    "jobs",
    "objects",
    "page",
    "permission",
    "raw",
    "table_id",
    "update",
    "write_raw",
]


def _store(platform: Any) -> Any:
    return platform.store


def create(
    platform: Any, user: dict[str, Any], kind: str, fields: dict[str, Any], public: bool = False
) -> dict:
    """Store a new object authored by ``user`` (readable by all if ``public``)."""
    return _store(platform).create(kind, fields, user, public=public)


def raw(platform: Any, kind: str, obj_id: Any) -> dict[str, Any] | None:
    """An object of ``kind`` regardless of permissions (for the platform itself)."""
    if _store(platform).kind_of(int(obj_id)) != kind:
        return None
    return _store(platform).raw(int(obj_id))


def fetch(
    platform: Any, user: dict[str, Any], kind: str, obj_id: Any, level: str = "read"
) -> dict[str, Any]:
    """An object the user may access at ``level`` (read/write/manage)."""
    return _store(platform).get(kind, int(obj_id), user, level)


def find(platform: Any, user: dict[str, Any], kind: str, obj_id: Any) -> dict | None:
    """An object of ``kind`` if it exists and the user may read it, else None."""
    try:
        return fetch(platform, user, kind, obj_id)
    except ApiError:
        return None


def update(
    platform: Any, user: dict[str, Any], kind: str, obj_id: Any, fields: dict[str, Any]
) -> dict[str, Any]:
    """Merge fields into an object (write permission)."""
    return _store(platform).update(kind, int(obj_id), fields, user)


def write_raw(platform: Any, obj_id: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Merge fields into an object without a permission check (platform bookkeeping)."""
    return _store(platform).write_raw(int(obj_id), fields)


def objects(
    platform: Any, user: dict[str, Any], kind: str, archived: bool | None = False
) -> list[dict[str, Any]]:
    """Objects of a kind the user may read (unarchived ones unless told)."""
    return list(_store(platform).list(kind, user, archived=archived))


def jobs(platform: Any, user: dict[str, Any], kinds: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """All objects of the job kinds the user may read, as (kind, object)."""
    out = []
    for kind in kinds:
        out.extend((kind, obj) for obj in objects(platform, user, kind, archived=None))
    return out


def page(platform: Any, user: dict[str, Any], query: Query) -> tuple[int, list[dict[str, Any]]]:
    """One page of the objects a user may read, filtered, ordered and paged in SQL.

    Returns
    -------
    tuple of (int, list of dict)
        How many objects match in all, and the page.
    """
    return _store(platform).page(query, user)


def find_job(
    platform: Any, user: dict[str, Any], obj_id: Any, kinds: list[str], level: str = "read"
) -> tuple[str, dict[str, Any]]:
    """Resolve a job id across kinds (one id space); 404 when none has it."""
    kind = _store(platform).kind_of(int(obj_id))
    if kind is None or kind not in kinds:
        raise ApiError(404, f"job {obj_id} not found", "not_found")
    return kind, fetch(platform, user, kind, obj_id, level)


def author(platform: Any, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The short user object of an object's author."""
    return _store(platform).author(obj)


def author_id(obj: dict[str, Any]) -> int | None:
    """The id of an object's author."""
    a = obj.get("author")
    if isinstance(a, dict):
        return a.get("id")
    return obj.get("authorId")


def permission(platform: Any, user: dict[str, Any], obj: dict[str, Any]) -> str | None:
    """The user's permission level on an object (read, write, manage or None)."""
    return _store(platform).permission_level(obj, user)


def database(platform: Any, user: dict[str, Any], db_id: Any) -> dict[str, Any]:
    """A database (404 when absent)."""
    return fetch(platform, user, "databases", db_id)


def databases(platform: Any, user: dict[str, Any]) -> list[dict[str, Any]]:
    """All databases the user can see."""
    return objects(platform, user, "databases")


def credential(platform: Any, user: dict[str, Any], cred_id: Any) -> dict[str, Any]:
    """A credential the user may use (404 when absent)."""
    return fetch(platform, user, "credentials", cred_id)


def default_credential_id(platform: Any, user: dict[str, Any]) -> int | None:
    """The user's default database credential, if any."""
    for cred in objects(platform, user, "credentials"):
        if cred.get("default") and cred.get("type") == "Database":
            return cred["id"]
    return None


def default_database_id(platform: Any) -> int:
    """The platform's default database."""
    return int(platform.default_database_id)


def admin_user(platform: Any) -> dict[str, Any]:
    """The platform's first user (owner of seeded objects)."""
    return _store(platform).admin_user()


def table_id(platform: Any, user: dict[str, Any], db_id: int, schema: str, name: str) -> int:
    """A stable id for a warehouse table, created on first sight.

    The table has no author of its own: every user has on it the level they
    have on its database.
    """
    return _store(platform).table_id(int(db_id), schema, name)
