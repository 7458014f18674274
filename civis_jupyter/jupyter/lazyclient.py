"""The notebook's ``client``: a real APIClient whose setup waits for first use.

Loading the extension must never fail because no key is set, nor make any
HTTP request; the first use of ``client`` either sets the client up (key,
transport, API spec) or explains how to configure one. Until then the client
is still an :class:`~civis_jupyter.APIClient` (``isinstance`` and ``help``
work as for any other).
"""

from __future__ import annotations

from typing import Any

from ..api.client import _PENDING, APIClient

__all__ = ["ClientNotConfigured", "ensure_ready", "is_ready", "lazy_client"]

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


def _not_configured(exc: Exception) -> ClientNotConfigured:
    return ClientNotConfigured(HOW_TO.format(reason=_reason(exc)))


def lazy_client(**kwargs: Any) -> APIClient:
    """An :class:`~civis_jupyter.APIClient` set up on first use.

    Parameters
    ----------
    **kwargs
        Passed to :class:`~civis_jupyter.APIClient` at setup time.

    Returns
    -------
    APIClient
        Its first use raises :class:`ClientNotConfigured` (and stays
        deferred, to be tried again) when it cannot be set up.
    """
    return APIClient._deferred(on_error=_not_configured, **kwargs)


def ensure_ready(client: Any) -> Any:
    """Set a deferred client up now and return it (other clients pass through).

    Parameters
    ----------
    client : APIClient or any client-like object

    Returns
    -------
    The same client.

    Raises
    ------
    ClientNotConfigured
        When a client made by :func:`lazy_client` cannot be set up.
    """
    if isinstance(client, APIClient):
        client._set_up_now()
    return client


def is_ready(client: APIClient) -> bool:
    """Whether a client made by :func:`lazy_client` has been set up.

    Parameters
    ----------
    client : APIClient

    Returns
    -------
    bool
    """
    return _PENDING not in vars(client)


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text
