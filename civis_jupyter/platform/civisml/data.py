"""Where a CivisML run's data come from, and how they become features.

Data come from a table (read with SQL through the API) or a Civis file (CSV,
gzipped CSV or feather, downloaded by id). :func:`feature_columns` decides
which columns are numeric and which categorical; :func:`coerce` gives every
frame the same types (numbers as floats, categories as text, missing values
as NaN), at training and at prediction; :func:`build_etl` makes the
pure-scikit-learn preprocessing step of every model (mean imputation of
numbers, one-hot encoding of text with missing values as their own level),
so that the saved estimator loads wherever scikit-learn is installed.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...api.errors import EmptyResultError
from .errors import CivisMLError

__all__ = [
    "MAX_CATEGORIES",
    "Source",
    "build_etl",
    "coerce",
    "database_id",
    "feature_columns",
    "iter_batches",
    "read_frame",
    "source_from_env",
    "table_columns",
]

#: Levels one-hot encoded per text column; rarer ones share one column.
MAX_CATEGORIES = 200
_ARROW_MAGIC = b"ARROW1"
_FEATHER_V1_MAGIC = b"FEA1"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Source:
    """A run's input: a table of a database, or a Civis file.

    Attributes
    ----------
    table : str or None
        ``schema.table``.
    database_id : int or None
    file_id : int or None
    where : str or None
        SQL ``WHERE`` condition (tables only).
    limit : int or None
        SQL ``LIMIT`` (tables only).
    """

    table: str | None = None
    database_id: int | None = None
    file_id: int | None = None
    where: str | None = None
    limit: int | None = None

    def describe(self) -> str:
        """``table schema.t`` or ``file 12``, for messages."""
        return f"table {self.table}" if self.table else f"file {self.file_id}"

    def table_database(self) -> int:
        """The database of a table source.

        Raises
        ------
        CivisMLError
            When no database is set (:func:`source_from_env` never makes one).
        """
        if self.database_id is None:
            raise CivisMLError(f"{self.describe()} needs a database")
        return self.database_id

    def location(self) -> str:
        """Where the data came from, as CivisML's metadata records it."""
        if self.table:
            return f"civis://database/{self.database_id}/{self.table}"
        return f"civis://files/{self.file_id}"


def database_id(client: Any, value: str | None) -> int | None:
    """The database id of a ``database`` parameter's value.

    Custom scripts pass ``{"database": id}`` (as JSON text in the
    environment); older templates passed a name.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    if isinstance(parsed, dict):
        parsed = parsed.get("database")
    if parsed is None:
        return None
    try:
        return client.get_database_id(parsed)
    except Exception as exc:  # the client's own lookup error, said in one line
        raise CivisMLError(f"database {parsed!r} not found: {exc}") from None


def _int(value: str | None, name: str) -> int | None:
    if value is None or not str(value).strip():
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise CivisMLError(f"{name} must be an integer, not {value!r}") from None


def source_from_env(client: Any, env: dict[str, str], database_var: str = "DB") -> Source:
    """The input a run's arguments name (``TABLE_NAME``+``DB`` or ``CIVIS_FILE_ID``).

    Raises
    ------
    CivisMLError
        When no source, two sources or a table without a database are given.
    """
    table = (env.get("TABLE_NAME") or "").strip() or None
    file_id = _int(env.get("CIVIS_FILE_ID"), "CIVIS_FILE_ID")
    if table and file_id is not None:
        raise CivisMLError("give either TABLE_NAME or CIVIS_FILE_ID, not both")
    if not table and file_id is None:
        raise CivisMLError("no data: give TABLE_NAME (with a database) or CIVIS_FILE_ID")
    db = database_id(client, env.get(database_var) or env.get("DB_NAME"))
    if table and db is None:
        raise CivisMLError(f"TABLE_NAME {table} needs a database")
    if table and "." not in table:
        raise CivisMLError(f"TABLE_NAME must be schema.table, not {table!r}")
    return Source(
        table=table,
        database_id=db,
        file_id=file_id,
        where=(env.get("WHERESQL") or "").strip() or None,
        limit=_int(env.get("LIMITSQL"), "LIMITSQL"),
    )


def _split(table: str) -> tuple[str, str]:
    from ...io import split_schema_tablename

    schema, name = split_schema_tablename(table)
    return schema or "public", name


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def table_columns(client: Any, source: Source) -> list[tuple[str, str]]:
    """The (name, SQL type) of each column of a source's table.

    Raises
    ------
    CivisMLError
        When the table does not exist.
    """
    from ...api.errors import CivisAPIError

    schema, name = _split(str(source.table))
    try:
        info = client.databases.get_schemas_tables(source.database_id, schema, name)
    except CivisAPIError as exc:
        if exc.status_code == 404:
            raise CivisMLError(
                f"table {source.table} does not exist in database {source.database_id}"
            ) from None
        raise
    return [(c["name"], str(c.get("sql_type") or "")) for c in info["columns"] or []]


def _select_sql(source: Source, columns: Sequence[str] | None) -> str:
    schema, name = _split(str(source.table))
    picked = ", ".join(_quote(c) for c in columns) if columns else "*"
    sql = f"SELECT {picked} FROM {_quote(schema)}.{_quote(name)}"
    if source.where:
        sql += f" WHERE {source.where}"
    if source.limit is not None:
        sql += f" LIMIT {int(source.limit)}"
    return sql


def _download(client: Any, file_id: int, work: Path) -> Path:
    from ...api.errors import CivisAPIError
    from ...io import civis_to_file

    path = work / f"input-{file_id}"
    try:
        civis_to_file(file_id, path, client=client)
    except CivisAPIError as exc:
        if exc.status_code == 404:
            raise CivisMLError(f"file {file_id} does not exist") from None
        raise
    return path


def _format(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith((_ARROW_MAGIC, _FEATHER_V1_MAGIC)):
        return "feather"
    return "gzip" if head.startswith(_GZIP_MAGIC) else "csv"


def read_frame(client: Any, source: Source, work: Path) -> Any:
    """All rows of a source as a DataFrame (for training).

    Raises
    ------
    CivisMLError
        When the source is missing or has no rows.
    """
    import pandas as pd

    if source.table:
        from ...io import read_civis_sql

        table_columns(client, source)  # a clear error for a missing table
        try:
            frame = read_civis_sql(
                _select_sql(source, None),
                source.table_database(),
                return_as="pandas",
                client=client,
            )
        except EmptyResultError:
            frame = pd.DataFrame()
    else:
        path = _download(client, int(source.file_id or 0), work)
        kind = _format(path)
        if kind == "feather":
            frame = pd.read_feather(path)
        else:
            frame = _read_csv(path, kind == "gzip", None)
    if len(frame) == 0:
        raise CivisMLError(f"{source.describe()} has no rows")
    return frame


def _read_csv(path: Path, gzipped: bool, chunksize: int | None, dtype: Any = None) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(
            path,
            compression="gzip" if gzipped else None,
            chunksize=chunksize,
            dtype=dtype,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        return iter(()) if chunksize else pd.DataFrame()


def _record_batches(path: Path) -> Iterator[Any]:
    """A feather file's record batches, memory-mapped (version 1 files are read whole)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    with open(path, "rb") as f:
        version_1 = f.read(4) == _FEATHER_V1_MAGIC
    if version_1:
        yield from feather.read_table(path).to_batches()
        return
    with pa.memory_map(str(path)) as mapped:
        reader = pa.ipc.open_file(mapped)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def _feather_batches(path: Path, rows: int, columns: Sequence[str] | None) -> Iterator[Any]:
    for batch in _record_batches(path):
        if columns:
            missing = [c for c in columns if c not in batch.schema.names]
            if missing:
                raise CivisMLError(f"column {missing[0]!r} not found in the file")
            batch = batch.select(list(columns))
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows).to_pandas()


def iter_batches(
    client: Any,
    source: Source,
    columns: Sequence[str] | None,
    text_columns: Sequence[str],
    rows: int,
    work: Path,
) -> Iterator[Any]:
    """A source's rows, ``rows`` at a time (for prediction).

    A table is exported with SQL to a gzipped CSV in the run's directory
    first; a file is downloaded there. Only one batch is in memory at once.

    Parameters
    ----------
    client : APIClient
    source : Source
    columns : sequence of str or None
        Columns to read (``None``: all).
    text_columns : sequence of str
        Columns read as text whatever they hold.
    rows : int
        Rows per batch.
    work : Path
        The run's working directory.
    """
    dtype = {c: "object" for c in text_columns}
    if source.table:
        from ...io import civis_to_csv

        path = work / "input.csv.gz"
        try:
            civis_to_csv(
                path,
                _select_sql(source, columns),
                source.table_database(),
                compression="gzip",
                client=client,
            ).result()
        except EmptyResultError:
            return
        yield from _read_csv(path, True, rows, dtype)
        return
    path = _download(client, int(source.file_id or 0), work)
    kind = _format(path)
    if kind == "feather":
        yield from _feather_batches(path, rows, columns)
        return
    for chunk in _read_csv(path, kind == "gzip", rows, dtype):
        if columns:
            missing = [c for c in columns if c not in chunk.columns]
            if missing:
                raise CivisMLError(f"column {missing[0]!r} not found in {source.describe()}")
            chunk = chunk[list(columns)]
        yield chunk


def is_numeric(series: Any) -> bool:
    """Whether a column holds numbers (or booleans)."""
    from pandas.api import types

    return bool(types.is_numeric_dtype(series.dtype) or types.is_bool_dtype(series.dtype))


def feature_columns(frame: Any, ignored: Sequence[str]) -> tuple[list[str], list[str]]:
    """The numeric and the categorical feature columns of a training frame.

    Parameters
    ----------
    frame : pandas.DataFrame
    ignored : sequence of str
        Targets, primary key, excluded and weight columns.
    """
    numeric: list[str] = []
    categorical: list[str] = []
    for name in frame.columns:
        if name in ignored:
            continue
        (numeric if is_numeric(frame[name]) else categorical).append(str(name))
    return numeric, categorical


def coerce(frame: Any, numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """The feature columns of a frame with the types the ETL expects.

    Numbers become floats (text that is not a number becomes missing),
    categories become text; missing values are NaN everywhere.
    """
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for name in numeric:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in categorical:
        column = frame[name]
        out[name] = column.astype(str).astype(object).where(column.notna(), np.nan)
    return out


def build_etl(numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    """The preprocessing step of a model: impute numbers, one-hot encode text."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = Pipeline(
        [
            # NaN and None are both missing (a user's frame may hold either)
            ("impute", SimpleImputer(strategy="constant", fill_value="NULL")),
            (
                "impute_none",
                SimpleImputer(missing_values=None, strategy="constant", fill_value="NULL"),
            ),
            (
                "encode",
                OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES),
            ),
        ]
    )
    parts = []
    if numeric:
        parts.append(("numeric", SimpleImputer(strategy="mean"), list(numeric)))
    if categorical:
        parts.append(("categorical", encode, list(categorical)))
    if not parts:
        raise CivisMLError("no feature columns are left to train on")
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def work_dir() -> Path:
    """The run's working directory (its current directory)."""
    return Path(os.getcwd())


def gzip_lines(path: Path) -> Any:
    """A text writer of a gzipped file (for predictions written batch by batch)."""
    return gzip.open(path, "wt", encoding="utf-8", newline="")
