"""The two small thread pools shared by every future: polls, and callbacks."""

from __future__ import annotations

import threading
from concurrent import futures as _cf

#: Threads that send polls, and threads that run callbacks and subscribers.
POLL_WORKERS = 8
CALLBACK_WORKERS = 4


_pools_lock = threading.Lock()
_pools: dict[str, _cf.ThreadPoolExecutor] = {}


def _pool(name: str, workers: int) -> _cf.ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = _cf.ThreadPoolExecutor(workers, thread_name_prefix=name)
        return pool
