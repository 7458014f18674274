"""Expand ``{name}`` placeholders in SQL into safely quoted SQL literals.

Only whole values are substituted, never SQL text: a string becomes a quoted
literal with its quotes doubled, so ``{name}`` can never inject SQL.
``{{`` and ``}}`` stand for literal braces.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import string
from collections.abc import Mapping
from typing import Any

__all__ = ["TemplateError", "expand_sql", "sql_literal"]


class TemplateError(ValueError):
    """A placeholder could not be expanded."""


def sql_literal(value: Any) -> str:
    """Render a Python value as a SQL literal.

    Parameters
    ----------
    value : Any
        ``None``, bool, int, float, Decimal, str, date, datetime, or a
        list/tuple/set of those (rendered as ``(a, b, ...)`` for ``IN``).

    Returns
    -------
    str

    Raises
    ------
    TemplateError
        For values that have no safe SQL literal (NaN, nested lists, objects).
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateError(f"{value!r} has no SQL literal")
        return repr(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise TemplateError(f"{value!r} has no SQL literal")
        return str(value)
    if isinstance(value, str):
        if "\x00" in value:
            raise TemplateError("strings with NUL characters cannot be used in SQL")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        if not items:
            raise TemplateError("an empty collection has no SQL literal")
        if any(isinstance(v, (list, tuple, set, frozenset)) for v in items):
            raise TemplateError("nested collections cannot be used in SQL")
        return "(" + ", ".join(sql_literal(v) for v in items) + ")"
    try:  # numpy scalars and similar
        item = value.item()
    except (AttributeError, ValueError):
        item = None
    if item is not None and type(item) is not type(value):
        return sql_literal(item)
    raise TemplateError(f"a value of type {type(value).__name__} has no SQL literal")


def expand_sql(sql: str, namespace: Mapping[str, Any]) -> str:
    """Replace each ``{name}`` with the SQL literal of ``namespace[name]``.

    Parameters
    ----------
    sql : str
        SQL text with ``{name}`` placeholders (``{{`` / ``}}`` for braces).
    namespace : Mapping
        Where names are looked up (the notebook's user namespace).

    Returns
    -------
    str

    Raises
    ------
    TemplateError
        For an unknown name, a format spec or conversion, or a bad value.
    """
    out = []
    try:
        parsed = list(string.Formatter().parse(sql))
    except ValueError as exc:
        raise TemplateError(
            f"bad placeholder in SQL: {exc} (write {{{{ for a literal brace)"
        ) from None
    for text, field, spec, conversion in parsed:
        out.append(text)
        if field is None:
            continue
        if spec or conversion:
            raise TemplateError(f"placeholder {{{field}}}: only plain {{name}} is supported")
        if not field.isidentifier():
            raise TemplateError(
                f"placeholder {{{field}}} is not a variable name (write {{{{ for a literal brace)"
            )
        if field not in namespace:
            raise TemplateError(f"name {field!r} in the SQL is not defined in the notebook")
        try:
            out.append(sql_literal(namespace[field]))
        except TemplateError as exc:
            raise TemplateError(f"{{{field}}}: {exc}") from None
    return "".join(out)
