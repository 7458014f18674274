"""The platform's SQL warehouses: one DuckDB database file per platform database.

:class:`Warehouses` opens (lazily) one :class:`Warehouse` per platform database
id under ``data_dir``. A :class:`Warehouse` is safe to use from many threads:
every operation runs on its own DuckDB cursor (a connection sharing the one
database instance), so reads run concurrently and DuckDB's own transactions
keep writes consistent.

Tables live in the ``public`` schema unless qualified, the way Civis users
expect from Redshift; DuckDB's ``main`` schema is hidden from listings while
it has no tables. A few Redshift functions DuckDB lacks (``getdate``,
``nvl``, ``nvl2``, ``dateadd``, ``charindex``) are provided as macros.

SQL text (users' queries, scripts and the platform's own catalogue SQL) runs
on a *sandboxed* DuckDB instance: ``enable_external_access`` is off and the
configuration is locked, so SQL cannot read, list or write files, attach
databases, install or load extensions, reach the network or ``SET`` those
settings back. DuckDB still lets that instance open its own database file,
write-ahead log and spill directory, so statements that write files or change
attached databases (``COPY``, ``EXPORT``, ``ATTACH``, ``DETACH``, ``INSTALL``,
``LOAD``, ``PREPARE``/``EXECUTE``) are refused before they run; reading those
own files shows nothing the same SQL cannot already query.

The platform's own file work -- loading CSV files into tables, sniffing them,
writing query results to CSV -- runs on a separate in-memory *file* instance
that never sees SQL text from users: it reads or writes the file and hands
the rows to (or takes them from) the sandboxed instance as an Arrow stream.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

__all__ = [
    "DELIMITERS",
    "Column",
    "CsvDetection",
    "CsvSettings",
    "ExportResult",
    "QueryResult",
    "TableInfo",
    "Warehouse",
    "WarehouseError",
    "Warehouses",
    "civis_sql_type",
    "quote_identifier",
]

#: Civis delimiter names -> characters.
DELIMITERS = {"comma": ",", "tab": "\t", "pipe": "|"}
_DELIMITER_NAMES = {v: k for k, v in DELIMITERS.items()}
DEFAULT_SCHEMA = "public"
_HIDDEN_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
_EXISTING_TABLE_ROWS = frozenset({"fail", "truncate", "append", "drop", "upsert"})

#: Settings of the instance that runs SQL text: no files, network, extensions or
#: replacement scans of Python variables, and no way to change that from SQL.
_SANDBOX_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "arrow_lossless_conversion": True,
    "lock_configuration": True,
}
#: Settings of the in-memory instance that reads and writes the platform's files.
_FILES_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "arrow_lossless_conversion": True,
}
#: Rows per Arrow batch between the two instances.
_ARROW_BATCH = 122_880

_NO_FILES = (
    "SQL here cannot read or write files "
    "(import files with a CSV import, export results with a SQL script)"
)
_REFUSED_STATEMENTS = {
    duckdb.StatementType.COPY: f"COPY is not allowed: {_NO_FILES}",
    duckdb.StatementType.COPY_DATABASE: f"COPY FROM DATABASE is not allowed: {_NO_FILES}",
    duckdb.StatementType.EXPORT: f"EXPORT DATABASE is not allowed: {_NO_FILES}",
    duckdb.StatementType.ATTACH: "ATTACH is not allowed: SQL here works on this database only",
    duckdb.StatementType.DETACH: "DETACH is not allowed: SQL here works on this database only",
    duckdb.StatementType.LOAD: "INSTALL and LOAD are not allowed: extensions cannot be added here",
    duckdb.StatementType.EXTENSION: "extension statements are not allowed here",
    duckdb.StatementType.PREPARE: "PREPARE is not supported here; write the values into the SQL",
    duckdb.StatementType.EXECUTE: "EXECUTE is not supported here; write the values into the SQL",
}
#: ``EXPLAIN [ANALYZE] [(options)]`` before the explained statement.
_EXPLAIN_PREFIX = re.compile(
    r"\s*EXPLAIN\b\s*(?:ANALY[SZ]E\b\s*)?(?:\((?:[^()']|'[^']*')*\)\s*)?", re.I
)
_FILENAME_PREFIX = re.compile(r"[^/\\\x00]{1,200}")


#: Redshift functions DuckDB lacks, as macros in ``main`` (found through the
#: search path ``public,main``).
_REDSHIFT_MACROS = (
    "getdate() AS current_timestamp::TIMESTAMP",
    "nvl(a, b) AS coalesce(a, b)",
    "nvl2(a, b, c) AS CASE WHEN a IS NOT NULL THEN b ELSE c END",
    "dateadd(part, n, d) AS d + (n * ('1 ' || part)::INTERVAL)",
    "charindex(needle, haystack) AS strpos(haystack, needle)",
)


class WarehouseError(Exception):
    """A SQL or loading error, with a message fit for the run's ``error``."""


@dataclass(frozen=True)
class Column:
    """A result or table column.

    Attributes
    ----------
    name : str
        Column name.
    sql_type : str
        The column's type in Civis (Redshift-like) spelling, e.g. ``"bigint"``.
    """

    name: str
    sql_type: str


@dataclass
class QueryResult:
    """The result of the last statement of a SQL text.

    Attributes
    ----------
    columns : list of Column
        Result columns (empty for statements without a result set).
    rows : list of tuple
        Result rows, at most the requested limit.
    """

    columns: list[Column]
    rows: list[tuple[Any, ...]]


@dataclass
class CsvSettings:
    """How a query result is written to CSV (the Civis ``csvSettings``).

    Attributes
    ----------
    include_header : bool
        Write a header row.
    compression : str
        ``"gzip"`` or ``"none"``.
    column_delimiter : str
        ``"comma"``, ``"tab"`` or ``"pipe"``.
    unquoted : bool
        Never quote fields.
    filename_prefix : str or None
        Prefix of the output file names.
    force_multifile : bool
        Export as a set of files described by a manifest.
    max_file_size : int or None
        Upper bound (bytes) for each file of a multi-file export.
    """

    include_header: bool = True
    compression: str = "gzip"
    column_delimiter: str = "comma"
    unquoted: bool = False
    filename_prefix: str | None = None
    force_multifile: bool = False
    max_file_size: int | None = None

    @classmethod
    def from_api(cls, settings: dict[str, Any] | None) -> CsvSettings:
        """Build settings from a camelCase ``csvSettings`` body (missing = defaults).

        Parameters
        ----------
        settings : dict or None
            The API's ``csvSettings`` object.

        Returns
        -------
        CsvSettings
        """
        s = settings or {}
        out = cls()
        for key, attr in (
            ("includeHeader", "include_header"),
            ("compression", "compression"),
            ("columnDelimiter", "column_delimiter"),
            ("unquoted", "unquoted"),
            ("filenamePrefix", "filename_prefix"),
            ("forceMultifile", "force_multifile"),
            ("maxFileSize", "max_file_size"),
        ):
            if s.get(key) is not None:
                setattr(out, attr, s[key])
        if out.compression not in ("gzip", "none"):
            raise WarehouseError(
                f"csvSettings.compression must be gzip or none, not {out.compression!r}"
            )
        if out.column_delimiter not in DELIMITERS:
            raise WarehouseError(
                "csvSettings.columnDelimiter must be comma, tab or pipe, "
                f"not {out.column_delimiter!r}"
            )
        prefix = out.filename_prefix
        if prefix is not None and (
            not isinstance(prefix, str)
            or not _FILENAME_PREFIX.fullmatch(prefix)
            or prefix in (".", "..")
        ):
            raise WarehouseError(
                "csvSettings.filenamePrefix must be a file name of 1 to 200 characters "
                "without / or \\"
            )
        return out

    @property
    def extension(self) -> str:
        """File name extension of the exported files."""
        return ".csv.gz" if self.compression == "gzip" else ".csv"


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    columns : list of Column
        Columns of the exported result (empty when the last statement had none).
    paths : list of Path
        The files written, in order (empty when there was no result set).
    row_count : int
        Number of rows exported.
    """

    columns: list[Column]
    paths: list[Path]
    row_count: int


@dataclass
class TableInfo:
    """A table or view of the warehouse.

    Attributes
    ----------
    schema, name : str
        Where it lives.
    is_view : bool
        Whether it is a view.
    row_count : int or None
        Number of rows (``None`` for views).
    columns : list of Column
        Its columns, in order.
    """

    schema: str
    name: str
    is_view: bool
    row_count: int | None
    columns: list[Column] = field(default_factory=list)

    @property
    def column_count(self) -> int:
        """Number of columns."""
        return len(self.columns)


@dataclass
class CsvDetection:
    """What a CSV file looks like (the Civis ``detectedInfo``).

    Attributes
    ----------
    include_header : bool
        First row is a header.
    column_delimiter : str
        ``"comma"``, ``"tab"`` or ``"pipe"``.
    compression : str
        ``"gzip"`` or ``"none"``.
    table_columns : list of Column
        Detected names and Civis SQL types.
    """

    include_header: bool
    column_delimiter: str
    compression: str
    table_columns: list[Column]

    def to_api(self) -> dict[str, Any]:
        """The camelCase ``detectedInfo`` object."""
        return {
            "includeHeader": self.include_header,
            "columnDelimiter": self.column_delimiter,
            "compression": self.compression,
            "tableColumns": [{"name": c.name, "sqlType": c.sql_type} for c in self.table_columns],
        }


def quote_identifier(name: str) -> str:
    """Quote an SQL identifier for DuckDB.

    Parameters
    ----------
    name : str
        A schema, table or column name.

    Returns
    -------
    str
        The name in double quotes with embedded quotes doubled.
    """
    return '"' + str(name).replace('"', '""') + '"'


def _one_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row of a statement that always yields one (an aggregate, ``COPY``, ``INSERT``).

    Parameters
    ----------
    cursor : duckdb.DuckDBPyConnection
        The cursor that ran the statement.

    Returns
    -------
    tuple

    Raises
    ------
    RuntimeError
        If the statement yielded no row.
    """
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_TYPE_NAMES = {
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "HUGEINT": "numeric(38,0)",
    "UBIGINT": "numeric(20,0)",
    "UINTEGER": "bigint",
    "USMALLINT": "integer",
    "UTINYINT": "smallint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "VARCHAR": "character varying",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIME": "time without time zone",
    "TIMESTAMP": "timestamp without time zone",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
    "BLOB": "varbyte",
    "UUID": "character varying(36)",
}


def civis_sql_type(duckdb_type: str) -> str:
    """Spell a DuckDB type the way Civis (Redshift) reports it.

    Parameters
    ----------
    duckdb_type : str
        A DuckDB type name such as ``"BIGINT"`` or ``"DECIMAL(10,2)"``.

    Returns
    -------
    str
        E.g. ``"bigint"``, ``"numeric(10,2)"``, ``"character varying"``.
    """
    t = str(duckdb_type).upper()
    if t.startswith("DECIMAL"):
        return "numeric" + t[len("DECIMAL") :].replace(" ", "")
    return _TYPE_NAMES.get(t, t.lower())


def _civis_numeric(sql_type: str) -> bool:
    return sql_type in ("bigint", "integer", "smallint", "double precision", "real") or (
        sql_type.startswith("numeric")
    )


def _import_sql_type(duckdb_type: str, max_length: int | None) -> str:
    """A detected column type as a Redshift-style import type (``VARCHAR(12)``)."""
    t = str(duckdb_type).upper()
    if t == "VARCHAR":
        return f"VARCHAR({max(1, min(max_length or 1, 65535))})"
    if t == "DOUBLE":
        return "DOUBLE PRECISION"
    if t in ("TIMESTAMP WITH TIME ZONE",):
        return "TIMESTAMPTZ"
    if t.startswith("TIME") and t != "TIMESTAMP" and not t.startswith("TIMESTAMP"):
        return "TIME"
    return t


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _abs_path(path: Path) -> str:
    return str(Path(path).resolve())


class _Interrupter:
    """Stops one warehouse operation from another thread, however late or early.

    DuckDB's ``interrupt`` only stops a statement that is running; one asked
    for just before a statement starts would be lost. Once stopped, the
    operation's cursors are interrupted again every few milliseconds until it
    ends, and :meth:`check` refuses to start anything further.

    Parameters
    ----------
    on_interrupt : callable or None
        Given :meth:`interrupt` when the operation starts and ``None`` when it
        ends (e.g. a run's ``on_cancel``).
    """

    _RETRY = 0.02

    def __init__(self, on_interrupt: Callable[[Callable[[], None] | None], None] | None):
        self._on_interrupt = on_interrupt
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()
        self._requested = threading.Event()
        self._finished = threading.Event()

    def __enter__(self) -> _Interrupter:
        if self._on_interrupt is not None:
            self._on_interrupt(self.interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._finished.set()
        if self._on_interrupt is not None:
            self._on_interrupt(None)

    def watch(self, cursor: duckdb.DuckDBPyConnection) -> None:
        """Interrupt this cursor too when the operation is stopped."""
        with self._lock:
            self._cursors.append(cursor)

    def interrupt(self) -> None:
        """Stop the operation (never blocks; calling it again does no harm)."""
        if self._requested.is_set() or self._finished.is_set():
            return
        self._requested.set()
        threading.Thread(target=self._keep_interrupting, name="civis-sql-stop", daemon=True).start()

    def check(self) -> None:
        """Raise :class:`WarehouseError` when the operation was stopped."""
        if self._requested.is_set():
            raise WarehouseError("INTERRUPT Error: Interrupted!")

    def _keep_interrupting(self) -> None:
        while True:
            with self._lock:
                if self._finished.is_set():
                    return
                for cur in self._cursors:
                    try:
                        cur.interrupt()
                    except duckdb.Error:
                        pass
            if self._finished.wait(self._RETRY):
                return


class Warehouse:
    """One DuckDB database (a platform database's warehouse).

    Parameters
    ----------
    path : Path
        The DuckDB database file (created if absent).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), config=dict(_SANDBOX_CONFIG))
            self._files = duckdb.connect(
                ":memory:",
                config=dict(_FILES_CONFIG, temp_directory=str(self.path) + ".files.tmp"),
            )
        except duckdb.Error as exc:
            if getattr(self, "_con", None) is not None:
                self._con.close()
            raise WarehouseError(f"cannot open warehouse {self.path}: {exc}") from None
        self._write_lock = threading.RLock()
        self._closed = False
        self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {DEFAULT_SCHEMA}")
        for macro in _REDSHIFT_MACROS:
            self._con.execute(f"CREATE OR REPLACE MACRO main.{macro}")

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh DuckDB cursor with ``public`` as the default schema.

        Yields
        ------
        duckdb.DuckDBPyConnection
            Closed when the block ends.
        """
        if self._closed:
            raise WarehouseError("the warehouse is closed")
        cur = self._con.cursor()
        try:
            cur.execute(f"SET search_path = '{DEFAULT_SCHEMA},main'")
            yield cur
        finally:
            cur.close()

    @contextmanager
    def _files_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the file instance (the platform's privileged path).

        Only SQL built here from the platform's own paths and validated
        settings runs on it, never SQL text from a request.
        """
        if self._closed:
            raise WarehouseError("the warehouse is closed")
        cur = self._files.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def close(self) -> None:
        """Close the database (further use raises :class:`WarehouseError`)."""
        if not self._closed:
            self._closed = True
            self._con.close()
            self._files.close()

    # -- SQL ---------------------------------------------------------------

    @staticmethod
    def _statements(sql: str) -> list[Any]:
        if not isinstance(sql, str) or not sql.strip():
            raise WarehouseError("the SQL text is empty")
        statements = _parse(sql)
        if not statements:
            raise WarehouseError("the SQL text holds no statement")
        for st in statements:
            _check_statement(st)
        return statements

    def execute(
        self,
        sql: str,
        limit: int | None = None,
        on_interrupt: Callable[[Callable[[], None] | None], None] | None = None,
    ) -> QueryResult:
        """Run one or more SQL statements; return the last statement's result.

        Parameters
        ----------
        sql : str
            SQL text, possibly several ``;``-separated statements.
        limit : int, optional
            Fetch at most this many rows of the result.
        on_interrupt : callable, optional
            Called before the SQL runs with a function that stops it (e.g. a
            run's ``on_cancel``): the running statement is interrupted and no
            later one starts. Called with ``None`` when the SQL is done.

        Returns
        -------
        QueryResult

        Raises
        ------
        WarehouseError
            On a syntax or execution error (the whole text runs in one
            transaction and is rolled back).
        """
        statements = self._statements(sql)
        # the interrupter ends first: nothing interrupts the rollback or close
        with (
            self.cursor() as cur,
            _transaction(cur, statements),
            _Interrupter(on_interrupt) as stop,
        ):
            stop.watch(cur)
            for st in statements[:-1]:
                stop.check()
                cur.execute(st)
            stop.check()
            result = cur.sql(statements[-1].query)
            columns = _result_columns(
                statements[-1], result.description if result is not None else None
            )
            stop.check()
            rows = _fetch_rows(result, limit) if columns else []
        return QueryResult(columns=columns, rows=rows)

    def export_csv(
        self,
        sql: str,
        directory: Path,
        settings: CsvSettings | None = None,
        on_interrupt: Callable[[Callable[[], None] | None], None] | None = None,
    ) -> ExportResult:
        """Run SQL and write the last statement's result as CSV file(s).

        Statements before the last run first; the last one is exported with
        DuckDB's ``COPY``. Nulls are written as empty fields and empty strings
        as ``""`` (unless ``unquoted``).

        Parameters
        ----------
        sql : str
            SQL text; its last statement should return rows.
        directory : Path
            Where to write (created if needed).
        settings : CsvSettings, optional
            Header, delimiter, compression, quoting, naming.
        on_interrupt : callable, optional
            As for :meth:`execute`.

        Returns
        -------
        ExportResult
            With no paths when the last statement has no result set.
        """
        settings = settings or CsvSettings()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        statements = self._statements(sql)
        last = statements[-1]
        plain = _export_path(directory, settings.filename_prefix or "output")
        # the interrupter ends first: nothing interrupts the rollback or close
        with (
            self.cursor() as cur,
            _transaction(cur, statements),
            _Interrupter(on_interrupt) as stop,
        ):
            stop.watch(cur)
            for st in statements[:-1]:
                stop.check()
                cur.execute(st)
            stop.check()
            result = cur.sql(last.query)
            columns = _result_columns(last, result.description if result is not None else None)
            if not columns:
                return ExportResult(columns=[], paths=[], row_count=0)
            # The rows stream as Arrow batches to the file instance, which
            # writes plain CSV fast; gzip (level 1, zlib off the GIL) is applied
            # afterwards, several times faster than COPY's own gzip.
            stop.check()
            rows = result.to_arrow_reader(_ARROW_BATCH)
            row_count = self._write_csv(rows, plain, settings, stop)
        plain_settings = dataclasses.replace(settings, compression="none")
        paths = [plain]
        if settings.force_multifile and settings.max_file_size:
            paths = _split_csv(plain, plain_settings)
        if settings.compression == "gzip":
            paths = [_gzip_file(p) for p in paths]
        return ExportResult(columns=columns, paths=paths, row_count=row_count)

    def _write_csv(self, rows: Any, target: Path, settings: CsvSettings, stop: _Interrupter) -> int:
        """Write an Arrow stream of rows as one plain CSV file (file instance).

        Parameters
        ----------
        rows : pyarrow.RecordBatchReader
            The rows, e.g. a sandboxed query's result.
        target : Path
            The ``.csv`` file to write.
        settings : CsvSettings
            Header, delimiter and quoting (compression is applied later).
        stop : _Interrupter
            Interrupts the writing too when the operation is stopped.

        Returns
        -------
        int
            Rows written.
        """
        options = [
            "FORMAT csv",
            f"HEADER {'true' if settings.include_header else 'false'}",
            f"DELIMITER {_literal(DELIMITERS[settings.column_delimiter])}",
            "COMPRESSION none",
        ]
        if settings.unquoted:
            options.append("QUOTE ''")
        name = _scratch_name("rows")
        with self._files_cursor() as files:
            stop.watch(files)
            files.register(name, rows)
            try:
                stop.check()
                files.execute(
                    f"COPY (SELECT * FROM {name}) TO {_literal(_abs_path(target))} "
                    f"({', '.join(options)})"
                )
                return int(_one_row(files)[0])
            finally:
                _quietly(files.unregister, name)

    # -- catalogue ---------------------------------------------------------

    def schemas(self) -> list[str]:
        """Schema names, sorted (``main`` only when it holds tables).

        Returns
        -------
        list of str
        """
        with self.cursor() as cur:
            rows = cur.execute(
                "SELECT s.schema_name, "
                "(SELECT count(*) FROM duckdb_tables() t "
                "  WHERE t.database_name = current_database() "
                "  AND t.schema_name = s.schema_name) + "
                "(SELECT count(*) FROM duckdb_views() v "
                "  WHERE v.database_name = current_database() AND NOT v.internal "
                "  AND v.schema_name = s.schema_name) "
                "FROM duckdb_schemas() s "
                "WHERE s.database_name = current_database() "
                "ORDER BY s.schema_name"
            ).fetchall()
        return [
            name for name, n in rows if name not in _HIDDEN_SCHEMAS and (name != "main" or n > 0)
        ]

    def tables(self, schema: str | None = None, name: str | None = None) -> list[TableInfo]:
        """Tables and views with their columns and row counts.

        Parameters
        ----------
        schema : str, optional
            Only this schema.
        name : str, optional
            Only this table name.

        Returns
        -------
        list of TableInfo
            Sorted by schema, then name.
        """
        where = ["database_name = current_database()"]
        params: list[Any] = []
        if schema is not None:
            where.append("schema_name = ?")
            params.append(schema)
        if name is not None:
            where.append("table_name = ?")
            params.append(name)
        cond = " AND ".join(where)
        with self.cursor() as cur:
            objects = cur.execute(
                f"SELECT schema_name, table_name, false FROM duckdb_tables() "
                f"WHERE {cond} UNION ALL "
                f"SELECT schema_name, view_name, true FROM duckdb_views() "
                f"WHERE NOT internal AND {cond.replace('table_name', 'view_name')} "
                "ORDER BY 1, 2",
                params + params,
            ).fetchall()
            cols = cur.execute(
                "SELECT schema_name, table_name, column_name, data_type "
                "FROM duckdb_columns() WHERE database_name = current_database() "
                "ORDER BY schema_name, table_name, column_index"
            ).fetchall()
            by_table: dict[tuple[str, str], list[Column]] = {}
            for s, t, c, ty in cols:
                by_table.setdefault((s, t), []).append(Column(c, civis_sql_type(ty)))
            out = []
            for s, t, is_view in objects:
                if s in _HIDDEN_SCHEMAS:
                    continue
                count = None
                if not is_view:
                    source = f"{quote_identifier(s)}.{quote_identifier(t)}"
                    count = int(_one_row(cur.execute(f"SELECT count(*) FROM {source}"))[0])
                out.append(TableInfo(s, t, bool(is_view), count, by_table.get((s, t), [])))
        return out

    def table(self, schema: str, name: str) -> TableInfo | None:
        """One table or view, or ``None`` when absent.

        Parameters
        ----------
        schema, name : str
            Where to look.

        Returns
        -------
        TableInfo or None
        """
        found = self.tables(schema=schema, name=name)
        return found[0] if found else None

    def column_stats(
        self, schema: str, table: str, max_rows: int = 10_000_000, max_distinct: int = 20
    ) -> list[dict[str, Any]]:
        """Per-column statistics of a table, in one scan (plus one per small column).

        Parameters
        ----------
        schema, table : str
            The table.
        max_rows : int
            Larger tables get no statistics (an empty list).
        max_distinct : int
            Columns with at most this many distinct values also get their
            value distribution.

        Returns
        -------
        list of dict
            camelCase ``nullCount``, ``coverageCount``, ``distinctCount``,
            ``minValue``, ``maxValue``, ``avgValue``, ``stddev``,
            ``valueDistribution`` and ``valueDistributionPercent`` per column.
        """
        info = self.table(schema, table)
        if info is None or not info.columns:
            return []
        source = f"{quote_identifier(schema)}.{quote_identifier(table)}"
        with self.cursor() as cur:
            total = int(_one_row(cur.execute(f"SELECT count(*) FROM {source}"))[0])
            if total > max_rows:
                return []
            exprs = []
            for c in info.columns:
                q = quote_identifier(c.name)
                numeric = _civis_numeric(c.sql_type)
                exprs += [
                    f"count({q})",
                    f"approx_count_distinct({q})",
                    f"min({q})::VARCHAR",
                    f"max({q})::VARCHAR",
                    f"avg({q})::DOUBLE" if numeric else "NULL",
                    f"stddev_samp({q})::DOUBLE" if numeric else "NULL",
                ]
            row = _one_row(cur.execute(f"SELECT {', '.join(exprs)} FROM {source}"))
            stats = []
            for i, c in enumerate(info.columns):
                count, distinct, lo, hi, avg, std = row[6 * i : 6 * i + 6]
                item: dict[str, Any] = {
                    "nullCount": total - int(count),
                    "coverageCount": int(count),
                    "distinctCount": int(distinct),
                    "minValue": lo,
                    "maxValue": hi,
                    "avgValue": avg,
                    "stddev": std,
                    "valueDistribution": None,
                    "valueDistributionPercent": None,
                }
                if total and int(distinct) <= max_distinct:
                    q = quote_identifier(c.name)
                    pairs = cur.execute(
                        f"SELECT {q}::VARCHAR, count(*) FROM {source} GROUP BY 1 ORDER BY 2 DESC"
                    ).fetchall()
                    dist = {("null" if v is None else v): int(n) for v, n in pairs}
                    item["valueDistribution"] = dist
                    item["valueDistributionPercent"] = {
                        k: 100.0 * n / total for k, n in dist.items()
                    }
                stats.append(item)
        return stats

    # -- CSV ---------------------------------------------------------------

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


def _scratch_name(kind: str) -> str:
    """A fresh identifier for a registered stream or scratch table."""
    return f"__civis_{kind}_{uuid.uuid4().hex}"


def _parse(sql: str) -> list[Any]:
    """Split SQL text into statements (a clear error when DuckDB cannot)."""
    try:
        return duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(_message(exc)) from None


def _check_statement(statement: Any) -> None:
    """Refuse statements that could write files or change attached databases.

    ``EXPLAIN`` is checked by what it explains (``EXPLAIN ANALYZE`` runs it).

    Raises
    ------
    WarehouseError
        With a one-line reason.
    """
    try:
        kind = statement.type
    except ValueError:
        # a statement kind the Python client has no name for (UPDATE EXTENSIONS)
        raise WarehouseError("this kind of statement is not allowed here") from None
    reason = _REFUSED_STATEMENTS.get(kind)
    if reason is not None:
        raise WarehouseError(reason)
    if kind == duckdb.StatementType.EXPLAIN:
        prefix = _EXPLAIN_PREFIX.match(statement.query)
        inner = _parse(statement.query[prefix.end() :]) if prefix else []
        if len(inner) != 1:
            raise WarehouseError("this EXPLAIN is not allowed here: explain one statement")
        _check_statement(inner[0])


def _export_path(directory: Path, prefix: str) -> Path:
    """The plain CSV file an export writes, always directly inside ``directory``."""
    target = Path(directory) / f"{prefix}.csv"
    if (
        not _FILENAME_PREFIX.fullmatch(prefix)
        or prefix in (".", "..")
        or target.resolve().parent != Path(directory).resolve()
    ):
        raise WarehouseError("the export's file name prefix must be a plain file name")
    return target


def _fetch_rows(result: Any, limit: int | None) -> list[tuple[Any, ...]]:
    """Fetch a result's rows (at most ``limit``) as Python values.

    ``TIMESTAMP WITH TIME ZONE`` values (also inside lists and structs) come
    back as DuckDB's text (``2024-01-02 03:04:05+00``): the Python client can
    only build zone-aware datetimes with ``pytz``, which need not be installed.
    """
    types = [str(t) for t in result.types]
    if any("TIMESTAMP WITH TIME ZONE" in t for t in types):
        result = result.project(
            ", ".join(
                f"#{i + 1}::VARCHAR AS {quote_identifier(name)}"
                if "TIMESTAMP WITH TIME ZONE" in t
                else f"#{i + 1} AS {quote_identifier(name)}"
                for i, (name, t) in enumerate(zip(result.columns, types))
            )
        )
    if limit is not None:
        result = result.limit(max(0, int(limit)))
    return result.fetchall()


def _ddl_type(sql_type: str) -> str:
    t = str(sql_type).strip()
    if not t or any(ch in t for ch in ";\"'"):
        raise WarehouseError(f"invalid sqlType {sql_type!r}")
    return t


def _columns(description: Any) -> list[Column]:
    if not description:
        return []
    return [Column(d[0], civis_sql_type(str(d[1]))) for d in description]


_ROW_STATEMENTS = frozenset(
    {
        duckdb.StatementType.SELECT,
        duckdb.StatementType.PRAGMA,
        duckdb.StatementType.EXPLAIN,
        duckdb.StatementType.CALL,
    }
)


def _result_columns(statement: Any, description: Any) -> list[Column]:
    """Columns of a statement's result; none for DDL/DML status results."""
    columns = _columns(description)
    if statement.type not in _ROW_STATEMENTS and [(c.name, c.sql_type) for c in columns] in (
        [("Count", "bigint")],
        [("Success", "boolean")],
    ):
        return []
    return columns


@contextmanager
def _transaction(cur: duckdb.DuckDBPyConnection, statements: list[Any]) -> Iterator[None]:
    """Run a block in one transaction (unless the SQL manages its own).

    DuckDB errors become :class:`WarehouseError` after a rollback.
    """
    own = not any(st.type == duckdb.StatementType.TRANSACTION for st in statements)
    try:
        if own:
            cur.execute("BEGIN TRANSACTION")
        yield
        if own:
            cur.execute("COMMIT")
    except duckdb.Error as exc:
        _rollback(cur)
        raise WarehouseError(_message(exc)) from None
    except BaseException:
        _rollback(cur)
        raise


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    try:
        cur.execute("ROLLBACK")
    except duckdb.Error:
        pass


#: How DuckDB wraps an error raised while reading a registered Arrow stream.
_STREAM_ERROR = re.compile(r"^.*?reading the stream registered as '[^']*' failed: (?:\w+Error: )?")


def _message(exc: BaseException) -> str:
    """The first line of an error, without the wrapping of a registered stream."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    return _STREAM_ERROR.sub("", text.splitlines()[0])


def _quietly(action: Callable[..., Any], *args: Any) -> None:
    """Clean up after a statement, never hiding the error that is on its way."""
    try:
        action(*args)
    except duckdb.Error:
        pass


def _gzip_file(path: Path, level: int = 1, chunk: int = 8 * 2**20) -> Path:
    """Compress ``x.csv`` into ``x.csv.gz`` and remove the original.

    Chunks are compressed in parallel (zlib releases the GIL) as consecutive
    gzip members, which every gzip reader treats as one stream; at most a few
    chunks are in memory at once.
    """
    target = path.with_name(path.name + ".gz")
    workers = max(1, min(4, os.cpu_count() or 1))
    with open(path, "rb") as src, open(target, "wb") as dst:
        if path.stat().st_size <= chunk or workers == 1:
            with gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=level, mtime=0) as gz:
                while data := src.read(chunk):
                    gz.write(data)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="civis-gzip") as pool:
                pending: collections.deque[Future[bytes]] = collections.deque()
                while data := src.read(chunk):
                    pending.append(pool.submit(gzip.compress, data, level, mtime=0))
                    if len(pending) >= 2 * workers:
                        dst.write(pending.popleft().result())
                while pending:
                    dst.write(pending.popleft().result())
    path.unlink()
    return target


def _split_csv(path: Path, settings: CsvSettings) -> list[Path]:
    """Split an exported CSV into parts of at most ``max_file_size`` bytes.

    Rows are kept whole (a quoted field may span lines, so rows are tracked by
    quote parity); every part repeats the header when there is one.
    """
    limit = max(1, int(settings.max_file_size or 0))
    opener = gzip.open if settings.compression == "gzip" else open
    stem = path.name[: -len(settings.extension)]
    parts: list[Path] = []
    header = b""
    with opener(path, "rb") as src:
        if settings.include_header:
            header = _read_row(src)
        out = None
        size = 0
        while True:
            row = _read_row(src)
            if not row:
                break
            if out is None or (size > 0 and size + len(row) > limit):
                if out is not None:
                    out.close()
                part = path.with_name(f"{stem}_part{len(parts):04d}{settings.extension}")
                parts.append(part)
                out = opener(part, "wb")
                out.write(header)
                size = len(header)
            out.write(row)
            size += len(row)
        if out is not None:
            out.close()
    if not parts:
        return [path]
    path.unlink()
    return parts


def _read_row(src: Any) -> bytes:
    row = b""
    while True:
        line = src.readline()
        if not line:
            return row
        row += line
        if row.count(b'"') % 2 == 0:
            return row


class Warehouses:
    """All warehouses of a platform: one DuckDB file per database id.

    Parameters
    ----------
    data_dir : Path
        Directory holding ``db_<id>.duckdb`` files.
    """

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._open: dict[int, Warehouse] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Warehouses({str(self.data_dir)!r})"

    def path(self, database_id: int) -> Path:
        """The DuckDB file of a database.

        Parameters
        ----------
        database_id : int
            Platform database id.

        Returns
        -------
        Path
        """
        return self.data_dir / f"db_{int(database_id)}.duckdb"

    def get(self, database_id: int) -> Warehouse:
        """The warehouse of a database, opened (or created) on first use.

        Parameters
        ----------
        database_id : int
            Platform database id.

        Returns
        -------
        Warehouse
        """
        key = int(database_id)
        with self._lock:
            wh = self._open.get(key)
            if wh is None:
                wh = self._open[key] = Warehouse(self.path(key))
            return wh

    __getitem__ = get

    def close(self) -> None:
        """Close every open warehouse."""
        with self._lock:
            for wh in self._open.values():
                wh.close()
            self._open.clear()
