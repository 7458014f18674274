"""Hand-written platform behaviours.

Every module in this package registers its handlers with
:func:`civis_jupyter.platform.contract.handles` when imported; :func:`load_all`
imports them all.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__ = ["load_all"]


def load_all() -> None:
    """Import every behaviour module so that its handlers are registered."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
