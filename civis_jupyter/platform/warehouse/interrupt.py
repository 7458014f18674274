"""Stopping a running warehouse operation from another thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

import duckdb

from .errors import WarehouseError


class _Interrupter:
    """Stops one warehouse operation from another thread, however late or early.

    DuckDB's ``interrupt`` only stops a statement that is running; one asked
    for just before a statement starts would be lost. Once stopped, the
    operation's cursors are interrupted again every few milliseconds until it
    ends, and :meth:`check` refuses to start anything further.

    Parameters
    ----------
    on_interrupt : callable or None
        Given :meth:`interrupt` when the operation starts and ``None`` when it
        ends (e.g. a run's ``on_cancel``).
    """

    _RETRY = 0.02

    def __init__(self, on_interrupt: Callable[[Callable[[], None] | None], None] | None):
        self._on_interrupt = on_interrupt
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._requested = threading.Event()
        self._finished = threading.Event()

    def __enter__(self) -> _Interrupter:
        if self._on_interrupt is not None:
            self._on_interrupt(self.interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._finished.set()
        if self._on_interrupt is not None:
            self._on_interrupt(None)

    def watch(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Interrupt this cursor too when the operation is stopped."""
        with self._lock:
            self._cursors.append(cursor)

    def interrupt(self) -> None:
        """Stop the operation (never blocks; calling it again does no harm)."""
        if self._requested.is_set() or self._finished.is_set():
            return
        self._requested.set()
        threading.Thread(target=self._keep_interrupting, name="civis-sql-stop", daemon=True).start()

    def check(self) -> None:
        """Raise :class:`WarehouseError` when the operation was stopped."""
        if self._requested.is_set():
            raise WarehouseError("INTERRUPT Error: Interrupted!")

    def _keep_interrupting(self) -> None:
        while True:
            with self._lock:
                if self._finished.is_set():
                    return
                for cur in self._cursors:
                    try:
                        cur.interrupt()
                    except duckdb.Error:
                        pass
            if self._finished.wait(self._RETRY):
                return
