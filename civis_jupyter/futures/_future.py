"""CivisFuture: a ``concurrent.futures.Future`` over a Civis run."""

from __future__ import annotations

import logging
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures as _cf
from typing import Any

from ..api.client import APIClient
from ..api.errors import CivisAPIError, CivisJobFailure
from ..api.response import convert_response_data_type
from ..api.transport import Transport
from ._constants import (
    FIRST_INTERVAL,
    GROWTH,
    LOG_TAIL,
    MAX_INTERVAL,
    SUCCEEDED,
    WATCHED_LONG_POLL,
)
from ._fields import _field
from ._poller import poller_for
from ._registry import _new_future, _registry, _registry_lock
from ._subscribers import Subscribers, _Serial

_log = logging.getLogger("civis_jupyter.futures")  # the package's one logger

_local = threading.local()


def _client_of(poller: Callable[..., Any]) -> Any:
    owner = getattr(poller, "__self__", None)
    client = getattr(owner, "_client", None)
    return client if isinstance(client, APIClient) else None


class CivisFuture(_cf.Future):
    """A future that resolves when a Civis run ends.

    Parameters
    ----------
    poller : callable
        Returns the run's current state, e.g. ``client.scripts.get_sql_runs``.
    poller_args : sequence
        Arguments of ``poller``: ``(job_id, run_id)`` or ``(job_id,)``.
    polling_interval : float, optional
        Poll every this many seconds instead of the adaptive schedule.
    client : APIClient, optional
        The client (default: the one ``poller`` belongs to, or a new one).
        Any object with the API's methods works, e.g. a mock client.
    poll_on_creation : bool, optional
        Check the state right away, in the calling thread.
    max_retries : int, optional
        Start a new run of the job, up to this many times, if a run fails
        or its state cannot be read.

    Attributes
    ----------
    state : str
        The latest Civis state (``queued``, ``running``, ``succeeded``, ...).
    last_response : Response or None
        The latest run response.

    Notes
    -----
    Any error while polling (after the client's own retries) resolves the
    future with that error. Done-callbacks run on a small pool of threads,
    never on the polling threads; ``result()`` returns only after they have
    run, and raises the first error one of them raised.
    """

    def __init__(
        self,
        poller: Callable[..., Any],
        poller_args: Sequence[Any],
        polling_interval: float | None = None,
        client: Any = None,
        poll_on_creation: bool = True,
        max_retries: int | None = None,
    ):
        super().__init__()
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must not be negative.")
        if max_retries and len(poller_args) < 2:
            raise ValueError("max_retries needs poller_args with a run id (job_id, run_id).")
        if polling_interval is not None and polling_interval <= 0:
            raise ValueError("polling_interval must be positive.")
        self.poller = poller
        self.poller_args = tuple(poller_args)
        self.polling_interval = polling_interval
        self.client = client if client is not None else _client_of(poller) or APIClient()
        self._max_retries = max_retries or 0
        self._retries_used = 0
        self.state: str = "queued"
        self.last_response: Any = None
        self._interval = FIRST_INTERVAL
        self._subscribers = Subscribers()
        self._events = _Serial()
        self._created = time.time()
        self._created_mono = time.monotonic()
        self._etag: str | None = None
        self._cancel_lock = threading.Lock()
        self._callbacks = threading.Condition()
        self._callbacks_pending = 0
        self._callback_error: BaseException | None = None
        with _registry_lock:
            _registry.append(weakref.ref(self))
        self._poller = poller_for(self.client)
        _new_future.notify(self)  # once subscribe() works
        delay: float | None = 0.0
        if poll_on_creation:
            delay = self._poll(long_poll=0.0)
        if delay is not None:
            self._poller.add(self, delay)

    def __repr__(self) -> str:
        return (
            f"<CivisFuture at {id(self):#x} state={self.state} job={self.job_id} run={self.run_id}>"
        )

    # -- identity --------------------------------------------------------------
    @property
    def job_id(self) -> int:
        """The job (or query) this future follows."""
        return self.poller_args[0]

    @property
    def run_id(self) -> int | None:
        """The run this future follows, if the poller takes one."""
        return self.poller_args[1] if len(self.poller_args) > 1 else None

    @property
    def job_url(self) -> str:
        """Where the job is shown on Civis Platform."""
        transport = getattr(self.client, "_transport", None)
        base = transport.base_url if isinstance(transport, Transport) else ""
        if not base or "api.civisanalytics.com" in base:
            return f"https://platform.civisanalytics.com/spa/#/jobs/{self.job_id}"
        return f"{base}jobs/{self.job_id}"

    @property
    def job_run_url(self) -> str | None:
        """Where the run is shown on Civis Platform (``None`` without a run)."""
        if self.run_id is None:
            return None
        return f"{self.job_url}?runId={self.run_id}"

    @property
    def max_retries(self) -> int:
        """How many times a failed run is started again."""
        return self._max_retries

    @property
    def started_at(self) -> str | None:
        """When the run started, if it has."""
        return _field(self.last_response, "started_at")

    @property
    def finished_at(self) -> str | None:
        """When the run ended, if it has."""
        return _field(self.last_response, "finished_at")

    def succeeded(self) -> bool:
        """Whether the run ended successfully."""
        return self.state in SUCCEEDED

    def failed(self) -> bool:
        """Whether the run failed (or its state could not be read)."""
        return self.state == "failed"

    def running(self) -> bool:
        """Whether the run is queued or running (not yet ended)."""
        return not self.done()

    def outputs(self) -> list[Any]:
        """Wait for the run, then return its outputs (``jobs.list_runs_outputs``).

        Returns
        -------
        list of Response

        Raises
        ------
        CivisJobFailure
            If the run failed.
        """
        if self.run_id is None:
            raise ValueError("this future follows no run, so it has no run outputs")
        self.result()
        return list(self.client.jobs.list_runs_outputs(self.job_id, self.run_id))

    # -- subscriptions ------------------------------------------------------------
    def subscribe(self, callback: Callable[[CivisFuture, Any], None]) -> Callable[[], None]:
        """Call ``callback(future, response)`` with every fresh run response.

        Calls come in order, from a small pool of threads (never the threads
        that poll); a last one follows the end of the run (also when it is
        cancelled). A future not polled yet is polled soon, so that a new
        subscriber hears the current state promptly; otherwise the current
        state is in ``future.state`` and ``future.last_response``.

        Parameters
        ----------
        callback : callable

        Returns
        -------
        callable
            Call it to stop.
        """
        stop = self._subscribers.add(callback)
        if self.last_response is None and not self.done():
            self._poller.refresh(self)
        return stop

    def _publish(self, response: Any) -> None:
        if len(self._subscribers):
            self._events.put(lambda: self._subscribers.notify(self, response))

    # -- done callbacks -----------------------------------------------------------
    def add_done_callback(self, fn: Callable[[CivisFuture], Any]) -> None:
        """Call ``fn(future)`` once the future is done.

        If it is done already, ``fn`` is called here at once; otherwise it is
        called from a small pool of threads. ``result()`` waits for it.

        Parameters
        ----------
        fn : callable
        """
        with self._callbacks:
            self._callbacks_pending += 1
        _local.adding = self

        def call(_fut: Any) -> None:
            if getattr(_local, "adding", None) is self:
                self._run_callback(fn)
            else:
                self._events.put(lambda: self._run_callback(fn))

        try:
            super().add_done_callback(call)
        finally:
            _local.adding = None

    def _run_callback(self, fn: Callable[[CivisFuture], Any]) -> None:
        outer = getattr(_local, "in_callback", None)
        _local.in_callback = self
        try:
            fn(self)
        except BaseException as exc:
            _log.exception("exception calling callback for %r", self)
            with self._callbacks:
                if self._callback_error is None:
                    self._callback_error = exc
        finally:
            _local.in_callback = outer
            with self._callbacks:
                self._callbacks_pending -= 1
                self._callbacks.notify_all()

    # -- polling ------------------------------------------------------------------
    def _poll(self, long_poll: float = 0.0) -> float | None:
        """Fetch the run once; resolve the future if it ended.

        Returns
        -------
        float or None
            Seconds until the next poll, or ``None`` when done.
        """
        if self.done():
            return None
        try:
            response = self._fetch(long_poll)
        except Exception as exc:
            return self._poll_error(exc)
        if response is None:  # no answer (as the official client: keep polling)
            return self._next_delay()
        return self._update(response)

    def _fetch(self, long_poll: float) -> Any:
        transport = getattr(self.client, "_transport", None)
        if long_poll and self.polling_interval is None and isinstance(transport, Transport):
            watched = bool(len(self._subscribers))
            headers = {"Prefer": f"wait={int(WATCHED_LONG_POLL if watched else long_poll)}"}
            if watched and self._etag:
                headers["If-None-Match"] = self._etag
            with transport.extra_headers(headers):
                response = self.poller(*self.poller_args)
        else:
            response = self.poller(*self.poller_args)
        import requests

        if isinstance(response, requests.Response):  # a client with return_type="raw"
            response = convert_response_data_type(response)
        return response

    def _polls_job_runs(self) -> bool:
        """Whether the poller is ``jobs.get_runs`` of a real client.

        Its answer is a JobRun, which ``jobs.list`` shows as each job's
        ``lastRun``: one listing then answers for many such futures.
        """
        jobs = self.client.__dict__.get("jobs") if isinstance(self.client, APIClient) else None
        return jobs is not None and self.poller == jobs.get_runs

    def _apply(self, run: Any) -> float | None:
        """Take a run seen elsewhere (a listing's ``lastRun``) as this poll's answer."""
        if self.done():
            return None
        try:
            return self._update(run)
        except Exception as exc:  # e.g. a retry could not start a new run
            self._fail(exc)
            return None

    def _poll_error(self, exc: Exception) -> float | None:
        """An error reading the run (after the client's retries): retry the job or resolve."""
        if self._retries_used < self._max_retries:
            try:
                self._new_run()
            except Exception as retry_exc:
                self._fail(retry_exc)
                return None
            return 0.0
        self._fail(exc)
        return None

    def _update(self, response: Any) -> float | None:
        headers = getattr(response, "headers", None)
        headers = headers if isinstance(headers, Mapping) else {}
        self._etag = headers.get("ETag")
        held = "Preference-Applied" in headers
        state = str(_field(response, "state") or "").lower()
        changed = state != self.state
        self.last_response = response
        self.state = state or self.state
        if state in SUCCEEDED:
            self._succeed(response)
            return None
        if state == "failed":
            if self._retries_used < self._max_retries:
                self._publish(response)
                try:
                    self._new_run()
                except Exception as exc:
                    self._fail(exc)
                    return None
                return 0.0
            self._resolve(lambda: self.set_exception(self._failure(response)))
            self._publish(response)
            return None
        if state == "cancelled":
            self._mark_cancelled()
            return None
        self._publish(response)
        if changed:
            self._interval = FIRST_INTERVAL
        return 0.0 if held else self._next_delay()

    def _succeed(self, response: Any) -> None:
        finish = getattr(self, "_finish", None)
        if finish is None:
            self._resolve(lambda: self.set_result(response))
            self._publish(response)
            return

        def complete() -> None:
            try:
                value = finish(response)
            except BaseException as exc:
                error = exc
                self._resolve(lambda: self.set_exception(error))
            else:
                self._resolve(lambda: self.set_result(value))
            self._subscribers.notify(self, response)

        self._events.put(complete)

    def _next_delay(self) -> float:
        if self.polling_interval is not None:
            return float(self.polling_interval)
        delay = self._interval
        self._interval = min(MAX_INTERVAL, self._interval * GROWTH)
        return delay

    def _new_run(self) -> None:
        self._retries_used += 1
        run = self.client.jobs.post_runs(self.job_id)
        self.poller_args = (self.job_id, _field(run, "id"), *self.poller_args[2:])
        self.state = "queued"
        self._interval = FIRST_INTERVAL

    def _failure(self, response: Any) -> BaseException:
        error = _field(response, "error")
        if error not in (None, "", "None"):
            return CivisJobFailure(str(error), response, self.job_id, self.run_id)
        lines: list[str] = []
        if self.run_id is not None:
            try:
                logs = self.client.jobs.list_runs_logs(self.job_id, self.run_id, limit=LOG_TAIL)
                ordered = sorted(logs, key=lambda entry: entry["id"])
                lines = [str(entry.get("message", "")) for entry in ordered]
            except Exception:  # logs only explain the failure; it is reported anyway
                lines = []
        memory = [m for m in lines if m.startswith("Process ran out of its")]
        if memory:
            return MemoryError(f"(From job {self.job_id} / run {self.run_id}) {memory[0]}")
        text = "\n".join(lines) or "The run failed without an error message."
        return CivisJobFailure(text, response, self.job_id, self.run_id)

    def _fail(self, exc: BaseException) -> None:
        self.state = "failed"
        self._resolve(lambda: self.set_exception(exc))
        self._publish(self.last_response)

    @staticmethod
    def _resolve(action: Callable[[], None]) -> None:
        try:
            action()
        except _cf.InvalidStateError:  # already resolved (e.g. cancelled meanwhile)
            pass

    def _mark_cancelled(self) -> bool:
        self.state = "cancelled"
        with self._cancel_lock:  # the poller and a user may both get here
            if self.done():
                return False
            _cf.Future.cancel(self)
            self.set_running_or_notify_cancel()
        self._publish(self.last_response)
        return True

    # -- public Future API -------------------------------------------------------
    def cancel(self) -> bool:
        """Cancel the run on the platform and resolve this future as cancelled.

        After the platform accepts, the run is read once: if it had already
        ended, the future keeps that outcome.

        Returns
        -------
        bool
            ``True`` if the future is cancelled (also when it already was);
            ``False`` if the run had already ended (the platform answers 404)
            or the platform refused (a warning says why).
        """
        if self.cancelled():
            return True
        if self.done():
            return False
        try:
            if self.run_id is not None:
                self.client.jobs.delete_runs(self.job_id, self.run_id)
            else:
                self.client.queries.delete(self.job_id)
        except CivisAPIError as exc:
            if exc.status_code == 404:  # the run had ended: take its outcome now
                try:
                    self._apply(self._fetch(0.0))
                except Exception:  # the poller will read it instead
                    pass
                return False
            warnings.warn(
                f"Unexpected error when cancelling job {self.job_id} / run {self.run_id}: {exc}",
                UserWarning,
                stacklevel=2,
            )
            return False
        self._settle_cancel()
        self._poller.wake()
        # The poller may have seen the cancelled run first and resolved the future.
        return self.cancelled()

    def _settle_cancel(self) -> None:
        """After an accepted cancel: resolve as cancelled, unless the run had ended first."""
        try:
            response = self._fetch(0.0)
        except Exception:  # the cancel was accepted; its outcome cannot be read now
            response = None
        state = str(_field(response, "state") or "").lower()
        if state in SUCCEEDED or state == "failed":
            self.last_response, self.state = response, state
            if state == "failed":
                self._resolve(lambda: self.set_exception(self._failure(response)))
                self._publish(response)
            else:
                self._succeed(response)
            return
        if response is not None:
            self.last_response = response
        self._mark_cancelled()

    def result(self, timeout: float | None = None) -> Any:
        """The final run response; raises the failure, or ``CancelledError``.

        Waits in short slices, so that Ctrl-C interrupts it at once, and
        until the done-callbacks have run.
        """
        self._wait(timeout)
        value = super().result(0)
        if self._callback_error is not None:
            raise self._callback_error
        return value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The failure of the run (``None`` if it succeeded), else a done-callback's error."""
        self._wait(timeout)
        return super().exception(0) or self._callback_error

    def _wait(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float:
            remaining = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if remaining <= 0:
                raise _cf.TimeoutError()
            return remaining

        while not self.done():
            _cf.wait([self], timeout=left())
        if getattr(_local, "in_callback", None) is self:
            return  # called from one of this future's own callbacks
        with self._callbacks:
            while self._callbacks_pending > 0:
                self._callbacks.wait(left())
