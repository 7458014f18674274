"""What executors and platforms see of a run: its context, errors and host."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._machine import Runner

#: Seconds a cancelled process group gets between SIGTERM and SIGKILL.
KILL_GRACE = 5.0


class AlreadyRunning(Exception):
    """The job already has a queued or running run."""

    def __init__(self, job_id: int, run_id: int):
        super().__init__(f"job {job_id} already has a live run ({run_id})")
        self.job_id = job_id
        self.run_id = run_id


class InvalidTransition(Exception):
    """A state change the run state machine does not allow."""


class RunCancelled(Exception):
    """Raised inside an executor (by :meth:`RunContext.check`) once cancelled."""


Executor = Callable[["RunContext"], None]


@dataclass
class RunContext:
    """What an executor gets: the run's identity, logging, outputs, cancellation.

    Attributes
    ----------
    runner : Runner
        The runner (and through it the platform).
    run_id, job_id, user_id : int
        The run, its job and the user who started it.
    run_dir : Path
        A directory private to this run (created on demand).
    cancelled : threading.Event
        Set when the run is cancelled.
    marker : str
        A random token naming the run's processes (``CIVIS_RUN_MARK``).
    """

    runner: Runner
    run_id: int
    job_id: int
    user_id: int | None
    run_dir: Path
    cancelled: threading.Event = field(default_factory=threading.Event)
    marker: str = ""
    _kill: Callable[[], None] | None = None

    def on_cancel(self, kill: Callable[[], None] | None) -> None:
        """Register how to stop the run's work when it is cancelled.

        Parameters
        ----------
        kill : callable or None
            Called when the run is cancelled or the platform shuts down (it
            must not block; it may be called twice); ``None`` unregisters.
        """
        self._kill = kill
        if kill is not None and self.cancelled.is_set():
            kill()

    @property
    def platform(self) -> RunHost:
        """The platform the run belongs to."""
        return self.runner.platform

    def log(self, message: str, level: str = "info") -> int:
        """Append a line to the run's logs; returns its id."""
        return self.runner.append_logs(self.run_id, [(message, level)])[-1]

    def add_output(
        self,
        object_type: str,
        object_id: int | None,
        name: str | None = None,
        link: str | None = None,
        value: Any = None,
    ) -> dict[str, Any]:
        """Record a run output (``File``, ``Table``, ``JSONValue``, ...)."""
        return self.runner.add_output(
            self.run_id, object_type, object_id, name=name, link=link, value=value
        )

    def update(self, **detail: Any) -> None:
        """Store extra, kind-specific fields on the run (e.g. SQL ``output``)."""
        self.runner.update_detail(self.run_id, **detail)

    def check(self) -> None:
        """Raise :class:`RunCancelled` if the run was cancelled."""
        if self.cancelled.is_set():
            raise RunCancelled()


class RunHost(Protocol):
    """What a :class:`Runner` needs of its platform: a data directory.

    The runner also reads these optional attributes when present (see
    :class:`Runner`): ``execute``, ``endpoint``, ``max_runs``, ``sandbox``,
    ``store`` and the ``mint_run_key``/``revoke_run_key`` hooks.
    """

    @property
    def data_dir(self) -> str | os.PathLike[str]:
        """Where the runner keeps its database and the runs' directories."""
