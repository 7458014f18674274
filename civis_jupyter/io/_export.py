"""Exports of query results to Civis files and local CSV files."""

from __future__ import annotations

import io
import json
import os
from typing import Any

from ..api.client import APIClient
from ..api.errors import EmptyResultError
from ..futures import CivisFuture
from ._common import DELIMITERS, _client, _sql_run
from .files import civis_to_file


def export_to_civis_file(
    sql: str,
    database: str | int,
    sql_params_arguments: dict | None = None,
    job_name: str | None = None,
    client: APIClient | None = None,
    credential_id: int | None = None,
    polling_interval: float | None = None,
    hidden: bool = True,
    csv_settings: dict | None = None,
) -> CivisFuture:
    """Export a query's result to Civis file(s); the future's result lists them.

    Parameters
    ----------
    sql : str
    database : str or int
    sql_params_arguments, job_name, client, credential_id, polling_interval, hidden
        As in :func:`read_civis_sql`.
    csv_settings : dict, optional
        ``include_header``, ``compression``, ``column_delimiter``, ``unquoted``,
        ``filename_prefix``, ``force_multifile``, ``max_file_size``.

    Returns
    -------
    CivisFuture
        Resolves to the run, whose ``output`` names the files.
    """
    return _sql_run(
        _client(client),
        sql,
        database,
        job_name,
        credential_id,
        hidden,
        csv_settings,
        sql_params_arguments,
        polling_interval,
    )


def civis_to_csv(
    filename: str | os.PathLike[str],
    sql: str,
    database: str | int,
    sql_params_arguments: dict | None = None,
    job_name: str | None = None,
    client: APIClient | None = None,
    credential_id: int | None = None,
    include_header: bool = True,
    compression: str = "none",
    delimiter: str = ",",
    unquoted: bool = False,
    hidden: bool = True,
    polling_interval: float | None = None,
) -> CivisFuture:
    """Export a query's result to a local CSV file.

    The download happens when the run ends, off the calling thread; the
    future is done (``done()``, ``concurrent.futures.wait``) only once the
    file is written, and a failed download is the future's exception.

    Parameters
    ----------
    filename : str or path
    sql : str
    database : str or int
    include_header : bool, optional
    compression : {'none', 'gzip', 'zip'}
    delimiter : {',', '\\t', '|'}
    unquoted : bool, optional
    sql_params_arguments, job_name, client, credential_id, hidden, polling_interval
        As in :func:`read_civis_sql`.

    Returns
    -------
    CivisFuture
    """
    if delimiter not in DELIMITERS:
        raise ValueError(f"delimiter must be one of {list(DELIMITERS)}: {delimiter!r}")
    if compression not in ("none", "gzip", "zip"):
        raise ValueError("compression must be 'none', 'gzip' or 'zip'")
    client = _client(client)
    target = os.fspath(filename)
    return _sql_run(
        client,
        sql,
        database,
        job_name,
        credential_id,
        hidden,
        {
            "include_header": include_header,
            "compression": compression,
            "column_delimiter": DELIMITERS[delimiter],
            "unquoted": unquoted,
        },
        sql_params_arguments,
        polling_interval,
        make_future=lambda *args, **kwargs: _DownloadFuture(target, *args, **kwargs),
    )


class _DownloadFuture(CivisFuture):
    """The future of :func:`civis_to_csv`: done once the export is in the local file.

    Parameters
    ----------
    target : str
        The local file to write.
    *args, **kwargs
        As for :class:`CivisFuture`.
    """

    def __init__(self, target: str, *args: Any, **kwargs: Any):
        self._target = target
        super().__init__(*args, **kwargs)

    def _finish(self, response: Any) -> Any:
        outputs = response["output"]
        if not outputs:
            raise EmptyResultError(f"Query {self.job_id} returned no output.")
        partial = self._target + ".part"
        with open(partial, "wb") as out:
            civis_to_file(outputs[0]["file_id"], out, client=self.client)
        os.replace(partial, self._target)
        return response


def civis_to_multifile_csv(
    sql: str,
    database: str | int,
    sql_params_arguments: dict | None = None,
    job_name: str | None = None,
    client: APIClient | None = None,
    credential_id: int | None = None,
    include_header: bool = True,
    compression: str = "none",
    delimiter: str = "|",
    max_file_size: int | None = None,
    unquoted: bool = False,
    prefix: str | None = None,
    polling_interval: float | None = None,
    hidden: bool = True,
) -> dict:
    """Export a query's result as several files; return their manifest.

    Returns
    -------
    dict
        ``{"header": [...], "query": ..., "entries": [{"id", "name", "size", "url"}, ...]}``.
    """
    if delimiter not in DELIMITERS:
        raise ValueError(f"delimiter must be one of {list(DELIMITERS)}: {delimiter!r}")
    client = _client(client)
    future = export_to_civis_file(
        sql,
        database,
        sql_params_arguments,
        job_name,
        client,
        credential_id,
        polling_interval,
        hidden,
        csv_settings={
            "include_header": include_header,
            "compression": compression,
            "column_delimiter": DELIMITERS[delimiter],
            "unquoted": unquoted,
            "filename_prefix": prefix,
            "force_multifile": True,
            "max_file_size": max_file_size,
        },
    )
    outputs = future.result()["output"]
    if not outputs:
        raise EmptyResultError(f"Unload query {future.job_id} returned no manifest.")
    buf = io.BytesIO()
    civis_to_file(outputs[0]["file_id"], buf, client=client)
    return json.loads(buf.getvalue().decode("utf-8"))
