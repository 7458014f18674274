"""Mapping DuckDB column types to the Civis (Redshift) spelling and back."""

from __future__ import annotations

from .errors import WarehouseError

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


def _ddl_type(sql_type: str) -> str:
    t = str(sql_type).strip()
    if not t or any(ch in t for ch in ";\"'"):
        raise WarehouseError(f"invalid sqlType {sql_type!r}")
    return t
