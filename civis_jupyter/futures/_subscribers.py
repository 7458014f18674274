"""Callbacks: the Subscribers list and the serial runner of a future's events."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

from ._pools import CALLBACK_WORKERS, _pool

_log = logging.getLogger("civis_jupyter.futures")  # the package's one logger


class Subscribers:
    """A thread-safe list of callbacks that can each be removed.

    Examples
    --------
    >>> subs = Subscribers()
    >>> stop = subs.add(print)
    >>> subs.notify("hello")
    hello
    >>> stop()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[..., Any]] = []

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, callback: Callable[..., Any]) -> Callable[[], None]:
        """Add a callback.

        Parameters
        ----------
        callback : callable

        Returns
        -------
        callable
            Call it to remove the callback (again: no effect).
        """
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def snapshot(self) -> list[Callable[..., Any]]:
        """The callbacks now registered."""
        with self._lock:
            return list(self._callbacks)

    def notify(self, *args: Any) -> None:
        """Call every callback with ``args`` here; log (not raise) their errors."""
        for callback in self.snapshot():
            try:
                callback(*args)
            except Exception:
                _log.exception("callback %r failed", callback)


class _Serial:
    """Runs its tasks one after another, in order, on the shared callback pool."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: collections.deque[Callable[[], None]] = collections.deque()
        self._busy = False

    def put(self, task: Callable[[], None]) -> None:
        with self._lock:
            self._tasks.append(task)
            if self._busy:
                return
            self._busy = True
        _pool("civis-callback", CALLBACK_WORKERS).submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._tasks:
                    self._busy = False
                    return
                task = self._tasks.popleft()
            try:
                task()
            except Exception:
                _log.exception("future callback failed")
