"""The run state machine: starting, queueing (the ``max_runs`` cap), cancelling, recording."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...api.states import DONE_STATES
from ..clock import iso_now
from ..sqlite import inserted_id
from ._context import (
    KILL_GRACE,
    AlreadyRunning,
    Executor,
    InvalidTransition,
    RunCancelled,
    RunContext,
    RunHost,
)
from ._db import _output_row, _run_row, _RunDB
from ._pump import _Pump
from ._recover import _kill_orphans, _start_ticks
from ._sandbox import _choose_sandbox

_TRANSITIONS = {
    "queued": {"running", "cancelled", "failed"},
    "running": {"succeeded", "failed", "cancelled"},
}
#: Runs ``running`` at once unless told otherwise: four per core.
DEFAULT_MAX_RUNS = 4 * (os.cpu_count() or 1)
#: Threads shared by all runs for Python executors and for starting commands.
WORKER_THREADS = 16
#: Seconds :meth:`Runner.cancel` waits for a run's work to stop before answering.
CANCEL_WAIT = 3.0
#: Exceptions that point at a bug rather than bad input: their traceback is logged.
_BUG_TYPES = (TypeError, AttributeError, KeyError, NameError, IndexError, AssertionError)


class _Live:
    """Bookkeeping for a run that is queued or running in this process."""

    def __init__(self, ctx: RunContext, executor: Executor):
        self.ctx = ctx
        self.executor = executor
        self.done = threading.Event()
        self.started = False
        self.future: Future[None] | None = None


class Runner:
    """Starts, queues, tracks, cancels and records runs of every kind of job.

    Parameters
    ----------
    platform : RunHost
        The platform. Used attributes: ``data_dir`` (a Path), ``execute``
        (bool, default True), ``endpoint`` (str), ``max_runs`` (int or None,
        default :data:`DEFAULT_MAX_RUNS`; ``None`` or 0 for no cap),
        ``sandbox`` (``None``: sandbox commands where possible, the default;
        ``False``: never; ``True``: required) and, for command runs, its
        ``store`` (``identity.create_key``/``revoke_token``) to give each run a key of
        its user, or ``mint_run_key(user_id, run_id)``/``revoke_run_key(key)``
        hooks.

    Attributes
    ----------
    max_runs : int or None
        At most this many runs are ``running`` at once; ``None``: no cap.
    sandbox : Sandbox or None
        How commands are isolated; ``None`` when they are not.
    """

    def __init__(self, platform: RunHost):
        self.platform = platform
        self.data_dir = Path(platform.data_dir)
        self.max_runs = _max_runs(getattr(platform, "max_runs", DEFAULT_MAX_RUNS))
        self.sandbox = _choose_sandbox(platform)
        self._db = _RunDB(self.data_dir / "runs.sqlite3")
        self._db_closed = False
        self._live: dict[int, _Live] = {}
        self._pending: collections.deque[_Live] = collections.deque()
        self._slots: set[int] = set()
        self._lock = threading.RLock()
        self._closed = False
        self._pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="civis-run")
        self._pump = _Pump(self)
        #: Callables ``(run_id, state)`` told of every state change (long polls).
        self.listeners: list[Callable[[int, str], None]] = []

    def __repr__(self) -> str:
        return (
            f"Runner({str(self.data_dir)!r}, live={len(self._live)}, "
            f"max_runs={self.max_runs}, sandboxed={self.sandboxed})"
        )

    @property
    def sandboxed(self) -> bool:
        """Whether commands run in their own PID and mount namespaces."""
        return self.sandbox is not None

    # -- starting and state ---------------------------------------------------

    def start(
        self,
        job_id: int,
        kind: str,
        executor: Executor,
        user_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a queued run of a job; it starts as soon as a slot is free.

        Parameters
        ----------
        job_id : int
            The job (script, import, query, ...).
        kind : str
            The job's kind (e.g. ``"containers"``, ``"sql"``); recorded.
        executor : callable
            Called with a :class:`RunContext` on a worker thread (a
            :class:`CommandExecutor` only starts its process there). Returning
            means success; raising means failure (the exception text becomes
            the run's ``error``); :class:`RunCancelled` means cancelled.
        user_id : int, optional
            Who started it.
        detail : mapping, optional
            Extra kind-specific fields stored on the run.

        Returns
        -------
        dict
            The new run (state ``queued``).

        Raises
        ------
        AlreadyRunning
            If the job has a queued or running run.
        """
        if self._closed:
            raise RuntimeError("the runner is shut down")
        with self._lock:
            live = self._db.query(
                "SELECT id FROM runs WHERE job_id = ? AND state IN ('queued', 'running') "
                "ORDER BY id DESC LIMIT 1",
                (int(job_id),),
            )
            if live:
                raise AlreadyRunning(int(job_id), live[0]["id"])
            marker = secrets.token_hex(16)
            with self._db.tx() as con:
                cur = con.execute(
                    "INSERT INTO runs (job_id, kind, user_id, state, created_at, detail, marker) "
                    "VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                    (
                        int(job_id),
                        kind,
                        user_id,
                        iso_now(),
                        json.dumps(dict(detail or {})),
                        marker,
                    ),
                )
                run_id = inserted_id(cur)
            ctx = RunContext(
                runner=self,
                run_id=run_id,
                job_id=int(job_id),
                user_id=user_id,
                run_dir=self.data_dir / "runs" / str(run_id),
                marker=marker,
            )
            live_run = self._live[run_id] = _Live(ctx, executor)
            self._pending.append(live_run)
            run = self.get(run_id)
        self._dispatch()
        assert run is not None
        return run

    def _dispatch(self) -> None:
        """Start queued runs, oldest first, while there are free slots."""
        starting = []
        with self._lock:
            while self._pending and not self._closed:
                if self.max_runs is not None and len(self._slots) >= self.max_runs:
                    break
                live = self._pending.popleft()
                live.started = True
                self._slots.add(live.ctx.run_id)
                starting.append(live)
        for live in starting:
            try:
                live.future = self._pool.submit(self._begin, live)
            except RuntimeError:  # the pool is shut down: the runner is closing
                self._finish(live, "failed", "platform shut down")

    def _begin(self, live: _Live) -> None:
        """On a worker thread: mark the run running and execute (or spawn) it."""
        ctx = live.ctx
        try:
            if not self._transition(ctx.run_id, "running", started=True):
                self._finish(live, None, None)  # cancelled or failed meanwhile
                return
            spawn = getattr(live.executor, "start_async", None)
            if spawn is not None:
                spawn(ctx, lambda error: self._complete(live, error))
                return
            live.executor(ctx)
        except BaseException as exc:  # any failure ends the run, never the worker
            self._complete(live, exc)
            return
        self._complete(live, None)

    def _complete(self, live: _Live, error: BaseException | None) -> None:
        """The run's work has stopped: record how it ended."""
        ctx = live.ctx
        state, message = "succeeded", None
        if ctx.cancelled.is_set() or isinstance(error, RunCancelled):
            state = "cancelled"
        elif error is not None:
            state, message = "failed", str(error) or type(error).__name__
            if isinstance(error, _BUG_TYPES):
                text = "".join(traceback.format_exception(error)).rstrip()
                with contextlib.suppress(sqlite3.ProgrammingError):
                    self.append_logs(ctx.run_id, [(text, "error")])
        self._finish(live, state, message)

    def _finish(self, live: _Live, state: str | None, error: str | None) -> None:
        """Move the run to its final state and forget it, atomically; start the next."""
        run_id = live.ctx.run_id
        with self._lock:
            if state is not None and not self._db_closed:
                self._transition(run_id, state, error=error)
            # Under the same lock as the state change: a run whose state says
            # done is never still live (the logs endpoint relies on it).
            self._live.pop(run_id, None)
            self._slots.discard(run_id)
        live.done.set()
        self._dispatch()

    def _transition(
        self,
        run_id: int,
        state: str,
        error: str | None = None,
        started: bool = False,
    ) -> bool:
        """Move a run to ``state`` if the state machine allows it.

        Returns False (and changes nothing) when the run is already done, for
        instance cancelled before its executor started.
        """
        with self._lock, self._db.tx() as con:
            row = con.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:  # forgotten by clear()
                return False
            current = row["state"]
            if current in DONE_STATES:
                return False
            if state not in _TRANSITIONS.get(current, set()):
                raise InvalidTransition(f"run {run_id}: {current} -> {state}")
            now = iso_now()
            if started:
                con.execute(
                    "UPDATE runs SET state = ?, started_at = ? WHERE id = ?",
                    (state, now, run_id),
                )
            else:
                con.execute(
                    "UPDATE runs SET state = ?, finished_at = ?, error = ? WHERE id = ?",
                    (state, now, error, run_id),
                )
        for listener in list(self.listeners):
            try:
                listener(run_id, state)
            except Exception:  # a listener's bug must not break the run
                traceback.print_exc()
        return True

    def get(self, run_id: int) -> dict[str, Any] | None:
        """A run by id, or ``None``.

        Returns
        -------
        dict or None
            camelCase fields: id, jobId, kind, userId, state,
            isCancelRequested, createdAt, startedAt, finishedAt, error, plus
            kind-specific detail.
        """
        rows = self._db.query("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        return _run_row(rows[0] if rows else None)

    def runs(self, job_id: int) -> list[dict[str, Any]]:
        """All runs of a job, newest first."""
        rows = self._db.query(
            "SELECT * FROM runs WHERE job_id = ? ORDER BY id DESC", (int(job_id),)
        )
        return [r for r in map(_run_row, rows) if r is not None]

    def last_run(self, job_id: int) -> dict[str, Any] | None:
        """The newest run of a job, or ``None``."""
        rows = self._db.query(
            "SELECT * FROM runs WHERE job_id = ? ORDER BY id DESC LIMIT 1", (int(job_id),)
        )
        return _run_row(rows[0] if rows else None)

    def last_runs(self, job_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The newest run of each of several jobs (jobs without runs are absent)."""
        if not job_ids:
            return {}
        marks = ",".join("?" * len(job_ids))
        rows = self._db.query(
            f"SELECT * FROM runs WHERE id IN (SELECT max(id) FROM runs "
            f"WHERE job_id IN ({marks}) GROUP BY job_id)",
            tuple(int(j) for j in job_ids),
        )
        return {r["jobId"]: r for r in map(_run_row, rows) if r is not None}

    def update_detail(self, run_id: int, **detail: Any) -> None:
        """Merge kind-specific fields into a run's record."""
        with self._lock, self._db.tx() as con:
            row = con.execute("SELECT detail FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise KeyError(run_id)
            merged = json.loads(row["detail"] or "{}")
            merged.update(detail)
            con.execute("UPDATE runs SET detail = ? WHERE id = ?", (json.dumps(merged), run_id))

    def wait(self, run_id: int, timeout: float | None = None) -> dict[str, Any]:
        """Block until a run is done (or the timeout passes); return the run.

        Parameters
        ----------
        run_id : int
            The run.
        timeout : float, optional
            Seconds to wait at most.

        Returns
        -------
        dict
            The run as it is when the wait ends.
        """
        with self._lock:
            live = self._live.get(int(run_id))
        if live is not None:
            live.done.wait(timeout)
        run = self.get(run_id)
        if run is None:
            raise KeyError(run_id)
        return run

    def is_live(self, run_id: int) -> bool:
        """Whether a run is queued or running in this process."""
        with self._lock:
            return int(run_id) in self._live

    def _record_process(self, run_id: int, pid: int) -> None:
        """Remember a run's process (and when it started) to kill it after a crash."""
        with self._lock:
            if self._db_closed:
                return
            with self._db.tx() as con:
                con.execute(
                    "UPDATE runs SET pid = ?, pid_start = ? WHERE id = ?",
                    (pid, _start_ticks(pid), run_id),
                )

    # -- cancelling ------------------------------------------------------------

    def cancel(self, run_id: int, wait: float = CANCEL_WAIT) -> dict[str, Any]:
        """Cancel a run: a queued one at once; a running one once its work stopped.

        A running run's process group is sent SIGTERM (then SIGKILL after its
        grace period); the run becomes ``cancelled`` when the process is
        reaped and its output logged. Cancelling a finished run changes nothing.

        Parameters
        ----------
        run_id : int
            The run.
        wait : float
            Seconds to wait for a running run to stop before answering (it
            may still be ``running``, with ``isCancelRequested``, after).

        Returns
        -------
        dict
            The run after cancelling.

        Raises
        ------
        KeyError
            If there is no such run.
        """
        run_id = int(run_id)
        kill = live = None
        with self._lock:
            run = self.get(run_id)
            if run is None:
                raise KeyError(run_id)
            if run["state"] in DONE_STATES:
                return run
            with self._db.tx() as con:
                con.execute("UPDATE runs SET is_cancel_requested = 1 WHERE id = ?", (run_id,))
            live = self._live.get(run_id)
            if live is not None:
                live.ctx.cancelled.set()
                kill = live.ctx._kill
            if live is None or run["state"] == "queued":
                # Nothing of it runs yet (or not in this process): cancelled now.
                if live is not None and not live.started:
                    self._pending.remove(live)
                self._transition(run_id, "cancelled")
                if live is not None:
                    self._live.pop(run_id, None)
                    live.done.set()
                live = None
        if kill is not None:
            kill()
        if live is not None and wait > 0:
            live.done.wait(wait)
        result = self.get(run_id)
        assert result is not None
        return result

    # -- logs and outputs ----------------------------------------------------------

    def append_logs(self, run_id: int, lines: list[tuple[str, str]]) -> list[int]:
        """Append log lines ``(message, level)`` to a run; return their ids."""
        if not lines:
            return []
        now = iso_now()
        ids = []
        with self._db.tx() as con:
            for message, level in lines:
                cur = con.execute(
                    "INSERT INTO logs (run_id, created_at, message, level) VALUES (?, ?, ?, ?)",
                    (int(run_id), now, str(message), level),
                )
                ids.append(inserted_id(cur))
        return ids

    def logs(
        self, run_id: int, last_id: int | None = None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """A run's log lines, Civis style.

        With ``last_id``: lines with a greater id, oldest first. Without: the
        newest ``limit`` lines, newest first.

        Parameters
        ----------
        run_id : int
            The run.
        last_id : int, optional
            Cursor: lines with this id or lower are left out.
        limit : int, optional
            At most this many lines (default 10000).

        Returns
        -------
        (list of dict, int or None)
            The lines (id, createdAt, message, level) and the run's highest
            log id (``None`` while it has none).
        """
        limit = 10000 if limit is None else max(0, int(limit))
        if last_id is not None:
            rows = self._db.query(
                "SELECT id, created_at, message, level FROM logs "
                "WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?",
                (int(run_id), int(last_id), limit),
            )
        else:
            rows = self._db.query(
                "SELECT id, created_at, message, level FROM logs "
                "WHERE run_id = ? ORDER BY id DESC LIMIT ?",
                (int(run_id), limit),
            )
        max_row = self._db.query("SELECT max(id) AS m FROM logs WHERE run_id = ?", (int(run_id),))
        lines = [
            {
                "id": r["id"],
                "createdAt": r["created_at"],
                "message": r["message"],
                "level": r["level"],
            }
            for r in rows
        ]
        return lines, max_row[0]["m"]

    def add_output(
        self,
        run_id: int,
        object_type: str,
        object_id: int | None,
        name: str | None = None,
        link: str | None = None,
        value: Any = None,
    ) -> dict[str, Any]:
        """Record a run output; returns it (objectType, objectId, name, link, value)."""
        with self._db.tx() as con:
            cur = con.execute(
                "INSERT INTO outputs (run_id, object_type, object_id, name, link, "
                "value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    int(run_id),
                    object_type,
                    object_id,
                    name,
                    link,
                    None if value is None else json.dumps(value),
                    iso_now(),
                ),
            )
            row = con.execute("SELECT * FROM outputs WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _output_row(row)

    def outputs(self, run_id: int) -> list[dict[str, Any]]:
        """A run's outputs, oldest first."""
        rows = self._db.query("SELECT * FROM outputs WHERE run_id = ? ORDER BY id", (int(run_id),))
        return [_output_row(r) for r in rows]

    # -- lifecycle ---------------------------------------------------------------

    def recover(self) -> int:
        """Fail runs that a previous process left queued or running; kill their processes.

        A run's processes are found by the process id recorded when it
        started (checked against the process's start time, so that a reused
        id is left alone) and by the run's random ``CIVIS_RUN_MARK`` in their
        environment.

        Returns
        -------
        int
            How many runs were failed.
        """
        with self._lock, self._db.tx() as con:
            live = tuple(self._live)
            keep = f" AND id NOT IN ({','.join('?' * len(live))})" if live else ""
            left = con.execute(
                "SELECT pid, pid_start, marker FROM runs WHERE state IN ('queued', 'running')"
                + keep,
                live,
            ).fetchall()
            cur = con.execute(
                "UPDATE runs SET state = 'failed', error = 'platform restarted', "
                "finished_at = ? WHERE state IN ('queued', 'running')" + keep,
                (iso_now(), *live),
            )
            count = cur.rowcount
        _kill_orphans([(r["pid"], r["pid_start"], r["marker"]) for r in left])
        return count

    def _stop_live(self, fail: str | None) -> list[_Live]:
        """Drop queued runs and kill running ones (failing them with ``fail``)."""
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
            lives = list(self._live.values())
        for live in pending:
            self._finish(live, "failed" if fail else None, fail)
        for live in lives:
            if live in pending:
                continue
            live.ctx.cancelled.set()
            if fail:
                self._transition(live.ctx.run_id, "failed", error=fail)
            if live.future is not None and live.future.cancel():
                self._finish(live, None, None)  # it never began
                continue
            kill = live.ctx._kill
            if kill is not None:
                kill()
        return lives

    def clear(self, timeout: float = KILL_GRACE + 5) -> None:
        """Kill live runs and forget every run, log line and output (a reset).

        Parameters
        ----------
        timeout : float
            Seconds to wait for live runs to stop.
        """
        lives = self._stop_live(None)
        deadline = time.monotonic() + timeout
        for live in lives:
            live.done.wait(max(0.0, deadline - time.monotonic()))
        with self._lock, self._db.tx() as con:
            for table in ("runs", "logs", "outputs"):
                con.execute(f"DELETE FROM {table}")

    def shutdown(self, timeout: float = KILL_GRACE + 5) -> None:
        """Stop: live runs are killed and failed; the database is closed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        lives = self._stop_live("platform shut down")
        deadline = time.monotonic() + timeout
        for live in lives:
            live.done.wait(max(0.0, deadline - time.monotonic()))
        self._pump.stop(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._db_closed = True
            self._db.close()


def _max_runs(value: Any) -> int | None:
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_runs must be a positive integer or None, not {value!r}")
    return value
