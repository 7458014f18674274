"""A warehouse: one DuckDB database running SQL text and exporting results as CSV."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .catalog import _Catalog
from .connection import _ARROW_BATCH
from .csv_files import _abs_path, _export_path, _gzip_file, _split_csv
from .csv_import import _CsvImport
from .csv_settings import DELIMITERS, CsvSettings
from .errors import WarehouseError, _quietly
from .interrupt import _Interrupter
from .models import ExportResult, QueryResult
from .results import _fetch_rows, _one_row, _result_columns
from .screening import _check_statement, _parse
from .sqltext import _literal, _scratch_name
from .transactions import _transaction


class Warehouse(_Catalog, _CsvImport):
    """One DuckDB database (a platform database's warehouse).

    Parameters
    ----------
    path : Path
        The DuckDB database file (created if absent).
    """

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"

    @contextmanager
    def _leading_run(
        self,
        statements: list[Any],
        on_interrupt: Callable[[Callable[[], None] | None], None] | None,
    ) -> Iterator[tuple[Any, _Interrupter]]:
        """Run all statements but the last in one transaction that can be stopped.

        Yields the cursor (for the last statement) and its interrupter; the
        transaction commits when the block ends and rolls back on an error.
        """
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
            yield cur, stop

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
        with self._leading_run(statements, on_interrupt) as (cur, stop):
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
        with self._leading_run(statements, on_interrupt) as (cur, stop):
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
