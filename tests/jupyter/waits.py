"""Waiting on a widget's trait: observed, never polled, never a fixed sleep."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..polling import DEFAULT_TIMEOUT

__all__ = ["wait_for_trait"]


def wait_for_trait(
    widget: Any,
    trait: str,
    predicate: Callable[[Any], Any],
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Wait until ``predicate(widget.<trait>)`` is true (it may be already).

    Parameters
    ----------
    widget : traitlets.HasTraits
        The widget whose trait another thread changes.
    trait : str
        The trait's name.
    predicate : callable
        Takes the trait's value.
    timeout : float, optional
        Seconds before the test fails.

    Raises
    ------
    AssertionError
        When the trait does not get there in time (naming its last value).
    """
    seen = threading.Event()

    def check(_change: Any = None) -> None:
        if predicate(getattr(widget, trait)):
            seen.set()

    widget.observe(check, trait)
    check()
    assert seen.wait(timeout), f"{trait} stayed {getattr(widget, trait)!r}"
    widget.unobserve(check, trait)
