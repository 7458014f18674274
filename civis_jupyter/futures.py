"""CivisFuture: a ``concurrent.futures.Future`` over a Civis run, and its Poller.

Every future in the process is followed by one scheduling thread (the
:class:`Poller`). It sends no request itself: polls run on a small fixed pool
of threads, and callbacks and subscribers on another, so neither a slow
request nor a slow callback holds up the other futures.

How a run is followed:

- **Many runs of one client** are watched together: one page of ``jobs.list``
  ordered by ``last_run_updated_at`` shows every job whose last run changed
  since the previous look (paged until the previous newest entry), and only
  the runs that changed are fetched. Requests are spent at the pace the
  official client would spend them on its own schedule (1 s growing to 15 s
  per run), but on one list request for all runs instead of one per run, so
  ends are noticed sooner with fewer requests.
- **A run alone** is polled on its own, quickly at first and backing off;
  the embedded platform may also hold the request until the run changes
  (``Prefer: wait=N``, RFC 7240; Civis ignores it and answers at once).
- **Under the rate limit** (``X-RateLimit-Remaining``) polls are spread so
  that the calls left last until the window resets; this is logged once.
- **Mock clients** (anything with the API methods) are polled on their own.

Subscribers (the Jupyter widgets) receive every fresh run response, in order,
off the polling threads::

    unsubscribe = future.subscribe(lambda fut, response: print(response.state))
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures as _cf
from typing import Any

from .api.client import APIClient
from .api.errors import CivisAPIError, CivisJobFailure
from .api.response import convert_response_data_type
from .api.states import FINAL_STATES, SUCCESS_STATES
from .api.transport import Transport

__all__ = [
    "CivisFuture",
    "ContainerFuture",
    "Poller",
    "Subscribers",
    "live_futures",
    "on_new_future",
    "poller_for",
]

_log = logging.getLogger(__name__)

DONE = FINAL_STATES
SUCCEEDED = SUCCESS_STATES
#: First polling interval of a run followed on its own, its growth, and the cap.
FIRST_INTERVAL = 0.25
GROWTH = 1.3
MAX_INTERVAL = 15.0
#: Seconds the platform may hold a request while one run is followed
#: (shorter when someone watches every change, such as a live widget).
LONG_POLL = 10.0
WATCHED_LONG_POLL = 2.0
#: Log lines read to explain a failure that has no error text.
LOG_TAIL = 25
#: Threads that send polls, and threads that run callbacks and subscribers.
POLL_WORKERS = 8
CALLBACK_WORKERS = 4
#: Batch watching: fastest and slowest pace of ``jobs.list`` looks, the page
#: size, how long a new run waits for its first look before being polled on
#: its own, and how often a watched run is still fetched on its own.
MIN_SWEEP = 0.2
MAX_SWEEP = 15.0
SWEEP_PAGE = 50
FIRST_LOOK_GRACE = 1.0
WATCHED_RECHECK = 120.0
#: The schedule the official client polls each run on: 1 s growing x1.2 to 15 s.
OFFICIAL_FIRST, OFFICIAL_GROWTH_PER_S, OFFICIAL_MAX = 1.0, 0.2, 15.0
#: Rate-limit window of Civis, and the share of it kept for the user's own calls.
RATE_WINDOW = 300.0
RATE_RESERVE = 0.05


# -- subscribers and callbacks --------------------------------------------------------------


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


_pools_lock = threading.Lock()
_pools: dict[str, _cf.ThreadPoolExecutor] = {}


def _pool(name: str, workers: int) -> _cf.ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = _cf.ThreadPoolExecutor(workers, thread_name_prefix=name)
        return pool


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


_local = threading.local()


# -- the registry of futures ----------------------------------------------------------------

_registry_lock = threading.Lock()
_registry: list[weakref.ref[CivisFuture]] = []
_new_future = Subscribers()


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
    """Call ``callback(future)`` (in the creating thread) whenever a CivisFuture is created.

    Parameters
    ----------
    callback : callable

    Returns
    -------
    callable
        Call it to stop.
    """
    return _new_future.add(callback)


# -- rate-limit budget ------------------------------------------------------------------------


class _Budget:
    """Spreads one client's polls so that its rate-limit calls last the window.

    Civis counts requests per key in fixed windows (1000 per 5 minutes) and
    reports ``X-RateLimit-Remaining`` on every response, but not when the
    window resets: that is assumed to be a window after the first
    observation (no later than the truth), and learned when the count goes
    up again. Once the assumed window is over, one probe refreshes the count.
    """

    def __init__(self, transport: Transport):
        self.transport = transport
        self.window_start: float | None = None
        self.last_remaining: int | None = None
        self.last_spent = 0.0
        self.probe_from: int | None = None
        self.logged = False

    def wait(self, now: float, in_flight: int, slow_pace: float) -> float:
        """Seconds to wait before the next poll (0: go ahead)."""
        limit, remaining = self.transport.rate_limit, self.transport.calls_remaining
        if not limit or remaining is None:
            return 0.0
        if self.window_start is None:
            self.window_start = now
        elif self.last_remaining is not None and remaining > self.last_remaining + limit * 0.1:
            self.window_start, self.probe_from = now, None  # the count went back up
        elif now - self.window_start >= RATE_WINDOW:  # the window has reset by now
            self.window_start, self.probe_from = now, self.transport.requests_sent
        self.last_remaining = remaining
        if self.probe_from is not None:
            if self.transport.requests_sent == self.probe_from:  # the count is stale
                return max(0.0, self.last_spent + 0.2 - now)
            self.probe_from = None
        reset_in = max(1.0, self.window_start + RATE_WINDOW - now)
        usable = remaining - in_flight - max(5, int(limit * RATE_RESERVE))
        if usable - reset_in / slow_pace > 0:
            return 0.0
        if not self.logged:
            self.logged = True
            _log.warning(
                "Civis rate limit: %d of %d calls left; polling runs less often so that "
                "they last until the limit resets (in at most %.0f s).",
                remaining,
                limit,
                reset_in,
            )
        if usable <= 0:
            return reset_in
        return max(0.0, self.last_spent + reset_in / usable - now)

    def spent(self, now: float) -> None:
        self.last_spent = now


# -- batch watching -----------------------------------------------------------------------------


def _official_interval(age: float) -> float:
    return min(OFFICIAL_MAX, OFFICIAL_FIRST + OFFICIAL_GROWTH_PER_S * max(0.0, age))


class _Sweeper:
    """Watches many runs of one client with pages of ``jobs.list``.

    A future is *covered* once its run was seen as its job's last run in the
    listing of hidden or of visible jobs; from then on any change of the run
    brings its job to the top of that listing, ordered by
    ``last_run_updated_at``. Each look pages down to the newest entry of the
    previous look, and asks the poller to fetch only the runs that changed.
    """

    def __init__(self, client: APIClient):
        self.client = client
        #: covered future -> the listings (hidden or not) its job was seen in
        self.covered: dict[CivisFuture, frozenset[bool]] = {}
        self.unclassified: dict[CivisFuture, float] = {}
        self.watermark: dict[bool, str | None] = {False: None, True: None}
        self.next_look = 0.0
        self.busy = False
        self.failures = 0

    def watching(self) -> int:
        return len(self.covered) + len(self.unclassified)

    def add(self, future: CivisFuture, now: float) -> None:
        self.unclassified[future] = now
        self.next_look = min(self.next_look, now)

    def discard(self, future: CivisFuture) -> None:
        self.covered.pop(future, None)
        self.unclassified.pop(future, None)

    def pace(self, now: float) -> float:
        """Seconds between looks: the official schedule's request rate, spent on lists."""
        rate = sum(
            1.0 / _official_interval(now - f._created_mono)
            for group in (self.covered, self.unclassified)
            for f in group
        )
        return min(MAX_SWEEP, max(MIN_SWEEP, 1.0 / rate if rate else MAX_SWEEP))

    def look(self, poller: Poller) -> None:
        """One look at the listings (on a pool thread); tell the poller what changed."""
        started = time.monotonic()
        with poller._cond:
            covered = dict(self.covered)
            unclassified = {f: t for f, t in self.unclassified.items() if t <= started}
        by_job: dict[int, list[CivisFuture]] = collections.defaultdict(list)
        for future in [*covered, *unclassified]:
            by_job[_as_int(future.job_id)].append(future)
        found: dict[CivisFuture, tuple[set[bool], Any]] = {}
        max_pages = math.ceil(len(by_job) / SWEEP_PAGE) + 1
        pages = 0
        try:
            for hidden in self._listings(covered.values(), bool(unclassified)):
                pages += self._page_through(hidden, by_job, unclassified, found, max_pages)
        except Exception as exc:  # the listing failed: every run is polled on its own
            poller._sweep_failed(self, exc)
            return
        poller._sweep_done(self, found, unclassified, pages, started)

    @staticmethod
    def _listings(seen_in: Any, looking: bool) -> tuple[bool, ...]:
        """Which listings to read: both, unless one shows every covered job."""
        seen_in = list(seen_in)
        if looking or not seen_in:
            return (False, True)
        for hidden in (False, True):
            if all(hidden in listings for listings in seen_in):
                return (hidden,)
        return (False, True)

    def _page_through(
        self,
        hidden: bool,
        by_job: Mapping[int, list[CivisFuture]],
        unclassified: Mapping[CivisFuture, float],
        found: dict[CivisFuture, tuple[set[bool], Any]],
        max_pages: int,
    ) -> int:
        """Read pages of one listing, down to the previous look's newest entry.

        Returns
        -------
        int
            Pages read.
        """
        mark = self.watermark[hidden]
        newest = mark
        for page in range(1, max_pages + 1):
            items = _as_list(
                self.client.jobs.list(
                    hidden=hidden,
                    order="last_run_updated_at",
                    order_dir="desc",
                    limit=SWEEP_PAGE,
                    page_num=page,
                )
            )
            past_mark = False
            for item in items:
                stamp = _field(item, "last_run_updated_at")
                if stamp is not None:
                    stamp = str(stamp)
                    newest = stamp if newest is None or stamp > newest else newest
                    past_mark = past_mark or (mark is not None and stamp < mark)
                for future in by_job.get(_as_int(_field(item, "id")), ()):
                    listings, _ = found.get(future, (set(), None))
                    listings.add(hidden)
                    found[future] = (listings, _field(item, "last_run"))
            looking = any(f not in found for f in unclassified)
            if len(items) < SWEEP_PAGE or ((past_mark or mark is None) and not looking):
                break
        self.watermark[hidden] = newest
        return page


# -- the poller --------------------------------------------------------------------------------


class _ClientState:
    """What the poller keeps per client: its budget and its sweeper."""

    def __init__(self, client: Any):
        transport: Any = getattr(client, "_transport", None)
        real = isinstance(transport, Transport) and isinstance(client, APIClient)
        self.budget = _Budget(transport) if real else None
        self.sweeper = _Sweeper(client) if real else None
        self.futures = 0


class Poller:
    """The one thread that schedules the polls of every future.

    Polls and batch looks run on a small pool of ``civis-poll`` threads; the
    ``civis-poller`` thread only decides what is due.

    Attributes
    ----------
    requests : int
        Polls and looks sent so far.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._followed: set[CivisFuture] = set()
        self._due: dict[CivisFuture, float] = {}
        self._in_flight: set[CivisFuture] = set()
        self._asap: set[CivisFuture] = set()
        self._states: dict[int, _ClientState] = {}
        self._thread: threading.Thread | None = None
        self.requests = 0

    def __repr__(self) -> str:
        return f"<Poller of {len(self._due) + len(self._in_flight)} futures>"

    @property
    def thread(self) -> threading.Thread | None:
        """The scheduling thread, once started."""
        return self._thread

    def _state(self, future: CivisFuture) -> _ClientState:
        key = id(future.client)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _ClientState(future.client)
        return state

    def add(self, future: CivisFuture, delay: float = 0.0) -> None:
        """Follow a future; its first poll is ``delay`` seconds from now.

        Parameters
        ----------
        future : CivisFuture
        delay : float, optional
        """
        now = time.monotonic()
        with self._cond:
            if future in self._followed:
                return
            self._followed.add(future)
            state = self._state(future)
            state.futures += 1
            sweeper = state.sweeper
            if (
                sweeper is not None
                and future.run_id is not None
                and future.polling_interval is None
            ):
                sweeper.add(future, now)
                if sweeper.watching() > 1:
                    delay = max(delay, FIRST_LOOK_GRACE)
            self._due[future] = now + delay
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="civis-poller", daemon=True)
                self._thread.start()
            self._cond.notify()

    def refresh(self, future: CivisFuture) -> None:
        """Poll a future soon, unless a poll of it is under way or due shortly.

        Parameters
        ----------
        future : CivisFuture
        """
        with self._cond:
            due = self._due.get(future)
            if due is not None and due > time.monotonic() + FIRST_INTERVAL:
                self._due[future] = 0.0
                self._cond.notify()

    def wake(self) -> None:
        """Re-check the schedule now."""
        with self._cond:
            self._cond.notify()

    def _drop(self, future: CivisFuture) -> None:
        if future not in self._followed:
            return
        self._followed.discard(future)
        self._due.pop(future, None)
        self._asap.discard(future)
        key = id(future.client)
        state = self._states.get(key)
        if state is None:
            return
        sweeper = state.sweeper
        if sweeper is not None:
            sweeper.discard(future)
            if sweeper.watching() < 2:  # no more looks: the rest are polled on their own
                now = time.monotonic()
                for other in [*sweeper.covered, *sweeper.unclassified]:
                    self._uncover(sweeper, other, now)
        state.futures -= 1
        if state.futures <= 0:
            del self._states[key]

    # -- the scheduling loop ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                work = self._collect()
                if work is None:
                    self._thread = None
                    return
            for task in work:
                _pool("civis-poll", POLL_WORKERS).submit(task)

    def _collect(self) -> list[Callable[[], None]] | None:
        """Wait until something is due; return the tasks to send (``None``: stop)."""
        while True:
            for future in [f for f in self._due if f.done()]:
                self._drop(future)
            if not self._followed:
                if not self._cond.wait(60) and not self._followed:
                    return None
                continue
            now = time.monotonic()
            wake = now + 60.0
            work: list[Callable[[], None]] = []
            for state in list(self._states.values()):
                sweeper = state.sweeper
                if sweeper is None or sweeper.busy or sweeper.watching() < 2:
                    continue
                if sweeper.next_look > now:
                    wake = min(wake, sweeper.next_look)
                    continue
                pause = self._budget_wait(state, now)
                if pause:
                    wake = min(wake, now + pause)
                    continue
                sweeper.busy = True
                sweeper.next_look = now + sweeper.pace(now)
                work.append(functools.partial(self._look, sweeper))
            for future, due in list(self._due.items()):
                if due > now:
                    wake = min(wake, due)
                    continue
                if len(self._in_flight) >= POLL_WORKERS - 1:
                    break  # one worker stays free for looks; the rest wait their turn
                state = self._state(future)
                pause = self._budget_wait(state, now)
                if pause:
                    wake = min(wake, now + pause)
                    continue
                del self._due[future]
                self._in_flight.add(future)
                alone = len(self._due) + len(self._in_flight) == 1
                work.append(functools.partial(self._poll, future, alone))
            if work:
                return work
            self._cond.wait(max(0.0, wake - now))

    def _budget_wait(self, state: _ClientState, now: float) -> float:
        if state.budget is None:
            return 0.0
        pause = state.budget.wait(now, len(self._in_flight), MAX_SWEEP)
        if not pause:
            state.budget.spent(now)
        return pause

    # -- work on the pool ------------------------------------------------------------------
    def _poll(self, future: CivisFuture, alone: bool) -> None:
        delay: float | None = None
        try:
            long_poll = LONG_POLL if alone and future.last_response is not None else 0.0
            delay = future._poll(long_poll)
        except BaseException:  # never lose a future: _poll resolves it on errors
            _log.exception("polling %r failed", future)
        finally:
            with self._cond:
                self.requests += 1
                self._in_flight.discard(future)
                if delay is None or future.done():
                    self._drop(future)
                else:
                    state = self._state(future)
                    sweeper = state.sweeper
                    if sweeper is not None and future in sweeper.covered:
                        delay = max(delay, WATCHED_RECHECK)  # the looks tell when it changes
                    if future in self._asap:
                        self._asap.discard(future)
                        delay = 0.0
                    self._due[future] = time.monotonic() + delay
                self._cond.notify()

    def _look(self, sweeper: _Sweeper) -> None:
        try:
            sweeper.look(self)
        except BaseException:
            _log.exception("watching runs failed")
            with self._cond:
                sweeper.busy = False
                self._cond.notify()

    def _sweep_failed(self, sweeper: _Sweeper, exc: BaseException) -> None:
        _log.debug("listing jobs failed; polling runs one by one: %s", exc)
        now = time.monotonic()
        with self._cond:
            self.requests += 1
            sweeper.busy = False
            sweeper.failures += 1
            sweeper.next_look = now + min(MAX_SWEEP * 4, MIN_SWEEP * 2**sweeper.failures)
            for future in sweeper.covered:
                if future in self._due:
                    self._due[future] = now + future._interval
            sweeper.unclassified.update(dict.fromkeys(sweeper.covered, now))
            sweeper.covered.clear()
            self._cond.notify()

    def _sweep_done(
        self,
        sweeper: _Sweeper,
        found: Mapping[CivisFuture, tuple[set[bool], Any]],
        looked_for: Mapping[CivisFuture, float],
        pages: int,
        started: float,
    ) -> None:
        now = time.monotonic()
        apply: list[tuple[CivisFuture, Any]] = []
        with self._cond:
            self.requests += pages
            sweeper.busy = False
            sweeper.failures = 0
            for future, (listings, last_run) in found.items():
                if future.done() or (future not in sweeper.covered and future not in looked_for):
                    continue
                if last_run is None or _as_int(_field(last_run, "id")) != _as_int(future.run_id):
                    self._uncover(sweeper, future, now)
                    continue
                sweeper.unclassified.pop(future, None)
                sweeper.covered[future] = sweeper.covered.get(future, frozenset()) | listings
                state = str(_field(last_run, "state") or "").lower()
                if state and state != future.state:
                    if future._polls_job_runs():  # the listing shows the very same JobRun
                        apply.append((future, last_run))
                    elif state in DONE or len(future._subscribers):
                        self._due_now(future)
                    else:
                        future.state = state
            for future in looked_for:  # not near the top of either listing: not ours to watch
                if future not in found and future in sweeper.unclassified:
                    self._uncover(sweeper, future, now)
            for future in sweeper.covered:
                if future in self._due and self._due[future] > now:
                    self._due[future] = max(self._due[future], started + WATCHED_RECHECK)
            self._cond.notify()
        for future, last_run in apply:  # here, on a pool thread, not under the lock
            delay = future._apply(last_run)
            with self._cond:
                if future.done():
                    self._drop(future)
                elif delay == 0.0:
                    self._due_now(future)
                self._cond.notify()

    def _due_now(self, future: CivisFuture) -> None:
        if future in self._in_flight:
            self._asap.add(future)
        elif future in self._due:
            self._due[future] = 0.0

    def _uncover(self, sweeper: _Sweeper, future: CivisFuture, now: float) -> None:
        sweeper.discard(future)
        if future in self._due:
            self._due[future] = min(self._due[future], now + future._interval)


_poller = Poller()


def poller_for(client: Any) -> Poller:
    """The poller that follows the futures of a client (one for every client).

    Parameters
    ----------
    client : APIClient

    Returns
    -------
    Poller
    """
    return _poller


# -- helpers to read responses of any shape -------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    """``obj[name]`` of a Response or mapping, else ``obj.name``; ``None`` when absent."""
    if isinstance(obj, Mapping) or (hasattr(type(obj), "get") and hasattr(obj, "json_data")):
        try:
            return obj.get(name)
        except Exception:
            return None
    return getattr(obj, name, None)


def _as_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _as_list(items: Any) -> list[Any]:
    import requests

    if isinstance(items, requests.Response):
        items = convert_response_data_type(items)
    return list(items or [])


def _client_of(poller: Callable[..., Any]) -> Any:
    owner = getattr(poller, "__self__", None)
    client = getattr(owner, "_client", None)
    return client if isinstance(client, APIClient) else None


# -- the future ---------------------------------------------------------------------------------


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
        client: Any = None,
        poll_on_creation: bool = True,
    ):
        client = client if client is not None else APIClient()
        super().__init__(
            client.scripts.get_containers_runs,
            (int(job_id), int(run_id)),
            polling_interval=polling_interval,
            client=client,
            poll_on_creation=poll_on_creation,
            max_retries=max_n_retries,
        )


def __getattr__(name: str) -> Any:
    """The executors (``CustomScriptExecutor``, ...) live in :mod:`civis_jupyter.executors`."""
    if name in ("ContainerExecutor", "CustomScriptExecutor"):
        from . import executors

        return getattr(executors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
