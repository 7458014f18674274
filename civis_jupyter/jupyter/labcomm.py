"""Kernel side of the JupyterLab extension: completion data and the runs feed.

Two comm targets are registered in the kernel:

``civis_jupyter.completion``
    The browser asks ``{"id": n, "request": "databases" | "schemas" | "tables" |
    "columns", "database": ..., "schema": ..., "table": ...}`` and gets
    ``{"id": n, "items": [names...]}`` (or ``{"id": n, "error": "..."}``).
    Answers are cached for a few minutes. With no database named, the
    configured default is used, else the only database there is; if there
    are several, the answer carries a ``hint`` instead of names.
``civis_jupyter.runs``
    The kernel sends ``{"runs": [...]}`` when the panel connects and whenever
    a run of this kernel starts or changes state; the browser may send
    ``{"action": "cancel", "job_id": ..., "run_id": ...}``.

Cancelling also works while a cell is running (comm messages wait for the
cell to finish; control messages do not): the browser sends a
``civis_cancel_request`` on the control channel, with the same content, and
gets a ``civis_cancel_reply`` with ``{"ok": bool, "error"?: str}``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "CANCEL_REQUEST",
    "COMPLETION_TARGET",
    "RUNS_TARGET",
    "CompletionSource",
    "NoDatabase",
    "register_comms",
    "unregister_comms",
]

COMPLETION_TARGET = "civis_jupyter.completion"
RUNS_TARGET = "civis_jupyter.runs"
CANCEL_REQUEST = "civis_cancel_request"
CANCEL_REPLY = "civis_cancel_reply"
CACHE_SECONDS = 300.0


class NoDatabase(ValueError):
    """No database named, none configured, and more than one to choose from."""


class CompletionSource:
    """Names of databases, schemas, tables and columns, cached.

    Parameters
    ----------
    get_client : callable
        Returns the client to ask (built lazily by the extension).
    ttl : float, optional
        Seconds an answer is reused.
    default_database : callable, optional
        Returns the database to use when a request names none (or ``None``).
    """

    def __init__(
        self,
        get_client: Callable[[], Any],
        ttl: float = CACHE_SECONDS,
        default_database: Callable[[], Any] | None = None,
    ):
        self._get_client = get_client
        self._default_database = default_database or (lambda: None)
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
        NoDatabase
            If the request names no database and none can be chosen.
        """
        kind = request.get("request")
        if kind != "databases" and not request.get("database"):
            request = {**request, "database": self._choose_database()}
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

    def _choose_database(self) -> str:
        """The configured default database, else the only one there is."""
        default = self._default_database()
        if default not in (None, ""):
            return str(default)
        names = self.items({"request": "databases"})
        if len(names) == 1:
            return names[0]
        if not names:
            raise NoDatabase("No database is available to complete names from.")
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise NoDatabase(f"Name a database to complete from: %%civis_sql NAME ({shown})")

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
        job_id = int(data["job_id"])
        run_id = None if data.get("run_id") is None else int(data["run_id"])
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


def _default_database(shell: Any) -> Any:
    """The database ``%%civis_sql`` uses when a cell names none (``None`` if unset)."""
    magics = shell.magics_manager.registry.get("CivisMagics")
    return getattr(magics, "default_database", None)


def _control_cancel(shell: Any, runs_source: Any) -> Callable[..., Any]:
    """A control-channel handler cancelling a run (works while a cell runs)."""
    kernel = shell.kernel

    async def handle(stream: Any, idents: Any, msg: dict[str, Any]) -> None:
        data = msg.get("content") or {}
        # The cancel request itself is an HTTP call: keep the control thread free.
        reply = await asyncio.get_running_loop().run_in_executor(None, _cancel, runs_source, data)
        kernel.session.send(stream, CANCEL_REPLY, reply, parent=msg, ident=idents)

    return handle


def register_comms(shell: Any, get_client: Callable[[], Any], runs_source: Any) -> dict:
    """Register both comm targets (and the control-channel cancel) in the shell's kernel.

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
    completions = CompletionSource(get_client, default_database=lambda: _default_database(shell))
    unsubscribers: list[Callable[[], None]] = []

    def on_completion(comm: Any, _open_msg: Any) -> None:
        def on_msg(msg: dict[str, Any]) -> None:
            request = msg.get("content", {}).get("data", {}) or {}
            reply: dict[str, Any] = {"id": request.get("id")}
            try:
                reply["items"] = completions.items(request)
            except NoDatabase as exc:
                reply.update(items=[], hint=str(exc))
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
    handlers = getattr(getattr(shell, "kernel", None), "control_handlers", None)
    if isinstance(handlers, dict):
        handlers[CANCEL_REQUEST] = _control_cancel(shell, runs_source)
    return {"manager": manager, "unsubscribers": unsubscribers, "control": handlers}


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
    handlers = (registered or {}).get("control")
    if isinstance(handlers, dict):
        handlers.pop(CANCEL_REQUEST, None)
