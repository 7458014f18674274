"""The worker of the joblib backend: runs one batch inside a platform run.

Run as ``python -m civis_jupyter.parallel_worker FILE_ID`` (or the
``civis-jupyter-joblib-worker`` command), inside a platform run, with
``CIVIS_JOB_ID``, ``CIVIS_RUN_ID``, ``CIVIS_API_KEY`` and
``CIVIS_API_ENDPOINT`` in its environment. ``FILE_ID`` (or
``JOBLIB_FUNC_FILE_ID``) is a platform file holding
``(batch, remote_backend)`` pickled with cloudpickle. The worker calls the
batch under ``joblib.parallel_config(remote_backend)``, pickles what it
returned, or the exception it raised, into a new platform file, and adds that
file to the run's outputs. A failed batch also exits non-zero, so the run
fails. The exception carries the worker's formatted traceback in its
``civis_remote_traceback`` attribute.

The files have the same layout as those of the official client's
``civis_joblib_worker``, so either worker serves either backend.

A run's cost is mostly the start of its Python, so this module needs only
the standard library and cloudpickle: it speaks to the API with
:mod:`urllib` (a few calls, retried on 429 and 5xx), and imports joblib only
when the batch does.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import pickle
import sys
import time
import traceback
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from ._version import __version__

__all__ = [
    "REMOTE_TRACEBACK",
    "LightBatch",
    "RemoteTaskError",
    "RunApi",
    "main",
    "run_batch",
]

#: Attribute of a remote exception holding the worker's formatted traceback.
REMOTE_TRACEBACK = "civis_remote_traceback"
#: Days the result files are kept.
RESULT_DAYS = 7
DEFAULT_ENDPOINT = "https://api.civisanalytics.com/"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
ATTEMPTS = 5


class RemoteTaskError(Exception):
    """A task's exception that could not be pickled, as its type and message."""


class ApiCallError(OSError):
    """An API call failed (the message never holds the API key)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class RunApi:
    """The few API calls a worker makes, over :mod:`urllib`.

    Parameters
    ----------
    api_key : str
    endpoint : str
        The API root, e.g. ``CIVIS_API_ENDPOINT``.
    """

    def __init__(self, api_key: str, endpoint: str):
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        token = base64.b64encode(f"{api_key}:".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "User-Agent": f"civis-jupyter-joblib-worker/{__version__}",
            "Accept": "application/json",
        }
        for header, var in (("X-Civis-Job-ID", "CIVIS_JOB_ID"), ("X-Civis-Run-ID", "CIVIS_RUN_ID")):
            if os.environ.get(var):
                self._headers[header] = os.environ[var]

    def __repr__(self) -> str:
        return f"<RunApi {self.endpoint}>"

    @classmethod
    def from_env(cls) -> RunApi:
        """The API of the run this process is in (``CIVIS_API_KEY``, ``CIVIS_API_ENDPOINT``)."""
        key = os.environ.get("CIVIS_API_KEY")
        if not key:
            raise RuntimeError("CIVIS_API_KEY is not set in this run")
        return cls(key, os.environ.get("CIVIS_API_ENDPOINT") or DEFAULT_ENDPOINT)

    def _send(self, request: urllib.request.Request, what: str) -> bytes:
        for attempt in range(ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read()[:300].decode("utf-8", "replace")
                if exc.code not in RETRY_STATUSES or attempt == ATTEMPTS - 1:
                    raise ApiCallError(f"{what} failed ({exc.code}): {detail}", exc.code) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == ATTEMPTS - 1:
                    raise ApiCallError(f"{what} failed: {exc}") from None
            time.sleep(min(2**attempt * 0.5, 10))
        raise AssertionError("unreachable")

    def call(self, verb: str, path: str, body: Any = None) -> Any:
        """An API call with a JSON body; returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.endpoint + path, data=data, headers=headers, method=verb
        )
        answer = self._send(request, f"{verb} /{path}")
        return json.loads(answer) if answer else None

    def download(self, file_id: int | str) -> bytes:
        """The contents of a platform file."""
        url = self.call("GET", f"files/{int(file_id)}").get("fileUrl")
        if not url:
            raise ApiCallError(f"platform file {file_id} has no contents")
        return self._send(urllib.request.Request(url), f"downloading file {file_id}")

    def upload(self, data: bytes, name: str, expires_at: str | None = None) -> int:
        """Store bytes as a new platform file; returns its id."""
        body: dict[str, Any] = {"name": name}
        if expires_at:
            body["expiresAt"] = expires_at
        created = self.call("POST", "files", body)
        boundary = uuid.uuid4().hex
        parts = []
        for key, value in (created.get("uploadFields") or {}).items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            created["uploadUrl"],
            data=b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            method="POST",
        )
        self._send(request, f"uploading {name!r}")
        return int(created["id"])

    def add_file_output(self, job_id: str, run_id: str, file_id: int) -> None:
        """Add a file to the outputs of a container script's (or custom script's) run."""
        body = {"objectType": "File", "objectId": file_id}
        try:
            self.call("POST", f"scripts/containers/{job_id}/runs/{run_id}/outputs", body)
        except ApiCallError as exc:  # a custom script made from a template
            if exc.status != 404:
                raise
            self.call("POST", f"scripts/custom/{job_id}/runs/{run_id}/outputs", body)


class LightBatch:
    """A joblib batch as plain calls, which a worker can run without importing joblib.

    joblib's own batch object imports joblib (and numpy) when unpickled; this
    one does not, unless the tasks themselves do.

    Parameters
    ----------
    items : list of (callable, tuple, dict)
        The tasks.
    """

    def __init__(self, items: list[tuple[Callable[..., Any], tuple, dict]]):
        self.items = items

    def __call__(self) -> list[Any]:
        return [func(*args, **kwargs) for func, args, kwargs in self.items]

    def __len__(self) -> int:
        return len(self.items)


def _expiry() -> str:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=RESULT_DAYS)
    return when.isoformat()


class _JoblibDefault:
    """Makes ``backend`` joblib's default backend, without importing joblib first.

    Used while a batch runs: if a task imports joblib, joblib is configured
    with ``parallel_config(backend)`` right after it loads (a post-import hook
    on ``sys.meta_path``), so a task's own ``Parallel`` runs on the remote
    backend (``"sequential"`` by default) as under the official worker, and a
    batch that never uses joblib never pays for importing it.
    """

    def __init__(self, backend: str):
        self.backend = backend
        self.config: Any = None

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "joblib":
            return None
        sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _ThenConfigure(spec.loader, self)
        return spec

    def configure(self, joblib: Any) -> None:
        self.config = joblib.parallel_config(self.backend)
        self.config.__enter__()

    def __enter__(self) -> _JoblibDefault:
        if "joblib" in sys.modules:
            self.configure(sys.modules["joblib"])
        else:
            sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        if self.config is not None:
            self.config.__exit__(None, None, None)


class _ThenConfigure:
    """A module loader that configures joblib once it has loaded it."""

    def __init__(self, loader: Any, hook: _JoblibDefault):
        self.loader = loader
        self.hook = hook

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        self.hook.configure(module)

    def __getattr__(self, name: str) -> Any:  # resource readers and the like
        return getattr(self.loader, name)


def _backend_context(remote_backend: Any) -> Any:
    """The context a batch runs in: joblib's ``parallel_config`` for ``remote_backend``."""
    if isinstance(remote_backend, str):
        return _JoblibDefault(remote_backend)
    import cloudpickle
    from joblib import parallel_config, register_parallel_backend

    state = cloudpickle.dumps(remote_backend)
    register_parallel_backend("civis", lambda: cloudpickle.loads(state))
    return parallel_config("civis")


def run_batch(payload: bytes) -> tuple[bool, Any]:
    """Unpickle and call a batch; never raises for the batch's own errors.

    Parameters
    ----------
    payload : bytes
        ``(batch, remote_backend)`` pickled with cloudpickle.

    Returns
    -------
    tuple of (bool, Any)
        ``(True, result)``, or ``(False, exception)`` with the traceback
        attached as ``civis_remote_traceback``.
    """
    try:
        import cloudpickle

        func, remote_backend = cloudpickle.loads(payload)
        with _backend_context(remote_backend):
            return True, func()
    except Exception as exc:
        text = traceback.format_exc()
        try:
            setattr(exc, REMOTE_TRACEBACK, text)
        except AttributeError:  # an exception type without a __dict__
            exc = RemoteTaskError(f"{type(exc).__name__}: {exc}")
            setattr(exc, REMOTE_TRACEBACK, text)
        return False, exc


def _pickled(outcome: Any) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        if isinstance(outcome, BaseException):
            error = RemoteTaskError(f"{type(outcome).__name__}: {outcome}")
            setattr(error, REMOTE_TRACEBACK, getattr(outcome, REMOTE_TRACEBACK, ""))
        else:
            error = RemoteTaskError(f"the task's result cannot be pickled: {exc}")
        return cloudpickle.dumps(error, pickle.HIGHEST_PROTOCOL)


def main(argv: list[str] | None = None) -> int:
    """Run the batch of a platform file and record its outcome.

    Parameters
    ----------
    argv : list of str, optional
        ``[FILE_ID]``; defaults to ``sys.argv[1:]``, then ``JOBLIB_FUNC_FILE_ID``.

    Returns
    -------
    int
        0 when the batch succeeded, 1 when it raised, 2 when misused.
    """
    args = sys.argv[1:] if argv is None else argv
    file_id = args[0] if args else os.environ.get("JOBLIB_FUNC_FILE_ID")
    job_id, run_id = os.environ.get("CIVIS_JOB_ID"), os.environ.get("CIVIS_RUN_ID")
    if not file_id or not job_id or not run_id:
        print(
            "civis-jupyter-joblib-worker runs inside a Civis platform run: it needs a file id "
            "(argument or JOBLIB_FUNC_FILE_ID), CIVIS_JOB_ID and CIVIS_RUN_ID.",
            file=sys.stderr,
        )
        return 2
    api = RunApi.from_env()
    ok, outcome = run_batch(api.download(file_id))
    name = f"Results from joblib job {job_id} / run {run_id}"
    api.add_file_output(job_id, run_id, api.upload(_pickled(outcome), name, _expiry()))
    if not ok:
        print(getattr(outcome, REMOTE_TRACEBACK, ""), file=sys.stderr, end="")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
