"""The run state machine for every kind of job, with its executors and live logs.

Every run, whatever its job (query, SQL script, import, CSV preprocess,
container / Python / custom script), goes through one state machine::

    queued -> running -> succeeded | failed | cancelled
    queued -> cancelled

:class:`Runner` persists runs, their log lines and their outputs in SQLite
(``runs.sqlite3`` in the platform's data directory), so they survive a
restart; :meth:`Runner.recover` turns runs that a previous process left
queued or running into failed runs ("platform restarted") and kills the
processes those runs left behind.

At most ``max_runs`` runs are ``running`` at once (four per core by default;
``None`` for no cap); the others stay ``queued`` and start in the order they
were created as running ones end. A run is reported done only once its work
has stopped: for a command, once its process is reaped and its output is in
the logs.

Executors are callables taking a :class:`RunContext`. Python callables do SQL
and imports, on a small shared pool of threads; :func:`command_executor` runs
a shell command as a subprocess in the run's own working directory and
process group, with ``CIVIS_API_KEY`` (a key of the run's user, minted for the
run and revoked when it ends), ``CIVIS_API_ENDPOINT``, ``CIVIS_JOB_ID`` and
``CIVIS_RUN_ID`` set and a ``civis`` command on ``PATH`` backed by this
package's CLI. One thread per runner reads every command's output (its lines
stream into the run's logs while it runs) and reaps every process, so a run
costs no thread of its own. Cancelling kills the whole process group.

Sandbox: where Linux namespaces are available (``unshare`` and ``setpriv``
from util-linux, as root or with unprivileged user namespaces), each command
runs in its own PID and mount namespace with no capabilities: it sees only
its own processes (not other runs', nor their environment and keys, nor the
platform's), and the platform's data directory is hidden behind an empty
read-only file system except for the run's own directory. Everything else
(the network, including the platform's API, and the rest of the file system)
is shared with the platform's user. Where namespaces are unavailable, commands
run unsandboxed and the platform says so when it starts
(:attr:`Runner.sandboxed`).

When the platform does not execute commands (``execute=False``), command runs
fail at once with an error that says so; SQL, imports and preprocessing still
run, since they execute no user commands.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..api.states import ACTIVE_STATES, DONE_STATES
from .clock import iso_now
from .sqlite import Database, inserted_id

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_MAX_RUNS",
    "DONE_STATES",
    "AlreadyRunning",
    "CommandExecutor",
    "Executor",
    "InvalidTransition",
    "RunCancelled",
    "RunContext",
    "RunHost",
    "Runner",
    "Sandbox",
    "command_executor",
    "find_sandbox",
    "iso_now",
]

_TRANSITIONS = {
    "queued": {"running", "cancelled", "failed"},
    "running": {"succeeded", "failed", "cancelled"},
}
#: Seconds a cancelled process group gets between SIGTERM and SIGKILL.
KILL_GRACE = 5.0
#: Runs ``running`` at once unless told otherwise: four per core.
DEFAULT_MAX_RUNS = 4 * (os.cpu_count() or 1)
#: Threads shared by all runs for Python executors and for starting commands.
WORKER_THREADS = 16
#: Seconds :meth:`Runner.cancel` waits for a run's work to stop before answering.
CANCEL_WAIT = 3.0
#: Seconds a command's pipes may stay open after it exited (a leftover holds them).
DRAIN_TIMEOUT = 5.0
#: Longest log line kept whole; longer output without a newline is split.
MAX_LINE = 1 << 20
#: Environment variable marking every process of a run (found again after a crash).
RUN_MARK = "CIVIS_RUN_MARK"
#: Exceptions that point at a bug rather than bad input: their traceback is logged.
_BUG_TYPES = (TypeError, AttributeError, KeyError, NameError, IndexError, AssertionError)
NO_EXEC_ERROR = (
    "Running commands is switched off on this platform (it was started with "
    "--no-exec / execute=False); start it with execution enabled to run scripts."
)


class AlreadyRunning(Exception):
    """The job already has a queued or running run."""

    def __init__(self, job_id: int, run_id: int):
        super().__init__(f"job {job_id} already has a live run ({run_id})")
        self.job_id = job_id
        self.run_id = run_id


class InvalidTransition(Exception):
    """A state change the run state machine does not allow."""


class RunCancelled(Exception):
    """Raised inside an executor (by :meth:`RunContext.check`) once cancelled."""


Executor = Callable[["RunContext"], None]


@dataclass
class RunContext:
    """What an executor gets: the run's identity, logging, outputs, cancellation.

    Attributes
    ----------
    runner : Runner
        The runner (and through it the platform).
    run_id, job_id, user_id : int
        The run, its job and the user who started it.
    run_dir : Path
        A directory private to this run (created on demand).
    cancelled : threading.Event
        Set when the run is cancelled.
    marker : str
        A random token naming the run's processes (``CIVIS_RUN_MARK``).
    """

    runner: Runner
    run_id: int
    job_id: int
    user_id: int | None
    run_dir: Path
    cancelled: threading.Event = field(default_factory=threading.Event)
    marker: str = ""
    _kill: Callable[[], None] | None = None

    def on_cancel(self, kill: Callable[[], None] | None) -> None:
        """Register how to stop the run's work when it is cancelled.

        Parameters
        ----------
        kill : callable or None
            Called when the run is cancelled or the platform shuts down (it
            must not block; it may be called twice); ``None`` unregisters.
        """
        self._kill = kill
        if kill is not None and self.cancelled.is_set():
            kill()

    @property
    def platform(self) -> RunHost:
        """The platform the run belongs to."""
        return self.runner.platform

    def log(self, message: str, level: str = "info") -> int:
        """Append a line to the run's logs; returns its id."""
        return self.runner.append_logs(self.run_id, [(message, level)])[-1]

    def add_output(
        self,
        object_type: str,
        object_id: int | None,
        name: str | None = None,
        link: str | None = None,
        value: Any = None,
    ) -> dict[str, Any]:
        """Record a run output (``File``, ``Table``, ``JSONValue``, ...)."""
        return self.runner.add_output(
            self.run_id, object_type, object_id, name=name, link=link, value=value
        )

    def update(self, **detail: Any) -> None:
        """Store extra, kind-specific fields on the run (e.g. SQL ``output``)."""
        self.runner.update_detail(self.run_id, **detail)

    def check(self) -> None:
        """Raise :class:`RunCancelled` if the run was cancelled."""
        if self.cancelled.is_set():
            raise RunCancelled()


class _Live:
    """Bookkeeping for a run that is queued or running in this process."""

    def __init__(self, ctx: RunContext, executor: Executor):
        self.ctx = ctx
        self.executor = executor
        self.done = threading.Event()
        self.started = False
        self.future: Future[None] | None = None


_RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    user_id INTEGER,
    state TEXT NOT NULL,
    is_cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_job ON runs (job_id, id);
CREATE INDEX IF NOT EXISTS runs_state ON runs (state);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    message TEXT NOT NULL,
    level TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_run ON logs (run_id, id);
CREATE TABLE IF NOT EXISTS outputs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    object_id INTEGER,
    name TEXT,
    link TEXT,
    value TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_run ON outputs (run_id, id);
"""


class _RunDB(Database):
    """SQLite persistence of runs, log lines and outputs."""

    def __init__(self, path: Path):
        super().__init__(path, _RUNS_SCHEMA)
        columns = {r["name"] for r in self.rows("PRAGMA table_info(runs)")}
        # Where a command run's processes are: found again after a crash.
        for name, kind in (("pid", "INTEGER"), ("pid_start", "INTEGER"), ("marker", "TEXT")):
            if name not in columns:
                self.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """All rows of one statement."""
        return self.rows(sql, params)


def _run_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = {
        "id": row["id"],
        "jobId": row["job_id"],
        "kind": row["kind"],
        "userId": row["user_id"],
        "state": row["state"],
        "isCancelRequested": bool(row["is_cancel_requested"]),
        "createdAt": row["created_at"],
        "startedAt": row["started_at"],
        "finishedAt": row["finished_at"],
        "error": row["error"],
    }
    out.update(json.loads(row["detail"] or "{}"))
    return out


def _output_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "runId": row["run_id"],
        "objectType": row["object_type"],
        "objectId": row["object_id"],
        "name": row["name"],
        "link": row["link"],
        "value": json.loads(row["value"]) if row["value"] is not None else None,
        "createdAt": row["created_at"],
    }


class RunHost(Protocol):
    """What a :class:`Runner` needs of its platform: a data directory.

    The runner also reads these optional attributes when present (see
    :class:`Runner`): ``execute``, ``endpoint``, ``max_runs``, ``sandbox``,
    ``store`` and the ``mint_run_key``/``revoke_run_key`` hooks.
    """

    @property
    def data_dir(self) -> str | os.PathLike[str]:
        """Where the runner keeps its database and the runs' directories."""


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


# -- the sandbox -----------------------------------------------------------------------

# The first process of a run's PID namespace (its "init"): it hides the data
# directory behind an empty read-only tmpfs, puts the run's own directory back,
# then runs the command with no capabilities (so that it cannot undo the
# mounts) as its child, and exits with its status, which ends every process
# left in the namespace. Its own stderr goes to /dev/null so that the shell's
# "Terminated" notices do not end up in the run's logs.
_SANDBOX_INIT = r"""set -e
data=$1; run=$2; work=$3; shift 3
cd "$run"
mount -t tmpfs -o size=64k,mode=0755 civis-sandbox "$data"
mkdir -p "$run"
mount --no-canonicalize --bind . "$run"
mount -o remount,ro,bind "$data"
cd "$work"
set +e
exec 3>&2 2>/dev/null
(exec setpriv --bounding-set=-all --inh-caps=-all --ambient-caps=-all \
    --no-new-privs -- "$@") 2>&3 3>&-
exit $?
"""
_NAMESPACES = ("--pid", "--fork", "--mount-proc", "--mount", "--kill-child")
_PREFIXES = (
    ("unshare", *_NAMESPACES),
    ("unshare", "--user", "--map-root-user", *_NAMESPACES),
)
UNSANDBOXED_WARNING = (
    "Runs are not sandboxed on this machine (Linux namespaces unavailable: needs "
    "unshare and setpriv, and root or unprivileged user namespaces): a script can "
    "see other runs' processes and keys and read the platform's data directory."
)


@dataclass(frozen=True)
class Sandbox:
    """How a command is started in its own PID and mount namespaces.

    Attributes
    ----------
    prefix : tuple of str
        The ``unshare`` command line put in front of the sandbox's init.
    """

    prefix: tuple[str, ...]

    def argv(self, data_dir: Path, run_dir: Path, work: Path, argv: list[str]) -> list[str]:
        """The command line running ``argv`` in ``work``, with only ``run_dir`` of ``data_dir``.

        Parameters
        ----------
        data_dir : Path
            The directory to hide (absolute).
        run_dir : Path
            The run's own directory inside it, left visible.
        work : Path
            The working directory (inside ``run_dir``).
        argv : list of str
            The command.

        Returns
        -------
        list of str
        """
        return [
            *self.prefix,
            "--",
            "/bin/sh",
            "-c",
            _SANDBOX_INIT,
            "civis-sandbox",
            str(data_dir),
            str(run_dir),
            str(work),
            *argv,
        ]


_probe_lock = threading.Lock()
_probed: list[Sandbox | None] = []


def find_sandbox() -> Sandbox | None:
    """The sandbox that works on this machine, or ``None`` (probed once per process).

    Tries ``unshare`` as the current user, then with a user namespace, and
    checks that a sandboxed command sees its own init as PID 1, cannot see a
    file of the hidden directory and can write in its working directory.

    Returns
    -------
    Sandbox or None
    """
    with _probe_lock:
        if not _probed:
            _probed.append(_probe())
        return _probed[0]


def _probe() -> Sandbox | None:
    if not all(shutil.which(tool) for tool in ("unshare", "setpriv", "mount")):
        return None
    with tempfile.TemporaryDirectory(prefix="civis-probe-") as tmp:
        data = Path(tmp).resolve()
        run_dir = data / "runs" / "1"
        work = run_dir / "work"
        work.mkdir(parents=True)
        (data / "hidden").write_text("x")
        check = 'test ! -e "$0/hidden" && grep -q civis-sandbox /proc/1/cmdline && touch probe'
        for prefix in _PREFIXES:
            sandbox = Sandbox(prefix)
            argv = sandbox.argv(data, run_dir, work, ["/bin/sh", "-c", check, str(data)])
            try:
                done = subprocess.run(
                    argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL
                )
            except (OSError, subprocess.SubprocessError):
                continue
            if done.returncode == 0 and (work / "probe").exists():
                return sandbox
    return None


def _choose_sandbox(platform: RunHost) -> Sandbox | None:
    wanted = getattr(platform, "sandbox", None)
    if wanted is False or not getattr(platform, "execute", True):
        return None
    found = find_sandbox()
    if wanted is True and found is None:
        raise RuntimeError(UNSANDBOXED_WARNING)
    return found


# -- processes ---------------------------------------------------------------------


def _start_ticks(pid: int) -> int | None:
    """When a process started (clock ticks after boot), or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[19])


def _kill_orphans(runs: list[tuple[int | None, int | None, str | None]]) -> None:
    """SIGKILL what runs of a crashed platform left: by recorded pid, then by marker."""
    for pid, started, _marker in runs:
        if pid and started is not None and _start_ticks(pid) == started:
            # The very process the run started: its group is the run's (it
            # leads a session), and in a sandbox it holds the namespace.
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    marks = {f"{RUN_MARK}={m}".encode() + b"\0" for _, _, m in runs if m}
    if not marks or not os.path.isdir("/proc"):
        return
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                environ = b"\0" + f.read()
        except OSError:
            continue
        if any(b"\0" + mark in environ for mark in marks):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


class _Proc:
    """A command's process as the pump sees it."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        grace: float,
        on_exit: Callable[[_Proc], None],
        run_id: int,
    ):
        self.proc = proc
        self.grace = grace
        self.on_exit = on_exit
        self.run_id = run_id
        self.buffers = {"info": bytearray(), "error": bytearray()}
        self.lines: list[tuple[str, str]] = []
        self.open_streams = 2
        self.code: int | None = None
        self.last_error = ""
        self.kill_at: float | None = None
        self.drain_until: float | None = None
        self.pidfd: int | None = None
        self.terminated = False

    def take(self, level: str, data: bytes, final: bool = False) -> None:
        """Add output bytes; complete lines become log lines."""
        buf = self.buffers[level]
        buf += data
        parts = buf.split(b"\n")
        rest = parts.pop()
        if final and rest:
            parts.append(rest)
            rest = bytearray()
        while len(rest) > MAX_LINE:
            parts.append(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        self.buffers[level] = bytearray(rest)
        for raw in parts:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            self.lines.append((line, level))
            if level == "error" and line.strip():
                self.last_error = line.strip()


class _Pump:
    """One thread per runner that reads every command's output and reaps it.

    Output lines go to the runs' logs; exits are seen through pidfds (polled
    where pidfds are unavailable). Signals are sent from this thread only,
    before the process is reaped, so that a reused process id is never hit.
    """

    def __init__(self, runner: Runner):
        self.runner = runner
        self._todo: collections.deque[Callable[[], None]] = collections.deque()
        self._procs: set[_Proc] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._sel: selectors.BaseSelector | None = None
        self._wake_r = self._wake_w = -1

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._sel = selectors.DefaultSelector()
            self._wake_r, self._wake_w = os.pipe()
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
            self._sel.register(self._wake_r, selectors.EVENT_READ, None)
            self._thread = threading.Thread(target=self._loop, name="civis-run-pump", daemon=True)
            self._thread.start()

    def _call(self, fn: Callable[[], None]) -> None:
        """Have the pump thread run ``fn`` soon."""
        self._ensure_thread()
        self._todo.append(fn)
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"x")

    def add(self, proc: _Proc) -> None:
        """Watch a started process (from any thread)."""
        self._call(lambda: self._register(proc))

    def terminate(self, proc: _Proc) -> None:
        """SIGTERM a process group now, SIGKILL after its grace (from any thread)."""
        self._call(lambda: self._terminate(proc))

    def stop(self, timeout: float) -> None:
        """Kill what is left, stop the thread."""
        if self._thread is None:
            return

        def stopping() -> None:
            self._stopping = True
            for proc in list(self._procs):
                proc.grace = 0.0
                self._terminate(proc)

        self._call(stopping)
        self._thread.join(max(timeout, 1.0))

    # -- on the pump thread --------------------------------------------------------

    def _register(self, proc: _Proc) -> None:
        assert self._sel is not None
        self._procs.add(proc)
        popen = proc.proc
        for stream, level in ((popen.stdout, "info"), (popen.stderr, "error")):
            assert stream is not None
            self._sel.register(stream, selectors.EVENT_READ, (proc, level))
        with contextlib.suppress(AttributeError, OSError):
            proc.pidfd = os.pidfd_open(popen.pid)
            self._sel.register(proc.pidfd, selectors.EVENT_READ, (proc, "exit"))
        if proc.terminated:
            self._terminate(proc)

    def _terminate(self, proc: _Proc) -> None:
        if proc.code is not None or proc not in self._procs:
            proc.terminated = True  # not registered yet, or already reaped
            return
        proc.terminated = True
        with contextlib.suppress(OSError):
            os.killpg(proc.proc.pid, signal.SIGKILL if proc.grace <= 0 else signal.SIGTERM)
        deadline = time.monotonic() + proc.grace
        proc.kill_at = deadline if proc.kill_at is None else min(proc.kill_at, deadline)

    def _loop(self) -> None:
        assert self._sel is not None
        while True:
            for key, _mask in self._sel.select(self._timeout()):
                if key.data is None:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 4096):
                            pass
                    continue
                proc, what = key.data
                if what == "exit":
                    self._exited(proc)
                else:
                    self._read(proc, key.fileobj, what)
            while self._todo:
                try:
                    self._todo.popleft()()
                except Exception:  # keep pumping for the other runs
                    traceback.print_exc()
            self._tick()
            if self._stopping and not self._procs:
                break
        self._sel.close()
        wake_r, wake_w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = -1
        os.close(wake_w)
        os.close(wake_r)

    def _timeout(self) -> float | None:
        now = time.monotonic()
        waits = []
        for proc in self._procs:
            if proc.pidfd is None and proc.code is None:
                waits.append(0.1)  # no pidfd: poll for the exit
            for when in (proc.kill_at, proc.drain_until):
                if when is not None:
                    waits.append(max(0.0, when - now))
        return min(waits) if waits else None

    def _read(self, proc: _Proc, stream: Any, level: str) -> None:
        try:
            data = os.read(stream.fileno(), 65536)
        except OSError:
            data = b""
        if data:
            proc.take(level, data)
        else:
            self._close_stream(proc, stream, level)

    def _close_stream(self, proc: _Proc, stream: Any, level: str) -> None:
        assert self._sel is not None
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(stream)
        stream.close()
        proc.take(level, b"", final=True)
        proc.open_streams -= 1

    def _exited(self, proc: _Proc) -> None:
        """The leader exited: kill what it left in its group, then reap it."""
        pid = proc.proc.pid
        if hasattr(os, "waitid") and hasattr(os, "WNOWAIT"):
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
                    return  # still running (polling without a pidfd)
            except ChildProcessError:
                pass
            else:
                # Still a zombie: the group id cannot have been reused.
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
            proc.code = proc.proc.wait()
        else:
            code = proc.proc.poll()
            if code is None:
                return
            proc.code = code
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        proc.kill_at = None
        proc.drain_until = time.monotonic() + DRAIN_TIMEOUT
        if proc.pidfd is not None:
            assert self._sel is not None
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(proc.pidfd)
            os.close(proc.pidfd)
            proc.pidfd = None

    def _tick(self) -> None:
        now = time.monotonic()
        for proc in list(self._procs):
            if proc.code is None:
                if proc.kill_at is not None and now >= proc.kill_at:
                    proc.kill_at = None
                    with contextlib.suppress(OSError):
                        os.killpg(proc.proc.pid, signal.SIGKILL)
                if proc.pidfd is None:
                    self._exited(proc)
            elif proc.open_streams and proc.drain_until is not None and now >= proc.drain_until:
                # Something that left the group still holds the pipes: stop waiting.
                for stream, level in ((proc.proc.stdout, "info"), (proc.proc.stderr, "error")):
                    if stream is not None and not stream.closed:
                        self._close_stream(proc, stream, level)
            if proc.lines:
                lines, proc.lines = proc.lines, []
                with contextlib.suppress(sqlite3.ProgrammingError):
                    self.runner.append_logs(proc.run_id, lines)
            if proc.code is not None and not proc.open_streams:
                self._procs.discard(proc)
                try:
                    proc.on_exit(proc)
                except Exception:  # a bug in one run's ending must not stop the pump
                    traceback.print_exc()


# -- the command executor --------------------------------------------------------


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _write_shim(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "civis"
    shim.write_text(
        "#!/bin/sh\n"
        "# The civis command inside platform runs: this package's CLI.\n"
        f'exec "{sys.executable}" -c "import sys; from civis_jupyter.cli import main; '
        'sys.exit(main())" "$@"\n'
    )
    shim.chmod(0o755)


def _mint_key(platform: RunHost, user_id: int | None, run_id: int) -> str | None:
    """A fresh API key of the run's user (not the platform's admin), for the run."""
    hook = getattr(platform, "mint_run_key", None)
    if hook is not None:
        return hook(user_id, run_id)
    store = getattr(platform, "store", None)
    if store is None or user_id is None:
        return None
    token, _record = store.identity.create_key(user_id, f"run {run_id}", run_id=run_id)
    return token


def _revoke_key(platform: RunHost, key: str) -> None:
    hook = getattr(platform, "revoke_run_key", None)
    if hook is not None:
        hook(key)
        return
    store = getattr(platform, "store", None)
    if store is not None:
        store.identity.revoke_token(key)


class CommandExecutor:
    """An executor that runs a shell command as the run's process.

    Made by :func:`command_executor`. The runner starts it with
    :meth:`start_async` (the process is then watched by the runner's single
    pump thread); calling it blocks until the process ends, like any executor.

    Parameters
    ----------
    command : str
        The command (e.g. a container script's ``dockerCommand``).
    env : mapping, optional
        Extra environment variables, read when the run starts.
    shell : str
        The shell that interprets the command.
    cancel_timeout : float, optional
        Seconds between SIGTERM and SIGKILL when cancelled.
    prepare : callable, optional
        Called with the :class:`RunContext` before the process starts (e.g.
        to write a script file into the run's directory).
    """

    def __init__(
        self,
        command: str,
        env: Mapping[str, str] | None = None,
        shell: str = "/bin/bash",
        cancel_timeout: float | None = None,
        prepare: Callable[[RunContext], None] | None = None,
    ):
        self.command = command
        self.env = env
        self.shell = shell
        self.grace = KILL_GRACE if cancel_timeout is None else max(0.0, float(cancel_timeout))
        self.prepare = prepare

    def __repr__(self) -> str:
        return f"CommandExecutor({self.command!r})"

    def __call__(self, ctx: RunContext) -> None:
        """Run the command and wait for it to end.

        Raises
        ------
        RunCancelled
            If the run was cancelled.
        RuntimeError
            If it exited with a non-zero status or could not start.
        """
        ended = threading.Event()
        errors: list[BaseException | None] = []

        def done(error: BaseException | None) -> None:
            errors.append(error)
            ended.set()

        self.start_async(ctx, done)
        ended.wait()
        if errors[0] is not None:
            raise errors[0]

    def start_async(self, ctx: RunContext, done: Callable[[BaseException | None], None]) -> None:
        """Start the process; ``done(error)`` is called once it ended.

        Parameters
        ----------
        ctx : RunContext
            The run.
        done : callable
            Called on the pump thread with ``None`` (success), a
            :class:`RunCancelled` or the failure; never called if this raises.

        Raises
        ------
        RuntimeError
            If the platform does not execute commands or there is no command.
        """
        platform = ctx.platform
        if not getattr(platform, "execute", True):
            raise RuntimeError(NO_EXEC_ERROR)
        if not self.command or not str(self.command).strip():
            raise RuntimeError("the script has no command to run")
        if self.prepare is not None:
            self.prepare(ctx)
        ctx.check()
        runner = ctx.runner
        run_dir = ctx.run_dir.resolve()
        work = run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        _write_shim(run_dir / "bin")
        key = _mint_key(platform, ctx.user_id, ctx.run_id)
        try:
            argv = [self.shell, "-c", str(self.command)]
            if runner.sandbox is not None:
                argv = runner.sandbox.argv(runner.data_dir.resolve(), run_dir, work, argv)
            popen = subprocess.Popen(
                argv,
                cwd=work,
                env=self._environment(ctx, run_dir, key),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except BaseException:
            if key:
                _revoke_key(platform, key)
            raise

        def on_exit(proc: _Proc) -> None:
            ctx.on_cancel(None)
            try:
                if key:
                    _revoke_key(platform, key)
            finally:
                done(_outcome(ctx, proc))

        proc = _Proc(popen, self.grace, on_exit, ctx.run_id)
        runner._pump.add(proc)
        ctx.on_cancel(lambda: runner._pump.terminate(proc))
        try:
            runner._record_process(ctx.run_id, popen.pid)
        except sqlite3.Error:  # only crash recovery needs it; the run goes on
            traceback.print_exc()

    def _environment(self, ctx: RunContext, run_dir: Path, key: str | None) -> dict[str, str]:
        full_env = dict(os.environ)
        full_env.pop("CIVIS_API_KEY", None)
        full_env.update(self.env or {})
        python_path = [_package_root()]
        if full_env.get("PYTHONPATH"):
            python_path.append(full_env["PYTHONPATH"])
        full_env.update(
            {
                "CIVIS_API_ENDPOINT": str(getattr(ctx.platform, "endpoint", "")),
                "CIVIS_JOB_ID": str(ctx.job_id),
                "CIVIS_RUN_ID": str(ctx.run_id),
                RUN_MARK: ctx.marker,
                "PATH": os.pathsep.join(
                    [
                        str(run_dir / "bin"),
                        str(Path(sys.executable).parent),
                        full_env.get("PATH", ""),
                    ]
                ),
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "HOME": full_env.get("HOME", str(run_dir / "work")),
            }
        )
        if key:
            full_env["CIVIS_API_KEY"] = key
        return full_env


def _outcome(ctx: RunContext, proc: _Proc) -> BaseException | None:
    """How a finished command ended: ``None``, cancelled or its failure."""
    if ctx.cancelled.is_set():
        return RunCancelled()
    code = proc.code
    if not code:
        return None
    detail = f": {proc.last_error}" if proc.last_error else ""
    if code < 0:
        return RuntimeError(f"the process was killed by signal {-code}{detail}")
    return RuntimeError(f"the process exited with status {code}{detail}")


def command_executor(
    command: str,
    env: Mapping[str, str] | None = None,
    shell: str = "/bin/bash",
    cancel_timeout: float | None = None,
    prepare: Callable[[RunContext], None] | None = None,
) -> CommandExecutor:
    """An executor that runs a shell command as the run's process.

    Parameters
    ----------
    command : str
        The command (e.g. a container script's ``dockerCommand``).
    env : mapping, optional
        Extra environment variables (script parameters, ...), read when the
        run starts.
    shell : str
        The shell that interprets the command.
    cancel_timeout : float, optional
        Seconds between SIGTERM and SIGKILL when the run is cancelled (a
        script's ``cancelTimeout``); :data:`KILL_GRACE` when not given.
    prepare : callable, optional
        Called with the run's :class:`RunContext` before the process starts.

    Returns
    -------
    CommandExecutor
        The executor: it fails the run on a non-zero exit status.
    """
    return CommandExecutor(command, env, shell, cancel_timeout, prepare)
