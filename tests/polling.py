"""The one polling helper of the tests: wait for a state, never for a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["DEFAULT_TIMEOUT", "wait_until"]

#: Seconds a test waits for a state before it fails.
DEFAULT_TIMEOUT = 60.0
T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    what: str = "it",
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.02,
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Parameters
    ----------
    predicate : callable
        Reads the state (another thread, process or server changes it).
    what : str, optional
        What is awaited, for the failure message.
    timeout : float, optional
        Seconds before the test fails.
    interval : float, optional
        Seconds between two looks.

    Returns
    -------
    Any
        The first truthy value of ``predicate``.

    Raises
    ------
    AssertionError
        When the state is not reached in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
