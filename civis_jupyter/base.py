"""Names the official client exposes as ``civis.base`` (for ``except`` clauses)."""

from .api.errors import (
    CivisAPIError,
    CivisAPIKeyError,
    CivisImportError,
    CivisJobFailure,
    EmptyResultError,
)

__all__ = [
    "CivisAPIError",
    "CivisAPIKeyError",
    "CivisImportError",
    "CivisJobFailure",
    "EmptyResultError",
]
