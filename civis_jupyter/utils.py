"""Running jobs and templates, and following their logs."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

from .api.client import APIClient
from .api.states import FINAL_STATES
from .futures import CivisFuture

__all__ = ["job_logs", "run_job", "run_template"]

#: Log lines are re-read this many ids back, to catch lines that arrive late.
LATE_WINDOW = 50
LOG_PAGE = 10000


def run_job(
    job_id: int, client: APIClient | None = None, polling_interval: float | None = None
) -> CivisFuture:
    """Start a run of a job and return its future.

    Parameters
    ----------
    job_id : int
        Any job: script, import, query...
    client : APIClient, optional
    polling_interval : float, optional
        Fixed seconds between status checks (default: adaptive).

    Returns
    -------
    CivisFuture
    """
    client = client or APIClient()
    run = client.jobs.post_runs(job_id)
    return CivisFuture(
        client.jobs.get_runs,
        (job_id, run["id"]),
        client=client,
        polling_interval=polling_interval,
        poll_on_creation=False,
    )


class _Unset:
    def __repr__(self) -> str:
        return "<not given>"


_UNSET: Any = _Unset()


def run_template(
    id: int,
    arguments: dict,
    JSONValue: Any = _UNSET,
    client: APIClient | None = None,
    return_as: str = "files",
    **kwargs: Any,
) -> Any:
    """Run a script template with arguments and return its results.

    Parameters
    ----------
    id : int
        The template.
    arguments : dict
        The template's arguments.
    JSONValue : bool, optional
        Deprecated; use ``return_as="JSONValue"``.
    client : APIClient, optional
    return_as : {'files', 'JSONValue', 'future'}
        Output file ids by name, the run's JSON value output, or the future.
    **kwargs
        Passed to ``scripts.post_custom``.

    Returns
    -------
    dict, Any or CivisFuture
    """
    if JSONValue is not _UNSET:
        warnings.warn(
            "JSONValue is deprecated: use return_as='JSONValue'.", FutureWarning, stacklevel=2
        )
        if bool(JSONValue) != (return_as == "JSONValue"):
            if return_as != "files":
                raise ValueError(
                    f"Conflicting arguments: JSONValue={JSONValue} but return_as={return_as!r}"
                )
            return_as = "JSONValue" if JSONValue else "files"
    if return_as not in ("files", "JSONValue", "future"):
        raise ValueError("return_as must be 'files', 'JSONValue' or 'future'")
    client = client or APIClient()
    job = client.scripts.post_custom(id, arguments=arguments, **kwargs)
    future = run_job(job["id"], client=client)
    if return_as == "future":
        return future
    future.result()
    assert future.run_id is not None  # run_job follows a run
    outputs = client.scripts.list_custom_runs_outputs(job["id"], future.run_id)
    if return_as == "JSONValue":
        values = [o for o in outputs if o["object_type"] == "JSONValue"]
        if len(values) != 1:
            return None
        return client.json_values.get(values[0]["object_id"])["value"]
    return {o["name"]: o["object_id"] for o in outputs if o["object_type"] == "File"}


def _latest_run_id(client: APIClient, job_id: int) -> int:
    runs = client.jobs.list_runs(job_id, limit=1)
    if not runs:
        raise ValueError(f"Job {job_id} has no runs.")
    return runs[0]["id"]


def job_logs(
    job_id: int,
    run_id: int | None = None,
    finished_timeout: float | None = None,
    client: APIClient | None = None,
) -> Iterator[dict]:
    """Yield a run's log lines, oldest first, following it until it ends.

    Lines are fetched with a ``last_id`` cursor. Since lines can arrive out of
    order, a short window before the cursor is read again and lines are
    de-duplicated by id. It stops when the platform says the logs are complete
    (its ``Civis-Cache-Control`` header is no longer ``no-store``), or, with
    ``finished_timeout``, once the run has been over that many seconds.

    Parameters
    ----------
    job_id : int
    run_id : int, optional
        Default: the job's latest run.
    finished_timeout : float, optional
        Seconds after the end of the run to keep waiting for late lines.
    client : APIClient, optional

    Yields
    ------
    dict
        ``id``, ``created_at``, ``message``, ``level``.
    """
    client = client or APIClient()
    run_id = run_id if run_id is not None else _latest_run_id(client, job_id)
    seen: set[int] = set()
    cursor: int | None = None
    delay = 0.2
    ended_at: float | None = None
    while True:
        since = None if cursor is None else max(0, cursor - LATE_WINDOW)
        kwargs: dict[str, Any] = {"limit": LOG_PAGE}
        if since is not None:
            kwargs["last_id"] = since
        lines = client.jobs.list_runs_logs(job_id, run_id, **kwargs)
        headers = getattr(lines, "headers", None) or {}
        fresh = sorted((ln for ln in lines if ln["id"] not in seen), key=lambda ln: ln["id"])
        for line in fresh:
            seen.add(line["id"])
            yield line.json() if hasattr(line, "json") else dict(line)
        max_id = headers.get("Civis-Max-Id")
        if fresh:
            cursor = max(cursor or 0, fresh[-1]["id"])
        elif max_id is not None and cursor is None:
            cursor = int(max_id)
        complete = (headers.get("Civis-Cache-Control") or "") != "no-store"
        caught_up = max_id is None or (cursor or 0) >= int(max_id)
        if complete and caught_up and len(lines) < LOG_PAGE:
            return
        if finished_timeout is not None:
            state = client.jobs.get_runs(job_id, run_id)
            if state["state"] in FINAL_STATES:
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at >= finished_timeout:
                    return
        if fresh:
            delay = 0.2
        else:
            time.sleep(delay)  # the platform has nothing new yet: back off a little
            delay = min(delay * 1.5, 5.0)
