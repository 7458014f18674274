"""What a failing or warning run reports: one-line errors, recorded warnings."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .errors import CivisMLError
from .run import Run, log

_MAX_WARNINGS = 50


def _warning_line(message: Any, category: type, filename: str, lineno: int) -> str:
    """``file.py:12: Category: message``, the form CivisML clients parse."""
    name = os.path.basename(str(filename)).replace(" ", "_").replace(":", "_") or "civisml"
    text = " ".join(str(message).split())
    return f"{name}:{lineno}: {category.__name__}: {text}"


def _recorder(run: Run) -> Callable[..., None]:
    """A ``warnings.showwarning`` that keeps each distinct warning (and logs it)."""

    def record(message: Any, category: type, filename: str, lineno: int, *_: Any) -> None:
        line = _warning_line(message, category, filename, lineno)
        if line not in run.warnings and len(run.warnings) < _MAX_WARNINGS:
            run.warnings.append(line)
            log(f"Warning: {line}")

    return record


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, CivisMLError):
        return str(exc)
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"
