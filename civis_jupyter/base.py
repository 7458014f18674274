"""Names the official client exposes as ``civis.base`` (for ``except`` clauses)."""

from .api.errors import (
    CivisAPIError,
    CivisAPIKeyError,
    CivisImportError,
    CivisJobFailure,
    EmptyResultError,
)
from .api.response import PaginatedResponse, Response, convert_response_data_type

__all__ = [
    "CivisAPIError",
    "CivisAPIKeyError",
    "CivisImportError",
    "CivisJobFailure",
    "EmptyResultError",
    "PaginatedResponse",
    "Response",
    "convert_response_data_type",
]
