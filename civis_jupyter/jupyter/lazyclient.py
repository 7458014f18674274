"""A client stand-in that builds the real APIClient on first use.

Loading the extension must never fail because no key is set; the first use
of ``client`` either builds the client or explains how to configure one.
"""

from __future__ import annotations

import threading
from typing import Any

from ..api.client import APIClient

__all__ = ["ClientNotConfigured", "LazyClient"]

HOW_TO = (
    "No Civis client could be created: {reason}\n"
    "Set CIVIS_API_KEY (and CIVIS_API_ENDPOINT for a platform other than Civis's own), "
    "e.g. in a cell:\n"
    "    %env CIVIS_API_KEY=...\n"
    "or start the embedded local platform in a terminal with "
    "`civis-jupyter platform --seed demo` and export what it prints, "
    "or in the notebook:\n"
    "    from civis_jupyter.platform import LocalPlatform\n"
    "    platform = LocalPlatform(seed='demo').start(); platform.export_env()"
)


class ClientNotConfigured(RuntimeError):
    """Raised on first use of ``client`` when no client can be built."""


class LazyClient:
    """Proxy to an :class:`~civis_jupyter.APIClient` built when first touched.

    Parameters
    ----------
    **kwargs
        Passed to :class:`~civis_jupyter.APIClient`.
    """

    def __init__(self, **kwargs: Any):
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_client", None)
        object.__setattr__(self, "_lock", threading.Lock())

    def _get(self) -> APIClient:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                try:
                    built = APIClient(**self._kwargs)
                except Exception as exc:  # any failure: key, network, spec
                    raise ClientNotConfigured(HOW_TO.format(reason=_reason(exc))) from None
                object.__setattr__(self, "_client", built)
            return self._client

    @property
    def is_ready(self) -> bool:
        """Whether the real client has been built."""
        return self._client is not None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get(), name, value)

    def __dir__(self) -> list[str]:
        try:
            return dir(self._get())
        except ClientNotConfigured:
            return ["is_ready"]

    def __repr__(self) -> str:
        if self._client is None:
            return "<civis_jupyter client (created on first use)>"
        return repr(self._client)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text
