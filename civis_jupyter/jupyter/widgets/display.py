"""Outputs that follow a run to its end, also in saved notebooks.

A live widget updates itself in the browser, but a saved notebook (and an
HTML report made from it) keeps the static fallback an output had when it was
shown. A :class:`FollowedDisplay` is shown with a ``display_id`` and, when its
run ends, its output is replaced (``update_display_data``) by the final look,
wherever the notebook is by then:

- the update is sent with the parent message of the cell running now (or the
  last one), captured on the main thread when a cell starts, so that it is
  routed to a client listening to that cell (nbclient, JupyterLab);
- it is sent again when the next cell starts, for runs that ended between
  cells (when no client was listening);
- the display id is also in the output's metadata (``civis_jupyter.display_id``),
  so that the JupyterLab extension can update outputs of cells that have
  finished running.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "METADATA_KEY",
    "FollowedCard",
    "FollowedDisplay",
    "followed_displays",
    "show_followed",
]

METADATA_KEY = "civis_jupyter"


class FollowedDisplay:
    """One output shown with a display id, updated with ``bundle()`` when asked.

    Parameters
    ----------
    bundle : callable
        Returns the mime bundle to show now.
    """

    def __init__(self, bundle: Any):
        self._bundle = bundle
        self.display_id = uuid.uuid4().hex

    def metadata(self) -> dict[str, Any]:
        """Output metadata naming the display id."""
        return {METADATA_KEY: {"display_id": self.display_id}}

    def show(self) -> None:
        """Publish the output (in the calling cell)."""
        from IPython.display import display

        followed_displays().start()
        display(self._bundle(), raw=True, display_id=self.display_id, metadata=self.metadata())

    def update(self) -> None:
        """Replace the output by ``bundle()`` now and again when the next cell starts."""
        followed_displays().send(self)

    def publish_update(self) -> None:
        """Send the update once, in the calling thread's routing."""
        from IPython.display import update_display

        update_display(
            self._bundle(), raw=True, display_id=self.display_id, metadata=self.metadata()
        )


_Card = TypeVar("_Card", bound="FollowedCard")


class FollowedCard:
    """Mixin of the live cards: ``show()`` them, and their saved output follows the run.

    Subclasses set ``future`` and implement ``refresh()`` (bring the card up to
    date with the future now); the widget they mix into gives
    ``_repr_mimebundle_``.
    """

    future: Any
    _shown: FollowedDisplay | None = None

    def refresh(self) -> None:  # pragma: no cover - abstract
        """Bring the card up to date with the future now."""
        raise NotImplementedError

    def show(self: _Card) -> _Card:
        """Display the card; its saved output follows the run to its end.

        Returns
        -------
        FollowedCard
            The card itself.
        """
        self._shown = FollowedDisplay(self._repr_mimebundle_)  # type: ignore[attr-defined]
        self._shown.show()
        # result() waits for done-callbacks: once it returns, the saved card is final.
        self.future.add_done_callback(lambda _f: self._ended())
        return self

    def _ended(self) -> None:
        self.refresh()
        if self._shown is not None:
            self._shown.update()


def show_followed(
    card: Callable[..., FollowedCard], future: Any, log_lines: int, widgets_on: bool
) -> None:
    """Display a future as a card that follows it to its end, or as plain text.

    Parameters
    ----------
    card : callable
        Makes the card: ``card(future, log_lines=log_lines)``.
    future : CivisFuture
    log_lines : int
        Log lines the card keeps.
    widgets_on : bool
        ``False``: show the future's plain text instead.
    """
    if widgets_on:
        card(future, log_lines=log_lines).show()
        return
    from IPython.display import display

    display({"text/plain": repr(future)}, raw=True)


class _Registry:
    """The parent of the cell running now, and updates to send again at the next cell."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._again: dict[str, FollowedDisplay] = {}
        self._parent: dict[str, Any] | None = None
        self._shell: Any = None

    def start(self) -> None:
        """Hook into the shell's cell events (once), from the main thread."""
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or shell is self._shell:
            return
        if self._shell is not None:
            self._shell.events.unregister("pre_run_cell", self._cell_starts)
        self._shell = shell
        shell.events.register("pre_run_cell", self._cell_starts)
        self._parent = self._current_parent()

    def _current_parent(self) -> dict[str, Any] | None:
        kernel = getattr(self._shell, "kernel", None)
        try:
            return kernel.get_parent() if kernel is not None else None
        except Exception:  # an odd kernel: updates go where ipykernel sends them
            return None

    def _cell_starts(self, *_: Any) -> None:
        self._parent = self._current_parent()
        with self._lock:
            again, self._again = list(self._again.values()), {}
        for shown in again:  # the main thread, inside the new cell: routed to it
            shown.publish_update()

    def send(self, shown: FollowedDisplay) -> None:
        """Update an output now (routed to the current cell) and at the next cell."""
        with self._lock:
            self._again[shown.display_id] = shown
        if threading.current_thread() is threading.main_thread():
            shown.publish_update()
            return
        publisher = getattr(self._shell, "display_pub", None)
        parent = self._parent
        if parent and publisher is not None and hasattr(publisher, "set_thread_parent"):
            token = publisher.set_thread_parent(parent)
            try:
                shown.publish_update()
            finally:
                publisher.reset_thread_parent(token)
        else:
            shown.publish_update()


_registry = _Registry()


def followed_displays() -> _Registry:
    """The process's registry of followed displays."""
    return _registry
