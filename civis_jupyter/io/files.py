"""Civis files: uploads (single and parallel multipart), downloads, JSON and frames.

File contents travel to and from signed URLs with the client's pooled
session; the API key is never sent to those URLs.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO

from ..api.client import APIClient
from ..api.errors import CivisAPIError, EmptyResultError
from ..api.transport import Transport

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "MIN_MULTIPART_SIZE",
    "civis_to_file",
    "dataframe_to_file",
    "file_id_from_run_output",
    "file_to_civis",
    "file_to_dataframe",
    "file_to_json",
    "json_to_civis",
    "json_to_file",
    "open_file_stream",
]

#: Files larger than this are uploaded in parts, in parallel.
MIN_MULTIPART_SIZE = 50 * 2**20
MIN_PART_SIZE = 5 * 2**20
MAX_FILE_SIZE = 5 * 2**40
UPLOAD_THREADS = 4
CHUNK = 1 << 20


class UploadError(IOError):
    """A file's contents could not be stored."""


_plain_session: Any = None


def http_session(client: Any) -> Any:
    """The session that fetches signed file URLs for ``client``.

    The client's own pooled session; for a mock client (no transport), a
    shared plain ``requests.Session`` (signed URLs need no API key).

    Parameters
    ----------
    client : APIClient or mock

    Returns
    -------
    requests.Session
    """
    global _plain_session
    transport = getattr(client, "_transport", None)
    if isinstance(transport, Transport):
        return transport.session
    if _plain_session is None:
        import requests

        _plain_session = requests.Session()
    return _plain_session


def _retrying() -> tenacity.Retrying:
    import tenacity  # not at import: it imports tornado when that is installed

    return tenacity.Retrying(
        wait=tenacity.wait_random_exponential(multiplier=1, max=30),
        stop=tenacity.stop_after_attempt(5),
        retry=tenacity.retry_if_exception_type((IOError, ConnectionError)),
        reraise=True,
    )


def _size(buf: Any) -> int | None:
    try:
        return os.fstat(buf.fileno()).st_size - buf.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    try:
        here = buf.tell()
        end = buf.seek(0, os.SEEK_END)
        buf.seek(here)
        return end - here
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def _check(response: Any, what: str) -> None:
    if not response.ok:
        text = re.sub(r"\?[^\s\"']*", "?…", (response.text or "")[:300])
        raise UploadError(f"{what} failed ({response.status_code}): {text}")


def _single_upload(client: APIClient, buf: Any, name: str, **kwargs: Any) -> int:
    created = client.files.post(name, **kwargs)
    fields = dict((created.json_data or {}).get("uploadFields") or {})
    form = {"key": fields.pop("key")} if "key" in fields else {}
    form.update(fields)
    start = buf.tell() if hasattr(buf, "tell") else None
    session = http_session(client)

    for attempt in _retrying():
        with attempt:
            if start is not None:
                buf.seek(start)
            files: list[tuple[str, tuple[str | None, Any]]] = [
                (k, (None, str(v))) for k, v in form.items()
            ]
            files.append(("file", (name, buf)))
            response = session.post(created["upload_url"], files=files, timeout=600)
            _check(response, f"Uploading {name!r}")
    return created["id"]


def _read_part(buf: Any, lock: Any, offset: int, size: int) -> bytes:
    with lock:
        buf.seek(offset)
        return buf.read(size)


def _multipart_upload(client: APIClient, buf: Any, name: str, size: int, **kwargs: Any) -> int:
    import threading

    part = max(MIN_PART_SIZE, math.ceil(math.sqrt(MIN_PART_SIZE * size)))
    parts = math.ceil(size / part)
    created = client.files.post_multipart(name, parts, **kwargs)
    urls = created["upload_urls"]
    start = buf.tell()
    session = http_session(client)
    lock = threading.Lock()

    def put(index: int) -> None:
        data = _read_part(buf, lock, start + index * part, part)
        for attempt in _retrying():
            with attempt:
                response = session.put(urls[index], data=data, timeout=600)
                _check(response, f"Uploading part {index + 1} of {name!r}")

    with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="civis-upload") as pool:
        list(pool.map(put, range(parts)))
    client.files.post_multipart_complete(created["id"])
    return created["id"]


def file_to_civis(
    buf: BinaryIO | str | os.PathLike[str],
    name: str | None = None,
    expires_at: str | None = "DEFAULT",
    description: str | None = None,
    client: APIClient | None = None,
) -> int:
    """Upload a file (a binary buffer or a path) to Civis.

    Parameters
    ----------
    buf : file-like object or path
        Bytes to upload; text buffers are encoded as UTF-8.
    name : str, optional
        The file's name in Civis (default: the path's base name).
    expires_at : str or None, optional
        ISO time the file expires; ``None`` for never; default: the platform's.
    description : str, optional
        At most 512 characters.
    client : APIClient, optional

    Returns
    -------
    int
        The new file's ID.
    """
    if isinstance(buf, (str, os.PathLike)):
        path = os.fspath(buf)
        with open(path, "rb") as f:
            return file_to_civis(f, name or os.path.basename(path), expires_at, description, client)
    if name is None:
        raise TypeError("file_to_civis needs a name when given a buffer")
    if isinstance(buf, io.TextIOBase):
        if hasattr(buf, "buffer"):
            buf.flush()
            buf = buf.buffer
        else:
            buf = io.BytesIO(buf.read().encode("utf-8"))
    client = client or APIClient()
    kwargs: dict[str, Any] = {}
    if expires_at != "DEFAULT":
        kwargs["expires_at"] = expires_at
    if description:
        if len(description) > 512:
            raise ValueError(f"file description is longer than 512 characters ({len(description)})")
        kwargs["description"] = description
    size = _size(buf)
    if size is not None and size > MAX_FILE_SIZE:
        raise ValueError("File is greater than the maximum allowable file size (5TB)")
    if size is None or size <= MIN_MULTIPART_SIZE:
        return _single_upload(client, buf, name, **kwargs)
    return _multipart_upload(client, buf, name, size, **kwargs)


def open_file_stream(file_id: int, client: APIClient | None = None) -> Iterator[bytes]:
    """Stream a Civis file's bytes in chunks.

    Parameters
    ----------
    file_id : int
    client : APIClient, optional

    Yields
    ------
    bytes
    """
    client = client or APIClient()
    url = client.files.get(file_id)["file_url"]
    if not url:
        raise EmptyResultError(f"File {file_id} has no contents to download.")
    response = http_session(client).get(url, stream=True, timeout=600)
    with response:
        if not response.ok:
            raise OSError(f"Downloading file {file_id} failed ({response.status_code}).")
        yield from response.iter_content(CHUNK)


def civis_to_file(
    file_id: int, buf: BinaryIO | str | os.PathLike[str], client: APIClient | None = None
) -> None:
    """Download a Civis file into a binary buffer or to a path.

    Parameters
    ----------
    file_id : int
    buf : file-like object or path
    client : APIClient, optional
    """
    if isinstance(buf, (str, os.PathLike)):
        with open(buf, "wb") as f:
            civis_to_file(file_id, f, client)
        return
    target = buf.buffer if isinstance(buf, io.TextIOBase) and hasattr(buf, "buffer") else buf
    for chunk in open_file_stream(file_id, client):
        target.write(chunk)
    if hasattr(target, "flush"):
        target.flush()


def _read_all(file_id: int, client: APIClient | None) -> bytes:
    return b"".join(open_file_stream(file_id, client))


def file_to_json(file_id: int, client: APIClient | None = None, **json_kwargs: Any) -> Any:
    """Download a Civis file holding JSON and decode it.

    Parameters
    ----------
    file_id : int
    client : APIClient, optional
    **json_kwargs
        Passed to :func:`json.loads`.

    Returns
    -------
    Any
    """
    return json.loads(_read_all(file_id, client).decode("utf-8"), **json_kwargs)


def json_to_file(
    obj: Any,
    name: str | None = "file.json",
    expires_at: str | None = "DEFAULT",
    description: str | None = None,
    client: APIClient | None = None,
    **json_kwargs: Any,
) -> int:
    """Store a JSON-serialisable object as a Civis file.

    Parameters
    ----------
    obj : Any
    name : str, optional
    expires_at, description, client
        As in :func:`file_to_civis`.
    **json_kwargs
        Passed to :func:`json.dumps`.

    Returns
    -------
    int
        The file's ID.
    """
    data = json.dumps(obj, **json_kwargs).encode("utf-8")
    return file_to_civis(io.BytesIO(data), name, expires_at, description, client)


def json_to_civis(
    obj: Any,
    name: str,
    expires_at: str | None = "DEFAULT",
    description: str | None = None,
    client: APIClient | None = None,
    **json_kwargs: Any,
) -> int:
    """Store a JSON-serialisable object as a Civis file (same as :func:`json_to_file`)."""
    return json_to_file(obj, name, expires_at, description, client, **json_kwargs)


def file_to_dataframe(
    file_id: int,
    return_as: str = "pandas",
    compression: str | None = "infer",
    client: APIClient | None = None,
    **read_kwargs: Any,
) -> Any:
    """Read a CSV file stored in Civis into a DataFrame.

    Parameters
    ----------
    file_id : int
    return_as : {'pandas', 'polars'}
        A pandas or a polars DataFrame (polars: the ``polars`` extra).
    compression : str, optional
        ``'infer'`` (from the file name), ``'gzip'``, ``'zip'``... or ``None``.
    client : APIClient, optional
    **read_kwargs
        Passed to :func:`pandas.read_csv` (or :func:`polars.read_csv`).

    Returns
    -------
    pandas.DataFrame or polars.DataFrame
    """
    if return_as not in ("pandas", "polars"):
        raise ValueError(f"unsupported return_as option: {return_as!r} ('pandas' or 'polars')")
    if return_as == "polars":
        from ._polars import polars

        polars()  # a missing extra fails before anything is read
    client = client or APIClient()
    meta = client.files.get(file_id)
    if compression == "infer":
        name = (meta["name"] or "").lower()
        compression = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}.get(
            os.path.splitext(name)[1]
        )
    data = _read_all(file_id, client)
    if return_as == "polars":
        from ._polars import polars_from_csv

        return polars_from_csv(data, compression, **read_kwargs)
    import pandas as pd

    return pd.read_csv(io.BytesIO(data), compression=compression, **read_kwargs)


def dataframe_to_file(
    df: Any,
    name: str = "data.csv",
    expires_at: str | None = "DEFAULT",
    description: str | None = None,
    client: APIClient | None = None,
    **to_csv_kws: Any,
) -> int:
    """Store a DataFrame as a CSV file in Civis.

    Parameters
    ----------
    df : pandas.DataFrame
    name : str, optional
    expires_at, description, client
        As in :func:`file_to_civis`.
    **to_csv_kws
        Passed to :meth:`pandas.DataFrame.to_csv` (``index=False`` by default).

    Returns
    -------
    int
        The file's ID.
    """
    to_csv_kws.setdefault("index", False)
    buf = io.BytesIO(df.to_csv(**to_csv_kws).encode("utf-8"))
    return file_to_civis(buf, name, expires_at, description, client)


def file_id_from_run_output(
    name: str, job_id: int, run_id: int, regex: bool = False, client: APIClient | None = None
) -> int:
    """The ID of a file a run attached as an output, found by name.

    Parameters
    ----------
    name : str
        The output's name, or a regular expression when ``regex`` is true.
    job_id, run_id : int
    regex : bool, optional
    client : APIClient, optional

    Returns
    -------
    int

    Raises
    ------
    OSError
        If the job or run does not exist (the platform answers 404).
    FileNotFoundError
        If the run exists but has no file output of that name.
    """
    client = client or APIClient()
    try:
        outputs = client.jobs.list_runs_outputs(job_id, run_id)
    except CivisAPIError as exc:
        if exc.status_code == 404:
            raise OSError(f"Could not find job/run ID {job_id}/{run_id}") from exc
        raise
    for output in outputs:
        if output["object_type"] != "File":
            continue
        found = re.search(name, output["name"]) if regex else output["name"] == name
        if found:
            return output["object_id"]
    what = "A file containing the pattern" if regex else "File"
    raise FileNotFoundError(f'{what} "{name}" is not an output of job/run ID {job_id}/{run_id}.')
