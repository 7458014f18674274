"""Names the official client exposes as ``civis.response``."""

from .api.response import (
    CivisImmutableResponseError,
    ListResponse,
    PaginatedResponse,
    Response,
    convert_response_data_type,
    find,
    find_one,
)

__all__ = [
    "CivisImmutableResponseError",
    "ListResponse",
    "PaginatedResponse",
    "Response",
    "convert_response_data_type",
    "find",
    "find_one",
]
