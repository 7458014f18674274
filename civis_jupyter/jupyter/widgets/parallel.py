"""The live progress widget of a joblib batch on Civis Platform.

Shown by the joblib backend of :mod:`civis_jupyter.parallel` when a
``Parallel`` call starts in a Jupyter kernel: runs done, running, waiting and
failed of N, elapsed time, and a Cancel button that cancels the whole call.
It never polls: the backend's :class:`~civis_jupyter._joblib_backend.BatchProgress`
calls it after every change of a batch, from the backend's threads.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets as widgets
import traitlets

from .base import StaticFallback, badge, escape, fmt_seconds, in_kernel_context

__all__ = ["ParallelProgressWidget"]


class ParallelProgressWidget(StaticFallback, widgets.VBox):
    """Live view of one joblib ``Parallel`` call running on Civis Platform.

    Parameters
    ----------
    progress : BatchProgress
        The call's counts (from the backend); the widget subscribes to it.
    title : str, optional
        What the call is (shown in the header).
    """

    done = traitlets.Int(0).tag(sync=True)
    running = traitlets.Int(0).tag(sync=True)
    waiting = traitlets.Int(0).tag(sync=True)
    failed = traitlets.Int(0).tag(sync=True)
    cancelled = traitlets.Int(0).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)
    state = traitlets.Unicode("running").tag(sync=True)

    def __init__(self, progress: Any, title: str = "joblib on Civis Platform", **kwargs: Any):
        self.progress = progress
        self.title = title
        self._lock = threading.Lock()
        self._header = widgets.HTML()
        self._bar = widgets.IntProgress(value=0, min=0, max=1, layout={"width": "60%"})
        self._cancel = widgets.Button(
            description="Cancel", button_style="warning", icon="stop", layout={"width": "auto"}
        )
        self._cancel.on_click(lambda _b: self.cancel())
        super().__init__(children=[self._header, widgets.HBox([self._bar, self._cancel])], **kwargs)
        self.add_class("civis-parallel")
        self._unsubscribe = progress.subscribe(in_kernel_context()(self._on_update))
        self._on_update(progress)

    def _on_update(self, progress: Any) -> None:
        with self._lock:
            counts = progress.counts
            self.done = counts["done"]
            self.running = counts["running"]
            self.waiting = counts["waiting"]
            self.failed = counts["failed"]
            self.cancelled = counts["cancelled"]
            self.total = max(progress.total or 0, sum(counts.values()))
            self.elapsed = progress.elapsed
            ended = progress.finished_at is not None
            if ended:
                self._cancel.disabled = True
                self._unsubscribe_later()
            self._bar.max = max(1, self.total)
            self._bar.value = self.done + self.failed + self.cancelled
            self._bar.bar_style = "danger" if self.failed else ("success" if ended else "")
            self.state = self._state(ended)  # last, so that watchers see the counts
            self._header.value = self._header_html()

    def _state(self, ended: bool) -> str:
        if not ended:
            return "running"
        if self.failed:
            return "failed"
        if self.cancelled:
            return "cancelled"
        return "succeeded"

    def _unsubscribe_later(self) -> None:
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()

    def cancel(self) -> None:
        """Cancel the call: waiting batches are dropped, running runs cancelled."""
        self._cancel.disabled = True
        cancel = getattr(self.progress, "cancel", None)
        if cancel is not None:
            cancel()

    # -- rendering ------------------------------------------------------------
    def _counts_text(self) -> str:
        text = (
            f"{self.done} done, {self.running} running, {self.waiting} waiting, "
            f"{self.failed} failed of {self.total} runs"
        )
        if self.cancelled:
            text += f", {self.cancelled} cancelled"
        return text

    def _header_html(self) -> str:
        return (
            f"<b>{escape(self.title)}</b> {badge(self.state)} "
            f"<span>{escape(self._counts_text())}</span> "
            f"<span>· {fmt_seconds(self.elapsed)}</span>"
        )

    def static_html(self) -> str:
        """The widget as static HTML (for saved notebooks)."""
        share = 100 * (self.done + self.failed + self.cancelled) // max(1, self.total)
        bar = (
            '<div style="background:#e9ecef;width:60%;height:8px;border-radius:4px">'
            f'<div style="background:#198754;width:{share}%;height:8px;border-radius:4px">'
            "</div></div>"
        )
        return f'<div class="civis-parallel-static">{self._header_html()}{bar}</div>'

    def static_text(self) -> str:
        """The widget as plain text."""
        return f"{self.title}: {self.state}, {self._counts_text()}, {fmt_seconds(self.elapsed)}"
