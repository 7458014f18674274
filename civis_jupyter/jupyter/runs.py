"""The runs of this kernel's futures, as the JupyterLab runs panel sees them.

Each run is described by its job's name (or, for SQL whose job has a generic
name, the SQL's first line), its state and its times: the duration from start
to finish for an ended run, the time elapsed so far for a live one. Names are
read once per job (one request, cached); never on the futures' polling
threads.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from ..api.states import JOB_LIVE_STATES

__all__ = [
    "JobNames",
    "RunsSource",
    "first_sql_line",
    "job_names",
    "parse_moment",
    "parse_time",
    "run_summary",
]

LIVE_STATES = JOB_LIVE_STATES
SQL_JOB_TYPES = frozenset({"JobTypes::Query", "JobTypes::SqlRunner"})
#: Names the client gives the jobs it makes on its own: the SQL says more.
_GENERIC_NAME = re.compile(r"^(|%%?civis_sql.*|civis_jupyter export|Query #\d+)$", re.DOTALL)
NAME_CHARS = 120


def parse_moment(value: Any) -> dt.datetime | None:
    """An ISO 8601 time as an aware datetime (UTC if it names no zone).

    Parameters
    ----------
    value : str or None

    Returns
    -------
    datetime or None
        ``None`` if absent or unreadable.
    """
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (``None`` if absent or unreadable).

    Parameters
    ----------
    value : str or None

    Returns
    -------
    float or None
    """
    moment = parse_moment(value)
    return None if moment is None else moment.timestamp()


def first_sql_line(sql: Any) -> str:
    """The first line of SQL that is not blank or a comment, shortened.

    Parameters
    ----------
    sql : str

    Returns
    -------
    str
    """
    for line in str(sql or "").splitlines():
        text = line.strip()
        if text and not text.startswith("--"):
            return text if len(text) <= NAME_CHARS else text[: NAME_CHARS - 1] + "…"
    return ""


def _field(response: Any, name: str) -> Any:
    try:
        return response.get(name) if response is not None else None
    except Exception:  # not a mapping
        return getattr(response, name, None)


class JobNames:
    """What to call each job: its name, or its SQL's first line; read once per job."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[tuple[int, Any], str] = {}

    def cached(self, future: Any) -> str | None:
        """The name already known for the future's job, if any."""
        with self._lock:
            return self._names.get((id(getattr(future, "client", None)), future.job_id))

    def name(self, future: Any) -> str:
        """The name of the future's job, asking the platform the first time.

        Parameters
        ----------
        future : CivisFuture

        Returns
        -------
        str
            Never empty: ``job <id>`` when nothing better is known.
        """
        known = self.cached(future)
        if known is not None:
            return known
        try:
            name = self._describe(future)
        except Exception:  # a name is a nicety: never fail the panel for it
            return f"job {future.job_id}"
        name = name or f"job {future.job_id}"
        with self._lock:
            self._names[(id(getattr(future, "client", None)), future.job_id)] = name
        return name

    @staticmethod
    def _describe(future: Any) -> str:
        response = getattr(future, "last_response", None)
        if _field(response, "sql") and future.run_id is None:  # a query: the future is the job
            name = str(_field(response, "name") or "")
            return first_sql_line(_field(response, "sql")) if _GENERIC_NAME.match(name) else name
        client = future.client
        job = client.jobs.get(future.job_id)
        name = str(_field(job, "name") or "").strip()
        kind = _field(job, "type")
        if kind in SQL_JOB_TYPES and _GENERIC_NAME.match(name):
            getter = client.queries.get if kind == "JobTypes::Query" else client.scripts.get_sql
            sql = first_sql_line(_field(getter(future.job_id), "sql"))
            return sql or name
        return name


#: The names known in this process (shared by the runs panel and the run cards).
job_names = JobNames()


def run_summary(future: Any, names: JobNames | None = None) -> dict[str, Any]:
    """Describe one future's run for the runs panel.

    Parameters
    ----------
    future : CivisFuture
    names : JobNames, optional
        Where job names come from (default: only ``future.name`` or ``job <id>``).

    Returns
    -------
    dict
        ``job_id``, ``run_id``, ``name``, ``state``, ``live``, ``created_at``,
        ``started_at``, ``finished_at``, ``duration`` (seconds from start to
        finish, for an ended run) and ``elapsed`` (seconds so far, for a live
        run: since it started, or since it was created while queued).
    """
    response = getattr(future, "last_response", None)
    state = str(getattr(future, "state", None) or _field(response, "state") or "queued")
    if future.done() and future.cancelled():
        state = "cancelled"
    live = not future.done()
    created = getattr(future, "_created", None)
    started_at = _field(response, "started_at")
    finished_at = _field(response, "finished_at")
    started, finished = parse_time(started_at), parse_time(finished_at)
    duration = elapsed = None
    if not live and started is not None:
        duration = round(max(0.0, (finished or started) - started), 3)
    if live:
        since = started if started is not None and state == "running" else created
        elapsed = round(max(0.0, time.time() - since), 3) if since else None
    name = getattr(future, "name", None)
    if not name:
        name = names.name(future) if names is not None else f"job {future.job_id}"
    return {
        "job_id": future.job_id,
        "run_id": future.run_id,
        "name": str(name),
        "state": state,
        "live": live,
        "created_at": (
            dt.datetime.fromtimestamp(created, dt.timezone.utc).isoformat() if created else None
        ),
        "started_at": str(started_at) if started_at else None,
        "finished_at": str(finished_at) if finished_at else None,
        "duration": duration,
        "elapsed": elapsed,
    }


class RunsSource:
    """Adapter from :mod:`civis_jupyter.futures`' registry to the runs panel.

    It reports every future created in this kernel and each of their state
    changes; it never polls (the futures' shared poller does).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Callable[[list[dict[str, Any]]], None]] = []
        self._unhooks: list[Callable[[], None]] = []
        self.names = job_names

    def snapshot(self) -> list[dict[str, Any]]:
        """Summaries of this kernel's runs, newest first.

        Returns
        -------
        list of dict
        """
        from ..futures import live_futures

        return [run_summary(f, self.names) for f in reversed(live_futures())]

    def _publish(self, *_: Any) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        if subscribers:
            snap = self.snapshot()
            for callback in subscribers:
                callback(snap)

    def subscribe(self, callback: Callable[[list[dict[str, Any]]], None]) -> Callable[[], None]:
        """Call ``callback(snapshot)`` whenever a run starts or changes state.

        Parameters
        ----------
        callback : callable

        Returns
        -------
        callable
            Call it to stop.
        """
        from ..futures import live_futures, on_new_future

        with self._lock:
            self._subscribers.append(callback)
            first = len(self._subscribers) == 1
        if first:

            def follow(future: Any) -> None:
                # Called in the thread creating the future: publishing (which may
                # read the job's name) waits for the future's first response.
                self._unhooks.append(future.subscribe(self._publish))

            self._unhooks.append(on_new_future(follow))
            for future in live_futures():
                self._unhooks.append(future.subscribe(self._publish))

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                last = not self._subscribers
            if last:
                for unhook in self._unhooks:
                    unhook()
                self._unhooks.clear()

        return unsubscribe

    def cancel(self, job_id: int, run_id: int | None) -> bool:
        """Cancel the run of one of this kernel's futures.

        Parameters
        ----------
        job_id : int
        run_id : int or None
            ``None`` for a query (its future follows the job itself).

        Returns
        -------
        bool
            Whether a matching future was found and cancelled.
        """
        from ..futures import live_futures

        for future in live_futures():
            if future.job_id == job_id and future.run_id == run_id:
                return bool(future.cancel())
        return False
