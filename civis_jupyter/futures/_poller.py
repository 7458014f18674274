"""The Poller: the one scheduling thread that follows every future."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..api.client import APIClient
from ..api.transport import Transport
from ._constants import DONE, FIRST_INTERVAL, LONG_POLL
from ._fields import _as_int, _field
from ._pools import POLL_WORKERS, _pool
from ._watch import (
    FIRST_LOOK_GRACE,
    MAX_SWEEP,
    MIN_SWEEP,
    WATCHED_RECHECK,
    _Budget,
    _Sweeper,
)

if TYPE_CHECKING:
    from ._future import CivisFuture

_log = logging.getLogger("civis_jupyter.futures")  # the package's one logger


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
