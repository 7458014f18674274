"""The runs of this kernel's futures, as the JupyterLab runs panel sees them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RunsSource", "run_summary"]


def run_summary(future: Any) -> dict[str, Any]:
    """Describe one future's run for the runs panel.

    Parameters
    ----------
    future : CivisFuture

    Returns
    -------
    dict
        ``job_id``, ``run_id``, ``name``, ``state``, ``started_at``, ``elapsed``, ``url``.
    """
    response = getattr(future, "last_response", None)
    get = response.get if response is not None else (lambda _k, _d=None: None)
    state = getattr(future, "state", None) or get("state") or "queued"
    started = getattr(future, "started_at", None) or get("started_at")
    created = getattr(future, "_created", None)
    return {
        "job_id": getattr(future, "job_id", None),
        "run_id": getattr(future, "run_id", None),
        "name": getattr(future, "name", None) or f"job {getattr(future, 'job_id', '?')}",
        "state": state,
        "started_at": str(started) if started else None,
        "elapsed": round(time.time() - created, 1) if created else None,
        "url": getattr(future, "job_url", None),
    }


class RunsSource:
    """Adapter from :mod:`civis_jupyter.futures`' registry to the runs panel.

    It reports every future created in this kernel and each of their state
    changes; it never polls (the futures' shared poller does).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[list[dict[str, Any]]], None]] = []
        self._unhooks: list[Callable[[], None]] = []

    def snapshot(self) -> list[dict[str, Any]]:
        """Summaries of this kernel's runs, newest first.

        Returns
        -------
        list of dict
        """
        from ..futures import live_futures

        return [run_summary(f) for f in reversed(live_futures())]

    def _publish(self, *_: Any) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        if subscribers:
            snap = self.snapshot()
            for callback in subscribers:
                callback(snap)

    def subscribe(self, callback: Callable[[list[dict[str, Any]]], None]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` whenever a run starts or changes state.

        Parameters
        ----------
        callback : callable

        Returns
        -------
        callable
            Call it to stop.
        """
        from ..futures import live_futures, on_new_future

        with self._lock:
            self._subscribers.append(callback)
            first = len(self._subscribers) == 1
        if first:

            def follow(future: Any) -> None:
                self._unhooks.append(future.subscribe(self._publish))
                self._publish()

            self._unhooks.append(on_new_future(follow))
            for future in live_futures():
                self._unhooks.append(future.subscribe(self._publish))

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                last = not self._subscribers
            if last:
                for unhook in self._unhooks:
                    unhook()
                self._unhooks.clear()

        return unsubscribe

    def cancel(self, job_id: int, run_id: int) -> bool:
        """Cancel the run of one of this kernel's futures.

        Parameters
        ----------
        job_id, run_id : int

        Returns
        -------
        bool
            Whether a matching future was found and cancelled.
        """
        from ..futures import live_futures

        for future in live_futures():
            if future.job_id == job_id and future.run_id == run_id:
                return bool(future.cancel())
        return False
