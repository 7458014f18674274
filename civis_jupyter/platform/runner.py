"""The run state machine for every kind of job, with its executors and live logs.

Every run, whatever its job (query, SQL script, import, CSV preprocess,
container / Python / custom script), goes through one state machine::

    queued -> running -> succeeded | failed | cancelled
    queued -> cancelled

:class:`Runner` persists runs, their log lines and their outputs in SQLite
(``runs.sqlite3`` in the platform's data directory), so they survive a
restart; :meth:`Runner.recover` turns runs that a previous process left
queued or running into failed runs ("platform restarted").

Executors are callables taking a :class:`RunContext`. Python callables do SQL
and imports; :func:`command_executor` runs a shell command as a subprocess in
the run's own working directory and process group, with ``CIVIS_API_KEY`` (a
key minted for the run and revoked when it ends), ``CIVIS_API_ENDPOINT``,
``CIVIS_JOB_ID`` and ``CIVIS_RUN_ID`` set and a ``civis`` command on ``PATH``
backed by this package's CLI. Its stdout and stderr lines stream into the
run's logs while it runs. Cancelling kills the whole process group.

When the platform does not execute commands (``execute=False``), command runs
fail at once with an error that says so; SQL, imports and preprocessing still
run, since they execute no user commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = [
    "ACTIVE_STATES",
    "DONE_STATES",
    "AlreadyRunning",
    "Executor",
    "InvalidTransition",
    "RunCancelled",
    "RunContext",
    "Runner",
    "command_executor",
    "iso_now",
]

ACTIVE_STATES = frozenset({"queued", "running"})
DONE_STATES = frozenset({"succeeded", "failed", "cancelled"})
_TRANSITIONS = {
    "queued": {"running", "cancelled", "failed"},
    "running": {"succeeded", "failed", "cancelled"},
}
#: Seconds a cancelled process group gets between SIGTERM and SIGKILL.
KILL_GRACE = 5.0
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


def iso_now() -> str:
    """The current UTC time as Civis writes it (``2024-01-02T03:04:05.000Z``)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


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
    """

    runner: Runner
    run_id: int
    job_id: int
    user_id: int | None
    run_dir: Path
    cancelled: threading.Event = field(default_factory=threading.Event)
    _kill: Callable[[], None] | None = None

    def on_cancel(self, kill: Callable[[], None] | None) -> None:
        """Register how to stop the run's work when it is cancelled.

        Parameters
        ----------
        kill : callable or None
            Called (on a background thread) once, when the run is cancelled or
            the platform shuts down; ``None`` unregisters.
        """
        self._kill = kill
        if kill is not None and self.cancelled.is_set():
            kill()

    @property
    def platform(self) -> Any:
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

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.done = threading.Event()
        self.thread: threading.Thread | None = None


class _RunDB:
    """SQLite persistence of runs, log lines and outputs."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(
                """
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
            )

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._con.close()


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


class Runner:
    """Starts, tracks, cancels and records runs of every kind of job.

    Parameters
    ----------
    platform : object
        The platform. Used attributes: ``data_dir`` (a Path), ``execute``
        (bool, default True), ``endpoint`` (str) and, for command runs, its
        ``store`` (``create_key``/``revoke_token``) to give each run its own
        key, or ``mint_run_key(user_id, run_id)``/``revoke_run_key(key)`` hooks.
    """

    def __init__(self, platform: Any):
        self.platform = platform
        self.data_dir = Path(platform.data_dir)
        self._db = _RunDB(self.data_dir / "runs.sqlite3")
        self._live: dict[int, _Live] = {}
        self._lock = threading.RLock()
        self._closed = False
        #: Callables ``(run_id, state)`` told of every state change (long polls).
        self.listeners: list[Callable[[int, str], None]] = []

    def __repr__(self) -> str:
        return f"Runner({str(self.data_dir)!r}, live={len(self._live)})"

    # -- starting and state ---------------------------------------------------

    def start(
        self,
        job_id: int,
        kind: str,
        executor: Executor,
        user_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a queued run of a job and start executing it in the background.

        Parameters
        ----------
        job_id : int
            The job (script, import, query, ...).
        kind : str
            The job's kind (e.g. ``"containers"``, ``"sql"``); recorded.
        executor : callable
            Called with a :class:`RunContext` on a worker thread. Returning
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
            with self._db.tx() as con:
                cur = con.execute(
                    "INSERT INTO runs (job_id, kind, user_id, state, created_at, detail) "
                    "VALUES (?, ?, ?, 'queued', ?, ?)",
                    (int(job_id), kind, user_id, iso_now(), json.dumps(dict(detail or {}))),
                )
                run_id = int(cur.lastrowid)
            ctx = RunContext(
                runner=self,
                run_id=run_id,
                job_id=int(job_id),
                user_id=user_id,
                run_dir=self.data_dir / "runs" / str(run_id),
            )
            live_run = self._live[run_id] = _Live(ctx)
            thread = threading.Thread(
                target=self._execute,
                args=(live_run, executor),
                name=f"civis-run-{run_id}",
                daemon=True,
            )
            live_run.thread = thread
            run = self.get(run_id)
        thread.start()
        assert run is not None
        return run

    def _execute(self, live: _Live, executor: Executor) -> None:
        ctx = live.ctx
        try:
            if not self._transition(ctx.run_id, "running", started=True):
                return
            try:
                executor(ctx)
            except RunCancelled:
                self._transition(ctx.run_id, "cancelled")
            except Exception as exc:
                if ctx.cancelled.is_set():
                    self._transition(ctx.run_id, "cancelled")
                else:
                    message = str(exc) or type(exc).__name__
                    if isinstance(exc, _BUG_TYPES):
                        self.append_logs(ctx.run_id, [(traceback.format_exc().rstrip(), "error")])
                    self._transition(ctx.run_id, "failed", error=message)
            else:
                if ctx.cancelled.is_set():
                    self._transition(ctx.run_id, "cancelled")
                else:
                    self._transition(ctx.run_id, "succeeded")
        finally:
            with self._lock:
                self._live.pop(ctx.run_id, None)
            live.done.set()

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

    # -- cancelling ------------------------------------------------------------

    def cancel(self, run_id: int) -> dict[str, Any]:
        """Cancel a run: kill its process group (if any) and mark it cancelled.

        Cancelling a finished run changes nothing.

        Parameters
        ----------
        run_id : int
            The run.

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
            else:
                kill = None
            self._transition(run_id, "cancelled")
        if kill is not None:
            threading.Thread(target=kill, name=f"civis-kill-{run_id}", daemon=True).start()
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
                ids.append(int(cur.lastrowid))
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
        """Fail runs that a previous process left queued or running.

        Returns
        -------
        int
            How many runs were failed.
        """
        with self._lock, self._db.tx() as con:
            live = tuple(self._live)
            keep = f" AND id NOT IN ({','.join('?' * len(live))})" if live else ""
            cur = con.execute(
                "UPDATE runs SET state = 'failed', error = 'platform restarted', "
                "finished_at = ? WHERE state IN ('queued', 'running')" + keep,
                (iso_now(), *live),
            )
            return cur.rowcount

    def clear(self, timeout: float = KILL_GRACE + 5) -> None:
        """Kill live runs and forget every run, log line and output (a reset).

        Parameters
        ----------
        timeout : float
            Seconds to wait for live runs to stop.
        """
        with self._lock:
            lives = list(self._live.values())
        for live in lives:
            live.ctx.cancelled.set()
            kill = live.ctx._kill
            if kill is not None:
                threading.Thread(target=kill, daemon=True).start()
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
            lives = list(self._live.values())
        for live in lives:
            live.ctx.cancelled.set()
            self._transition(live.ctx.run_id, "failed", error="platform shut down")
            kill = live.ctx._kill
            if kill is not None:
                threading.Thread(target=kill, daemon=True).start()
        deadline = time.monotonic() + timeout
        for live in lives:
            live.done.wait(max(0.0, deadline - time.monotonic()))
        self._db.close()


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


def _kill_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers.

    The group id is the leader's pid (``start_new_session=True``).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _mint_key(platform: Any, user_id: int | None, run_id: int) -> str | None:
    """A fresh API key for the run's user, scoped to the run."""
    hook = getattr(platform, "mint_run_key", None)
    if hook is not None:
        return hook(user_id, run_id)
    store = getattr(platform, "store", None)
    if store is None or user_id is None:
        return None
    token, _record = store.create_key(user_id, f"run {run_id}", run_id=run_id)
    return token


def _revoke_key(platform: Any, key: str) -> None:
    hook = getattr(platform, "revoke_run_key", None)
    if hook is not None:
        hook(key)
        return
    store = getattr(platform, "store", None)
    if store is not None:
        store.revoke_token(key)


def command_executor(
    command: str,
    env: Mapping[str, str] | None = None,
    shell: str = "/bin/bash",
    cancel_timeout: float | None = None,
) -> Executor:
    """An executor that runs a shell command as the run's process.

    Parameters
    ----------
    command : str
        The command (e.g. a container script's ``dockerCommand``).
    env : mapping, optional
        Extra environment variables (script parameters, ...).
    shell : str
        The shell that interprets the command.
    cancel_timeout : float, optional
        Seconds between SIGTERM and SIGKILL when the run is cancelled (a
        script's ``cancelTimeout``); :data:`KILL_GRACE` when not given.

    Returns
    -------
    callable
        The executor: it fails the run on a non-zero exit status.
    """

    def execute(ctx: RunContext) -> None:
        platform = ctx.platform
        if not getattr(platform, "execute", True):
            raise RuntimeError(NO_EXEC_ERROR)
        if not command or not str(command).strip():
            raise RuntimeError("the script has no command to run")
        work = ctx.run_dir / "work"
        work.mkdir(parents=True, exist_ok=True)
        bin_dir = ctx.run_dir / "bin"
        _write_shim(bin_dir)
        key = _mint_key(platform, ctx.user_id, ctx.run_id)
        full_env = dict(os.environ)
        full_env.pop("CIVIS_API_KEY", None)
        full_env.update(env or {})
        python_path = [_package_root()]
        if full_env.get("PYTHONPATH"):
            python_path.append(full_env["PYTHONPATH"])
        full_env.update(
            {
                "CIVIS_API_ENDPOINT": str(getattr(platform, "endpoint", "")),
                "CIVIS_JOB_ID": str(ctx.job_id),
                "CIVIS_RUN_ID": str(ctx.run_id),
                "PATH": os.pathsep.join(
                    [str(bin_dir), str(Path(sys.executable).parent), full_env.get("PATH", "")]
                ),
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "HOME": full_env.get("HOME", str(work)),
            }
        )
        if key:
            full_env["CIVIS_API_KEY"] = key
        try:
            grace = KILL_GRACE if cancel_timeout is None else max(0.0, float(cancel_timeout))
            _run_process(ctx, [shell, "-c", str(command)], work, full_env, grace)
        finally:
            if key:
                _revoke_key(platform, key)

    return execute


def _run_process(
    ctx: RunContext,
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    grace: float = KILL_GRACE,
) -> None:
    ctx.check()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    ctx.on_cancel(lambda: _kill_group(proc, grace))

    def reap() -> None:
        # Like a container: when the main process ends, whatever it left
        # running in its process group ends too (and stops holding the pipes).
        proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    threading.Thread(target=reap, name=f"civis-reap-{ctx.run_id}", daemon=True).start()
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue()

    def read(stream: Any, level: str) -> None:
        try:
            for raw in iter(stream.readline, b""):
                lines.put((raw.decode("utf-8", "replace").rstrip("\r\n"), level))
        finally:
            lines.put(None)

    readers = [
        threading.Thread(target=read, args=(proc.stdout, "info"), daemon=True),
        threading.Thread(target=read, args=(proc.stderr, "error"), daemon=True),
    ]
    for t in readers:
        t.start()
    open_streams = len(readers)
    last_error = ""
    while open_streams:
        item = lines.get()
        batch = []
        while True:
            if item is None:
                open_streams -= 1
            else:
                batch.append(item)
                if item[1] == "error" and item[0].strip():
                    last_error = item[0].strip()
            if len(batch) >= 1000:
                break
            try:
                item = lines.get_nowait()
            except queue.Empty:
                break
        ctx.runner.append_logs(ctx.run_id, batch)
    code = proc.wait()
    ctx.on_cancel(None)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    if ctx.cancelled.is_set():
        raise RunCancelled()
    if code != 0:
        detail = f": {last_error}" if last_error else ""
        if code < 0:
            raise RuntimeError(f"the process was killed by signal {-code}{detail}")
        raise RuntimeError(f"the process exited with status {code}{detail}")
