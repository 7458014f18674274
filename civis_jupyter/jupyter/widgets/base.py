"""Shared pieces of the widgets: static fallbacks, HTML helpers, thread hand-off."""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..runs import parse_moment

__all__ = [
    "NAV",
    "StaticFallback",
    "badge",
    "escape",
    "fmt_seconds",
    "in_kernel_context",
    "local_time",
    "page_buttons",
    "plural",
    "relative_time",
]

STATE_COLOURS = {
    "queued": "#6c757d",
    "running": "#0d6efd",
    "succeeded": "#198754",
    "success": "#198754",
    "failed": "#dc3545",
    "cancelled": "#fd7e14",
}


#: Layout of a pager's arrow buttons.
NAV = {"width": "36px"}


def escape(value: Any) -> str:
    """HTML-escape any value's text."""
    return html.escape("" if value is None else str(value))


def badge(state: str | None) -> str:
    """A coloured pill showing a run state.

    Parameters
    ----------
    state : str or None

    Returns
    -------
    str
        HTML.
    """
    text = state or "unknown"
    colour = STATE_COLOURS.get(text, "#6c757d")
    return (
        f'<span class="civis-state civis-state-{escape(text)}" style="background:{colour};'
        'color:white;border-radius:8px;padding:1px 8px;font-size:90%">'
        f"{escape(text)}</span>"
    )


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``.

    Parameters
    ----------
    count : int
    word : str
        The singular.
    words : str, optional
        The plural (default: ``word + "s"``).

    Returns
    -------
    str
    """
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def fmt_seconds(seconds: float | None) -> str:
    """Format a duration like ``0.4s``, ``12s`` or ``1m 05s``."""
    if seconds is None:
        return "-"
    if 0 <= seconds < 9.95:
        return f"{seconds:.1f}s"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def local_time(value: Any) -> str:
    """An ISO 8601 time in the local time zone, like ``2024-05-01 14:03``.

    Parameters
    ----------
    value : str or None

    Returns
    -------
    str
        ``""`` if absent; the text itself if it is not a time.
    """
    moment = parse_moment(value)
    if moment is None:
        return "" if not value else str(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def relative_time(value: Any, now: float | None = None) -> str:
    """How long ago an ISO 8601 time was, like ``just now``, ``3 min ago``, ``2 days ago``.

    Parameters
    ----------
    value : str or None
    now : float, optional
        The present (seconds since the epoch; default: now).

    Returns
    -------
    str
    """
    moment = parse_moment(value)
    if moment is None:
        return "" if not value else str(value)
    ago = (time.time() if now is None else now) - moment.timestamp()
    if ago < 0:
        return "in the future" if ago < -60 else "just now"
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day")):
        if ago >= size:
            return plural(int(ago // size), unit) + " ago"
    if ago >= 3600:
        return f"{int(ago // 3600)} h ago"
    if ago >= 60:
        return f"{int(ago // 60)} min ago"
    return "just now" if ago < 10 else f"{int(ago)} s ago"


def page_buttons(owner: Any) -> tuple[widgets.Button, widgets.Button]:
    """Previous and next page buttons that turn ``owner.page`` (never below 1).

    Parameters
    ----------
    owner : traitlets.HasTraits
        A browser with an integer ``page`` trait.

    Returns
    -------
    tuple of ipywidgets.Button
        The previous and the next page buttons.
    """
    previous = widgets.Button(icon="angle-left", tooltip="Previous page", layout=NAV)
    following = widgets.Button(icon="angle-right", tooltip="Next page", layout=NAV)
    previous.on_click(lambda _b: setattr(owner, "page", max(1, owner.page - 1)))
    following.on_click(lambda _b: setattr(owner, "page", owner.page + 1))
    return previous, following


class StaticFallback:
    """Mixin: add ``text/html`` and ``text/plain`` to a widget's mime bundle.

    Saved notebooks then render the widget's last look anywhere, even where
    no widget manager is installed. Subclasses implement ``static_html`` and
    ``static_text``.
    """

    def static_html(self) -> str:  # pragma: no cover - abstract
        """HTML rendering of the widget's current state."""
        raise NotImplementedError

    def static_text(self) -> str:  # pragma: no cover - abstract
        """Plain-text rendering of the widget's current state."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}  # type: ignore[misc]
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = self.static_text()
        return bundle


def in_kernel_context() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap callbacks run on other threads so their output reaches the right cell.

    ipykernel 7 routes output by the parent message of the thread that sends
    it. The parent is captured here, on the main thread, and set again in the
    worker thread before the callback runs.

    Returns
    -------
    callable
        A decorator for callbacks.
    """
    kernel = None
    parent: dict[str, Any] = {}
    ident = b""
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        if kernel is not None:
            parent = kernel.get_parent() or {}
            ident = kernel._parent_ident["shell"]
    except Exception:  # not in a kernel (plain IPython): nothing to route
        kernel = None
    main = threading.main_thread()

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            if kernel is not None and parent and threading.current_thread() is not main:
                kernel.set_parent(ident, parent)
            return fn(*args, **kwargs)

        return run

    return wrap
