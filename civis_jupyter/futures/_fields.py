"""Helpers to read responses of any shape (Response, mapping, object)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api.response import convert_response_data_type


def _field(obj: Any, name: str) -> Any:
    """``obj[name]`` of a Response or mapping, else ``obj.name``; ``None`` when absent."""
    if isinstance(obj, Mapping) or (hasattr(type(obj), "get") and hasattr(obj, "json_data")):
        try:
            return obj.get(name)
        except Exception:
            return None
    return getattr(obj, name, None)


def _as_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _as_list(items: Any) -> list[Any]:
    import requests

    if isinstance(items, requests.Response):
        items = convert_response_data_type(items)
    return list(items or [])
