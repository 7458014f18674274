"""Output tables: where scores are written when a run names a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import data as data_mod
from .errors import CivisMLError
from .run import Run, log

_IF_EXISTS = ("fail", "append", "drop", "truncate")


def _sql_type(series: Any, declared: str | None = None) -> str:
    from pandas.api import types

    if declared:
        return declared
    if types.is_bool_dtype(series.dtype):
        return "BOOLEAN"
    if types.is_integer_dtype(series.dtype):
        return "BIGINT"
    if types.is_float_dtype(series.dtype):
        return "DOUBLE PRECISION"
    return "VARCHAR"


@dataclass(frozen=True)
class TableTarget:
    """A table scores go to: its name, database and what to do if it exists."""

    table: str
    database_id: int
    if_exists: str

    def check(self, run: Run) -> None:
        """Fail early when the table exists and ``IF_EXISTS`` is ``fail``."""
        from ...api.errors import CivisAPIError

        if self.if_exists not in _IF_EXISTS:
            raise CivisMLError(f"IF_EXISTS must be one of {', '.join(_IF_EXISTS)}")
        if "." not in self.table:
            raise CivisMLError(f"output table must be schema.table, not {self.table!r}")
        if self.if_exists != "fail":
            return
        schema, name = self.table.split(".", 1)
        try:
            run.client.databases.get_schemas_tables(self.database_id, schema, name)
        except CivisAPIError as exc:
            if exc.status_code == 404:
                return
            raise
        raise CivisMLError(f"table {self.table} already exists (IF_EXISTS is fail)")

    def load(self, run: Run, file_id: int, columns: list[dict[str, str]]) -> None:
        """Import the scores file into the table (through the platform's import)."""
        from ...io import civis_file_to_table

        log(f"Writing the scores to table {self.table}")
        future = civis_file_to_table(
            file_id,
            self.database_id,
            self.table,
            client=run.client,
            existing_table_rows=self.if_exists,
            table_columns=columns,
            delimiter=",",
            headers=True,
        )
        try:
            future.result()
        except Exception as exc:
            raise CivisMLError(f"writing table {self.table} failed: {exc}") from None


def _table_target(
    run: Run, table_var: str, db_var: str, fallback: int | None
) -> TableTarget | None:
    table = run.arg(table_var)
    if table is None:
        return None
    db = data_mod.database_id(run.client, run.arg(db_var)) or fallback
    if db is None:
        raise CivisMLError(f"{table_var} {table} needs a database ({db_var})")
    return TableTarget(table, db, (run.arg("IF_EXISTS") or "fail").lower())


def _table_columns(pk: str | None, pk_type: str, score_columns: list[str]) -> list[dict]:
    columns = [{"name": pk, "sql_type": pk_type}] if pk else []
    return columns + [{"name": c, "sql_type": "DOUBLE PRECISION"} for c in score_columns]
