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

from typing import Any

from ._constants import (  # noqa: F401  (the tunables, as before the split)
    DONE,
    FIRST_INTERVAL,
    GROWTH,
    LOG_TAIL,
    LONG_POLL,
    MAX_INTERVAL,
    SUCCEEDED,
    WATCHED_LONG_POLL,
)
from ._container import ContainerFuture
from ._future import CivisFuture
from ._poller import Poller, poller_for
from ._pools import CALLBACK_WORKERS, POLL_WORKERS  # noqa: F401
from ._registry import live_futures, on_new_future
from ._subscribers import Subscribers
from ._watch import (  # noqa: F401
    FIRST_LOOK_GRACE,
    MAX_SWEEP,
    MIN_SWEEP,
    OFFICIAL_FIRST,
    OFFICIAL_GROWTH_PER_S,
    OFFICIAL_MAX,
    RATE_RESERVE,
    RATE_WINDOW,
    SWEEP_PAGE,
    WATCHED_RECHECK,
)

__all__ = [
    "CivisFuture",
    "ContainerFuture",
    "Poller",
    "Subscribers",
    "live_futures",
    "on_new_future",
    "poller_for",
]

# The public objects keep the module they were always shown under (reprs, docs,
# and IPython's display registered by name for ``civis_jupyter.futures.CivisFuture``).
for _public in (
    CivisFuture,
    ContainerFuture,
    Poller,
    Subscribers,
    live_futures,
    on_new_future,
    poller_for,
):
    _public.__module__ = __name__
del _public


def __getattr__(name: str) -> Any:
    """The executors (``CustomScriptExecutor``, ...) live in :mod:`civis_jupyter.executors`."""
    if name in ("ContainerExecutor", "CustomScriptExecutor"):
        from .. import executors

        return getattr(executors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
