"""Executors whose submissions run as Civis Platform scripts.

:class:`ContainerExecutor` creates and runs one container script per
submission; :class:`CustomScriptExecutor` creates and runs one custom script,
from one template, per submission. Both follow
:class:`concurrent.futures.Executor`: ``submit`` returns a
:class:`~civis_jupyter.futures.CivisFuture` that resolves with the finished
run, ``shutdown`` waits for the runs, and :meth:`cancel_all` cancels the
ones still going. All their futures share the client's one poller.

Scripts get ``CIVIS_PARENT_JOB_ID`` and ``CIVIS_PARENT_RUN_ID`` set to the
``CIVIS_JOB_ID`` and ``CIVIS_RUN_ID`` of the process that submitted them,
when it runs inside a platform run itself.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime
import os
import threading
from collections.abc import Callable
from typing import Any

from .api.client import APIClient
from .futures import CivisFuture

__all__ = ["ContainerExecutor", "CustomScriptExecutor", "docker_command"]

_PARENT_PARAMS = ("CIVIS_PARENT_JOB_ID", "CIVIS_PARENT_RUN_ID")


def docker_command(*args: Any, **kwargs: Any) -> str:
    """A shell command from positional arguments and ``--name value`` options.

    Parameters
    ----------
    *args
        Words of the command, in order.
    **kwargs
        Options, sorted by name.

    Returns
    -------
    str
        E.g. ``docker_command("./run", 5, size=7)`` is ``"./run 5 --size 7"``.
    """
    words = [str(a) for a in args]
    words += [f"--{name} {value}" for name, value in sorted(kwargs.items())]
    return " ".join(words)


def _parent_arguments() -> dict[str, str]:
    """The submitting run's ids, when this process runs inside a platform run."""
    ids = {"CIVIS_PARENT_JOB_ID": "CIVIS_JOB_ID", "CIVIS_PARENT_RUN_ID": "CIVIS_RUN_ID"}
    return {name: os.environ[var] for name, var in ids.items() if os.environ.get(var)}


class _ScriptExecutor(cf.Executor):
    """What both executors share: names, futures, shutdown and cancel_all."""

    def __init__(
        self,
        name: str,
        hidden: bool,
        max_n_retries: int,
        client: APIClient | None,
        polling_interval: float | None,
        inc_script_names: bool,
    ):
        if max_n_retries < 0:
            raise ValueError("max_n_retries must not be negative")
        self.name = name
        self.hidden = hidden
        self.max_n_retries = max_n_retries
        self.polling_interval = polling_interval
        self.inc_script_names = inc_script_names
        self.client = client or APIClient()
        self._counter = 0
        self._lock = threading.Lock()
        self._shut = False
        self._futures: list[CivisFuture] = []

    def _next_name(self) -> str:
        if not self.inc_script_names:
            return self.name
        name = f"{self.name} {self._counter}"
        self._counter += 1
        return name

    def _create_job(self, name: str, arguments: dict[str, Any], command: str | None) -> Any:
        raise NotImplementedError

    def _start(self, arguments: dict[str, Any], command: str | None) -> CivisFuture:
        """Create the script, start its run, and follow it with a future."""
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            name = self._next_name()
        job = self._create_job(name, {**_parent_arguments(), **arguments}, command)
        run = self.client.jobs.post_runs(job["id"])
        future = CivisFuture(
            self.client.jobs.get_runs,
            (job["id"], run["id"]),
            polling_interval=self.polling_interval,
            client=self.client,
            poll_on_creation=False,
            max_retries=self.max_n_retries,
        )
        with self._lock:
            self._futures.append(future)
        return future

    @property
    def futures(self) -> list[CivisFuture]:
        """The futures of every submission so far, oldest first."""
        with self._lock:
            return list(self._futures)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting submissions; optionally cancel or wait for the runs.

        Parameters
        ----------
        wait : bool, optional
            Wait until every run has ended.
        cancel_futures : bool, optional
            Cancel the runs still going first.
        """
        with self._lock:
            self._shut = True
        if cancel_futures:
            self.cancel_all()
        if wait:
            cf.wait(self.futures)

    def cancel_all(self) -> None:
        """Cancel every run of this executor that has not ended."""
        for future in self.futures:
            if not future.done():
                future.cancel()


class ContainerExecutor(_ScriptExecutor):
    """Run shell commands as Civis container scripts, one script per submission.

    Parameters
    ----------
    docker_image_name : str, optional
        The image of the scripts (pass ``docker_image_tag`` in ``kwargs`` too,
        if needed).
    name : str, optional
        The scripts' name (default ``"ContainerExecutor <date>"``).
    required_resources : dict, optional
        ``cpu``, ``memory``, ``disk_space`` (default 1024 CPU, 1024 MiB).
    hidden : bool, optional
        Hide the scripts from lists (default ``True``).
    max_n_retries : int, optional
        Start a failed run again up to this many times.
    client : APIClient, optional
    polling_interval : float, optional
        Fixed seconds between status checks (default: adaptive).
    inc_script_names : bool, optional
        Number the scripts' names (``"name 0"``, ``"name 1"``, ...).
    **kwargs
        More fields of ``scripts.post_containers`` (``params``,
        ``arguments``, ``repo_http_uri``, ...).

    Examples
    --------
    >>> with ContainerExecutor(client=client) as pool:  # doctest: +SKIP
    ...     runs = [pool.submit(f"echo {i}") for i in range(3)]
    """

    def __init__(
        self,
        docker_image_name: str = "civisanalytics/datascience-python",
        name: str | None = None,
        required_resources: dict[str, Any] | None = None,
        hidden: bool = True,
        max_n_retries: int = 0,
        client: APIClient | None = None,
        polling_interval: float | None = None,
        inc_script_names: bool = False,
        **kwargs: Any,
    ):
        self.docker_image_name = docker_image_name
        self.required_resources = required_resources or {"cpu": 1024, "memory": 1024}
        params = [
            p for p in kwargs.pop("params", None) or [] if p["name"].upper() not in _PARENT_PARAMS
        ]
        params += [{"name": name_, "type": "integer"} for name_ in _PARENT_PARAMS]
        self.container_kwargs = dict(kwargs, params=params)
        today = datetime.date.today().isoformat()
        super().__init__(
            name or f"ContainerExecutor {today}",
            hidden,
            max_n_retries,
            client,
            polling_interval,
            inc_script_names,
        )

    def submit(  # type: ignore[override]  # takes a command, as the official client's does
        self, fn: str | Callable[..., str] | None, /, *args: Any, **kwargs: Any
    ) -> CivisFuture:
        """Create and run a container script; return the future of its run.

        Parameters
        ----------
        fn : str, callable or None
            The command; or a callable returning it from ``*args`` and
            ``**kwargs``; or ``None`` to build it with :func:`docker_command`.
        *args, **kwargs
            Passed to ``fn``. ``arguments=`` (a dict) is taken out first and
            merged into the script's arguments.

        Returns
        -------
        CivisFuture
            Resolves with the finished run (outputs are left to you).
        """
        arguments = dict(kwargs.pop("arguments", None) or {})
        command = fn if isinstance(fn, str) else (fn or docker_command)(*args, **kwargs)
        return self._start(arguments, command)

    def _create_job(self, name: str, arguments: dict[str, Any], command: str | None) -> Any:
        fields = copy.deepcopy(self.container_kwargs)
        merged = {**(fields.pop("arguments", None) or {}), **arguments}
        if merged:
            fields["arguments"] = merged
        return self.client.scripts.post_containers(
            required_resources=self.required_resources,
            name=name,
            docker_command=command,
            docker_image_name=self.docker_image_name,
            hidden=self.hidden,
            **fields,
        )


class CustomScriptExecutor(_ScriptExecutor):
    """Run custom scripts made from one template, one script per submission.

    Parameters
    ----------
    from_template_id : int
        The template every script is made from.
    name : str, optional
        The scripts' name (default ``"CustomScriptExecutor <date>"``).
    hidden : bool, optional
        Hide the scripts from lists (default ``True``).
    arguments : dict, optional
        Arguments of every script; each submission's arguments override them.
    max_n_retries : int, optional
        Start a failed run again up to this many times.
    client : APIClient, optional
    polling_interval : float, optional
        Fixed seconds between status checks (default: adaptive).
    inc_script_names : bool, optional
        Number the scripts' names.
    **kwargs
        More fields of ``scripts.post_custom``.
    """

    def __init__(
        self,
        from_template_id: int,
        name: str | None = None,
        hidden: bool = True,
        arguments: dict[str, Any] | None = None,
        max_n_retries: int = 0,
        client: APIClient | None = None,
        polling_interval: float | None = None,
        inc_script_names: bool = False,
        **kwargs: Any,
    ):
        self.from_template_id = from_template_id
        self.arguments = dict(arguments or {})
        self.kwargs = kwargs
        today = datetime.date.today().isoformat()
        super().__init__(
            name or f"CustomScriptExecutor {today}",
            hidden,
            max_n_retries,
            client,
            polling_interval,
            inc_script_names,
        )

    def submit(self, **arguments: Any) -> CivisFuture:  # type: ignore[override]
        """Create and run a custom script with these arguments.

        Parameters
        ----------
        **arguments
            The script's arguments (over those given to the executor).

        Returns
        -------
        CivisFuture
        """
        return self._start(arguments, None)

    def _create_job(self, name: str, arguments: dict[str, Any], command: str | None) -> Any:
        merged = {**self.arguments, **arguments}
        return self.client.scripts.post_custom(
            self.from_template_id,
            name=name,
            arguments=merged or None,
            hidden=self.hidden,
            **self.kwargs,
        )
