"""Imports of CSV files stored in Civis into tables: ``civis_file_to_table``.

Also the CSV preprocess job that detects headers, delimiters and column types.
"""

from __future__ import annotations

import json
from typing import Any

from ..api.client import APIClient
from ..api.errors import CivisAPIError, CivisImportError
from ..api.naming import split_schema_tablename
from ..futures import CivisFuture
from ._common import DELIMITERS, _client

EXISTING_TABLE_ROWS = ("fail", "truncate", "append", "drop", "upsert")


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
