"""What warehouse operations return: columns, query results, exports and tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Column:
    """A result or table column.

    Attributes
    ----------
    name : str
        Column name.
    sql_type : str
        The column's type in Civis (Redshift-like) spelling, e.g. ``"bigint"``.
    """

    name: str
    sql_type: str


@dataclass
class QueryResult:
    """The result of the last statement of a SQL text.

    Attributes
    ----------
    columns : list of Column
        Result columns (empty for statements without a result set).
    rows : list of tuple
        Result rows, at most the requested limit.
    """

    columns: list[Column]
    rows: list[tuple[Any, ...]]


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    columns : list of Column
        Columns of the exported result (empty when the last statement had none).
    paths : list of Path
        The files written, in order (empty when there was no result set).
    row_count : int
        Number of rows exported.
    """

    columns: list[Column]
    paths: list[Path]
    row_count: int


@dataclass
class TableInfo:
    """A table or view of the warehouse.

    Attributes
    ----------
    schema, name : str
        Where it lives.
    is_view : bool
        Whether it is a view.
    row_count : int or None
        Number of rows (``None`` for views).
    columns : list of Column
        Its columns, in order.
    """

    schema: str
    name: str
    is_view: bool
    row_count: int | None
    columns: list[Column] = field(default_factory=list)

    @property
    def column_count(self) -> int:
        """Number of columns."""
        return len(self.columns)
