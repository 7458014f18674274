"""The warehouse's error and the one-line messages made from DuckDB errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import duckdb


class WarehouseError(Exception):
    """A SQL or loading error, with a message fit for the run's ``error``."""


#: How DuckDB wraps an error raised while reading a registered Arrow stream.
_STREAM_ERROR = re.compile(r"^.*?reading the stream registered as '[^']*' failed: (?:\w+Error: )?")


def _message(exc: BaseException) -> str:
    """The first line of an error, without the wrapping of a registered stream."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return _STREAM_ERROR.sub("", text.splitlines()[0])


def _quietly(action: Callable[..., Any], *args: Any) -> None:
    """Clean up after a statement, never hiding the error that is on its way."""
    try:
        action(*args)
    except duckdb.Error:
        pass
