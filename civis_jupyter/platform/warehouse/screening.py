"""Screening SQL text: statements that could write files or attach databases are refused."""

from __future__ import annotations

import re
from typing import Any

import duckdb

from .errors import WarehouseError, _message

_NO_FILES = (
    "SQL here cannot read or write files "
    "(import files with a CSV import, export results with a SQL script)"
)
_REFUSED_STATEMENTS = {
    duckdb.StatementType.COPY: f"COPY is not allowed: {_NO_FILES}",
    duckdb.StatementType.COPY_DATABASE: f"COPY FROM DATABASE is not allowed: {_NO_FILES}",
    duckdb.StatementType.EXPORT: f"EXPORT DATABASE is not allowed: {_NO_FILES}",
    duckdb.StatementType.ATTACH: "ATTACH is not allowed: SQL here works on this database only",
    duckdb.StatementType.DETACH: "DETACH is not allowed: SQL here works on this database only",
    duckdb.StatementType.LOAD: "INSTALL and LOAD are not allowed: extensions cannot be added here",
    duckdb.StatementType.EXTENSION: "extension statements are not allowed here",
    duckdb.StatementType.PREPARE: "PREPARE is not supported here; write the values into the SQL",
    duckdb.StatementType.EXECUTE: "EXECUTE is not supported here; write the values into the SQL",
}
#: ``EXPLAIN [ANALYZE] [(options)]`` before the explained statement.
_EXPLAIN_PREFIX = re.compile(
    r"\s*EXPLAIN\b\s*(?:ANALY[SZ]E\b\s*)?(?:\((?:[^()']|'[^']*')*\)\s*)?", re.I
)


def _parse(sql: str) -> list[Any]:
    """Split SQL text into statements (a clear error when DuckDB cannot)."""
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(_message(exc)) from None


def _check_statement(statement: Any) -> None:
    """Refuse statements that could write files or change attached databases.

    ``EXPLAIN`` is checked by what it explains (``EXPLAIN ANALYZE`` runs it).

    Raises
    ------
    WarehouseError
        With a one-line reason.
    """
    try:
        kind = statement.type
    except ValueError:
        # a statement kind the Python client has no name for (UPDATE EXTENSIONS)
        raise WarehouseError("this kind of statement is not allowed here") from None
    reason = _REFUSED_STATEMENTS.get(kind)
    if reason is not None:
        raise WarehouseError(reason)
    if kind == duckdb.StatementType.EXPLAIN:
        prefix = _EXPLAIN_PREFIX.match(statement.query)
        inner = _parse(statement.query[prefix.end() :]) if prefix else []
        if len(inner) != 1:
            raise WarehouseError("this EXPLAIN is not allowed here: explain one statement")
        _check_statement(inner[0])
