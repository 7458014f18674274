"""The joblib backend over platform runs (imported by :mod:`civis_jupyter.parallel`).

This module imports joblib and cloudpickle at the top: :mod:`civis_jupyter.parallel`
imports it only once a backend is asked for, after checking they are there.

One batch of tasks is one platform run: the batch is pickled with cloudpickle
(at once, in the caller, so that what cannot be pickled fails before anything
starts), stored as a platform file, and run by a worker command
(:mod:`civis_jupyter.parallel_worker`) in a container script, or by the
template's script of a custom script. At most ``n_jobs`` runs go at once;
further batches wait in the backend, not on the platform. Each run is
followed by a :class:`~civis_jupyter.futures.CivisFuture` on the client's
shared poller; when it ends, a small thread pool (never the poller) reads the
run's output file and hands the result, or the task's exception with the
remote traceback as its ``__cause__``, to joblib, which then dispatches the
next batch. When joblib aborts (a task failed, Ctrl-C), every batch not yet
started is dropped and every run still going is cancelled on the platform.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import datetime
import logging
import os
import pickle
import shlex
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import cloudpickle
from joblib.parallel import ParallelBackendBase

from . import __version__
from .api.client import APIClient
from .api.errors import CivisAPIError, CivisJobFailure
from .executors import ContainerExecutor, CustomScriptExecutor
from .futures import CivisFuture
from .parallel import JobSubmissionError
from .parallel_worker import REMOTE_TRACEBACK, LightBatch

__all__ = [
    "ALL_JOBS",
    "BatchProgress",
    "CivisBackend",
    "JobSubmissionError",
    "RemoteTraceback",
    "TaskPicklingError",
]

log = logging.getLogger(__name__)

#: Runs used for ``n_jobs=-1``.
ALL_JOBS = 50
#: Days the function files are kept.
FILE_DAYS = 7
WORKER_MODULE = "civis_jupyter.parallel_worker"
WORKER_COMMAND = "civis-jupyter-joblib-worker"


class TaskPicklingError(pickle.PicklingError):
    """A task's function or argument cannot be pickled, so it cannot be sent."""


class RemoteTraceback(Exception):
    """The traceback of a task's exception, as the worker printed it."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\nRemote traceback (in the platform run):\n" + self.text.rstrip()


def worker_command(file_id: int, setup_cmd: str) -> str:
    """The shell command of a batch's container script.

    It runs the installed worker command, or the worker module, or installs
    this package first when the image lacks it.
    """
    install = shlex.quote(f"civis-jupyter[parallel]=={__version__}")
    probe = (
        "python -c 'import importlib.util as u,sys;sys.exit(not u.find_spec(\"civis_jupyter\"))'"
    )
    return (
        f"{setup_cmd} && "
        f"if command -v {WORKER_COMMAND} >/dev/null; then exec {WORKER_COMMAND} {file_id}; "
        f"else {{ {probe} || pip install {install}; }} && "
        f"exec python -m {WORKER_MODULE} {file_id}; fi"
    )


# -- pickling -----------------------------------------------------------------------------


def _dumps(obj: Any) -> bytes:
    return cloudpickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


def _name_of(func: Any) -> str:
    return getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)


def _culprit(batch: Any) -> str | None:
    """Which function or argument of a joblib batch cannot be pickled."""
    for func, args, kwargs in getattr(batch, "items", None) or []:
        checks: list[tuple[str, Any]] = [(f"the function {_name_of(func)}", func)]
        checks += [
            (f"argument {i} of {_name_of(func)} ({type(a).__name__})", a)
            for i, a in enumerate(args)
        ]
        checks += [
            (f"argument {k}= of {_name_of(func)} ({type(v).__name__})", v)
            for k, v in kwargs.items()
        ]
        for what, value in checks:
            try:
                _dumps(value)
            except Exception as exc:
                return f"{what} cannot be pickled: {type(exc).__name__}: {exc}"
    return None


def pickle_batch(batch: Any, remote_backend: Any) -> bytes:
    """``(batch, remote_backend)`` pickled with cloudpickle.

    Raises
    ------
    TaskPicklingError
        Naming the function or argument that cannot be pickled.
    """
    try:
        return _dumps((batch, remote_backend))
    except Exception as exc:
        detail = _culprit(batch) or f"{type(exc).__name__}: {exc}"
        raise TaskPicklingError(f"Cannot send the task to Civis Platform: {detail}") from None


def upload_bytes(client: APIClient, data: bytes, name: str, expires_at: str | None = None) -> int:
    """Store bytes as a new platform file with the client's pooled session; return its id."""
    created = client.files.post(name, expires_at=expires_at) if expires_at else None
    created = created or client.files.post(name)
    fields = dict((created.json_data or {}).get("uploadFields") or {})
    form: list[tuple[str, tuple[str | None, Any]]] = [
        (key, (None, str(value))) for key, value in fields.items()
    ]
    form.append(("file", (name, data)))
    response = client._transport.session.post(created["upload_url"], files=form, timeout=600)
    if not response.ok:
        raise OSError(f"Uploading {name!r} failed ({response.status_code}).")
    return int(created["id"])


def download_bytes(client: APIClient, file_id: int) -> bytes:
    """The contents of a platform file."""
    url = client.files.get(file_id)["file_url"]
    if not url:
        raise OSError(f"Platform file {file_id} has no contents.")
    response = client._transport.session.get(url, timeout=600)
    if not response.ok:
        raise OSError(f"Downloading platform file {file_id} failed ({response.status_code}).")
    return response.content


def _with_remote_traceback(exc: BaseException) -> BaseException:
    text = getattr(exc, REMOTE_TRACEBACK, None)
    if text and not isinstance(exc.__cause__, RemoteTraceback):
        exc.__cause__ = RemoteTraceback(text)
    return exc


# -- progress -----------------------------------------------------------------------------


class BatchProgress:
    """Counts of a ``Parallel`` call's runs, for progress displays.

    Attributes
    ----------
    total : int or None
        Tasks in the call, when joblib knows (``None`` for a generator).
    started_at : float
        ``time.time()`` when the call started.
    finished_at : float or None
        When it ended.
    """

    def __init__(self, total: int | None = None):
        self.total = total
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.counts: collections.Counter[str] = collections.Counter()
        self.tasks = 0
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[BatchProgress], None]] = []
        self.cancel: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<BatchProgress {self.summary()}>"

    def subscribe(self, callback: Callable[[BatchProgress], None]) -> Callable[[], None]:
        """Call ``callback(progress)`` after every change; returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def move(self, old: str | None, new: str, tasks: int = 0) -> None:
        """A batch went from state ``old`` to ``new`` (``tasks``: its size, when new)."""
        with self._lock:
            if old is not None:
                self.counts[old] -= 1
            self.counts[new] += 1
            self.tasks += tasks
            subscribers = list(self._subscribers)
        self._publish(subscribers)

    def finish(self) -> None:
        """The call ended."""
        with self._lock:
            self.finished_at = self.finished_at or time.time()
            subscribers = list(self._subscribers)
        self._publish(subscribers)

    def _publish(self, subscribers: list[Callable[[BatchProgress], None]]) -> None:
        for callback in subscribers:
            try:
                callback(self)
            except Exception:  # a broken display must not break the batch
                log.exception("progress subscriber failed")

    @property
    def elapsed(self) -> float:
        """Seconds since the call started (until it ended)."""
        return (self.finished_at or time.time()) - self.started_at

    def summary(self) -> str:
        """``"3 done, 2 running, 0 failed of 8 runs"``."""
        c = self.counts
        of = max(self.total or 0, sum(c.values()))
        text = f"{c['done']} done, {c['running']} running, {c['failed']} failed of {of} runs"
        if c["cancelled"]:
            text += f" ({c['cancelled']} cancelled)"
        return text


# -- one batch ------------------------------------------------------------------------------


class _Batch:
    """A batch on its way: pickled, then waiting, running and done."""

    def __init__(self, payload: bytes, callback: Callable[[Any], None] | None, size: int):
        self.payload = payload
        self.callback = callback
        self.size = size
        self.state = "waiting"
        self.future: CivisFuture | None = None
        self.reported = False


class _Failure:
    """A batch's exception, on its way to ``retrieve_result_callback``."""

    def __init__(self, exc: BaseException):
        self.exc = exc


# -- the backend ----------------------------------------------------------------------------


class CivisBackend(ParallelBackendBase):
    """Runs joblib batches as Civis Platform runs (see :mod:`civis_jupyter.parallel`).

    Parameters
    ----------
    setup_cmd : str, optional
        Shell command run before the worker in container scripts.
    from_template_id : int, optional
        Run batches as custom scripts of this template instead.
    max_submit_retries : int, optional
        Retries of a submission that the API refused.
    client : APIClient, optional
    remote_backend : str or object, optional
        The joblib backend used inside the runs; ``"civis"`` is this one.
    nesting_level : int, optional
    **executor_kwargs
        For the executor: ``docker_image_name``, ``max_n_retries``,
        ``polling_interval``, ``hidden``, ``arguments`` and fields of the
        scripts.
    """

    uses_threads = False
    supports_sharedmem = False
    supports_retrieve_callback = True

    def __init__(
        self,
        setup_cmd: str = ":",
        from_template_id: int | None = None,
        max_submit_retries: int = 0,
        client: APIClient | None = None,
        remote_backend: Any = "sequential",
        nesting_level: int = 0,
        **executor_kwargs: Any,
    ):
        super().__init__(nesting_level=nesting_level)
        if max_submit_retries < 0:
            raise ValueError(f"max_submit_retries must not be negative, not {max_submit_retries}")
        self.setup_cmd = setup_cmd
        self.from_template_id = from_template_id
        self.max_submit_retries = max_submit_retries
        self.client = client
        self.remote_backend = remote_backend
        self.executor_kwargs = executor_kwargs
        self._setup()

    def _api(self) -> APIClient:
        """The client (``_setup`` sets one)."""
        assert self.client is not None
        return self.client

    def _setup(self) -> None:
        self.client = self.client or APIClient()
        if self.from_template_id is not None:
            self.executor: Any = CustomScriptExecutor(
                self.from_template_id, client=self.client, **self.executor_kwargs
            )
        else:
            self.executor = ContainerExecutor(client=self.client, **self.executor_kwargs)
        self._lock = threading.RLock()
        self._waiting: collections.deque[_Batch] = collections.deque()
        self._running: set[_Batch] = set()
        self._n_jobs = 1
        self._aborting = False
        self._cancelled_by_user = False
        self._pool: cf.ThreadPoolExecutor | None = None
        self.progress = BatchProgress()
        self._display: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the client, threads and runs (for ``remote_backend="civis"``)."""
        keep = (
            "setup_cmd",
            "from_template_id",
            "max_submit_retries",
            "remote_backend",
            "executor_kwargs",
            "nesting_level",
        )
        return {name: self.__dict__[name] for name in keep if name in self.__dict__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.client = None
        self.inner_max_num_threads = None
        self.backend_kwargs: dict[str, Any] = {}
        self._setup()

    # -- joblib's interface ---------------------------------------------------------------
    def effective_n_jobs(self, n_jobs: int | None) -> int:
        """Runs at once: ``n_jobs``, or :data:`ALL_JOBS` for -1."""
        if n_jobs is None:
            return 1
        if n_jobs == -1:
            return ALL_JOBS
        if n_jobs <= 0:
            raise ValueError(
                f"n_jobs must be a positive number of runs, or -1 for {ALL_JOBS}, not {n_jobs}"
            )
        return n_jobs

    def configure(
        self, n_jobs: int = 1, parallel: Any = None, prefer: Any = None, require: Any = None, **kw
    ) -> int:
        """Prepare for a ``Parallel`` call; at most ``n_jobs`` runs go at once."""
        self.parallel = parallel
        self._n_jobs = self.effective_n_jobs(n_jobs)
        return self._n_jobs

    def start_call(self) -> None:
        """A ``Parallel`` call starts: fresh progress; a live display in Jupyter."""
        with self._lock:
            self._aborting = False
            self._cancelled_by_user = False
            total = getattr(getattr(self, "parallel", None), "n_tasks", None)
            self.progress = BatchProgress(total)
            self.progress.cancel = self.cancel
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(
                    min(self._n_jobs, 16) + 1, thread_name_prefix="civis-joblib"
                )
        self._display = _show_progress(self.progress)

    def stop_call(self) -> None:
        """The call ended: the display shows the final counts."""
        self.progress.finish()

    def terminate(self) -> None:
        """Cancel anything left and stop the backend's threads."""
        self.abort_everything(ensure_ready=False)

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """Drop waiting batches and cancel every run still going.

        Parameters
        ----------
        ensure_ready : bool, optional
            Keep the backend usable for another call.
        """
        with self._lock:
            self._aborting = True
            waiting = list(self._waiting)
            self._waiting.clear()
            running = [b for b in self._running if b.future is not None]
        for batch in waiting:
            self._move(batch, "cancelled")
        self._cancel_runs(running)
        if not ensure_ready:
            with self._lock:
                pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=False)
        self.progress.finish()

    def submit(self, func: Any, callback: Callable[[Any], None] | None = None) -> _Batch:
        """Pickle a batch now (failing at once if it cannot be); run it when a slot frees."""
        remote = self if self.remote_backend == "civis" else self.remote_backend
        items = getattr(func, "items", None)
        if self.from_template_id is None and items is not None:
            # Our worker runs these: plain calls, so that it need not import joblib.
            func = LightBatch(list(items))
        batch = _Batch(pickle_batch(func, remote), callback, len(items or [0]))
        with self._lock:
            if self._pool is None:
                raise RuntimeError("the Civis backend was terminated; use a new one")
            self._waiting.append(batch)
            self.progress.move(None, "waiting", batch.size)
        self._fill()
        return batch

    def retrieve_result_callback(self, out: Any) -> Any:
        """The batch's results, or raise its exception."""
        if isinstance(out, _Failure):
            raise out.exc
        return out

    # -- running ------------------------------------------------------------------------------
    def _move(self, batch: _Batch, state: str) -> None:
        old, batch.state = batch.state, state
        self.progress.move(old, state)

    def _fill(self) -> None:
        """Start waiting batches while fewer than ``n_jobs`` runs go."""
        starting = []
        with self._lock:
            stopped = self._aborting or self._cancelled_by_user
            while self._waiting and len(self._running) < self._n_jobs and not stopped:
                batch = self._waiting.popleft()
                self._running.add(batch)
                starting.append(batch)
            pool = self._pool
        for batch in starting:
            if pool is None:
                return
            pool.submit(self._launch, batch)

    def _launch(self, batch: _Batch) -> None:
        """On a pool thread: store the batch, create the script, start its run."""
        try:
            future = self._submit_with_retries(batch)
        except BaseException as exc:
            self._report(batch, _Failure(exc), "failed")
            return
        with self._lock:
            batch.future = future
            stopped = self._aborting or self._cancelled_by_user
        self._move(batch, "running")
        future.add_done_callback(lambda _f: self._on_run_end(batch))
        if stopped:  # aborted while this run was being created
            self._cancel_runs([batch])

    def _submit_with_retries(self, batch: _Batch) -> CivisFuture:
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(FILE_DAYS)
        attempt = 0
        while True:
            try:
                file_id = upload_bytes(
                    self._api(),
                    batch.payload,
                    "civis_joblib_backend_func",
                    expires.isoformat(),
                )
                if self.from_template_id is not None:
                    return self.executor.submit(JOBLIB_FUNC_FILE_ID=file_id)
                return self.executor.submit(worker_command(file_id, self.setup_cmd))
            except (CivisAPIError, OSError) as exc:
                if attempt >= self.max_submit_retries:
                    raise JobSubmissionError(f"Submitting a batch failed: {exc}") from exc
                time.sleep(min(2**attempt, 30))
                attempt += 1

    def _on_run_end(self, batch: _Batch) -> None:
        """Runs in the future's callback: hand the result fetching to the pool."""
        pool = self._pool
        if pool is None:
            self._finish(batch)
            return
        try:
            pool.submit(self._finish, batch)
        except RuntimeError:  # shut down meanwhile
            self._finish(batch)

    def _finish(self, batch: _Batch) -> None:
        future = batch.future
        assert future is not None
        if future.cancelled():
            self._report(batch, None, "cancelled")
            return
        try:
            outcome = self._read_outcome(future)
        except BaseException as exc:
            self._report(batch, _Failure(exc), "failed")
            return
        state = "failed" if isinstance(outcome, _Failure) else "done"
        self._report(batch, outcome, state)

    def _read_outcome(self, future: CivisFuture) -> Any:
        """The batch's results or a :class:`_Failure`, from the run's output file."""
        failure = future.exception()
        assert future.run_id is not None  # a container run
        listed = self._api().jobs.list_runs_outputs(future.job_id, future.run_id)
        outputs = [o for o in listed if o.get("object_type") == "File"]
        if not outputs:
            if failure is not None:
                return _Failure(failure)
            raise CivisJobFailure(
                "The run succeeded but left no result file.",
                future.last_response,
                future.job_id,
                future.run_id,
            )
        data = download_bytes(self._api(), outputs[-1]["object_id"])
        try:
            value = cloudpickle.loads(data)
        except Exception as exc:
            raise RuntimeError(
                f"The result of job {future.job_id} / run {future.run_id} cannot be "
                f"unpickled here: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(value, BaseException):
            return _Failure(_with_remote_traceback(value))
        if failure is not None:
            return _Failure(failure)
        return value

    def _report(self, batch: _Batch, out: Any, state: str) -> None:
        """Record how a batch ended, free its slot and tell joblib."""
        with self._lock:
            if batch.reported:
                return
            batch.reported = True
            self._running.discard(batch)
            aborting = self._aborting
        self._move(batch, state)
        if aborting:  # joblib stopped listening
            return
        if state == "cancelled":  # by the user, or on the platform: joblib must stop
            out = _Failure(cf.CancelledError(_cancelled_text(batch)))
        else:
            self._fill()
        if batch.callback is not None:
            batch.callback(out)

    def cancel(self) -> None:
        """Cancel the current call: drop waiting batches, cancel the runs.

        The ``Parallel`` call then raises :class:`concurrent.futures.CancelledError`.
        """
        with self._lock:
            self._cancelled_by_user = True
            waiting = list(self._waiting)
            self._waiting.clear()
            running = [b for b in self._running if b.future is not None]
        for batch in waiting:
            self._report(batch, None, "cancelled")
        self._cancel_runs(running)

    def _cancel_runs(self, batches: list[_Batch]) -> None:
        """Cancel runs on the platform, several at once."""
        futures = [b.future for b in batches if b.future is not None and not b.future.done()]
        if not futures:
            return
        with cf.ThreadPoolExecutor(min(len(futures), 16)) as pool:
            list(pool.map(_cancel_quietly, futures))


def _cancelled_text(batch: _Batch) -> str:
    future = batch.future
    if future is None:
        return "The batch was cancelled before its run started."
    return f"The run of the batch was cancelled (job {future.job_id} / run {future.run_id})."


def _cancel_quietly(future: CivisFuture) -> None:
    try:
        future.cancel()
    except Exception as exc:  # already gone, or the API is unreachable
        log.warning("could not cancel job %s / run %s: %s", future.job_id, future.run_id, exc)


def _show_progress(progress: BatchProgress) -> Any:
    """Display a live progress widget when running in a Jupyter kernel."""
    ipython = sys.modules.get("IPython")  # never imported: not in Jupyter
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    if os.environ.get("CIVIS_JUPYTER_NO_WIDGETS"):
        return None
    with contextlib.suppress(ImportError):
        from IPython.display import display

        from .jupyter.widgets.parallel import ParallelProgressWidget

        widget = ParallelProgressWidget(progress)
        display(widget)
        return widget
    return None
