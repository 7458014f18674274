"""The live run widget: state, timings, live log tail, outputs, cancel.

It never polls on its own: it subscribes to its :class:`CivisFuture`, whose
shared poller calls back with each fresh run response. On each call it reads
the log lines added since the last one (one request, with a ``last_id``
cursor) and updates its traits; ipywidgets sends those updates to the
browser from the poller thread.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from typing import Any

import ipywidgets as widgets
import traitlets

from .base import StaticFallback, badge, escape, fmt_seconds, in_kernel_context

__all__ = ["RunWidget"]

DONE_STATES = frozenset({"succeeded", "success", "failed", "cancelled"})


def _parse_time(value: Any) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RunWidget(StaticFallback, widgets.VBox):
    """Live view of one Civis run.

    Parameters
    ----------
    future : civis_jupyter.futures.CivisFuture
        The run to follow.
    title : str, optional
        What the run is (shown in the header).
    log_lines : int, optional
        How many log lines to keep (bounded scrollback).
    show_logs : bool, optional
        Fetch and show the run's logs.
    """

    state = traitlets.Unicode("queued").tag(sync=True)
    job_id = traitlets.Int(allow_none=True).tag(sync=True)
    run_id = traitlets.Int(allow_none=True).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    log_text = traitlets.Unicode("").tag(sync=True)
    outputs_text = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        future: Any,
        title: str = "Civis run",
        log_lines: int = 200,
        show_logs: bool = True,
        **kwargs: Any,
    ):
        self.future = future
        self.title = title
        self._logs: deque[str] = deque(maxlen=log_lines)
        self._last_log_id: int | None = None
        self._show_logs = show_logs
        self._lock = threading.Lock()
        self._header = widgets.HTML()
        self._cancel = widgets.Button(
            description="Cancel", button_style="warning", icon="stop", layout={"width": "auto"}
        )
        self._cancel.on_click(lambda _b: self.cancel())
        self._log_view = widgets.HTML(layout={"max_height": "240px", "overflow": "auto"})
        self._outputs_view = widgets.HTML()
        super().__init__(
            children=[
                widgets.HBox([self._header, self._cancel]),
                self._log_view,
                self._outputs_view,
            ],
            **kwargs,
        )
        self.add_class("civis-run")
        self.job_id = getattr(future, "job_id", None)
        self.run_id = getattr(future, "run_id", None)
        self._started = time.time()
        self._in_kernel = in_kernel_context()
        self._render()
        self._unsubscribe = future.subscribe(self._in_kernel(self._on_update))
        last = getattr(future, "last_response", None)
        if last is not None or future.done():
            self._on_update(future, last)

    # -- updates -------------------------------------------------------------
    def _on_update(self, future: Any, response: Any) -> None:
        with self._lock:
            state = getattr(future, "state", None) or self.state
            if response is not None:
                state = response.get("state") or state
                started = _parse_time(response.get("started_at"))
                finished = _parse_time(response.get("finished_at"))
                if started:
                    self._started = started
                end = finished if finished else time.time()
                self.elapsed = max(0.0, end - self._started)
                if response.get("error"):
                    self.error = str(response.get("error"))
            if future.done() and future.cancelled():
                state = "cancelled"
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
        self._cancel.disabled = True
        if self.outputs_text or state not in ("succeeded", "success"):
            return
        try:
            outputs = self.future.outputs()
        except Exception:  # no outputs endpoint for this kind of run
            outputs = []
        self.outputs_text = "\n".join(
            f"{o.get('object_type')} {o.get('name')} (id {o.get('object_id')})" for o in outputs
        )
        self._unsubscribe()

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
        return bool(self.future.cancel())

    # -- rendering ------------------------------------------------------------
    def _render(self) -> None:
        self._header.value = self._header_html()
        self._log_view.value = (
            f'<pre style="margin:0;font-size:85%">{escape(self.log_text)}</pre>'
            if self.log_text
            else ""
        )
        parts = []
        if self.error:
            parts.append(f'<div style="color:#dc3545">{escape(self.error)}</div>')
        if self.outputs_text:
            parts.append(f"<div><b>Outputs</b><pre>{escape(self.outputs_text)}</pre></div>")
        self._outputs_view.value = "".join(parts)

    def _header_html(self) -> str:
        url = getattr(self.future, "job_url", None)
        ids = f"job {self.job_id} / run {self.run_id}"
        if url:
            ids = f'<a href="{escape(url)}" target="_blank">{ids}</a>'
        return (
            f"<b>{escape(self.title)}</b> {badge(self.state)} "
            f"<span>{ids}</span> <span>· {fmt_seconds(self.elapsed)}</span>"
        )

    def static_html(self) -> str:
        """The card as static HTML (for saved notebooks)."""
        return (
            '<div class="civis-run-static">'
            + self._header_html()
            + self._log_view.value
            + self._outputs_view.value
            + "</div>"
        )

    def static_text(self) -> str:
        """The card as plain text."""
        text = (
            f"{self.title}: {self.state} (job {self.job_id} / run {self.run_id}, "
            f"{fmt_seconds(self.elapsed)})"
        )
        if self.error:
            text += f"\n{self.error}"
        return text
