"""The contract between the platform's HTTP layer and its behaviours.

The server (``server.py``) turns each HTTP request into a :class:`Request`,
finds the :data:`Handler` registered for the matched operation (hand-written
behaviours first, then the generic schema-driven layer) and renders the
:class:`~civis_jupyter.platform.http_types.Reply` it returns, or the
:class:`~civis_jupyter.platform.http_types.ApiError` it raises.

A handler receives the operation, the authenticated user and the parsed
request, and reaches the platform only through :class:`Services`: the store
(objects, permissions, identity, projects, warehouse table ids), the
warehouses, the blobs (file contents and signed URLs) and the runner.

Behaviour modules register handlers with :func:`handles`::

    @handles("post", "queries")
    def create_query(req: Request) -> Reply:
        ...

Templates are spec paths without surrounding slashes (``"scripts/sql/{id}/runs"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..api.spec import ApiSpec, Operation
from .blobs import Blobs
from .http_types import ApiError, Obj, Reply, User
from .runner import Runner
from .store import Store
from .warehouse import Warehouses

__all__ = [
    "HANDLERS",
    "ApiError",
    "Handler",
    "Reply",
    "Request",
    "Services",
    "handler_for",
    "handles",
]


class Services(Protocol):
    """What a behaviour may use of the running platform."""

    @property
    def store(self) -> Store:
        """Objects, permissions, identity, projects and warehouse table ids."""

    @property
    def warehouses(self) -> Warehouses:
        """One DuckDB warehouse per platform database."""

    @property
    def blobs(self) -> Blobs:
        """File contents on disk and their signed URLs."""

    @property
    def runner(self) -> Runner:
        """The run state machine."""

    @property
    def spec(self) -> ApiSpec:
        """The API's operations."""

    @property
    def endpoint(self) -> str:
        """The platform's root URL (``http://127.0.0.1:port/``)."""

    @property
    def default_database_id(self) -> int:
        """The id of the platform's default database."""

    def credential_for(self, user: User) -> Obj:
        """Give a new user their default database credential."""


@dataclass
class Request:
    """One API request, as a behaviour sees it.

    Attributes
    ----------
    platform : Services
        The services the behaviour may use.
    operation : civis_jupyter.api.spec.Operation
        The matched operation.
    user : dict
        The authenticated user (``id``, ``username``, ...).
    path_params : dict
        Path parameters, integers where the spec says integer.
    query : dict
        Query parameters with snake_case names; ``name[]`` arrays become lists.
    body : Any
        The JSON body with camelCase keys (snake_case keys sent by clients are
        converted; keys under ``arguments`` and ``environmentVariables`` are kept).
    headers : Mapping
        Request headers.
    raw_body : bytes
        The body as received (for uploads).
    """

    platform: Services
    operation: Operation
    user: User
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes = b""

    @property
    def store(self) -> Store:
        """The platform's store."""
        return self.platform.store

    @property
    def runner(self) -> Runner:
        """The platform's runner."""
        return self.platform.runner

    @property
    def blobs(self) -> Blobs:
        """The platform's file contents and signed URLs."""
        return self.platform.blobs

    @property
    def warehouses(self) -> Warehouses:
        """The platform's warehouses."""
        return self.platform.warehouses


Handler = Callable[[Request], Reply]

#: (verb, template) -> handler, filled by the behaviour modules at import.
HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(verb: str, template: str) -> Callable[[Handler], Handler]:
    """Register a hand-written behaviour for one operation.

    Parameters
    ----------
    verb : str
        Lower-case HTTP verb.
    template : str
        Spec path without surrounding slashes.

    Returns
    -------
    callable
        A decorator that registers and returns the handler.
    """

    def register(fn: Handler) -> Handler:
        HANDLERS[(verb.lower(), template.strip("/"))] = fn
        return fn

    return register


def handler_for(verb: str, template: str) -> Handler | None:
    """Return the hand-written handler for an operation, if there is one."""
    return HANDLERS.get((verb.lower(), template.strip("/")))
