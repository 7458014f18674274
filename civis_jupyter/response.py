"""Names the official client exposes as ``civis.response``."""

from .api.naming import camel_to_snake
from .api.response import (
    CivisClientError,
    CivisImmutableResponseError,
    ListResponse,
    PaginatedResponse,
    Response,
    convert_response_data_type,
    find,
    find_one,
)

__all__ = [
    "CivisClientError",
    "CivisImmutableResponseError",
    "ListResponse",
    "PaginatedResponse",
    "Response",
    "camel_to_snake",
    "convert_response_data_type",
    "find",
    "find_one",
]
