"""civis_jupyter: the Civis Platform API client for Python and Jupyter.

Use it as ``import civis_jupyter as civis``; code written for the official
``civis`` client runs unchanged. Heavy parts (``io`` with pandas, ``futures``,
``utils``, ``platform``) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .api.client import APIClient
from .api.errors import (
    CivisAPIError,
    CivisAPIKeyError,
    CivisImportError,
    CivisJobFailure,
    EmptyResultError,
)
from .api.response import ListResponse, PaginatedResponse, Response, find, find_one

__all__ = [
    "APIClient",
    "CivisAPIError",
    "CivisAPIKeyError",
    "CivisImportError",
    "CivisJobFailure",
    "EmptyResultError",
    "ListResponse",
    "PaginatedResponse",
    "Response",
    "__version__",
    "base",
    "civis_logger",
    "find",
    "find_one",
    "futures",
    "io",
    "load_ipython_extension",
    "loggers",
    "platform",
    "testing",
    "unload_ipython_extension",
    "utils",
]

_LAZY_MODULES = {
    "io",
    "futures",
    "utils",
    "testing",
    "platform",
    "base",
    "response",
    "cli",
    "loggers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name == "CivisFuture":
        from .futures import CivisFuture

        return CivisFuture
    if name == "civis_logger":
        from .loggers import civis_logger

        return civis_logger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_MODULES | {"CivisFuture", "civis_logger"})


def load_ipython_extension(ipython: Any) -> None:
    """Load the Jupyter extension (``%load_ext civis_jupyter``).

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
    """
    from .jupyter.extension import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Unload the Jupyter extension (``%unload_ext civis_jupyter``).

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
    """
    from .jupyter.extension import unload_ipython_extension as unload

    unload(ipython)
