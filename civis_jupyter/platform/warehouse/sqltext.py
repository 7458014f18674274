"""Building SQL text: quoted identifiers, string literals and scratch names."""

from __future__ import annotations

import uuid


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier for DuckDB.

    Parameters
    ----------
    name : str
        A schema, table or column name.

    Returns
    -------
    str
        The name in double quotes with embedded quotes doubled.
    """
    return '"' + str(name).replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _scratch_name(kind: str) -> str:
    """A fresh identifier for a registered stream or scratch table."""
    return f"__civis_{kind}_{uuid.uuid4().hex}"
