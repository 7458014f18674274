"""Reading query results and tables: ``read_civis_sql`` and ``read_civis``.

Results are gzip CSV exports, parsed by Arrow into pandas or polars (or read
as a list of rows); pandas, pyarrow and polars are imported only when used.
"""

from __future__ import annotations

import csv
import gzip
import io
import warnings
from typing import Any

from ..api.client import APIClient
from ..api.errors import EmptyResultError
from ._common import UNSET, _client, _download, _sql_run

_RETURN_AS = ("list", "pandas", "polars")


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
