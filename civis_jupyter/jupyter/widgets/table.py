"""A paginated, sortable table whose pages are made in the kernel.

The table shows one page at a time; only that page is turned into HTML and
sent to the browser. Sources: a DataFrame (:class:`FrameSource`) or an API
list endpoint fetched page by page on demand (:class:`ApiPageSource`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from .base import StaticFallback, escape

__all__ = ["ApiPageSource", "FrameSource", "TableWidget"]


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

    sortable = True

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
    """A paginated, sortable table.

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
        self._body = widgets.HTML()
        self._first = widgets.Button(icon="angle-double-left", layout={"width": "36px"})
        self._prev = widgets.Button(icon="angle-left", layout={"width": "36px"})
        self._next = widgets.Button(icon="angle-right", layout={"width": "36px"})
        self._last = widgets.Button(icon="angle-double-right", layout={"width": "36px"})
        self._size = widgets.Dropdown(
            options=sorted({10, 25, 50, 100, page_size}),
            value=page_size,
            description="rows",
            layout={"width": "130px"},
        )
        self._sort = widgets.Dropdown(
            options=[("(no sort)", "")] + [(c, c) for c in source.columns],
            value="",
            description="sort",
            layout={"width": "220px"},
        )
        self._order = widgets.ToggleButtons(
            options=[("asc", True), ("desc", False)], value=True, style={"button_width": "44px"}
        )
        self._first.on_click(lambda _b: self._go(1))
        self._prev.on_click(lambda _b: self._go(self.page - 1))
        self._next.on_click(lambda _b: self._go(self.page + 1))
        self._last.on_click(lambda _b: self._go(self.page_count or self.page))
        self._size.observe(lambda ch: setattr(self, "page_size", ch["new"]), "value")
        self._sort.observe(lambda ch: setattr(self, "sort_by", ch["new"]), "value")
        self._order.observe(lambda ch: setattr(self, "ascending", ch["new"]), "value")
        controls = widgets.HBox(
            [self._first, self._prev, self._next, self._last, self._size, self._sort, self._order]
        )
        super().__init__(children=[self._info, self._body, controls], **kwargs)
        self.add_class("civis-table")
        self.page_size = page_size
        self.column_count = len(source.columns)
        self._refresh()

    @property
    def page_count(self) -> int | None:
        """Number of pages, when the row count is known."""
        if self.row_count is None:
            return None
        return max(1, -(-self.row_count // self.page_size))

    def _go(self, page: int) -> None:
        count = self.page_count
        page = max(1, page if count is None else min(page, count))
        self.page = page

    @traitlets.observe("page", "page_size", "sort_by", "ascending")
    def _changed(self, change: dict[str, Any]) -> None:
        if change["name"] in ("page_size", "sort_by", "ascending") and self.page != 1:
            self.page = 1  # observing page re-renders
            return
        if hasattr(self, "_body"):
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
        self._body.value = self._table_html(rows)
        self._info.value = self._info_html(len(rows))
        count = self.page_count
        self._first.disabled = self._prev.disabled = self.page <= 1
        self._next.disabled = self._last.disabled = (count is not None and self.page >= count) or (
            count is None and len(rows) < self.page_size
        )

    def _info_html(self, shown: int) -> str:
        start = (self.page - 1) * self.page_size + 1 if shown else 0
        end = start + shown - 1 if shown else 0
        total = "?" if self.row_count is None else f"{self.row_count:,}"
        pages = "?" if self.page_count is None else f"{self.page_count:,}"
        title = f"<b>{escape(self.title)}</b> · " if self.title else ""
        return (
            f"{title}rows {start:,}-{end:,} of {total} · {self.column_count} columns · "
            f"page {self.page:,} of {pages}"
        )

    @staticmethod
    def _table_html(rows: pd.DataFrame) -> str:
        return rows.to_html(index=False, na_rep="NULL", border=0, classes="civis-table-page")

    def static_html(self) -> str:
        """The current page as static HTML (for saved notebooks)."""
        return (
            '<div class="civis-table-static">'
            + f"<div>{self._info.value}</div>"
            + self._body.value
            + "</div>"
        )

    def static_text(self) -> str:
        """The current page as text."""
        text = self.current_rows().to_string(index=False, na_rep="NULL", max_colwidth=40)
        total = "?" if self.row_count is None else self.row_count
        return f"{text}\n[{total} rows x {self.column_count} columns]"
