"""Kernel side of the JupyterLab extension: completion data and the runs feed.

Two comm targets are registered in the kernel:

``civis_jupyter.completion``
    The browser asks ``{"id": n, "request": "databases" | "schemas" | "tables" |
    "columns", "database": ..., "schema": ..., "table": ...}`` and gets
    ``{"id": n, "items": [names...]}`` (or ``{"id": n, "error": "..."}``).
    Answers are cached for a few minutes.
``civis_jupyter.runs``
    The kernel sends ``{"runs": [...]}`` when the panel connects and whenever
    a run of this kernel starts or changes state; the browser may send
    ``{"action": "cancel", "job_id": ..., "run_id": ...}``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "COMPLETION_TARGET",
    "RUNS_TARGET",
    "CompletionSource",
    "register_comms",
    "unregister_comms",
]

COMPLETION_TARGET = "civis_jupyter.completion"
RUNS_TARGET = "civis_jupyter.runs"
CACHE_SECONDS = 300.0


class CompletionSource:
    """Names of databases, schemas, tables and columns, cached.

    Parameters
    ----------
    get_client : callable
        Returns the client to ask (built lazily by the extension).
    ttl : float, optional
        Seconds an answer is reused.
    """

    def __init__(self, get_client: Callable[[], Any], ttl: float = CACHE_SECONDS):
        self._get_client = get_client
        self._ttl = ttl
        self._cache: dict[tuple[Any, ...], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def items(self, request: dict[str, Any]) -> list[str]:
        """Answer one completion request.

        Parameters
        ----------
        request : dict
            ``request`` and the names it needs.

        Returns
        -------
        list of str

        Raises
        ------
        ValueError
            For an unknown request or missing names.
        """
        kind = request.get("request")
        key = (kind, request.get("database"), request.get("schema"), request.get("table"))
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        names = self._fetch(kind, request)
        with self._lock:
            self._cache[key] = (now, names)
        return names

    def _fetch(self, kind: Any, request: dict[str, Any]) -> list[str]:
        client = self._get_client()
        if kind == "databases":
            return sorted(str(d["name"]) for d in client.databases.list())
        database = request.get("database")
        if not database:
            raise ValueError(f"{kind} completion needs a database")
        db_id = client.get_database_id(int(database) if str(database).isdigit() else database)
        if kind == "schemas":
            return sorted(str(s["schema"]) for s in client.databases.list_schemas(db_id))
        schema = request.get("schema")
        if kind == "tables":
            params = {"database_id": db_id, "iterator": True, "limit": 1000}
            if schema:
                params["schema"] = schema
            return sorted({str(t["name"]) for t in client.tables.list(**params)})
        if kind == "columns":
            table = request.get("table")
            if not table:
                raise ValueError("columns completion needs a table")
            found = client.tables.list(database_id=db_id, schema=schema, name=table)
            if not found:
                return []
            columns = client.tables.get(found[0]["id"]).get("columns") or []
            return [str(c["name"]) for c in columns]
        raise ValueError(f"unknown completion request {kind!r}")


def _short_error(exc: BaseException) -> str:
    """One line naming the problem, for the browser."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _cancel(runs_source: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Cancel one run for the panel; the reply says whether it is now cancelled.

    ``runs_source.cancel`` may return False although the run was cancelled: the
    futures' poller can see the platform's ``cancelled`` state and resolve the
    future before ``cancel`` does. What the panel needs to know is whether the
    run ended up cancelled, so that is read from a fresh snapshot as well.
    """
    reply: dict[str, Any] = {"job_id": data.get("job_id"), "run_id": data.get("run_id")}
    try:
        job_id, run_id = int(data["job_id"]), int(data["run_id"])
        done = bool(runs_source.cancel(job_id, run_id))
    except Exception as exc:  # answered to the browser, never raised in the kernel
        reply.update(ok=False, error=_short_error(exc))
        return reply
    if not done:
        done = any(
            r.get("job_id") == job_id
            and r.get("run_id") == run_id
            and r.get("state") == "cancelled"
            for r in runs_source.snapshot()
        )
    reply["ok"] = done
    return reply


def _comm_manager(shell: Any) -> Any:
    kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        from comm import get_comm_manager

        manager = get_comm_manager()
    return manager


def register_comms(shell: Any, get_client: Callable[[], Any], runs_source: Any) -> dict:
    """Register both comm targets in the shell's kernel.

    Parameters
    ----------
    shell : InteractiveShell
        A kernel's shell.
    get_client : callable
        Returns the client (may raise if none is configured).
    runs_source : object
        ``snapshot()``, ``subscribe(callback)`` and ``cancel(job_id, run_id)``.

    Returns
    -------
    dict
        What was registered (for :func:`unregister_comms`).
    """
    manager = _comm_manager(shell)
    completions = CompletionSource(get_client)
    unsubscribers: list[Callable[[], None]] = []

    def on_completion(comm: Any, _open_msg: Any) -> None:
        def on_msg(msg: dict[str, Any]) -> None:
            request = msg.get("content", {}).get("data", {}) or {}
            reply: dict[str, Any] = {"id": request.get("id")}
            try:
                reply["items"] = completions.items(request)
            except Exception as exc:  # answered to the browser, never raised in the kernel
                reply["error"] = _short_error(exc)
            comm.send(reply)

        comm.on_msg(on_msg)

    def on_runs(comm: Any, _open_msg: Any) -> None:
        comm.send({"runs": runs_source.snapshot()})
        stop = runs_source.subscribe(lambda snapshot: comm.send({"runs": snapshot}))
        unsubscribers.append(stop)

        def on_msg(msg: dict[str, Any]) -> None:
            data = msg.get("content", {}).get("data", {}) or {}
            if data.get("action") == "cancel":
                comm.send({"cancelled": _cancel(runs_source, data)})
            elif data.get("action") == "refresh":
                comm.send({"runs": runs_source.snapshot()})

        comm.on_msg(on_msg)
        comm.on_close(lambda _msg: stop())

    manager.register_target(COMPLETION_TARGET, on_completion)
    manager.register_target(RUNS_TARGET, on_runs)
    return {"manager": manager, "unsubscribers": unsubscribers}


def unregister_comms(shell: Any, registered: dict | None = None) -> None:
    """Remove the comm targets (and stop following runs)."""
    manager = registered["manager"] if registered else _comm_manager(shell)
    for target in (COMPLETION_TARGET, RUNS_TARGET):
        try:
            manager.unregister_target(target, None)
        except KeyError:
            pass
    for stop in (registered or {}).get("unsubscribers", []):
        stop()
