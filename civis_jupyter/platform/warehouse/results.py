"""Reading statement results: their columns and rows as Python values."""

from __future__ import annotations

from typing import Any

import duckdb

from .models import Column
from .sql_types import civis_sql_type
from .sqltext import quote_identifier


def _one_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row of a statement that always yields one (an aggregate, ``COPY``, ``INSERT``).

    Parameters
    ----------
    cursor : duckdb.DuckDBPyConnection
        The cursor that ran the statement.

    Returns
    -------
    tuple

    Raises
    ------
    RuntimeError
        If the statement yielded no row.
    """
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


def _fetch_rows(result: Any, limit: int | None) -> list[tuple[Any, ...]]:
    """Fetch a result's rows (at most ``limit``) as Python values.

    ``TIMESTAMP WITH TIME ZONE`` values (also inside lists and structs) come
    back as DuckDB's text (``2024-01-02 03:04:05+00``): the Python client can
    only build zone-aware datetimes with ``pytz``, which need not be installed.
    """
    types = [str(t) for t in result.types]
    if any("TIMESTAMP WITH TIME ZONE" in t for t in types):
        result = result.project(
            ", ".join(
                f"#{i + 1}::VARCHAR AS {quote_identifier(name)}"
                if "TIMESTAMP WITH TIME ZONE" in t
                else f"#{i + 1} AS {quote_identifier(name)}"
                for i, (name, t) in enumerate(zip(result.columns, types))
            )
        )
    if limit is not None:
        result = result.limit(max(0, int(limit)))
    return result.fetchall()


def _columns(description: Any) -> list[Column]:
    if not description:
        return []
    return [Column(d[0], civis_sql_type(str(d[1]))) for d in description]


_ROW_STATEMENTS = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.PRAGMA,
        duckdb.StatementType.EXPLAIN,
        duckdb.StatementType.CALL,
    }
)


def _result_columns(statement: Any, description: Any) -> list[Column]:
    """Columns of a statement's result; none for DDL/DML status results."""
    columns = _columns(description)
    if statement.type not in _ROW_STATEMENTS and [(c.name, c.sql_type) for c in columns] in (
        [("Count", "bigint")],
        [("Success", "boolean")],
    ):
        return []
    return columns
