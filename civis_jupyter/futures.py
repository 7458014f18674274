"""CivisFuture: a ``concurrent.futures.Future`` over a Civis run, and its Poller.

All futures of a client share one :class:`Poller` thread. It polls each run
on its own schedule: quickly at first, backing off for long runs, and slower
when the rate limit runs low. When a single run is being followed it asks
the platform to hold the request until the run changes (``Prefer: wait=N``,
RFC 7240; the embedded platform honours it, others answer at once), so the
end of a run is noticed within milliseconds with fewer requests than
fixed-interval polling.

Subscribers (the Jupyter widgets) receive every fresh run response::

    unsubscribe = future.subscribe(lambda fut, response: print(response.state))
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent import futures as _cf
from typing import Any

from .api.client import APIClient
from .api.errors import CivisAPIError, CivisJobFailure
from .api.response import Response, convert_response_data_type

__all__ = [
    "CivisFuture",
    "ContainerFuture",
    "Poller",
    "live_futures",
    "on_new_future",
    "poller_for",
]

DONE = frozenset({"succeeded", "success", "failed", "cancelled"})
SUCCEEDED = frozenset({"succeeded", "success"})
#: First polling interval and its growth; the cap for very long runs.
FIRST_INTERVAL = 0.25
GROWTH = 1.3
MAX_INTERVAL = 15.0
#: Seconds the platform may hold a request while one run is followed
#: (shorter when someone watches every change, such as a live widget).
LONG_POLL = 10.0
WATCHED_LONG_POLL = 2.0
#: Log lines read to explain a failure that has no error text.
LOG_TAIL = 25

_registry_lock = threading.Lock()
_registry: list[weakref.ref[CivisFuture]] = []
_new_future_callbacks: list[Callable[[CivisFuture], None]] = []


def live_futures() -> list[CivisFuture]:
    """Futures created in this process that are still referenced, oldest first.

    Returns
    -------
    list of CivisFuture
    """
    with _registry_lock:
        alive = [f for f in (r() for r in _registry) if f is not None]
        _registry[:] = [weakref.ref(f) for f in alive][-500:]
    return alive


def on_new_future(callback: Callable[[CivisFuture], None]) -> Callable[[], None]:
    """Call ``callback(future)`` whenever a CivisFuture is created.

    Parameters
    ----------
    callback : callable

    Returns
    -------
    callable
        Call it to stop.
    """
    with _registry_lock:
        _new_future_callbacks.append(callback)

    def remove() -> None:
        with _registry_lock:
            if callback in _new_future_callbacks:
                _new_future_callbacks.remove(callback)

    return remove


class Poller:
    """One thread that polls every future of one client.

    Parameters
    ----------
    client : APIClient
        Whose transport (and rate-limit bookkeeping) the polls use.
    """

    def __init__(self, client: APIClient):
        self.client = client
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, CivisFuture]] = []
        self._counter = itertools.count()
        self._thread: threading.Thread | None = None
        self.requests = 0

    def __repr__(self) -> str:
        return f"<Poller of {len(self._queue)} futures>"

    def add(self, future: CivisFuture, delay: float = 0.0) -> None:
        """Schedule a future's next poll ``delay`` seconds from now."""
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._counter), future))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="civis-poller", daemon=True)
                self._thread.start()
            self._cond.notify()

    def wake(self) -> None:
        """Re-check the schedule now (e.g. after a cancel)."""
        with self._cond:
            self._cond.notify()

    @property
    def thread(self) -> threading.Thread | None:
        """The polling thread, once started."""
        return self._thread

    def _pending(self) -> int:
        return sum(1 for _, _, f in self._queue if not f.done())

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    self._queue = [e for e in self._queue if not e[2].done()]
                    heapq.heapify(self._queue)
                    if not self._queue:
                        if not self._cond.wait(60):
                            self._thread = None
                            return
                        continue
                    due, _, future = self._queue[0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._queue)
                        alone = not self._queue
                        break
                    self._cond.wait(wait)
            next_delay = future._poll(long_poll=LONG_POLL if alone else 0.0)
            self.requests += 1
            if next_delay is not None:
                self.add(future, self._throttle(next_delay))

    def _throttle(self, delay: float) -> float:
        """Stretch a delay when few API calls are left in the rate-limit window."""
        transport = self.client._transport
        limit, remaining = transport.rate_limit, transport.calls_remaining
        if not limit or remaining is None:
            return delay
        if remaining <= 0:
            return max(delay, 30.0)
        share = remaining / limit
        if share < 0.1:
            return delay * (0.1 / max(share, 0.01))
        return delay


_pollers: weakref.WeakKeyDictionary[APIClient, Poller] = weakref.WeakKeyDictionary()
_pollers_lock = threading.Lock()


def poller_for(client: APIClient) -> Poller:
    """The shared poller of a client.

    Parameters
    ----------
    client : APIClient

    Returns
    -------
    Poller
    """
    with _pollers_lock:
        poller = _pollers.get(client)
        if poller is None:
            poller = _pollers[client] = Poller(client)
        return poller


def _client_of(poller: Callable[..., Any]) -> APIClient | None:
    owner = getattr(poller, "__self__", None)
    return getattr(owner, "_client", None)


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
    poll_on_creation : bool, optional
        Check the state right away, in the calling thread.
    max_retries : int, optional
        Start a new run of the job, up to this many times, if a run fails.

    Attributes
    ----------
    state : str
        The latest Civis state (``queued``, ``running``, ``succeeded``, ...).
    last_response : Response or None
        The latest run response.
    """

    def __init__(
        self,
        poller: Callable[..., Any],
        poller_args: Sequence[Any],
        polling_interval: float | None = None,
        client: APIClient | None = None,
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
        self.client = client or _client_of(poller) or APIClient()
        self._max_retries = max_retries or 0
        self._retries_used = 0
        self.state: str = "queued"
        self.last_response: Any = None
        self._interval = FIRST_INTERVAL
        self._subscribers: list[Callable[[CivisFuture, Any], None]] = []
        self._subscribers_lock = threading.Lock()
        self._created = time.time()
        self._etag: str | None = None
        self._callbacks_done = threading.Event()
        self._cancel_lock = threading.Lock()
        self._callback_thread: int | None = None
        with _registry_lock:
            _registry.append(weakref.ref(self))
            callbacks = list(_new_future_callbacks)
        for callback in callbacks:
            callback(self)
        self._poller = poller_for(self.client)
        delay = 0.0
        if poll_on_creation:
            delay = self._poll(long_poll=0.0)
        if delay is not None:
            self._poller.add(self, delay if poll_on_creation else 0.0)

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
        base = self.client._transport.base_url
        if "api.civisanalytics.com" in base:
            return f"https://platform.civisanalytics.com/spa/#/jobs/{self.job_id}"
        return f"{base}jobs/{self.job_id}"

    @property
    def max_retries(self) -> int:
        """How many times a failed run is started again."""
        return self._max_retries

    @property
    def started_at(self) -> str | None:
        """When the run started, if it has."""
        return self.last_response.get("started_at") if self.last_response is not None else None

    @property
    def finished_at(self) -> str | None:
        """When the run ended, if it has."""
        return self.last_response.get("finished_at") if self.last_response is not None else None

    def succeeded(self) -> bool:
        """Whether the run ended successfully."""
        return self.state in SUCCEEDED

    def failed(self) -> bool:
        """Whether the run failed."""
        return self.state == "failed"

    def outputs(self) -> list[Any]:
        """The run's outputs (``jobs.list_runs_outputs``).

        Returns
        -------
        list of Response
        """
        if self.run_id is None:
            raise ValueError("this future follows no run, so it has no run outputs")
        return list(self.client.jobs.list_runs_outputs(self.job_id, self.run_id))

    # -- subscriptions ------------------------------------------------------------
    def subscribe(self, callback: Callable[[CivisFuture, Any], None]) -> Callable[[], None]:
        """Call ``callback(future, response)`` with every fresh run response.

        Calls come from the poller thread; a last one follows the end of the
        run (also when it is cancelled).

        Parameters
        ----------
        callback : callable

        Returns
        -------
        callable
            Call it to stop.
        """
        with self._subscribers_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._subscribers_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _publish(self, response: Any) -> None:
        with self._subscribers_lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(self, response)
            except Exception:  # a broken subscriber must not stop the poller
                import logging

                logging.getLogger(__name__).exception("future subscriber failed")

    # -- polling ------------------------------------------------------------------
    def _poll(self, long_poll: float) -> float | None:
        """Fetch the run once; resolve the future if it ended.

        Returns
        -------
        float or None
            Seconds until the next poll, or ``None`` when done.
        """
        if self.done():
            return None
        headers = {}
        if long_poll and self.polling_interval is None:
            watched = bool(self._subscribers)
            headers["Prefer"] = f"wait={int(WATCHED_LONG_POLL if watched else long_poll)}"
            if watched and self._etag:
                headers["If-None-Match"] = self._etag
        try:
            with self.client._transport.extra_headers(headers):
                response = self.poller(*self.poller_args)
        except CivisAPIError as exc:
            if exc.status_code in (404, 403, 401):
                self._fail(exc)
                return None
            return self._next_delay()
        except Exception as exc:  # network trouble after retries: keep trying
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return self._next_delay()
        if not isinstance(response, Response):  # a client with return_type="raw"
            response = convert_response_data_type(response)
        self.last_response = response
        response_headers = response.headers or {}
        self._etag = response_headers.get("ETag")
        held = "Preference-Applied" in response_headers
        state = str(response.get("state") or "").lower()
        changed = state != self.state
        self.state = state or self.state
        if state in SUCCEEDED:
            self._resolve(lambda: self.set_result(response))
            self._publish(response)
            return None
        if state == "failed":
            if self._retry():
                self._publish(response)
                return 0.0
            self._resolve(lambda: self.set_exception(self._failure(response)))
            self._publish(response)
            return None
        if state == "cancelled":
            self._mark_cancelled()
            self._publish(response)
            return None
        self._publish(response)
        if changed:
            self._interval = FIRST_INTERVAL
        return 0.0 if held else self._next_delay()

    def _next_delay(self) -> float:
        if self.polling_interval is not None:
            return float(self.polling_interval)
        delay = self._interval
        self._interval = min(MAX_INTERVAL, self._interval * GROWTH)
        return delay

    def _retry(self) -> bool:
        if self._retries_used >= self._max_retries:
            return False
        self._retries_used += 1
        run = self.client.jobs.post_runs(self.job_id)
        self.poller_args = (self.job_id, run["id"], *self.poller_args[2:])
        self.state = "queued"
        self._interval = FIRST_INTERVAL
        return True

    def _failure(self, response: Any) -> BaseException:
        error = response.get("error")
        if error:
            return CivisJobFailure(str(error), response, self.job_id, self.run_id)
        lines: list[str] = []
        if self.run_id is not None:
            try:
                logs = self.client.jobs.list_runs_logs(self.job_id, self.run_id, limit=LOG_TAIL)
                ordered = sorted(logs, key=lambda entry: entry["id"])
                lines = [str(entry.get("message", "")) for entry in ordered]
            except CivisAPIError:
                lines = []
        memory = [m for m in lines if m.startswith("Process ran out of its")]
        if memory:
            return MemoryError(f"(From job {self.job_id} / run {self.run_id}) {memory[0]}")
        text = "\n".join(lines) or "The run failed without an error message."
        return CivisJobFailure(text, response, self.job_id, self.run_id)

    def _fail(self, exc: BaseException) -> None:
        self.state = "failed"
        self._resolve(lambda: self.set_exception(exc))

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
        return True

    # -- public Future API -------------------------------------------------------
    def cancel(self) -> bool:
        """Cancel the run on the platform and resolve this future as cancelled.

        Returns
        -------
        bool
            ``False`` if the run had already ended.
        """
        if self.done():
            return False
        try:
            if self.run_id is not None:
                self.client.jobs.delete_runs(self.job_id, self.run_id)
            else:
                self.client.queries.delete(self.job_id)
        except CivisAPIError as exc:
            if exc.status_code != 404:
                raise
        if self._mark_cancelled():
            self._publish(self.last_response)
        self._poller.wake()
        # The poller may have seen the cancelled run first and resolved the future.
        return self.cancelled()

    def result(self, timeout: float | None = None) -> Any:
        """The final run response; raises the failure, or ``CancelledError``.

        Waits in short slices, so that Ctrl-C interrupts it at once.
        """
        self._wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The failure of the run (``None`` if it succeeded)."""
        self._wait(timeout)
        return super().exception(0)

    def _invoke_callbacks(self) -> None:
        # Done-callbacks (e.g. a download after an export) finish before
        # result() returns, so that their work is there when it does.
        self._callback_thread = threading.get_ident()
        try:
            super()._invoke_callbacks()
        finally:
            self._callback_thread = None
            self._callbacks_done.set()

    def _wait(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float:
            remaining = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if remaining <= 0:
                raise _cf.TimeoutError()
            return remaining

        with self._condition:
            while not self.done():
                self._condition.wait(left())
        if self._callback_thread == threading.get_ident():
            return  # called from one of this future's own callbacks
        while not self._callbacks_done.wait(left()):
            pass


class ContainerFuture(CivisFuture):
    """A future over a run of a container script.

    Parameters
    ----------
    job_id, run_id : int
        The container script and its run.
    max_n_retries : int, optional
        Start a new run up to this many times if a run fails.
    polling_interval : float, optional
    client : APIClient, optional
    poll_on_creation : bool, optional
    """

    def __init__(
        self,
        job_id: int,
        run_id: int,
        max_n_retries: int = 0,
        polling_interval: float | None = None,
        client: APIClient | None = None,
        poll_on_creation: bool = True,
    ):
        client = client or APIClient()
        super().__init__(
            client.scripts.get_containers_runs,
            (job_id, run_id),
            polling_interval=polling_interval,
            client=client,
            poll_on_creation=poll_on_creation,
            max_retries=max_n_retries,
        )
