"""Names the official client exposes as ``civis.response``."""

from .api.response import ListResponse, PaginatedResponse, Response, find, find_one

__all__ = ["ListResponse", "PaginatedResponse", "Response", "find", "find_one"]
