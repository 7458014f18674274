"""Tables: SQL queries, exports to files and DataFrames, and imports.

Same functions and signatures as the official client's ``civis.io``, with
three differences users notice: reading results is faster (the gzip CSV is
parsed by Arrow), ``dataframe_to_civis`` keeps nulls apart from empty
strings and skips the CSV preprocessing job when the frame's own types say
what the columns are, and waiting on runs uses the shared poller.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..api.client import APIClient
from ..api.errors import CivisAPIError, CivisImportError, EmptyResultError
from ..api.naming import split_schema_tablename
from ..futures import CivisFuture
from .files import civis_to_file, file_to_civis, http_session

__all__ = [
    "DELIMITERS",
    "civis_file_to_table",
    "civis_to_csv",
    "civis_to_multifile_csv",
    "csv_to_civis",
    "dataframe_to_civis",
    "export_to_civis_file",
    "query_civis",
    "read_civis",
    "read_civis_sql",
    "split_schema_tablename",
]

DELIMITERS = {",": "comma", "\t": "tab", "|": "pipe"}
_RETURN_AS = ("list", "pandas", "polars")
EXISTING_TABLE_ROWS = ("fail", "truncate", "append", "drop", "upsert")


class _Unset:
    """Marks ``use_pandas`` as not given (it is deprecated)."""

    def __repr__(self) -> str:
        return "<not given>"


UNSET: Any = _Unset()


def _return_as(use_pandas: Any, return_as: str) -> str:
    if return_as not in _RETURN_AS:
        raise ValueError(f"unsupported return_as option: {return_as!r} (one of {_RETURN_AS})")
    if return_as == "polars":
        from ._polars import polars

        polars()  # a missing extra fails before anything runs
    if use_pandas is UNSET:
        return return_as
    warnings.warn(
        "use_pandas is deprecated: use return_as='pandas' or return_as='list'.",
        FutureWarning,
        stacklevel=3,
    )
    if use_pandas and return_as == "list":
        return "pandas"
    if use_pandas and return_as == "polars":
        raise ValueError("Conflicting arguments: use_pandas=True but return_as='polars'.")
    if not use_pandas and return_as == "pandas":
        raise ValueError("Conflicting arguments: use_pandas=False but return_as='pandas'.")
    return return_as


def _client(client: APIClient | None) -> APIClient:
    return client or APIClient()


def _sql_run(
    client: APIClient,
    sql: str,
    database: str | int,
    job_name: str | None,
    credential_id: int | None,
    hidden: bool,
    csv_settings: Mapping[str, Any] | None,
    sql_params_arguments: Mapping[str, Any] | None,
    polling_interval: float | None,
    make_future: Callable[..., CivisFuture] = CivisFuture,
) -> CivisFuture:
    """Create a SQL script, start it, and return the future of its run."""
    db_id = client.get_database_id(database)
    cred = credential_id or client.default_database_credential_id
    extra: dict[str, Any] = {}
    for key, value in (sql_params_arguments or {}).items():
        if key not in ("params", "arguments"):
            raise ValueError("sql_params_arguments takes only 'params' and 'arguments'")
        extra[key] = value
    script = client.scripts.post_sql(
        job_name or "civis_jupyter export",
        sql,
        db_id,
        cred,  # type: ignore[arg-type]  # None: the platform takes the user's default
        hidden=hidden,
        csv_settings=dict(csv_settings or {}),
        **extra,
    )
    run = client.scripts.post_sql_runs(script["id"])
    return make_future(
        client.scripts.get_sql_runs,
        (script["id"], run["id"]),
        polling_interval=polling_interval,
        client=client,
    )


def _download(client: APIClient, url: str) -> bytes:
    response = http_session(client).get(url, timeout=600)
    if not response.ok:
        raise OSError(f"Downloading the query result failed ({response.status_code}).")
    return response.content


def _arrow_frame(data: bytes) -> Any:
    """Parse a gzip CSV export with Arrow into pandas (see :func:`_arrow_table`)."""
    return _arrow_table(data).to_pandas()


def _arrow_table(data: bytes) -> Any:
    """Parse a gzip CSV export with Arrow; values and text as the CSV has them."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Only an unquoted empty field is NULL: the text "NULL" or "NaN" stays text.
    convert = pacsv.ConvertOptions(
        null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    # A row holding a single NULL is a blank line: keep it.
    parse = pacsv.ParseOptions(ignore_empty_lines=False)
    source = pa.BufferReader(data)
    stream = pa.CompressedInputStream(source, "gzip")
    table = pacsv.read_csv(stream, convert_options=convert, parse_options=parse)
    as_text = {
        f.name: pa.string()
        for f in table.schema
        if pa.types.is_timestamp(f.type) or pa.types.is_time(f.type)
    }
    if as_text:  # keep timestamps as the text the database wrote, like pandas would
        convert = pacsv.ConvertOptions(
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            column_types=as_text,
        )
        table = pacsv.read_csv(
            pa.CompressedInputStream(pa.BufferReader(data), "gzip"),
            convert_options=convert,
            parse_options=parse,
        )
    columns = [
        col.cast(pa.string()) if pa.types.is_date(col.type) else col for col in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def _read_result(data: bytes, return_as: str, encoding: str | None, kwargs: dict) -> Any:
    if return_as == "polars":
        from ._polars import polars, polars_from_arrow, polars_from_csv

        if not data:
            return polars().DataFrame()
        if kwargs or (encoding and encoding.lower().replace("-", "") != "utf8"):
            return polars_from_csv(data, "gzip", encoding=encoding or "utf8", **kwargs)
        return polars_from_arrow(_arrow_table(data))
    if return_as == "pandas":
        import pandas as pd

        if not data:
            return pd.DataFrame()
        if kwargs or (encoding and encoding.lower().replace("-", "") != "utf8"):
            kwargs.setdefault("skip_blank_lines", False)  # a lone NULL is a blank line
            return pd.read_csv(io.BytesIO(data), compression="gzip", encoding=encoding, **kwargs)
        return _arrow_frame(data)
    text = gzip.decompress(data).decode(encoding or "utf-8")
    return list(csv.reader(io.StringIO(text), **kwargs))


def read_civis_sql(
    sql: str,
    database: str | int,
    use_pandas: Any = UNSET,
    return_as: str = "list",
    sql_params_arguments: dict | None = None,
    encoding: str | None = None,
    job_name: str | None = None,
    client: APIClient | None = None,
    credential_id: int | None = None,
    polling_interval: float | None = None,
    hidden: bool = True,
    **kwargs: Any,
) -> Any:
    """Run SQL on a Civis database and read the result.

    Parameters
    ----------
    sql : str
        The query (several statements allowed; the last one's rows are read).
    database : str or int
        Database name or ID.
    use_pandas : bool, optional
        Deprecated; use ``return_as``.
    return_as : {'list', 'pandas', 'polars'}
        A list of rows (header first, values as text), or a pandas or polars
        DataFrame (polars: the ``polars`` extra).
    sql_params_arguments : dict, optional
        ``params`` and ``arguments`` for the SQL script.
    encoding : str, optional
        Text encoding of the result (UTF-8 by default).
    job_name : str, optional
    client : APIClient, optional
    credential_id : int, optional
        Database credential (default: the user's).
    polling_interval : float, optional
        Fixed seconds between status checks (default: adaptive).
    hidden : bool, optional
        Hide the script in the Civis UI.
    **kwargs
        Passed to :func:`pandas.read_csv` (or :func:`csv.reader` for lists).

    Returns
    -------
    list or pandas.DataFrame

    Raises
    ------
    EmptyResultError
        If the query returned no result to read.
    CivisJobFailure
        If the SQL failed (the error says why).
    """
    return_as = _return_as(use_pandas, return_as)
    client = _client(client)
    future = _sql_run(
        client,
        sql,
        database,
        job_name,
        credential_id,
        hidden,
        {"compression": "gzip"},
        sql_params_arguments,
        polling_interval,
    )
    outputs = future.result()["output"]
    if not outputs:
        raise EmptyResultError(f"Query {future.job_id} returned no output.")
    return _read_result(_download(client, outputs[0]["path"]), return_as, encoding, kwargs)


def _select(table: str, columns: list[str] | tuple[str, ...] | None) -> str:
    if columns is not None and not isinstance(columns, (list, tuple)):
        raise TypeError("columns must be a list, tuple or None")
    return f"select {', '.join(columns) if columns else '*'} from {table}"


def read_civis(
    table: str,
    database: str | int,
    columns: list[str] | None = None,
    use_pandas: Any = UNSET,
    return_as: str = "list",
    encoding: str | None = None,
    job_name: str | None = None,
    client: APIClient | None = None,
    credential_id: int | None = None,
    polling_interval: float | None = None,
    hidden: bool = True,
    **kwargs: Any,
) -> Any:
    """Read a table (or some of its columns).

    Parameters
    ----------
    table : str
        ``schema.table``.
    database : str or int
    columns : list of str, optional
        Columns to read (default: all).
    use_pandas, return_as, encoding, job_name, client, credential_id, polling_interval,
    hidden, **kwargs
        As in :func:`read_civis_sql`.

    Returns
    -------
    list or pandas.DataFrame
    """
    return_as = _return_as(use_pandas, return_as)
    return read_civis_sql(
        _select(table, columns),
        database,
        return_as=return_as,
        encoding=encoding,
        job_name=job_name,
        client=client,
        credential_id=credential_id,
        polling_interval=polling_interval,
        hidden=hidden,
        **kwargs,
    )


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


def query_civis(
    sql: str,
    database: str | int,
    client: APIClient | None = None,
    credential_id: int | None = None,
    preview_rows: int = 10,
    polling_interval: float | None = None,
    hidden: bool = True,
) -> CivisFuture:
    """Run SQL through the quick query path; the result holds up to ``preview_rows`` rows.

    Returns
    -------
    CivisFuture
        Resolves to the query, with ``result_rows`` and ``result_columns``.
    """
    client = _client(client)
    db_id = client.get_database_id(database)
    cred = credential_id or client.default_database_credential_id
    query = client.queries.post(db_id, sql, preview_rows, credential=cred, hidden=hidden)
    return CivisFuture(
        client.queries.get, (query["id"],), polling_interval=polling_interval, client=client
    )


# -- imports -------------------------------------------------------------------


def _sql_type(series: Any) -> str:
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    if types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if types.is_integer_dtype(dtype):
        return "BIGINT"
    if types.is_float_dtype(dtype):
        return "DOUBLE PRECISION"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "TIMESTAMP WITH TIME ZONE"
    if types.is_datetime64_any_dtype(dtype):
        return "TIMESTAMP"
    values = series.dropna()
    if len(values) and all(isinstance(v, bool) for v in values):
        return "BOOLEAN"
    if len(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        big = any(abs(v) >= 2**63 for v in values)
        return "NUMERIC(38,0)" if big else "BIGINT"
    return "VARCHAR"


def _frame_csv(df: Any, kwargs: dict) -> tuple[bytes, bool]:
    """CSV bytes for a frame: nulls unquoted-empty, empty strings quoted."""
    if kwargs:  # the user's own to_csv options: let pandas honour them
        opts = {"encoding": "utf-8", "index": False, **kwargs}
        return df.to_csv(**opts).encode(opts["encoding"]), opts.get("header", True) is not False
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frame = df.copy(deep=False)
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object and _sql_type(column) in ("BIGINT", "NUMERIC(38,0)", "VARCHAR"):
            frame[name] = column.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    frame.columns = [str(c) for c in frame.columns]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    return sink.getvalue(), True


def dataframe_to_civis(
    df: Any,
    database: str | int,
    table: str,
    client: APIClient | None = None,
    max_errors: int | None = None,
    existing_table_rows: str = "fail",
    diststyle: str | None = None,
    distkey: str | None = None,
    sortkey1: str | None = None,
    sortkey2: str | None = None,
    table_columns: list[dict[str, str]] | None = None,
    credential_id: int | None = None,
    primary_keys: list[str] | None = None,
    last_modified_keys: list[str] | None = None,
    execution: str = "immediate",
    polling_interval: float | None = None,
    hidden: bool = True,
    **kwargs: Any,
) -> CivisFuture:
    """Upload a pandas DataFrame into a Civis table.

    Parameters
    ----------
    df : pandas.DataFrame
    database : str or int
    table : str
        ``schema.table``.
    existing_table_rows : {'fail', 'truncate', 'append', 'drop', 'upsert'}
        What to do when the table exists.
    table_columns : list of dict, optional
        ``[{"name": ..., "sql_type": ...}]``; default: from the frame's types.
    client, max_errors, diststyle, distkey, sortkey1, sortkey2, credential_id,
    primary_keys, last_modified_keys, execution, polling_interval, hidden
        As in :func:`civis_file_to_table`.
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv`.

    Returns
    -------
    CivisFuture
        Resolves when the import has run.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"unsupported dataframe type {type(df)!r}: only pandas is supported")
    client = _client(client)
    data, headers = _frame_csv(df, kwargs)
    schema, name = split_schema_tablename(table)
    if schema is None:
        raise ValueError("Provide a schema as part of the `table` input.")
    inferred = None
    if table_columns is None and not kwargs:
        inferred = [{"name": str(c), "sql_type": _sql_type(df[c])} for c in df.columns]
    file_id = file_to_civis(io.BytesIO(data), f"{name}.csv", client=client)
    return civis_file_to_table(
        file_id,
        database,
        table,
        client=client,
        max_errors=max_errors,
        existing_table_rows=existing_table_rows,
        diststyle=diststyle,
        distkey=distkey,
        sortkey1=sortkey1,
        sortkey2=sortkey2,
        table_columns=table_columns,
        primary_keys=primary_keys,
        last_modified_keys=last_modified_keys,
        escaped=False,
        execution=execution,
        delimiter=",",
        headers=headers,
        credential_id=credential_id,
        polling_interval=polling_interval,
        hidden=hidden,
        inferred_columns=inferred,
    )


def csv_to_civis(
    filename: str | os.PathLike[str],
    database: str | int,
    table: str,
    client: APIClient | None = None,
    max_errors: int | None = None,
    existing_table_rows: str = "fail",
    diststyle: str | None = None,
    distkey: str | None = None,
    sortkey1: str | None = None,
    sortkey2: str | None = None,
    table_columns: list[dict] | None = None,
    delimiter: str = ",",
    headers: bool | None = None,
    primary_keys: list[str] | None = None,
    last_modified_keys: list[str] | None = None,
    escaped: bool = False,
    execution: str = "immediate",
    credential_id: int | None = None,
    polling_interval: float | None = None,
    hidden: bool = True,
) -> CivisFuture:
    """Upload a local CSV file into a Civis table.

    Returns
    -------
    CivisFuture
        Resolves when the import has run.
    """
    client = _client(client)
    _, _name = split_schema_tablename(table)
    file_id = file_to_civis(filename, os.path.basename(os.fspath(filename)), client=client)
    return civis_file_to_table(
        file_id,
        database,
        table,
        client=client,
        max_errors=max_errors,
        existing_table_rows=existing_table_rows,
        diststyle=diststyle,
        distkey=distkey,
        sortkey1=sortkey1,
        sortkey2=sortkey2,
        table_columns=table_columns,
        primary_keys=primary_keys,
        last_modified_keys=last_modified_keys,
        escaped=escaped,
        execution=execution,
        delimiter=delimiter,
        headers=headers,
        credential_id=credential_id,
        polling_interval=polling_interval,
        hidden=hidden,
    )


def _run_job(client: APIClient, job_id: int, polling_interval: float | None) -> CivisFuture:
    run = client.jobs.post_runs(job_id)
    return CivisFuture(
        client.jobs.get_runs, (job_id, run["id"]), polling_interval=polling_interval, client=client
    )


def _preprocess(
    client: APIClient,
    file_ids: list[int],
    detect_columns: bool,
    headers: bool | None,
    delimiter: str | None,
    hidden: bool,
    polling_interval: float | None,
) -> tuple[list[int], bool | None, str | None, str | None, list[dict] | None]:
    """Run the CSV preprocess job on each file; collect what it detected."""
    futures = []
    for fid in file_ids:
        job = client.files.post_preprocess_csv(
            fid,
            in_place=False,
            detect_table_columns=detect_columns,
            force_character_set_conversion=True,
            include_header=headers,
            column_delimiter=delimiter,
            hidden=hidden,
        )
        futures.append(_run_job(client, job["id"], polling_interval))
    cleaned, infos = [], []
    for fut in futures:
        fut.result()
        assert fut.run_id is not None  # known once the run has finished
        outputs = client.jobs.list_runs_outputs(fut.job_id, fut.run_id)
        if not outputs:
            raise CivisImportError(f"No CSV preprocess output for job {fut.job_id}")
        meta = client.files.get(outputs[0]["object_id"])
        cleaned.append(meta["id"])
        infos.append((meta.json_data or {}).get("detectedInfo") or {})

    def agreed(key: str, given: Any = None) -> Any:
        values = {json.dumps(i.get(key)) for i in infos}
        if given is not None:
            return given
        if len(values) > 1:
            raise CivisImportError(f"The files disagree on {key}: {sorted(values)}")
        return json.loads(values.pop()) if values else None

    columns = None
    if detect_columns:
        columns = [
            {"name": c.get("name"), "sql_type": c.get("sqlType") or c.get("sql_type")}
            for c in agreed("tableColumns") or []
        ]
    return (
        cleaned,
        agreed("includeHeader", headers),
        agreed("compression"),
        agreed("columnDelimiter", delimiter),
        columns,
    )


def civis_file_to_table(
    file_id: int | list[int],
    database: str | int,
    table: str,
    client: APIClient | None = None,
    max_errors: int | None = None,
    existing_table_rows: str = "fail",
    diststyle: str | None = None,
    distkey: str | None = None,
    sortkey1: str | None = None,
    sortkey2: str | None = None,
    table_columns: list[dict[str, str]] | None = None,
    primary_keys: list[str] | None = None,
    last_modified_keys: list[str] | None = None,
    escaped: bool = False,
    execution: str = "immediate",
    delimiter: str | None = None,
    headers: bool | None = None,
    credential_id: int | None = None,
    polling_interval: float | None = None,
    hidden: bool = True,
    *,
    inferred_columns: list[dict[str, str]] | None = None,
) -> CivisFuture:
    """Import CSV file(s) stored in Civis into a table.

    When every column's SQL type is given (``table_columns`` with ``sql_type``),
    the files are imported directly; otherwise a preprocess job detects the
    header, delimiter and column types first, as the platform requires.

    ``inferred_columns`` (keyword only) are column types known by the caller
    (e.g. from a DataFrame's dtypes), used only when the table must be created.

    Returns
    -------
    CivisFuture
        Resolves when the import has run.

    Raises
    ------
    ValueError
        For bad arguments (no schema, unknown delimiter, bad ``table_columns``).
    """
    if isinstance(file_id, str):
        raise TypeError("Invalid type for file_id: str. Must be int or list[int]")
    client = _client(client)
    file_ids = [file_id] if isinstance(file_id, int) else list(file_id)
    if not file_ids:
        raise ValueError("Provide one or more input file IDs.")
    if existing_table_rows not in EXISTING_TABLE_ROWS:
        raise ValueError(f"existing_table_rows must be one of {EXISTING_TABLE_ROWS}")
    schema, name = split_schema_tablename(table)
    if schema is None:
        raise ValueError("Provide a schema as part of the `table` input.")
    if delimiter is not None:
        if delimiter not in DELIMITERS:
            raise ValueError(f"delimiter must be one of {list(DELIMITERS)}: {delimiter!r}")
        delimiter = DELIMITERS[delimiter]
    if table_columns:
        bad = {k for col in table_columns for k in col} - {"name", "sql_type"}
        if bad:
            raise ValueError(f"table_columns keys must be name and sql_type, not {sorted(bad)}")
    db_id = client.get_database_id(database)
    cred = credential_id or client.default_database_credential_id
    typed = bool(table_columns) and all(col.get("sql_type") for col in table_columns or ())
    if table_columns and not typed and any(col.get("sql_type") for col in table_columns):
        raise ValueError("Some table columns have a sql type provided, but others do not.")
    try:
        client.databases.get_schemas_tables(db_id, schema, name)
        exists = True
    except CivisAPIError as exc:
        if exc.status_code != 404:
            raise
        exists = False
    need_columns = (not exists or existing_table_rows == "drop") and not typed
    if need_columns and inferred_columns:
        table_columns, typed, need_columns = inferred_columns, True, False
    compression: str | None = None
    if need_columns or headers is None or delimiter is None:
        file_ids, headers, compression, delimiter, detected = _preprocess(
            client, file_ids, need_columns, headers, delimiter, hidden, polling_interval
        )
        if need_columns:
            table_columns = detected
    else:
        names = [str(client.files.get(f)["name"] or "") for f in file_ids]
        compression = "gzip" if all(n.lower().endswith(".gz") for n in names) else "none"
    job = client.imports.post_files_csv(
        {"file_ids": file_ids},
        {
            "schema": schema,
            "table": name,
            "remote_host_id": db_id,
            "credential_id": cred,
            "primary_keys": primary_keys,
            "last_modified_keys": last_modified_keys,
        },
        bool(headers),
        name=f"CSV import to {schema}.{name}",
        max_errors=max_errors,
        existing_table_rows=existing_table_rows,
        column_delimiter=delimiter,
        compression=compression,
        escaped=escaped,
        execution=execution,
        loosen_types=not typed,
        table_columns=table_columns,
        redshift_destination_options={
            "distkey": distkey,
            "sortkeys": [sortkey1, sortkey2],
            "diststyle": diststyle,
        },
        hidden=hidden,
    )
    return _run_job(client, job["id"], polling_interval)
