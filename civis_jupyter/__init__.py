"""civis_jupyter: the Civis Platform API client for Python and Jupyter.

Use it as ``import civis_jupyter as civis``; code written for the official
``civis`` client runs unchanged. Everything is imported on first use: the
client, the modules (``io`` with pandas, ``futures``, ``utils``, ``ml``,
``parallel``, ``workflows``, ...), so ``import civis_jupyter`` is quick, and
platform runs that only need a small part of the package start fast.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and editors
    from . import api as api
    from . import (
        base,
        futures,
        io,
        loggers,
        parallel,
        platform,
        testing,
        utils,
        workflows,
    )
    from . import cli as cli
    from . import executors as executors
    from . import ml as ml
    from . import response as response
    from . import tests as tests
    from .api.client import APIClient
    from .api.errors import (
        CivisAPIError,
        CivisAPIKeyError,
        CivisImportError,
        CivisJobFailure,
        EmptyResultError,
    )
    from .api.response import ListResponse, PaginatedResponse, Response, find, find_one
    from .futures import CivisFuture as CivisFuture
    from .loggers import civis_logger
    from .service_client import ServiceClient

#: Public name -> (module, attribute) it is taken from on first use.
_LAZY_NAMES = {
    "APIClient": ("api.client", "APIClient"),
    "CivisAPIError": ("api.errors", "CivisAPIError"),
    "CivisAPIKeyError": ("api.errors", "CivisAPIKeyError"),
    "CivisImportError": ("api.errors", "CivisImportError"),
    "CivisJobFailure": ("api.errors", "CivisJobFailure"),
    "EmptyResultError": ("api.errors", "EmptyResultError"),
    "ListResponse": ("api.response", "ListResponse"),
    "PaginatedResponse": ("api.response", "PaginatedResponse"),
    "Response": ("api.response", "Response"),
    "find": ("api.response", "find"),
    "find_one": ("api.response", "find_one"),
    "CivisFuture": ("futures", "CivisFuture"),
    "civis_logger": ("loggers", "civis_logger"),
    "ServiceClient": ("service_client", "ServiceClient"),
}

#: Submodules imported on first attribute access (``civis.io``, ``civis.parallel``, ...).
_LAZY_MODULES = {
    "api",
    "base",
    "cli",
    "executors",
    "futures",
    "io",
    "loggers",
    "ml",
    "parallel",
    "platform",
    "response",
    "testing",
    "tests",
    "utils",
    "workflows",
}

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
    "ServiceClient",
    "__version__",
    "base",
    "civis_logger",
    "find",
    "find_one",
    "futures",
    "io",
    "load_ipython_extension",
    "loggers",
    "parallel",
    "platform",
    "testing",
    "unload_ipython_extension",
    "utils",
    "workflows",
]

# CivisML's client side (``ml``) is exported once it is part of the package.
if importlib.util.find_spec(f"{__name__}.ml") is None:
    _LAZY_MODULES.discard("ml")
else:
    __all__.append("ml")


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        module_name, attribute = _LAZY_NAMES[name]
        value = getattr(importlib.import_module(f"{__name__}.{module_name}"), attribute)
    elif name in _LAZY_MODULES:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES) | _LAZY_MODULES)


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
