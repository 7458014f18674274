"""Batch watching of many runs with ``jobs.list``, and the rate-limit budget."""

from __future__ import annotations

import collections
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..api.client import APIClient
from ..api.transport import Transport
from ._fields import _as_int, _as_list, _field

if TYPE_CHECKING:
    from ._future import CivisFuture
    from ._poller import Poller

_log = logging.getLogger("civis_jupyter.futures")  # the package's one logger

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
