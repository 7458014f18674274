"""Tables and schemas, read live from the warehouses.

Each warehouse table gets a stable platform id the first time it is seen
(``tables`` objects keyed by database, schema and name). ``/tables`` lists
and filters them with ``rowCount`` and ``columnCount``; ``/tables/{id}`` and
``/databases/{id}/schemas/{schema}/tables/{table}`` add ``columns``; both 404
when the table no longer exists.

A table belongs to its database: a user sees the tables of the databases
they may read (and nothing of others: 404), refreshes any table they see,
and edits a table's description and keys with write permission on its
database.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable
from typing import Any

from ..contract import ApiError, Reply, Request, handles
from ..warehouse import TableInfo, WarehouseError
from ._common import int_param, paginate, shape

__all__ = ["table_record"]

TABLES = "tables"
_DATA_TYPES = {
    "integer": "integer",
    "bigint": "integer",
    "smallint": "integer",
    "double precision": "float",
    "real": "float",
    "boolean": "boolean",
    "date": "date",
}


def _warehouse_errors(handler: Callable[[Request], Reply]) -> Callable[[Request], Reply]:
    """Answer warehouse failures (locked or closed files, bad SQL) as API errors."""

    @functools.wraps(handler)
    def wrapped(req: Request) -> Reply:
        try:
            return handler(req)
        except WarehouseError as exc:
            raise ApiError(500, f"the warehouse failed: {exc}", "internal_error") from None

    return wrapped


def _civis_data_type(sql_type: str) -> str:
    if sql_type.startswith("numeric"):
        return "float"
    if sql_type.startswith("timestamp"):
        return "timestamp"
    return _DATA_TYPES.get(sql_type, "string")


def table_record(
    req: Request, db_id: int, info: TableInfo, with_columns: bool = False
) -> dict[str, Any]:
    """A warehouse table as the API shows it."""
    tid = req.store.tables.table_id(db_id, info.schema, info.name)
    out: dict[str, Any] = {
        "id": tid,
        "databaseId": db_id,
        "schema": info.schema,
        "name": info.name,
        "description": None,
        "isView": info.is_view,
        "rowCount": info.row_count,
        "columnCount": info.column_count,
        "sizeMb": None,
        "owner": "dbadmin",
        "distkey": None,
        "sortkeys": None,
        "refreshStatus": "current",
        "lastRefresh": None,
        "refreshId": None,
        "lastRun": None,
        "tableTags": [],
    }
    stored = req.store.objects.find(TABLES, tid, req.user) or {}
    for key in ("description", "lastRefresh"):
        if stored.get(key) is not None:
            out[key] = stored[key]
    if with_columns:
        stats = req.warehouses.get(db_id).column_stats(info.schema, info.name)
        out.update(
            {
                "primaryKeys": stored.get("primaryKeys") or [],
                "lastModifiedKeys": stored.get("lastModifiedKeys") or [],
                "ontologyMapping": stored.get("ontologyMapping") or {},
                "joins": [],
                "multipartKey": [],
                "enhancements": [],
                "outgoingTableMatches": [],
                "columns": [
                    {
                        "name": c.name,
                        "civisDataType": _civis_data_type(c.sql_type),
                        "sqlType": c.sql_type,
                        "sampleValues": [],
                        "order": i,
                        "possibleDependentVariableTypes": [],
                        "useableAsIndependentVariable": True,
                        "useableAsPrimaryKey": bool(
                            stats
                            and stats[i - 1]["nullCount"] == 0
                            and stats[i - 1]["distinctCount"] >= (info.row_count or 0) > 0
                        ),
                        **(stats[i - 1] if stats else {}),
                    }
                    for i, c in enumerate(info.columns, 1)
                ],
            }
        )
    return out


def _pattern(value: str | None) -> str | None:
    """A Civis filter (``%``/``*`` wildcards, else exact) as an fnmatch pattern."""
    if not value:
        return None
    text = str(value).lower()
    if "%" in text or "*" in text:
        return text.replace("%", "*")
    return text


def _matches(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value.lower(), pattern)


@handles("get", "tables")
@_warehouse_errors
def list_tables(req: Request) -> Reply:
    q = req.query
    db_filter = int_param(q.get("database_id"), "database_id")
    schema_p, name_p = _pattern(q.get("schema")), _pattern(q.get("name"))
    search = (q.get("search") or "").lower()
    rows = []
    for db in req.store.objects.list("databases", req.user):
        if db_filter is not None and db["id"] != db_filter:
            continue
        wh = req.warehouses.get(db["id"])
        for info in wh.tables():
            if not (_matches(schema_p, info.schema) and _matches(name_p, info.name)):
                continue
            if search and search not in f"{info.schema}.{info.name}".lower():
                continue
            rows.append(shape(req, [table_record(req, db["id"], info)])[0])
    return paginate(
        req,
        rows,
        default_limit=50,
        max_limit=1000,
        order_keys={
            "schema": lambda t: (t["schema"], t["name"]),
            "name": lambda t: (t["name"], t["schema"]),
            "search": lambda t: f"{t['schema']}.{t['name']}",
            "table_tag_ids": lambda t: t["id"],
            "credential_id": lambda t: t["id"],
        },
        default_order="schema",
    )


def _located(req: Request, tid: int) -> tuple[int, TableInfo]:
    obj = req.store.objects.get(TABLES, tid, req.user)
    wh = req.warehouses.get(obj["databaseId"])
    info = wh.table(obj["schema"], obj["name"])
    if info is None:
        raise ApiError(404, f"table {obj['schema']}.{obj['name']} no longer exists")
    return obj["databaseId"], info


@handles("get", "tables/{id}")
@_warehouse_errors
def get_table(req: Request) -> Reply:
    db_id, info = _located(req, req.path_params["id"])
    return Reply(shape(req, table_record(req, db_id, info, with_columns=True)))


@handles("get", "tables/{id}/columns")
@_warehouse_errors
def list_table_columns(req: Request) -> Reply:
    db_id, info = _located(req, req.path_params["id"])
    cols = table_record(req, db_id, info, with_columns=True)["columns"]
    name_p = _pattern(req.query.get("name"))
    cols = [c for c in cols if _matches(name_p, c["name"])]
    return paginate(req, shape(req, cols), default_limit=500, max_limit=1000)


@handles("get", "databases/{id}/schemas")
@_warehouse_errors
def list_schemas(req: Request) -> Reply:
    db = req.store.objects.get("databases", req.path_params["id"], req.user)
    name = (req.query.get("name") or "").lower()
    schemas = req.warehouses.get(db["id"]).schemas()
    return Reply([{"schema": s} for s in schemas if name in s.lower()])


@handles("get", "databases/{id}/schemas/{schema_name}/tables")
@_warehouse_errors
def list_schema_tables(req: Request) -> Reply:
    db = req.store.objects.get("databases", req.path_params["id"], req.user)
    schema = req.path_params["schema_name"]
    infos = req.warehouses.get(db["id"]).tables(schema=schema)
    body = [
        {"name": t.name, "schema": t.schema, "isView": t.is_view, "databaseId": db["id"]}
        for t in infos
    ]
    return Reply(shape(req, body))


@handles("get", "databases/{id}/schemas/{schema_name}/tables/{table_name}")
@_warehouse_errors
def get_schema_table(req: Request) -> Reply:
    db = req.store.objects.get("databases", req.path_params["id"], req.user)
    schema, name = req.path_params["schema_name"], req.path_params["table_name"]
    info = req.warehouses.get(db["id"]).table(schema, name)
    if info is None:
        raise ApiError(404, f"table {schema}.{name} does not exist", "not_found")
    return Reply(shape(req, table_record(req, db["id"], info, with_columns=True)))


_EDITABLE = ("description", "primaryKeys", "lastModifiedKeys", "ontologyMapping")


@handles("patch", "tables/{id}")
@_warehouse_errors
def patch_table(req: Request) -> Reply:
    db_id, info = _located(req, req.path_params["id"])
    body = req.body if isinstance(req.body, dict) else {}
    changes = {k: body[k] for k in _EDITABLE if k in body}
    if changes:
        req.store.objects.update(TABLES, req.path_params["id"], changes, req.user)
    return Reply(shape(req, table_record(req, db_id, info, with_columns=True)))


@handles("post", "tables/{id}/refresh")
@_warehouse_errors
def refresh_table(req: Request) -> Reply:
    from ..clock import iso_now

    db_id, info = _located(req, req.path_params["id"])
    req.store.objects.write_raw(req.path_params["id"], {"lastRefresh": iso_now()})
    return Reply(shape(req, table_record(req, db_id, info, with_columns=True)))
