"""The platform's store (SQLite): one database, five focused repositories.

- :attr:`Store.objects` (:class:`Objects`): create, read, change, delete and
  list objects of every kind, with the kind and permission checks;
- :attr:`Store.permissions` (:class:`Permissions`): levels, shares, groups;
- :attr:`Store.identity` (:class:`Identity`): users and API keys;
- :attr:`Store.projects` (:class:`Projects`): project membership;
- :attr:`Store.tables` (:class:`WarehouseTables`): warehouse table ids.

They share one connection and one transaction helper
(:meth:`civis_jupyter.platform.sqlite.Database.tx`); every method is
thread-safe. Objects are camelCase dicts; a user is a dict with ``id``.
"""

from __future__ import annotations

from pathlib import Path

from .identity import Identity
from .objects import PRIVILEGED_USER_FIELDS, Objects, author_id, short_user
from .permissions import LEVELS, Permissions
from .projects import Projects
from .query import Query
from .schema import TABLES, open_database
from .tables import WarehouseTables

__all__ = [
    "LEVELS",
    "PRIVILEGED_USER_FIELDS",
    "Identity",
    "Objects",
    "Permissions",
    "Projects",
    "Query",
    "Store",
    "WarehouseTables",
    "author_id",
    "short_user",
]


class Store:
    """Objects, permissions, identity, projects and table ids in one SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        The SQLite file (created if absent; an older one is migrated).
    """

    def __init__(self, path: Path):
        self.db = open_database(Path(path))
        self.permissions = Permissions(self.db)
        self.objects = Objects(self.db, self.permissions)
        self.identity = Identity(self.db, self.objects)
        self.projects = Projects(self.db)
        self.tables = WarehouseTables(self.db, self.objects)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self.db.path

    def __repr__(self) -> str:
        return f"<Store {self.path}>"

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def wipe(self) -> None:
        """Delete everything (for resetting a platform between tests)."""
        with self.db.tx() as con:
            for table in TABLES:
                con.execute(f"DELETE FROM {table}")
