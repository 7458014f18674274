"""A paginated, sortable table whose pages are made in the kernel.

The table shows one page at a time; only that page is formatted and sent to
the browser, so results of any size stay in the kernel. Grid widgets that
page in the kernel are rare (ipydatagrid and itables send the whole frame to
the browser), hence this small one: a grid whose header cells are buttons
(click to sort, again to reverse) above one HTML column per column of data,
numbers right-aligned with thousands separators, readable dates, striped
rows. Sources: a DataFrame (:class:`FrameSource`) or an API list endpoint
fetched page by page on demand (:class:`ApiPageSource`).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from .base import NAV, StaticFallback, escape, plural

__all__ = ["ApiPageSource", "FrameSource", "TableWidget", "format_cell"]

ROW_PX = 24
STRIPE = "rgba(127,127,127,0.09)"
RULE = "1px solid rgba(127,127,127,0.45)"
MAX_CELL = "32em"
NULL = "NULL"
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a null
        return False


def _fmt_float(value: float) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value != 0 and (abs(value) >= 1e15 or abs(value) < 1e-4):
        return f"{value:.4g}"
    text = f"{value:,.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _fmt_time(value: dt.datetime) -> str:
    midnight = (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
    text = value.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
    if value.tzinfo is not None and not midnight:
        offset = value.utcoffset()
        text += " UTC" if not offset else value.strftime(" %z")
    return text


def format_cell(value: Any) -> str:
    """A cell's text: numbers with thousands separators, readable dates, ``NULL``.

    Parameters
    ----------
    value : object

    Returns
    -------
    str
    """
    if _is_null(value):
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return _fmt_float(float(value))
    if isinstance(value, dt.datetime):  # pandas Timestamps too
        return _fmt_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            return _fmt_time(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    return str(value)


def _right_aligned(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    values = [v for v in series.head(50) if not _is_null(v)]
    return bool(values) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
    )


def _cell_style(right: bool, null: bool, stripe: bool) -> str:
    style = (
        f"height:{ROW_PX}px;line-height:{ROW_PX}px;padding:0 10px;white-space:nowrap;"
        f"overflow:hidden;text-overflow:ellipsis;max-width:{MAX_CELL};"
        f"text-align:{'right' if right else 'left'};"
    )
    if right:
        style += "font-variant-numeric:tabular-nums;"
    if stripe:
        style += f"background:{STRIPE};"
    if null:
        style += "opacity:.5;font-style:italic;"
    return style


class FrameSource:
    """Pages of an in-memory DataFrame.

    Parameters
    ----------
    frame : pandas.DataFrame
    """

    sortable = True

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._sorted: tuple[str | None, bool, pd.DataFrame] = (None, True, frame)

    @property
    def columns(self) -> list[str]:
        """Column names."""
        return [str(c) for c in self.frame.columns]

    @property
    def total(self) -> int:
        """Number of rows."""
        return len(self.frame)

    def page(self, number: int, size: int, sort_by: str | None, ascending: bool) -> pd.DataFrame:
        """Rows of page ``number`` (1-based).

        Parameters
        ----------
        number, size : int
            Page number and size.
        sort_by : str or None
            Column to sort on.
        ascending : bool
            Sort direction.

        Returns
        -------
        pandas.DataFrame
        """
        key, asc, frame = self._sorted
        if (key, asc) != (sort_by, ascending):
            frame = self.frame
            if sort_by:
                column = self.frame.columns[self.columns.index(sort_by)]
                frame = frame.sort_values(column, ascending=ascending, kind="stable")
            self._sorted = (sort_by, ascending, frame)
        start = (number - 1) * size
        return frame.iloc[start : start + size]


class ApiPageSource:
    """Pages fetched from a paginated API list method on demand.

    Parameters
    ----------
    fetch : callable
        ``fetch(page_num=..., limit=..., order=..., order_dir=...)`` returning a
        :class:`~civis_jupyter.ListResponse` (with ``X-Pagination-*`` headers).
    columns : list of str, optional
        Columns to show (default: the keys of the first item).
    """

    #: The API orders its lists by a few named fields only: the order is the API's.
    sortable = False

    def __init__(self, fetch: Callable[..., Any], columns: list[str] | None = None):
        self._fetch = fetch
        self._columns = columns
        self._total: int | None = None
        self._cache: dict[tuple[Any, ...], pd.DataFrame] = {}

    @property
    def columns(self) -> list[str]:
        """Columns shown."""
        if self._columns is None:
            self.page(1, 10, None, True)
        return self._columns or []

    @property
    def total(self) -> int | None:
        """Total number of items, if the platform said."""
        return self._total

    def page(self, number: int, size: int, sort_by: str | None, ascending: bool) -> pd.DataFrame:
        """Fetch page ``number`` (1-based) of ``size`` items."""
        key = (number, size, sort_by, ascending)
        if key not in self._cache:
            kwargs: dict[str, Any] = {"page_num": number, "limit": size}
            if sort_by:
                kwargs["order"] = sort_by
                kwargs["order_dir"] = "asc" if ascending else "desc"
            items = self._fetch(**kwargs)
            headers = getattr(items, "headers", None) or {}
            if headers.get("X-Pagination-Total-Entries") is not None:
                self._total = int(headers["X-Pagination-Total-Entries"])
            rows = [i.json() if hasattr(i, "json") else dict(i) for i in items]
            if self._columns is None and rows:
                self._columns = [k for k, v in rows[0].items() if not isinstance(v, (dict, list))]
            frame = pd.DataFrame(rows, columns=self._columns or None)
            self._cache[key] = frame
        return self._cache[key]


class TableWidget(StaticFallback, widgets.VBox):
    """A paginated table sorted by clicking its column headers.

    Parameters
    ----------
    source : FrameSource, ApiPageSource or pandas.DataFrame
        What to show.
    page_size : int, optional
        Rows per page.
    title : str, optional
        Shown above the table.
    """

    page = traitlets.Int(1).tag(sync=True)
    page_size = traitlets.Int(10).tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    ascending = traitlets.Bool(True).tag(sync=True)
    row_count = traitlets.Int(allow_none=True).tag(sync=True)
    column_count = traitlets.Int(0).tag(sync=True)

    def __init__(self, source: Any, page_size: int = 10, title: str = "", **kwargs: Any):
        if isinstance(source, pd.DataFrame):
            source = FrameSource(source)
        self.source = source
        self.title = title
        self._info = widgets.HTML()
        columns = list(source.columns)
        self._headers = [self._header_button(c) for c in columns]
        self._cells = [widgets.HTML(layout={"margin": "0"}) for _ in columns]
        self._grid = widgets.GridBox(
            [*self._headers, *self._cells],
            layout={
                "grid_template_columns": f"repeat({max(1, len(columns))}, max-content)",
                "grid_gap": "0px",
                "overflow": "auto",
                "max_width": "100%",
            },
        )
        self._grid.add_class("civis-table-grid")
        self._first = widgets.Button(icon="angle-double-left", tooltip="First page", layout=NAV)
        self._prev = widgets.Button(icon="angle-left", tooltip="Previous page", layout=NAV)
        self._next = widgets.Button(icon="angle-right", tooltip="Next page", layout=NAV)
        self._last = widgets.Button(icon="angle-double-right", tooltip="Last page", layout=NAV)
        self._size = widgets.Dropdown(
            options=sorted({10, 25, 50, 100, page_size}),
            value=page_size,
            tooltip="Rows per page",
            layout={"width": "auto"},
        )
        self._first.on_click(lambda _b: self._go(1))
        self._prev.on_click(lambda _b: self._go(self.page - 1))
        self._next.on_click(lambda _b: self._go(self.page + 1))
        self._last.on_click(lambda _b: self._go(self.page_count or self.page))
        self._size.observe(lambda ch: setattr(self, "page_size", ch["new"]), "value")
        controls = widgets.HBox(
            [
                self._first,
                self._prev,
                self._next,
                self._last,
                widgets.HTML("rows per page", layout={"margin": "0 4px 0 12px"}),
                self._size,
            ],
            layout={"align_items": "center", "flex_flow": "row wrap"},
        )
        super().__init__(children=[self._info, self._grid, controls], **kwargs)
        self.add_class("civis-table")
        self.page_size = page_size
        self.column_count = len(columns)
        self._refresh()

    def _header_button(self, column: str) -> widgets.Button:
        sortable = bool(getattr(self.source, "sortable", False))
        button = widgets.Button(
            description=column,
            tooltip=f"Sort by {column} (click again to reverse)" if sortable else column,
            layout={"width": "auto", "margin": "0"},
            disabled=not sortable,
        )
        button.style.font_weight = "bold"
        button.add_class("civis-table-header")
        button.on_click(lambda _b: self.sort(column))
        return button

    @property
    def page_count(self) -> int | None:
        """Number of pages, when the row count is known."""
        if self.row_count is None:
            return None
        return max(1, -(-self.row_count // self.page_size))

    def sort(self, column: str) -> None:
        """Sort on a column (a header click); on the same column again, reverse.

        Parameters
        ----------
        column : str
        """
        if self.sort_by == column:
            self.ascending = not self.ascending
        else:
            with self.hold_trait_notifications():
                self.ascending = True
                self.sort_by = column

    def _go(self, page: int) -> None:
        count = self.page_count
        page = max(1, page if count is None else min(page, count))
        self.page = page

    @traitlets.observe("page", "page_size", "sort_by", "ascending")
    def _changed(self, change: dict[str, Any]) -> None:
        if change["name"] in ("page_size", "sort_by", "ascending") and self.page != 1:
            self.page = 1  # observing page re-renders
            return
        if hasattr(self, "_cells"):
            self._refresh()

    def current_rows(self) -> pd.DataFrame:
        """The rows of the current page.

        Returns
        -------
        pandas.DataFrame
        """
        return self.source.page(self.page, self.page_size, self.sort_by or None, self.ascending)

    def _refresh(self) -> None:
        rows = self.current_rows()
        self.row_count = self.source.total
        self._rows = rows
        for column, (header, cells) in enumerate(zip(self._headers, self._cells, strict=True)):
            name = self.source.columns[column]
            header.description = name + self._arrow(name)
            cells.value = self._column_html(
                rows.iloc[:, column] if column < rows.shape[1] else None
            )
        self._info.value = self._info_html(len(rows))
        count = self.page_count
        self._first.disabled = self._prev.disabled = self.page <= 1
        self._next.disabled = self._last.disabled = (count is not None and self.page >= count) or (
            count is None and len(rows) < self.page_size
        )

    def _arrow(self, column: str) -> str:
        if self.sort_by != column:
            return ""
        return " ▲" if self.ascending else " ▼"

    @staticmethod
    def _column_html(series: pd.Series | None) -> str:
        if series is None:
            return ""
        right = _right_aligned(series)
        cells = []
        for i, value in enumerate(series.tolist()):
            text = format_cell(value)
            style = _cell_style(right, _is_null(value), i % 2 == 1)
            cells.append(f'<div style="{style}" title="{escape(text)}">{escape(text)}</div>')
        return f'<div class="civis-table-column" style="border-top:{RULE}">{"".join(cells)}</div>'

    def _info_html(self, shown: int) -> str:
        title = f"<b>{escape(self.title)}</b> · " if self.title else ""
        columns = plural(self.column_count, "column")
        if self.row_count is not None and self.row_count <= self.page_size and self.page == 1:
            return f"{title}{plural(self.row_count, 'row')} · {columns}"
        start = (self.page - 1) * self.page_size + 1 if shown else 0
        end = start + shown - 1 if shown else 0
        total = "?" if self.row_count is None else f"{self.row_count:,}"
        pages = "?" if self.page_count is None else f"{self.page_count:,}"
        return (
            f"{title}rows {start:,}-{end:,} of {total} · {columns} · page {self.page:,} of {pages}"
        )

    def _table_html(self, rows: pd.DataFrame) -> str:
        """The page as an HTML table, formatted as the live grid is."""
        aligns = [_right_aligned(rows.iloc[:, i]) for i in range(rows.shape[1])]
        head = "".join(
            f'<th style="padding:2px 10px;text-align:{"right" if right else "left"};'
            f'border-bottom:{RULE};white-space:nowrap">'
            f"{escape(str(c) + self._arrow(str(c)))}</th>"
            for c, right in zip(self.source.columns, aligns, strict=False)
        )
        body = []
        for i, values in enumerate(rows.itertuples(index=False, name=None)):
            cells = "".join(
                f'<td style="{_cell_style(right, _is_null(v), False)}height:auto">'
                f"{escape(format_cell(v))}</td>"
                for v, right in zip(values, aligns, strict=False)
            )
            stripe = f' style="background:{STRIPE}"' if i % 2 else ""
            body.append(f"<tr{stripe}>{cells}</tr>")
        return (
            '<table class="civis-table-page" style="border-collapse:collapse">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def static_html(self) -> str:
        """The current page as static HTML (for saved notebooks)."""
        return (
            '<div class="civis-table-static">'
            + f"<div>{self._info.value}</div>"
            + self._table_html(self._rows)
            + "</div>"
        )

    def static_text(self) -> str:
        """The current page as text."""
        text = self._rows.to_string(index=False, na_rep="NULL", max_colwidth=40)
        total = "?" if self.row_count is None else f"{self.row_count:,}"
        return f"{text}\n[{total} rows x {self.column_count} columns]"
