"""Uploads into tables: ``dataframe_to_civis`` and ``csv_to_civis``."""

from __future__ import annotations

import io
import os
from typing import Any

from ..api.client import APIClient
from ..api.naming import split_schema_tablename
from ..futures import CivisFuture
from ._common import _client
from ._table_import import civis_file_to_table
from .files import file_to_civis


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
