"""Sniffing CSV files and loading them into tables, read by the file instance."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from .connection import _ARROW_BATCH, _Connection
from .csv_files import _abs_path, _is_gzip
from .csv_settings import _DELIMITER_NAMES, DELIMITERS, CsvDetection
from .errors import WarehouseError, _message, _quietly
from .models import Column
from .results import _one_row
from .sql_types import _ddl_type, _import_sql_type
from .sqltext import _literal, _scratch_name, quote_identifier
from .transactions import _rollback

_EXISTING_TABLE_ROWS = frozenset({"fail", "truncate", "append", "drop", "upsert"})


class _CsvImport(_Connection):
    """Sniffing CSV files and loading them into a warehouse's tables."""

    def detect_csv(
        self,
        path: Path,
        include_header: bool | None = None,
        column_delimiter: str | None = None,
    ) -> CsvDetection:
        """Sniff a CSV file: header, delimiter, compression and column types.

        Parameters
        ----------
        path : Path
            The CSV file (plain or gzip).
        include_header : bool, optional
            Known header setting; detected when ``None``.
        column_delimiter : str, optional
            Known delimiter name (``comma``/``tab``/``pipe``); detected when ``None``.

        Returns
        -------
        CsvDetection
        """
        path = Path(path)
        compression = "gzip" if _is_gzip(path) else "none"
        args = [
            _literal(_abs_path(path)),
            f"compression={_literal(compression)}",
            "sample_size=-1",
            "quote='\"'",
        ]
        if include_header is not None:
            args.append(f"header={'true' if include_header else 'false'}")
        if column_delimiter is not None:
            if column_delimiter not in DELIMITERS:
                raise WarehouseError(
                    f"columnDelimiter must be comma, tab or pipe, not {column_delimiter!r}"
                )
            args.append(f"delim={_literal(DELIMITERS[column_delimiter])}")
        with self._files_cursor() as cur:
            try:
                sniffed = cur.execute(
                    "SELECT Delimiter, HasHeader, Columns FROM sniff_csv(" + ", ".join(args) + ")"
                )
                delim, has_header, columns = _one_row(sniffed)
                lengths = self._varchar_lengths(cur, path, compression, delim, has_header, columns)
            except duckdb.Error as exc:
                raise WarehouseError(f"cannot read the CSV file: {_message(exc)}") from None
        # without a header, columns are named column_1, column_2, ... as on Civis
        table_columns = [
            Column(
                c["name"] if has_header else f"column_{i + 1}",
                _import_sql_type(c["type"], lengths.get(i)),
            )
            for i, c in enumerate(columns)
        ]
        return CsvDetection(
            include_header=bool(has_header),
            column_delimiter=_DELIMITER_NAMES.get(delim, "comma"),
            compression=compression,
            table_columns=table_columns,
        )

    @staticmethod
    def _varchar_lengths(
        cur: duckdb.DuckDBPyConnection,
        path: Path,
        compression: str,
        delim: str,
        has_header: bool,
        columns: list[dict[str, str]],
    ) -> dict[int, int]:
        varchar = [i for i, c in enumerate(columns) if c["type"].upper() == "VARCHAR"]
        if not varchar:
            return {}
        spec = ", ".join(f"{_literal(c['name'])}: {_literal(c['type'])}" for c in columns)
        source = (
            f"read_csv({_literal(_abs_path(path))}, "
            f"compression={_literal(compression)}, delim={_literal(delim)}, "
            f"quote='\"', escape='\"', header={'true' if has_header else 'false'}, "
            f"columns={{{spec}}}, auto_detect=false)"
        )
        exprs = ", ".join(
            f"max(octet_length(encode({quote_identifier(columns[i]['name'])})))" for i in varchar
        )
        row = _one_row(cur.execute(f"SELECT {exprs} FROM {source}"))
        return {i: int(v or 1) for i, v in zip(varchar, row)}

    def load_csv(
        self,
        paths: Sequence[Path],
        schema: str,
        table: str,
        *,
        include_header: bool = True,
        column_delimiter: str = "comma",
        compression: str | None = None,
        escaped: bool = False,
        existing_table_rows: str = "fail",
        table_columns: Sequence[Column] | None = None,
        primary_keys: Sequence[str] | None = None,
    ) -> int:
        """Load CSV files into a table.

        Empty unquoted fields become NULL; quoted empty fields (``""``) stay
        empty strings. Quoted fields may hold delimiters, quotes and newlines.

        Parameters
        ----------
        paths : sequence of Path
            The CSV files, all with the same layout.
        schema, table : str
            Destination (the schema is created if needed).
        include_header : bool
            Skip each file's first row.
        column_delimiter : str
            ``comma``, ``tab`` or ``pipe``.
        compression : str, optional
            ``gzip`` or ``none``; detected from each file when ``None``.
        escaped : bool
            Quotes inside fields are escaped with a backslash instead of doubled.
        existing_table_rows : str
            ``fail``, ``truncate``, ``append``, ``drop`` or ``upsert``.
        table_columns : sequence of Column, optional
            Names and SQL types for a new (or dropped) table; when absent, a new
            table's columns are detected from the first file.
        primary_keys : sequence of str, optional
            For ``upsert``: rows with matching keys are replaced.

        Returns
        -------
        int
            Rows loaded.

        Raises
        ------
        WarehouseError
            On bad settings, an existing table with ``fail``, or unparsable data.
        """
        if existing_table_rows not in _EXISTING_TABLE_ROWS:
            raise WarehouseError(
                "existingTableRows must be one of fail, truncate, append, drop, "
                f"upsert, not {existing_table_rows!r}"
            )
        if column_delimiter not in DELIMITERS:
            raise WarehouseError(
                f"columnDelimiter must be comma, tab or pipe, not {column_delimiter!r}"
            )
        if not paths:
            raise WarehouseError("no source files to import")
        if existing_table_rows == "upsert" and not primary_keys:
            raise WarehouseError("existingTableRows=upsert needs primaryKeys")
        target = f"{quote_identifier(schema)}.{quote_identifier(table)}"
        with self._write_lock, self.cursor() as cur:
            try:
                cur.execute("BEGIN TRANSACTION")
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
                existing = self._table_columns(cur, schema, table)
                if existing is not None:
                    if existing_table_rows == "fail":
                        raise WarehouseError(
                            f"table {schema}.{table} already exists; set "
                            "existingTableRows to truncate, append, drop or upsert"
                        )
                    if existing_table_rows == "drop":
                        cur.execute(f"DROP TABLE {target}")
                        existing = None
                    elif existing_table_rows == "truncate":
                        cur.execute(f"DELETE FROM {target}")
                if existing is None:
                    columns = (
                        list(table_columns or [])
                        or self.detect_csv(paths[0], include_header, column_delimiter).table_columns
                    )
                    if not columns:
                        raise WarehouseError("no columns found in the CSV file")
                    defs = ", ".join(
                        f"{quote_identifier(c.name)} {_ddl_type(c.sql_type)}" for c in columns
                    )
                    cur.execute(f"CREATE TABLE {target} ({defs})")
                    existing = self._table_columns(cur, schema, table) or []
                total = 0
                for p in paths:
                    rows = self._csv_rows(
                        Path(p),
                        len(existing),
                        include_header,
                        column_delimiter,
                        compression,
                        escaped,
                    )
                    with rows as (name, reader):
                        cur.register(name, reader)
                        try:
                            total += self._insert_rows(
                                cur,
                                target,
                                _cast_fields(name, existing),
                                primary_keys if existing_table_rows == "upsert" else None,
                            )
                        finally:
                            _quietly(cur.unregister, name)
                cur.execute("COMMIT")
            except WarehouseError:
                _rollback(cur)
                raise
            except duckdb.Error as exc:
                _rollback(cur)
                raise WarehouseError(f"import failed: {_message(exc)}") from None
        return total

    @staticmethod
    def _table_columns(
        cur: duckdb.DuckDBPyConnection, schema: str, table: str
    ) -> list[tuple[str, str]] | None:
        rows = cur.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = ? "
            "AND table_name = ? ORDER BY column_index",
            [schema, table],
        ).fetchall()
        return [(r[0], r[1]) for r in rows] if rows else None

    @staticmethod
    def _insert_rows(
        cur: duckdb.DuckDBPyConnection,
        target: str,
        source: str,
        primary_keys: Sequence[str] | None,
    ) -> int:
        """Insert a subquery's rows into a table; with keys, replace matching rows."""
        if not primary_keys:
            cur.execute(f"INSERT INTO {target} SELECT * FROM {source}")
            return int(_one_row(cur)[0])
        keys = " AND ".join(
            f"{target}.{quote_identifier(k)} = src.{quote_identifier(k)}" for k in primary_keys
        )
        load = _scratch_name("load")
        cur.execute(f"CREATE TEMP TABLE {load} AS SELECT * FROM {source}")
        try:
            cur.execute(
                f"DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {load} src WHERE {keys})"
            )
            cur.execute(f"INSERT INTO {target} SELECT * FROM {load}")
            return int(_one_row(cur)[0])
        finally:
            _quietly(cur.execute, f"DROP TABLE IF EXISTS {load}")

    @contextmanager
    def _csv_rows(
        self,
        path: Path,
        n_columns: int,
        include_header: bool,
        column_delimiter: str,
        compression: str | None,
        escaped: bool,
    ) -> Iterator[tuple[str, Any]]:
        """Stream a CSV file's fields as text, read by the file instance.

        Yields
        ------
        tuple of (str, pyarrow.RecordBatchReader)
            A fresh name to register the rows under, and the rows: columns
            ``c0``, ``c1``, ... holding each field as text (quoted empty fields
            stay empty strings, unquoted ones are NULL).
        """
        if not path.exists():
            raise WarehouseError(f"source file {path.name} is missing")
        comp = compression if compression in ("gzip", "none") else None
        if comp is None or comp == "none":
            comp = "gzip" if _is_gzip(path) else "none"
        spec = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n_columns))
        query = (
            f"SELECT * FROM read_csv({_literal(_abs_path(path))}, "
            f"compression={_literal(comp)}, "
            f"delim={_literal(DELIMITERS[column_delimiter])}, quote='\"', "
            f"escape={_literal(chr(92) if escaped else chr(34))}, "
            f"header={'true' if include_header else 'false'}, columns={{{spec}}}, "
            "auto_detect=false, allow_quoted_nulls=false, null_padding=false, "
            "strict_mode=true)"
        )
        with self._files_cursor() as files:
            yield _scratch_name("csv"), files.sql(query).to_arrow_reader(_ARROW_BATCH)


def _cast_fields(source: str, columns: list[tuple[str, str]]) -> str:
    """A subquery casting text fields ``c0, c1, ...`` of ``source`` to a table's columns.

    For non-text columns an empty field, quoted or not, is NULL.
    """
    select = ", ".join(
        f"c{i} AS {quote_identifier(n)}"
        if t.upper() == "VARCHAR"
        else f"CAST(NULLIF(c{i}, '') AS {t}) AS {quote_identifier(n)}"
        for i, (n, t) in enumerate(columns)
    )
    return f"(SELECT {select} FROM {source})"
