"""APIClient: resources from the spec, and lookups such as ``get_database_id``."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import CivisAPIKeyError
from .naming import split_schema_tablename
from .resources import Resource, resource_class
from .response import find_one
from .spec import ApiSpec, base_url, get_api_spec, load_spec
from .transport import ClientConfig, Transport

if TYPE_CHECKING:
    import tenacity

__all__ = ["APIClient", "ClientConfig", "MissingAPIKeyError", "get_api_key"]

RETURN_TYPES = ("snake", "raw")

#: What ``APIClient.__init__`` sets; reading one on a deferred client sets it up.
_INIT_STATE = frozenset(
    {"_return_type", "_transport", "last_response", "_lookups", "_lookups_lock", "_spec"}
)
#: The ``__dict__`` key holding a deferred client's arguments until its setup.
_PENDING = "_pending"


class _Deferred:
    """The arguments of a client whose setup waits for its first use."""

    __slots__ = ("busy", "kwargs", "lock", "on_error")

    def __init__(self, kwargs: dict[str, Any], on_error: Callable[[Exception], Exception] | None):
        self.kwargs = kwargs
        self.on_error = on_error
        self.lock = threading.RLock()
        self.busy = False


class MissingAPIKeyError(CivisAPIKeyError, OSError):
    """No API key was given and ``CIVIS_API_KEY`` is not set."""


def get_api_key(api_key: str | None = None) -> str:
    """Return the API key given, or the one in ``CIVIS_API_KEY``.

    Parameters
    ----------
    api_key : str, optional

    Returns
    -------
    str

    Raises
    ------
    MissingAPIKeyError
        When neither is set.
    """
    key = api_key or os.environ.get("CIVIS_API_KEY")
    if not key:
        raise MissingAPIKeyError(
            "No Civis API key: pass api_key=... or set the CIVIS_API_KEY environment "
            "variable (for the local platform, run `civis-jupyter platform` and export "
            "what it prints)."
        )
    return key


def _is_retrying(retries: Any) -> bool:
    """Whether ``retries`` is a ``tenacity.Retrying`` (tenacity imported only then)."""
    import tenacity

    return isinstance(retries, tenacity.Retrying)


class APIClient:
    """The Civis API client.

    Resources (``client.scripts``, ``client.tables``, ...) and their methods
    are generated from the API spec; methods are built the first time they
    are used, so creating a client is cheap.

    Parameters
    ----------
    api_key : str, optional
        Your Civis API key; defaults to the ``CIVIS_API_KEY`` environment
        variable.
    return_type : {'snake', 'raw'}, optional
        ``'snake'`` (default) returns :class:`~civis_jupyter.Response` objects
        with snake_case keys; ``'raw'`` returns the ``requests.Response``.
    api_version : str, optional
        Only ``"1.0"`` exists.
    local_api_spec : dict, OrderedDict, str or pathlib.Path, optional
        Use this spec (a loaded spec, JSON text, or a path to a JSON file)
        instead of downloading it from ``/endpoints``.
    force_refresh_api_spec : bool, optional
        Download the spec again even if this process cached it.
    retries : tenacity.Retrying, optional
        Retry policy (wait and stop); which responses are retried is fixed:
        429/502/503/504 for idempotent verbs, 429/503 for POST, never PATCH.
    user_agent : str, optional
        A product token added to the ``User-Agent`` header.
    config : ClientConfig, optional
        Connection settings (keyword only; not in the official client):
        timeouts, connection pool size, and ``trust_env=False`` to ignore
        proxy, CA bundle and ``.netrc`` settings in the environment, which
        are honoured by default as ``requests`` honours them.

    Attributes
    ----------
    last_response : Response or None
        What the latest API call returned.
    """

    def __init__(
        self,
        api_key: str | None = None,
        return_type: str = "snake",
        api_version: str = "1.0",
        local_api_spec: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        force_refresh_api_spec: bool = False,
        retries: tenacity.Retrying | None = None,
        user_agent: str | None = None,
        *,
        config: ClientConfig | None = None,
    ):
        if return_type not in RETURN_TYPES:
            raise ValueError(f"return_type must be one of {RETURN_TYPES}, not {return_type!r}")
        if local_api_spec is not None and force_refresh_api_spec:
            raise TypeError(
                "local_api_spec and force_refresh_api_spec cannot be used together: "
                "a local spec is never downloaded"
            )
        if retries is not None and not _is_retrying(retries):
            raise TypeError("retries must be a tenacity.Retrying instance")
        key = get_api_key(api_key)
        self._return_type = return_type
        self._transport = Transport(key, base_url(), retries, user_agent, config=config)
        self.last_response: Any = None
        self._lookups: dict[tuple[Any, ...], Any] = {}
        self._lookups_lock = threading.Lock()
        if local_api_spec is not None:
            self._spec: ApiSpec = load_spec(local_api_spec)
        else:
            self._spec = get_api_spec(
                key, api_version, transport=self._transport, force_refresh=force_refresh_api_spec
            )

    # -- deferred setup ---------------------------------------------------------
    @classmethod
    def _deferred(
        cls, on_error: Callable[[Exception], Exception] | None = None, **kwargs: Any
    ) -> APIClient:
        """A client set up (key, transport, spec) on first use rather than now.

        Parameters
        ----------
        on_error : callable, optional
            Maps an exception raised by the setup to the one raised instead.
        **kwargs
            Arguments for ``__init__``, used at setup time.

        Returns
        -------
        APIClient
        """
        client = cls.__new__(cls)
        client.__dict__[_PENDING] = _Deferred(kwargs, on_error)
        return client

    def _set_up_now(self) -> bool:
        """Finish a deferred client's setup (once, thread-safe).

        Returns
        -------
        bool
            Whether the client was deferred and is now set up. A failed setup
            leaves it deferred, so the next use tries again.
        """
        pending = self.__dict__.get(_PENDING)
        if pending is None:
            return False
        with pending.lock:
            if _PENDING not in self.__dict__:
                return True  # another thread finished it
            if pending.busy:
                return False  # re-entered from __init__ itself
            pending.busy = True
            try:
                type(self).__init__(self, **pending.kwargs)
            except Exception as exc:
                for name in _INIT_STATE:
                    self.__dict__.pop(name, None)
                if pending.on_error is None:
                    raise
                raise pending.on_error(exc) from None
            finally:
                pending.busy = False
            del self.__dict__[_PENDING]
        return True

    # -- resources ------------------------------------------------------------
    def __getattr__(self, name: str) -> Resource:
        if (name in _INIT_STATE or not name.startswith("_")) and self._set_up_now():
            return getattr(self, name)
        spec = self.__dict__.get("_spec")
        if spec is None or name not in spec.resources:
            raise AttributeError(f"APIClient has no attribute or API resource {name!r}")
        resource = resource_class(spec, name)(self)
        self.__dict__[name] = resource
        return resource

    def __dir__(self) -> list[str]:
        names = set(super().__dir__())
        if _PENDING in self.__dict__:
            try:
                self._set_up_now()
            except Exception:  # dir() must not raise: show what the class has
                return sorted(names)
        return sorted(names | set(self._spec.resources))

    def __repr__(self) -> str:
        if _PENDING in self.__dict__:
            return "<civis_jupyter.APIClient (set up on first use)>"
        return f"<civis_jupyter.APIClient {self._transport.base_url}>"

    def __getstate__(self) -> None:
        raise RuntimeError("An APIClient cannot be pickled; create a new one in the other process.")

    @property
    def spec(self) -> ApiSpec:
        """The parsed API spec this client was built from."""
        return self._spec

    @property
    def resources(self) -> list[str]:
        """Names of the API resources on this client."""
        return sorted(self._spec.resources)

    # -- cached lookups -----------------------------------------------------
    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        with self._lookups_lock:
            if key in self._lookups:
                return self._lookups[key]
        value = compute()
        with self._lookups_lock:
            self._lookups[key] = value
        return value

    def get_database_id(self, database: str | int) -> int:
        """Return the ID of a database given its name (an int passes through).

        Parameters
        ----------
        database : str or int

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If no database has that name.
        """
        if isinstance(database, int):
            return database

        def compute() -> int:
            db = find_one(self.databases.list(), name=database)
            if db is None:
                raise ValueError(f"Database {database} not found.")
            return db["id"]

        return self._cached(("database", database), compute)

    def get_table_id(self, table: str, database: str | int) -> int:
        """Return the ID of ``schema.table`` in a database.

        Parameters
        ----------
        table : str
            ``schema.table``; either part may be double-quoted to hold dots.
        database : str or int
            Database name or ID.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If the table cannot be found.
        """

        def compute() -> int:
            database_id = self.get_database_id(database)
            schema, name = split_schema_tablename(table)
            tables = self.tables.list(database_id=database_id, schema=schema, name=name)
            if not tables:
                raise ValueError(f"No tables found for {table} in database {database}")
            return tables[0]["id"]

        return self._cached(("table", table, database), compute)

    def get_database_credential_id(self, username: str | int, database_name: str | int) -> int:
        """Return the ID of a user's database credential (deprecated).

        Parameters
        ----------
        username : str or int
            The credential's username; an int passes through.
        database_name : str or int
            Database name or ID the credential is for.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If no such credential exists.
        """
        warnings.warn(
            "get_database_credential_id is deprecated; use "
            "default_database_credential_id for the current user's credential.",
            FutureWarning,
            stacklevel=2,
        )
        if isinstance(username, int):
            return username

        def compute() -> int:
            creds = self.credentials.list(type="Database")
            filters: dict[str, Any] = {"username": username}
            if isinstance(database_name, int):
                filters["remote_host_id"] = database_name
            else:
                filters["remote_host_name"] = database_name
            cred = find_one(creds, **filters)
            if cred is None:
                raise ValueError(f"Credential ID for {username} on {database_name} not found.")
            return cred["id"]

        return self._cached(("db_credential", username, database_name), compute)

    def get_aws_credential_id(self, cred_name: str | int, owner: str | None = None) -> int:
        """Return the ID of an AWS credential by name (an int passes through).

        Parameters
        ----------
        cred_name : str or int
            The credential's name.
        owner : str, optional
            Its owner's username; the current user by default.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If none or several match.
        """
        if isinstance(cred_name, int):
            return cred_name

        def compute() -> int:
            who = owner or self.username
            creds = self.credentials.list(type="Amazon Web Services S3")
            matches = [c for c in creds if c["name"] == cred_name and c["owner"] == who]
            if not matches:
                raise ValueError(f"AWS credential ID for {cred_name} owned by {who} not found.")
            if len(matches) > 1:
                raise ValueError(
                    f"More than one AWS credential named {cred_name} is owned by {who}."
                )
            return matches[0]["id"]

        return self._cached(("aws_credential", cred_name, owner), compute)

    def get_storage_host_id(self, storage_host: str | int) -> int:
        """Return the ID of a storage host by name (an int passes through).

        Parameters
        ----------
        storage_host : str or int

        Returns
        -------
        int

        Raises
        ------
        ValueError
            If no storage host has that name.
        """
        if isinstance(storage_host, int):
            return storage_host

        def compute() -> int:
            host = find_one(self.storage_hosts.list(), name=storage_host)
            if host is None:
                raise ValueError(f"Storage Host {storage_host} not found.")
            return host["id"]

        return self._cached(("storage_host", storage_host), compute)

    @property
    def default_credential(self) -> int | None:
        """The current user's default credential ID (deprecated)."""
        warnings.warn(
            "default_credential is deprecated; use default_database_credential_id.",
            FutureWarning,
            stacklevel=2,
        )

        def compute() -> int | None:
            creds = self.credentials.list(default=True)
            return creds[0]["id"] if creds else None

        return self._cached(("default_credential",), compute)

    @property
    def default_database_credential_id(self) -> int | None:
        """The current user's default database credential ID."""

        def compute() -> int | None:
            creds = self.credentials.list(default=True, type="Database")
            return creds[0]["id"] if creds else None

        return self._cached(("default_db_credential",), compute)

    @property
    def username(self) -> str:
        """The current user's username."""
        return self._cached(("username",), lambda: self.users.get_me()["username"])

    @property
    def feature_flags(self) -> tuple[str, ...]:
        """The current user's enabled feature flags (deprecated)."""
        warnings.warn(
            "feature_flags is deprecated; use client.users.get_me()['feature_flags'].",
            FutureWarning,
            stacklevel=2,
        )
        flags = self.users.get_me()["feature_flags"] or {}
        return tuple(k for k, v in flags.items() if v)
