"""Catalogue listings of a warehouse: schemas, tables with their columns, column statistics."""

from __future__ import annotations

from typing import Any

from .connection import _Connection
from .models import Column, TableInfo
from .results import _one_row
from .sql_types import _civis_numeric, civis_sql_type
from .sqltext import quote_identifier

_HIDDEN_SCHEMAS = frozenset({"information_schema", "pg_catalog"})


class _Catalog(_Connection):
    """Listing a warehouse's schemas and tables, and computing column statistics."""

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
