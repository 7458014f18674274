"""The registry of the futures created in this process."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._subscribers import Subscribers

if TYPE_CHECKING:
    from ._future import CivisFuture

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
