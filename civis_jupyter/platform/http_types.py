"""The HTTP vocabulary every layer of the platform speaks.

:class:`ApiError` is how any layer (the server, a behaviour, the store)
answers a request with an error in the Civis format
``{"error": ..., "errorDescription": ..., "code": ...}``; :class:`Reply` is
what a behaviour answers otherwise. Stored objects and users travel as
camelCase JSON dicts (:data:`Obj`, :data:`User`).

This module imports nothing of the platform: it is the bottom layer. The
request a behaviour receives and the services it may use are in
:mod:`civis_jupyter.platform.contract`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = ["ApiError", "Obj", "Reply", "User"]

#: A stored object: camelCase fields with ``id``, ``createdAt``, ``updatedAt``.
Obj = dict[str, Any]
#: A user as the store keeps it (``id``, ``username``, ``admin``, ...).
User = dict[str, Any]


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
class Reply:
    """What a handler answers.

    Attributes
    ----------
    body : Any
        JSON-serialisable body, raw ``bytes``, or ``None`` for an empty body.
    status : int or None
        HTTP status; ``None`` means the operation's documented success status.
    headers : dict
        Extra headers.
    content_type : str
        Used when ``body`` is bytes.
    """

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
