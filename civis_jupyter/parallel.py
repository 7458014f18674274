"""Batch computing on Civis Platform with joblib.

A joblib backend whose batches run as platform runs: container scripts
(:func:`make_backend_factory`), custom scripts from a template
(:func:`make_backend_template_factory`), or container scripts like the one
this code runs in (:func:`infer_backend_factory`)::

    from joblib import Parallel, delayed, parallel_config, register_parallel_backend
    from civis_jupyter.parallel import make_backend_factory

    register_parallel_backend("civis", make_backend_factory())
    with parallel_config("civis"):
        squares = Parallel(n_jobs=8)(delayed(pow)(i, 2) for i in range(24))

Each batch is pickled with cloudpickle in the caller (what cannot be pickled
fails at once, naming the function or argument), stored as a platform file,
and run by ``python -m civis_jupyter.parallel_worker`` (the
``civis-jupyter-joblib-worker`` command) in the run; its result or exception
comes back through the run's output file. A task's exception is raised in the
caller with the remote traceback as its cause; the other runs are then
cancelled. At most ``n_jobs`` runs go at once. In Jupyter a live progress
display shows the runs done, running and failed, with a cancel button.

The worker files have the official client's layout: a template whose
script runs the official ``civis_joblib_worker`` works with these backends
too, and the official backend works against the embedded platform.

joblib and cloudpickle come with the ``parallel`` extra
(``pip install 'civis-jupyter[parallel]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .api.client import APIClient
from .api.errors import CivisAPIError
from .executors import CustomScriptExecutor

__all__ = [
    "KEYS_TO_INFER",
    "CustomScriptExecutor",
    "JobSubmissionError",
    "infer_backend_factory",
    "make_backend_factory",
    "make_backend_template_factory",
]

#: Fields of the current container script that :func:`infer_backend_factory` copies.
KEYS_TO_INFER = [
    "docker_image_name",
    "docker_image_tag",
    "repo_http_uri",
    "repo_ref",
    "remote_host_credential_id",
    "git_credential_id",
    "cancel_timeout",
    "time_zone",
]
_DEFAULT_SETUP_CMD = ":"
_DEFAULT_REPO_SETUP_CMD = "cd /app; pip install .; cd /"
_MISSING = (
    "civis_jupyter.parallel needs joblib and cloudpickle: pip install 'civis-jupyter[parallel]'"
)
_PARENT_PARAMS = ("CIVIS_PARENT_JOB_ID", "CIVIS_PARENT_RUN_ID")


class JobSubmissionError(Exception):
    """A batch could not be submitted to Civis Platform."""


def _backend_module() -> Any:
    """The joblib backend module, or a one-line ImportError naming the extra."""
    try:
        import cloudpickle  # noqa: F401
        import joblib  # noqa: F401
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    from . import _joblib_backend

    return _joblib_backend


def _factory(**backend_kwargs: Any) -> Callable[[], Any]:
    module = _backend_module()

    def backend_factory() -> Any:
        return module.CivisBackend(**backend_kwargs)

    return backend_factory


def make_backend_factory(
    docker_image_name: str = "civisanalytics/datascience-python",
    client: APIClient | None = None,
    polling_interval: float | None = None,
    setup_cmd: str | None = None,
    max_submit_retries: int = 0,
    max_job_retries: int = 0,
    hidden: bool = True,
    remote_backend: Any = "sequential",
    **kwargs: Any,
) -> Callable[[], Any]:
    """A joblib backend factory whose batches run as container scripts.

    Parameters
    ----------
    docker_image_name : str, optional
        The scripts' image (add ``docker_image_tag=`` if needed). It needs
        Python with what the tasks use; this package is installed in the run
        when the image lacks it.
    client : APIClient, optional
    polling_interval : float, optional
        Fixed seconds between status checks (default: adaptive, on the
        client's shared poller).
    setup_cmd : str, optional
        Shell command run before each batch (default: nothing, or
        ``pip install .`` of the repository when ``repo_http_uri`` is given).
    max_submit_retries : int, optional
        Retries of a submission the API refused; only for idempotent tasks.
    max_job_retries : int, optional
        New runs of a failed run; only for idempotent tasks.
    hidden : bool, optional
        Hide the scripts from lists (default ``True``).
    remote_backend : str or object, optional
        joblib backend inside the runs (``"sequential"``); ``"civis"`` nests
        this backend.
    **kwargs
        More fields of ``scripts.post_containers`` (``required_resources``,
        ``params``, ``arguments``, ``repo_http_uri``, ...).

    Returns
    -------
    callable
        Give it to ``joblib.register_parallel_backend``.

    Raises
    ------
    ImportError
        Without joblib and cloudpickle (the ``parallel`` extra).
    """
    if setup_cmd is None:
        setup_cmd = _DEFAULT_REPO_SETUP_CMD if kwargs.get("repo_http_uri") else _DEFAULT_SETUP_CMD
    return _factory(
        docker_image_name=docker_image_name,
        client=client,
        polling_interval=polling_interval,
        setup_cmd=setup_cmd,
        max_submit_retries=max_submit_retries,
        max_n_retries=max_job_retries,
        hidden=hidden,
        remote_backend=remote_backend,
        **kwargs,
    )


def make_backend_template_factory(
    from_template_id: int,
    arguments: dict[str, Any] | None = None,
    client: APIClient | None = None,
    polling_interval: float | None = None,
    max_submit_retries: int = 0,
    max_job_retries: int = 0,
    hidden: bool = True,
    **kwargs: Any,
) -> Callable[[], Any]:
    """A joblib backend factory whose batches run as custom scripts of a template.

    The template's script must run a joblib worker on the file named by its
    ``JOBLIB_FUNC_FILE_ID`` parameter: ``python -m civis_jupyter.parallel_worker``
    (or the official ``civis_joblib_worker``).

    Parameters
    ----------
    from_template_id : int
        The template.
    arguments : dict, optional
        Arguments of every custom script.
    client : APIClient, optional
    polling_interval : float, optional
    max_submit_retries : int, optional
    max_job_retries : int, optional
    hidden : bool, optional
    **kwargs
        More fields of ``scripts.post_custom``.

    Returns
    -------
    callable
        Give it to ``joblib.register_parallel_backend``.
    """
    return _factory(
        from_template_id=from_template_id,
        arguments=arguments,
        client=client,
        polling_interval=polling_interval,
        max_submit_retries=max_submit_retries,
        max_n_retries=max_job_retries,
        hidden=hidden,
        **kwargs,
    )


def _current_script(client: APIClient) -> dict[str, Any]:
    """This run's container script (for a custom script: its template's, with its arguments)."""
    job_id = os.environ.get("CIVIS_JOB_ID")
    if not job_id:
        raise RuntimeError(
            "infer_backend_factory works inside a Civis container script run "
            "(CIVIS_JOB_ID is not set); use make_backend_factory elsewhere."
        )
    script = client.scripts.get_containers(int(job_id)).json()
    template_id = script.get("from_template_id")
    if template_id:
        template = client.templates.get_scripts(template_id)
        arguments = script.get("arguments") or {}
        try:
            script = client.scripts.get_containers(template["script_id"]).json()
        except CivisAPIError as exc:
            if exc.status_code == 404:
                raise RuntimeError(
                    f"Cannot read script {template['script_id']} behind template "
                    f"{template_id}: you may not have permission to view it."
                ) from None
            raise
        script["arguments"] = arguments
    return script


def infer_backend_factory(
    required_resources: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    arguments: dict[str, Any] | None = None,
    client: APIClient | None = None,
    polling_interval: float | None = None,
    setup_cmd: str | None = None,
    max_submit_retries: int = 0,
    max_job_retries: int = 0,
    hidden: bool = True,
    remote_backend: Any = "sequential",
    **kwargs: Any,
) -> Callable[[], Any]:
    """A backend factory whose container scripts are like the one this code runs in.

    Reads the current container script (``CIVIS_JOB_ID``): its image, repository,
    resources, parameters and arguments (:data:`KEYS_TO_INFER` and those), which
    the arguments given here override.

    Parameters
    ----------
    required_resources, params, arguments : optional
        Override or extend the current script's.
    client, polling_interval, setup_cmd, max_submit_retries, max_job_retries,
    hidden, remote_backend, **kwargs
        As for :func:`make_backend_factory`.

    Returns
    -------
    callable

    Raises
    ------
    RuntimeError
        Outside a container script run.
    """
    client = client or APIClient()
    script = _current_script(client)
    resources = dict(script.get("required_resources") or {})
    resources.update(required_resources or {})
    merged_params = [dict(p) for p in script.get("params") or []]
    for given in params or []:
        for existing in merged_params:
            if existing["name"] == given["name"]:
                existing.update(given)
                break
        else:
            merged_params.append(dict(given))
    merged_params = [p for p in merged_params if p["name"].upper() not in _PARENT_PARAMS]
    merged_arguments = {**(script.get("arguments") or {}), **(arguments or {})}
    for key in KEYS_TO_INFER:
        if script.get(key) is not None:
            kwargs.setdefault(key, script[key])
    return make_backend_factory(
        required_resources=resources,
        params=merged_params,
        arguments=merged_arguments,
        client=client,
        polling_interval=polling_interval,
        setup_cmd=setup_cmd,
        max_submit_retries=max_submit_retries,
        max_job_retries=max_job_retries,
        hidden=hidden,
        remote_backend=remote_backend,
        **kwargs,
    )
