"""``%%civis_sql``, ``%civis_jobs``, ``%civis_files`` and ``%civis_attach``."""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Float, Int, Unicode, Union

from ..api.errors import CivisAPIError, CivisAPIKeyError, CivisJobFailure
from ..api.naming import split_schema_tablename
from .lazyclient import ClientNotConfigured
from .sqltemplate import TemplateError, expand_sql
from .statements import split_statements, with_limit

__all__ = ["SQL_MARKER", "CivisMagics"]

#: ``DataFrame.attrs`` key marking frames made by %%civis_sql (shown as tables).
SQL_MARKER = "civis_sql"


_NUMERIC = ("int", "float", "double", "numeric", "decimal", "real")


def _frame_from_rows(rows: Any, columns: Any) -> pd.DataFrame:
    """A DataFrame from a query's resultRows/resultColumns, typed by sqlType."""
    names = [c.get("name") if hasattr(c, "get") else str(c) for c in (columns or [])]
    frame = pd.DataFrame(list(rows or []), columns=names or None)
    for column in columns or []:
        sql_type = str(column.get("sql_type") or "").lower() if hasattr(column, "get") else ""
        name = column.get("name") if hasattr(column, "get") else None
        if name in frame and any(t in sql_type for t in _NUMERIC):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        elif name in frame and sql_type.startswith("bool"):
            frame[name] = frame[name].map(
                lambda v: v if v is None or isinstance(v, bool) else str(v).lower() in ("t", "true")
            )
    return frame


_SEPARATOR = re.compile(r"(?:^|\s)--(?:\s|$)")


def _split_line(line: str) -> tuple[str, str]:
    """Split ``%civis_sql [options] -- SQL`` at the standalone ``--``."""
    match = _SEPARATOR.search(line)
    if match is None:
        return line, ""
    return line[: match.start()], line[match.end() :]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@magics_class
class CivisMagics(Magics):
    """Civis magics, configurable with ``%config CivisMagics.<option> = ...``."""

    default_database = Union(
        [Unicode(), Int()],
        allow_none=True,
        default_value=None,
        help="Database (name or id) used when %%civis_sql names none. "
        "Defaults to the CIVIS_DEFAULT_DATABASE environment variable.",
    ).tag(config=True)
    preview_rows = Int(100, help="Rows fetched by --preview without a number.").tag(config=True)
    page_size = Int(10, help="Rows per page in result tables.").tag(config=True)
    display_limit = Int(
        0, help="If > 0, --limit applied to every query that names no --limit."
    ).tag(config=True)
    polling_interval = Float(
        None, allow_none=True, help="Fixed polling interval in seconds (default: adaptive)."
    ).tag(config=True)
    widgets = Bool(True, help="Show live widgets (off: plain text output).").tag(config=True)
    log_lines = Int(200, help="Log lines kept by run widgets.").tag(config=True)

    def __init__(self, shell: Any, client: Any, **kwargs: Any):
        super().__init__(shell=shell, **kwargs)
        self.client = client
        if self.default_database is None and os.environ.get("CIVIS_DEFAULT_DATABASE"):
            self.default_database = os.environ["CIVIS_DEFAULT_DATABASE"]

    # -- helpers ----------------------------------------------------------------
    def _client(self) -> Any:
        get = getattr(self.client, "_get", None)
        try:
            return get() if get is not None else self.client
        except ClientNotConfigured as exc:
            raise UsageError(str(exc)) from None

    def _database_id(self, client: Any, database: str | int | None) -> int:
        if database is None:
            database = self.default_database
        if database is None or database == "":
            raise UsageError(
                "No database given: pass one (%%civis_sql NAME or -d NAME) or set "
                "%config CivisMagics.default_database = 'NAME'"
            )
        if isinstance(database, str) and database.isdigit():
            database = int(database)
        try:
            return client.get_database_id(database)
        except ValueError:
            names = ", ".join(sorted(str(d["name"]) for d in client.databases.list()))
            raise UsageError(
                f"Unknown database {database!r}. Available: {names or '(none)'}"
            ) from None

    def _future(self, client: Any, poller: Any, args: tuple[Any, ...]) -> Any:
        from ..futures import CivisFuture

        return CivisFuture(poller, args, polling_interval=self.polling_interval, client=client)

    def _wait(self, future: Any, title: str, logs: bool = True) -> Any:
        """Wait for a run, showing its live card; Ctrl-C cancels the run."""
        card = handle = None
        if self.widgets:
            from .widgets.run import RunWidget

            card = RunWidget(future, title=title, log_lines=self.log_lines, show_logs=logs)
            handle = display(card, display_id=True)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            what = f"run {future.run_id} of job {future.job_id}" if future.run_id else "the query"
            raise UsageError(f"Interrupted: cancelled {what}.") from None
        except CivisJobFailure as exc:
            raise UsageError(f"SQL failed: {exc}") from None
        finally:
            if handle is not None and card is not None:
                # Saved notebooks keep the card's static fallback: show the final state.
                card.refresh()
                handle.update(card)

    def _show_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame.attrs[SQL_MARKER] = True
        return frame

    # -- %%civis_sql --------------------------------------------------------------
    @magic_arguments()
    @argument("database", nargs="?", default=None, help="Database name or id.")
    @argument("-d", "--database", dest="database_opt", default=None, help="Database name or id.")
    @argument("-o", "--output", default=None, help="Store the DataFrame in this variable.")
    @argument(
        "--preview",
        nargs="?",
        const=-1,
        type=int,
        default=None,
        help="Fast query path returning at most N rows (default: preview_rows).",
    )
    @argument("--limit", type=int, default=None, help="Return at most N rows.")
    @argument("--async", dest="run_async", action="store_true", help="Return the run's future.")
    @argument("--to-table", default=None, help="Write the result to schema.table.")
    @argument("--csv", default=None, help="Write the full result to this CSV file.")
    @argument("--show-sql", action="store_true", help="Print the SQL after {name} expansion.")
    @line_cell_magic
    def civis_sql(self, line: str, cell: str | None = None) -> Any:
        """Run SQL on a Civis database and return the result as a DataFrame.

        Cell form: ``%%civis_sql [DATABASE] [options]`` with SQL in the cell;
        line form: ``%civis_sql [options] -- SQL`` or ``df = %civis_sql DB -- SQL``.
        ``{name}`` in the SQL is replaced by the notebook variable ``name`` as a
        safely quoted SQL literal (``{{`` for a literal brace).
        """
        head, tail = (line, "") if cell is not None else _split_line(line)
        try:
            args = parse_argstring(self.civis_sql, head)
        except UsageError:
            raise
        except SystemExit:  # argparse's own exit on bad options
            raise UsageError(f"bad options: {head!r}") from None
        sql = cell if cell is not None else tail
        if not sql or not sql.strip():
            raise UsageError(
                "No SQL given." + (" Use: %civis_sql DB -- SELECT ..." if cell is None else "")
            )
        try:
            sql = expand_sql(sql, self.shell.user_ns)
        except TemplateError as exc:
            raise UsageError(str(exc)) from None
        if not split_statements(sql):
            raise UsageError("No SQL statement in the cell (only comments).")
        limit = args.limit if args.limit is not None else (self.display_limit or None)
        if limit is not None:
            if limit < 0:
                raise UsageError("--limit must be >= 0")
            sql = with_limit(sql, limit)
        if args.show_sql:
            print(sql)
        client = self._client()
        database = args.database_opt if args.database_opt is not None else args.database
        try:
            db_id = self._database_id(client, database)
            return self._dispatch(client, db_id, sql, args)
        except CivisAPIKeyError as exc:
            raise UsageError(str(exc)) from None
        except CivisAPIError as exc:
            raise UsageError(f"Civis API error: {exc}") from None

    def _dispatch(self, client: Any, db_id: int, sql: str, args: Any) -> Any:
        if args.to_table:
            return self._to_table(client, db_id, sql, args.to_table)
        if args.csv:
            return self._to_csv(client, db_id, sql, args.csv)
        if args.preview is not None:
            rows = self.preview_rows if args.preview < 0 else args.preview
            frame = self._preview(client, db_id, sql, rows)
        else:
            result = self._export(client, db_id, sql, args)
            if args.run_async:
                return result
            frame = result
        if args.output:
            self.shell.user_ns[args.output] = frame
        return self._show_frame(frame)

    def _preview(self, client: Any, db_id: int, sql: str, rows: int) -> pd.DataFrame:
        if not 0 < rows <= 1000:
            raise UsageError("--preview takes 1 to 1000 rows")
        query = client.queries.post(
            db_id, sql, rows, credential=client.default_database_credential_id, hidden=True
        )
        future = self._future(client, client.queries.get, (query["id"],))
        done = self._wait(future, "%%civis_sql --preview", logs=False)
        return _frame_from_rows(done.get("result_rows"), done.get("result_columns"))

    def _start_sql_script(self, client: Any, db_id: int, sql: str, **csv: Any) -> Any:
        script = client.scripts.post_sql(
            "%%civis_sql",
            sql,
            db_id,
            client.default_database_credential_id,
            hidden=True,
            csv_settings={"compression": "gzip", **csv},
        )
        run = client.scripts.post_sql_runs(script["id"])
        return self._future(client, client.scripts.get_sql_runs, (script["id"], run["id"]))

    def _export(self, client: Any, db_id: int, sql: str, args: Any) -> Any:
        from .. import io as civis_io

        future = self._start_sql_script(client, db_id, sql)
        output_var = args.output

        def read(done: Any) -> pd.DataFrame:
            outputs = done.get("output") or []
            if not outputs:
                return pd.DataFrame()
            return civis_io.file_to_dataframe(
                outputs[0]["file_id"], compression="gzip", client=client
            )

        if args.run_async:
            if self.widgets:
                from .widgets.run import RunWidget

                display(RunWidget(future, title="%%civis_sql", log_lines=self.log_lines))
            if output_var:

                def store(fut: Any) -> None:
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        self.shell.user_ns[output_var] = self._show_frame(read(fut.result()))

                future.add_done_callback(store)
            return future
        return read(self._wait(future, "%%civis_sql"))

    def _to_table(self, client: Any, db_id: int, sql: str, target: str) -> None:
        try:
            schema, table = split_schema_tablename(target)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if schema is None:
            raise UsageError("--to-table needs schema.table")
        statements = split_statements(sql)
        name = f"{_quote_ident(schema)}.{_quote_ident(table)}"
        statements[-1] = f"CREATE TABLE {name} AS\n{statements[-1]}"
        future = self._start_sql_script(client, db_id, ";\n".join(statements))
        self._wait(future, f"%%civis_sql → {target}")
        print(f"Created table {schema}.{table}.")

    def _to_csv(self, client: Any, db_id: int, sql: str, path: str) -> None:
        from .. import io as civis_io

        future = self._start_sql_script(client, db_id, sql, include_header=True)
        done = self._wait(future, f"%%civis_sql → {path}")
        outputs = done.get("output") or []
        if not outputs:
            raise UsageError("The query produced no result to write.")
        frame = civis_io.file_to_dataframe(outputs[0]["file_id"], compression="gzip", client=client)
        frame.to_csv(path, index=False)
        print(f"Wrote {len(frame):,} rows to {path}.")

    # -- browsers -----------------------------------------------------------------
    @line_magic
    def civis_jobs(self, line: str) -> Any:
        """Open the job browser: filters, pages, runs, live logs and outputs."""
        from .widgets.jobs import JobsBrowser

        return JobsBrowser(self._client(), page_size=self.page_size, search=line.strip())

    @line_magic
    def civis_files(self, line: str) -> Any:
        """Open the file browser: search, preview, download and upload."""
        from .widgets.files import FilesBrowser

        return FilesBrowser(self._client(), page_size=self.page_size, search=line.strip())

    @magic_arguments()
    @argument("job_id", type=int, help="The job.")
    @argument("run_id", type=int, nargs="?", default=None, help="The run (default: latest).")
    @line_magic
    def civis_attach(self, line: str) -> Any:
        """Re-attach a live run widget to a job's run (e.g. after a kernel restart)."""
        args = parse_argstring(self.civis_attach, line)
        client = self._client()
        try:
            run_id = args.run_id
            if run_id is None:
                runs = client.jobs.list_runs(args.job_id, limit=1)
                if not runs:
                    raise UsageError(f"Job {args.job_id} has no runs.")
                run_id = runs[0]["id"]
            future = self._future(client, client.jobs.get_runs, (args.job_id, run_id))
        except CivisAPIError as exc:
            raise UsageError(f"Cannot attach to job {args.job_id}: {exc}") from None
        if self.widgets:
            from .widgets.run import RunWidget

            return RunWidget(future, title=f"job {args.job_id}", log_lines=self.log_lines)
        return future
