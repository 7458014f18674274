"""Users, groups' members and API keys.

Users are objects of kind ``users`` (readable by everyone); API keys are
stored hashed, optionally expire, and may be scoped to a run (revoked when it
ends). A token is shown once, when the key is made.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from ..clock import iso_now
from ..http_types import ApiError, Obj, User
from ..sqlite import Database
from .objects import Objects
from .query import valid_id

__all__ = ["Identity"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Identity:
    """Users and their API keys.

    Parameters
    ----------
    db : Database
        The store's database.
    objects : Objects
        Where users live.
    """

    def __init__(self, db: Database, objects: Objects):
        self._db = db
        self._objects = objects

    # -- users -----------------------------------------------------------------------
    def create_user(
        self, username: str, name: str | None = None, email: str | None = None, admin: bool = False
    ) -> User:
        """Create a user (usernames are unique).

        Returns
        -------
        dict
            The user.

        Raises
        ------
        ApiError
            409 when the username is taken.
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
        with self._db.tx() as con:
            user = self._objects.create("users", fields, None, public=True)
            con.execute("UPDATE objects SET author_id = ? WHERE id = ?", (user["id"], user["id"]))
        return user

    def user(self, user_id: Any) -> User | None:
        """A user by id (``None`` if absent)."""
        return self._objects.raw(user_id, "users") if user_id is not None else None

    def users(self) -> list[User]:
        """All users, oldest first."""
        return self._objects.list("users", None)

    def admin_user(self) -> User:
        """The platform's first user (owner of built-in objects).

        Raises
        ------
        ApiError
            500 when the platform has no users.
        """
        users = self.users()
        if not users:
            raise ApiError(500, "the platform has no users", "internal_error")
        return users[0]

    def default_credential_id(self, user: User) -> int | None:
        """The user's default database credential, if any."""
        for cred in self._objects.list("credentials", user):
            if cred.get("default") and cred.get("type") == "Database":
                return int(cred["id"])
        return None

    # -- keys ------------------------------------------------------------------------
    def create_key(
        self,
        user_id: int,
        name: str,
        expires_at: str | None = None,
        run_id: int | None = None,
    ) -> tuple[str, Obj]:
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
        with self._db.tx() as con:
            cur = con.execute(
                "INSERT INTO api_keys (user_id, token_hash, name, created_at, expires_at, run_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, _hash(token), name, iso_now(), expires_at, run_id),
            )
            key_id = int(cur.lastrowid or 0)
        record = self.key(key_id)
        assert record is not None
        return token, record

    def key(self, key_id: Any) -> Obj | None:
        """A key's record (never its token), or ``None``."""
        valid = valid_id(key_id)
        rows = self._db.rows("SELECT * FROM api_keys WHERE id = ?", (valid,)) if valid else []
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

    def keys(self, user_id: int) -> list[Obj]:
        """A user's keys, oldest first."""
        rows = self._db.rows("SELECT id FROM api_keys WHERE user_id = ? ORDER BY id", (user_id,))
        return [k for k in (self.key(r["id"]) for r in rows) if k is not None]

    def revoke_key(self, key_id: int) -> None:
        """Revoke a key by id."""
        with self._db.tx() as con:
            con.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", (key_id,))

    def revoke_token(self, token: str) -> None:
        """Revoke a key by its token."""
        with self._db.tx() as con:
            con.execute("UPDATE api_keys SET revoked = 1 WHERE token_hash = ?", (_hash(token),))

    def user_for_token(self, token: str) -> User | None:
        """The user a valid (unrevoked, unexpired) token belongs to."""
        rows = self._db.rows(
            "SELECT user_id, expires_at, revoked FROM api_keys WHERE token_hash = ?",
            (_hash(token),),
        )
        if not rows or rows[0]["revoked"]:
            return None
        expires = rows[0]["expires_at"]
        if expires and expires < iso_now():
            return None
        return self.user(rows[0]["user_id"])
