"""The contract between the platform's HTTP layer and its behaviours.

The server (``server.py``) turns each HTTP request into a :class:`Request`,
finds the handler registered for the matched operation (hand-written
behaviours first, then the generic schema-driven layer) and renders the
:class:`Reply` it returns, or the :class:`ApiError` it raises, in the Civis
format ``{"error": ..., "errorDescription": ..., "code": ...}``.

Behaviour modules register handlers with :func:`handles`::

    @handles("post", "queries")
    def create_query(req: Request) -> Reply:
        ...

Templates are spec paths without surrounding slashes (``"scripts/sql/{id}/runs"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = ["HANDLERS", "ApiError", "Reply", "Request", "handler_for", "handles"]


class ApiError(Exception):
    """An error answered to the client in the Civis error format.

    Parameters
    ----------
    status : int
        HTTP status code.
    description : str
        Human-readable ``errorDescription``.
    error : str, optional
        Short machine name (``"not_found"``); derived from the status if omitted.
    headers : dict, optional
        Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        description: str,
        error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(description)
        self.status = status
        self.description = description
        self.error = error or HTTPStatus(status).phrase.lower().replace(" ", "_")
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": self.error, "errorDescription": self.description, "code": self.status}


@dataclass
class Request:
    """One API request, as a behaviour sees it.

    Attributes
    ----------
    platform : object
        The running platform (its store, warehouse, blobs, runner, config).
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

    platform: Any
    operation: Any
    user: dict[str, Any]
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes = b""


@dataclass
class Reply:
    """What a handler answers.

    Attributes
    ----------
    status : int
        HTTP status; ``None`` means the operation's documented success status.
    body : Any
        JSON-serialisable body, raw ``bytes``, or ``None`` for an empty body.
    headers : dict
        Extra headers.
    content_type : str
        Used when ``body`` is bytes.
    """

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


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
