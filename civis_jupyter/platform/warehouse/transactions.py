"""Running a block of statements in one transaction, rolled back on error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from .errors import WarehouseError, _message


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
