"""``%%civis_sql``, ``%civis_jobs``, ``%civis_files`` and ``%civis_attach``."""

from __future__ import annotations

import argparse
import os
import re
from concurrent.futures import CancelledError
from typing import Any

import pandas as pd
from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from IPython.utils.text import DollarFormatter
from traitlets import Bool, Float, Int, Unicode, Union

from ..api.errors import CivisAPIError, CivisAPIKeyError, CivisJobFailure
from ..api.naming import split_schema_tablename
from .lazyclient import ClientNotConfigured, ensure_ready
from .sqltemplate import TemplateError, expand_sql
from .statements import split_statements, starts_sql, with_limit

__all__ = ["SQL_MARKER", "CivisMagics", "split_line_form"]

_FORMATTER = DollarFormatter()

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


_SEPARATOR = re.compile(r"--(?:\s|$)")
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def _read_token(line: str, begin: int) -> tuple[str, int]:
    """One option word from ``line[begin:]`` and where the next one may start.

    Words are split on whitespace, except inside ``'...'``/``"..."`` (the
    quotes are removed) and ``{...}`` (kept whole for expansion).
    """
    out: list[str] = []
    depth = 0
    i, n = begin, len(line)
    while i < n and (depth or not line[i].isspace()):
        ch = line[i]
        if ch in "'\"":
            end = line.find(ch, i + 1)
            if end < 0:
                raise UsageError(f"unterminated {ch} in the options: {line[begin:]!r}")
            out.append(line[i + 1 : end])
            i = end + 1
            continue
        depth += ch == "{"
        depth -= ch == "}" and depth > 0
        out.append(ch)
        i += 1
    return "".join(out), i


def _words(text: str) -> list[str]:
    """All the words of ``text``, as :func:`_read_token` splits them."""
    words, pos = [], 0
    while text[pos:].strip():
        word, pos = _read_token(text, len(text) - len(text[pos:].lstrip()))
        words.append(word)
    return words


def _is_option(word: str) -> bool:
    return len(word) > 1 and word.startswith("-") and not _NEGATIVE_NUMBER.match(word)


def _option_action(parser: argparse.ArgumentParser, word: str) -> argparse.Action | None:
    """The action of ``--opt`` (or an unambiguous prefix of it), if any."""
    actions = parser._option_string_actions
    if word in actions:
        return actions[word]
    if not word.startswith("--") or "=" in word:
        return None  # -oVALUE, --opt=VALUE or unknown: argparse judges it alone
    found = {id(a): a for name, a in actions.items() if name.startswith(word)}
    return next(iter(found.values())) if len(found) == 1 else None


def _takes_value(action: argparse.Action, word: str) -> bool:
    """Whether an option with an optional value (``--preview [N]``) takes ``word``."""
    try:
        convert: Any = action.type or str
        convert(word)
    except (TypeError, ValueError):
        return False
    return True


def split_line_form(line: str, parser: argparse.ArgumentParser) -> tuple[list[str], str]:
    """Split ``%civis_sql [DB] [options] [--] SQL`` into option words and SQL.

    The SQL starts at a standalone ``--`` (after it) or, outside an option's
    value, at a word :func:`~.statements.starts_sql` recognises (a SQL keyword,
    ``(``); the first other bare word is the database and any later one starts
    the SQL too. The SQL is returned exactly as written.

    Parameters
    ----------
    line : str
        The magic's line, before any ``{name}`` expansion.
    parser : argparse.ArgumentParser
        The magic's parser (to know which options take a value).

    Returns
    -------
    (list of str, str)
        The option words (unexpanded) and the SQL text ("" if none).
    """
    words: list[str] = []
    valueless: list[str] = []  # e.g. a bare --preview: put last, so argparse takes no value
    pending: tuple[argparse.Action, str] | None = None  # an option and its word, before its value
    has_database = False
    pos = 0
    while True:
        begin = len(line) - len(line[pos:].lstrip())
        rest = line[begin:]
        if pending is not None and pending[0].nargs is None and rest:
            word, pos = _read_token(line, begin)  # a required value, whatever it looks like
            words += [pending[1], word]
            pending = None
            continue
        sql = _sql_start(rest)
        if sql is not None:
            if pending is not None:  # an optional value not given (or a missing one)
                (valueless if pending[0].nargs == "?" else words).append(pending[1])
            return [*words, *valueless], sql
        word, pos = _read_token(line, begin)
        if pending is not None:
            if _takes_value(pending[0], word):
                words += [pending[1], word]
                pending = None
                continue
            valueless.append(pending[1])
            pending = None
        if _is_option(word):
            action = _option_action(parser, word)
            if action is not None and action.nargs != 0:
                pending = (action, word)
                has_database = has_database or action.dest == "database_opt"
                continue
        elif has_database:
            return [*words, *valueless], rest
        else:
            has_database = True
        words.append(word)


def _sql_start(rest: str) -> str | None:
    """The SQL if ``rest`` (the line from a word on) starts it, else None."""
    if not rest:
        return ""
    if _SEPARATOR.match(rest):
        return rest[2:]
    return rest if starts_sql(rest) else None


def _expand_word(word: str, namespace: dict[str, Any]) -> str:
    """``{expr}``/``$name`` in an option word, as IPython expands magic lines.

    Values are inserted as plain text and the word stays one argument; a word
    that cannot be expanded is kept as written (IPython's behaviour).
    """
    try:
        return _FORMATTER.vformat(word, args=[], kwargs=namespace)
    except Exception:  # as IPython does: leave the word untransformed
        return word


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@magics_class
class CivisMagics(Magics):
    """Civis magics, configurable with ``%config CivisMagics.<option> = ...``."""

    shell: Any  # the InteractiveShell these magics are registered with (set by IPython)

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
        try:
            return ensure_ready(self.client)
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
        try:  # the card is shown inside the try: an interrupt right after it still cancels
            if self.widgets:
                from .widgets.run import RunWidget

                card = RunWidget(future, title=title, log_lines=self.log_lines, show_logs=logs)
                handle = display(card, display_id=True)
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            what = f"run {future.run_id} of job {future.job_id}" if future.run_id else "the query"
            raise UsageError(f"Interrupted: cancelled {what}.") from None
        except CivisJobFailure as exc:
            raise UsageError(f"SQL failed: {exc}") from None
        except CancelledError:  # e.g. from the runs panel while the cell waited
            what = f"run {future.run_id} of job {future.job_id}" if future.run_id else "the query"
            raise UsageError(f"Cancelled {what}.") from None
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
    @no_var_expand
    @needs_local_scope
    def civis_sql(
        self, line: str, cell: str | None = None, local_ns: dict[str, Any] | None = None
    ) -> Any:
        """Run SQL on a Civis database and return the result as a DataFrame.

        Cell form: ``%%civis_sql [DATABASE] [options]`` with SQL in the cell;
        line form: ``df = %civis_sql [DATABASE] [options] SELECT ...`` (the SQL
        starts at its first keyword or ``(``, or after a standalone ``--``).
        ``{name}`` in the SQL is replaced by the notebook variable ``name`` as a
        safely quoted SQL literal (``{{`` for a literal brace); in the options,
        ``{expr}`` and ``$name`` are replaced by their plain values.
        """
        namespace = {**self.shell.user_ns, **(local_ns or {})}
        args, sql = self._parse_sql_line(line, cell, namespace)
        if not sql or not sql.strip():
            raise UsageError(
                "No SQL given."
                + (" Use: %civis_sql [DB] [options] SELECT ..." if cell is None else "")
            )
        try:
            sql = expand_sql(sql, namespace)
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

    def _parse_sql_line(
        self, line: str, cell: str | None, namespace: dict[str, Any]
    ) -> tuple[argparse.Namespace, str]:
        """The options (expanded) and the SQL (as written) of either form."""
        parser = self.civis_sql.parser
        words, sql = split_line_form(line, parser)
        if cell is not None:  # the whole line holds options: a database may be named "show"
            words, sql = words + _words(sql), cell
        argv = [_expand_word(word, namespace) for word in words]
        try:
            return parser.parse_args(argv), sql
        except SystemExit:  # argparse's own exit (e.g. --help)
            raise UsageError(f"bad options: {' '.join(words)!r}") from None

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

                RunWidget(future, title="%%civis_sql", log_lines=self.log_lines).show()
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
