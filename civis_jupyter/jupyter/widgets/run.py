"""The live run card: name, state, duration, live log tail, outputs, cancel.

It never polls on its own: it subscribes to its :class:`CivisFuture`, whose
shared poller hands each fresh run response to a small pool of callback
threads (never the polling threads). On each call the card reads the log
lines added since the last one (one request, with a ``last_id`` cursor) and
updates its traits; ipywidgets sends those updates to the browser.

Shown with :meth:`RunWidget.show` (as futures are), the card's saved output
follows the run to its end (see :mod:`.display`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import ipywidgets as widgets
import traitlets

from ...api.states import FINAL_STATES, SUCCESS_STATES
from ..runs import job_names, parse_time
from .base import StaticFallback, badge, escape, fmt_seconds, plural
from .display import FollowedCard, show_followed

__all__ = ["RunWidget", "show_future"]

DONE_STATES = FINAL_STATES
#: Pollers of runs whose outputs are the client's own plumbing (SQL exports).
_INTERNAL_OUTPUT_POLLERS = frozenset({"get_sql_runs"})
_PRE = "margin:0;font-size:85%;white-space:pre-wrap;overflow-wrap:break-word;word-break:normal"


class RunWidget(StaticFallback, FollowedCard, widgets.VBox):
    """Live view of one Civis run.

    Parameters
    ----------
    future : civis_jupyter.futures.CivisFuture
        The run to follow.
    title : str, optional
        What the run is (default: the job's name, or its SQL's first line).
    log_lines : int, optional
        How many log lines to keep (bounded scrollback).
    show_logs : bool, optional
        Fetch and show the run's logs.
    """

    state = traitlets.Unicode("queued").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    job_id = traitlets.Int(allow_none=True).tag(sync=True)
    run_id = traitlets.Int(allow_none=True).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    log_text = traitlets.Unicode("").tag(sync=True)
    outputs_text = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        future: Any,
        title: str | None = None,
        log_lines: int = 200,
        show_logs: bool = True,
        **kwargs: Any,
    ):
        self.future = future
        self._named = bool(title)
        self._logs: deque[str] = deque(maxlen=log_lines)
        self._last_log_id: int | None = None
        self._show_logs = show_logs
        self._outputs: list[dict[str, Any]] | None = None
        self._lock = threading.RLock()
        self._header = widgets.HTML()
        self._open = widgets.Button(
            description="Open in job browser",
            icon="list",
            tooltip="Show this job and its runs in the %civis_jobs browser",
            layout={"width": "auto"},
        )
        self._open.on_click(lambda _b: self.toggle_browser())
        self._cancel = widgets.Button(
            description="Cancel",
            button_style="warning",
            icon="stop",
            tooltip="Cancel this run",
            layout={"width": "auto"},
        )
        self._cancel.on_click(lambda _b: self.cancel())
        self._log_view = widgets.HTML(layout={"max_height": "240px", "overflow": "auto"})
        self._outputs_view = widgets.HTML()
        self._browser_box = widgets.VBox()
        super().__init__(
            children=[
                widgets.HBox(
                    [self._header, self._open, self._cancel],
                    layout={"align_items": "center", "flex_flow": "row wrap"},
                ),
                self._log_view,
                self._outputs_view,
                self._browser_box,
            ],
            **kwargs,
        )
        self.add_class("civis-run")
        self.title = title or job_names.cached(future) or self._ids_text()
        self.job_id = getattr(future, "job_id", None)
        self.run_id = getattr(future, "run_id", None)
        self._started: float | None = None
        self._created = getattr(future, "_created", None) or time.time()
        self._render()
        self._unsubscribe = future.subscribe(self._on_update)
        last = getattr(future, "last_response", None)
        if last is not None or future.done():
            self._on_update(future, last)

    # -- updates -------------------------------------------------------------
    def _on_update(self, future: Any, response: Any) -> None:
        with self._lock:
            state = getattr(future, "state", None) or self.state
            if response is not None:
                state = response.get("state") or state
                self._started = parse_time(response.get("started_at")) or self._started
                finished = parse_time(response.get("finished_at"))
                start = self._started or self._created
                self.elapsed = max(0.0, (finished or time.time()) - start)
                if response.get("error"):
                    self.error = str(response.get("error")).strip()
            if future.done() and future.cancelled():
                state = "cancelled"
            if not self._named:
                self.title = job_names.name(future)
            if self._show_logs:
                self._fetch_logs()
            if state in DONE_STATES:
                self._finish(state)
            self.state = state  # last, so that watchers of the state see the rest
            self._render()

    def _client(self) -> Any:
        return getattr(self.future, "client", None) or getattr(self.future, "_client", None)

    def _fetch_logs(self) -> None:
        client = self._client()
        if client is None or self.job_id is None or self.run_id is None:
            return
        try:
            kwargs = {} if self._last_log_id is None else {"last_id": self._last_log_id}
            lines = client.jobs.list_runs_logs(self.job_id, self.run_id, **kwargs)
        except Exception as exc:  # logs are best effort; the run state is not
            self._logs.append(f"[could not read logs: {type(exc).__name__}]")
            return
        for line in sorted(lines, key=lambda entry: entry["id"]):
            if self._last_log_id is not None and line["id"] <= self._last_log_id:
                continue
            self._logs.append(str(line.get("message", "")))
            self._last_log_id = line["id"]
        self.log_text = "\n".join(self._logs)

    def _finish(self, state: str) -> None:
        self._cancel.layout.display = "none"
        self._cancel.disabled = True
        if self._outputs is not None or state not in SUCCESS_STATES:
            return
        self._outputs = self._read_outputs()
        self.outputs_text = "\n".join(
            f"{o.get('object_type')} {o.get('name')} (id {o.get('object_id')})"
            for o in self._outputs
        )
        self._unsubscribe()

    def _read_outputs(self) -> list[dict[str, Any]]:
        """The run's outputs worth showing (not a SQL export's own files)."""
        poller = getattr(getattr(self.future, "poller", None), "__name__", "")
        client = self._client()
        if self.run_id is None or client is None or poller in _INTERNAL_OUTPUT_POLLERS:
            return []
        try:  # not future.outputs(): that waits for done-callbacks, and this may be one
            outputs = client.jobs.list_runs_outputs(self.job_id, self.run_id)
        except Exception:  # no outputs endpoint for this kind of run
            return []
        return [dict(o) for o in outputs]

    def refresh(self) -> None:
        """Bring the card up to date with the future now (e.g. before saving)."""
        self._on_update(self.future, getattr(self.future, "last_response", None))

    def cancel(self) -> bool:
        """Cancel the run (the Cancel button does the same).

        Returns
        -------
        bool
            Whether the run was cancelled.
        """
        self._cancel.disabled = True
        done = bool(self.future.cancel())
        self.refresh()
        return done

    def toggle_browser(self) -> Any:
        """Show (or hide) this job in a ``%civis_jobs`` browser under the card.

        Returns
        -------
        JobsBrowser or None
            The browser shown, or ``None`` if it was hidden.
        """
        if self._browser_box.children:
            self._browser_box.children = []
            return None
        from .jobs import JobsBrowser

        browser = JobsBrowser(self._client(), job_id=self.job_id, run_id=self.run_id)
        self._browser_box.children = [browser]
        return browser

    # -- rendering ------------------------------------------------------------
    def _ids_text(self) -> str:
        job_id = getattr(self.future, "job_id", None)
        run_id = getattr(self.future, "run_id", None)
        if run_id is None:
            return f"query {job_id}"
        return f"job {job_id} · run {run_id}"

    def _shown_logs(self) -> list[str]:
        """Log lines, less those that only repeat the error shown below them."""
        if not self.error:
            return list(self._logs)
        return [line for line in self._logs if not line.strip() or line.strip() not in self.error]

    def _render(self) -> None:
        self._header.value = self._header_html()
        logs = "\n".join(self._shown_logs()).strip()
        self._log_view.value = f'<pre style="{_PRE}">{escape(logs)}</pre>' if logs else ""
        self._outputs_view.value = self._outputs_html()

    def _outputs_html(self) -> str:
        parts = []
        if self.error:
            parts.append(
                f'<pre class="civis-run-error" style="{_PRE};color:#dc3545">'
                f"{escape(self.error)}</pre>"
            )
        if self._outputs:
            items = "".join(
                f"<li>{escape(o.get('name'))} <span style='opacity:.7'>"
                f"({escape(str(o.get('object_type') or '').lower())} {escape(o.get('object_id'))})"
                "</span></li>"
                for o in self._outputs
            )
            count = plural(len(self._outputs), "output")
            parts.append(f"<div><b>{count}</b><ul style='margin:2px 0'>{items}</ul></div>")
        return "".join(parts)

    def _header_html(self) -> str:
        return (
            f'<span style="white-space:nowrap"><b>{escape(self.title)}</b> {badge(self.state)} '
            f'<span class="civis-run-ids" style="opacity:.75">{escape(self._ids_text())}</span>'
            f" · <span class='civis-run-time'>{fmt_seconds(self.elapsed)}</span></span>"
        )

    def static_html(self) -> str:
        """The card as static HTML (for saved notebooks)."""
        with self._lock:
            return (
                '<div class="civis-run-static">'
                + self._header_html()
                + self._log_view.value
                + self._outputs_view.value
                + "</div>"
            )

    def static_text(self) -> str:
        """The card as plain text."""
        text = f"{self.title}: {self.state} ({self._ids_text()}, {fmt_seconds(self.elapsed)})"
        if self.error:
            text += f"\n{self.error}"
        return text


def show_future(future: Any, log_lines: int = 200, widgets_on: bool = True) -> None:
    """Display a future as a run card that follows it to its end.

    Parameters
    ----------
    future : CivisFuture
    log_lines : int, optional
        Log lines the card keeps.
    widgets_on : bool, optional
        ``False``: show the future's plain text instead.
    """
    show_followed(RunWidget, future, log_lines, widgets_on)
