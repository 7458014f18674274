"""The embedded local Civis Platform.

``with LocalPlatform(seed="demo") as platform:`` serves the Civis API on
127.0.0.1 with SQL on DuckDB, files on disk and scripts run as local
processes; ``platform.endpoint`` and ``platform.api_key`` are what clients
need. ``civis-jupyter platform`` starts one from a shell.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .._extras import check, needs

if TYPE_CHECKING:
    from .local import DEFAULT_DATABASE, LocalPlatform

__all__ = ["DEFAULT_DATABASE", "LocalPlatform"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that importing a submodule (the pytest plugin,
    # a run's worker) does not start tornado; a missing extra is one line.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    feature = "the embedded platform (civis_jupyter.platform)"
    check("platform", "tornado", "duckdb", feature=feature)  # duckdb is imported later
    with needs("platform", feature):
        value = getattr(importlib.import_module(".local", __name__), name)
    globals()[name] = value
    return value
